#pragma once
/// The libpq layer of the PostgreSQL engine: one connection with its cache of prepared
/// statements, statement parameters, binary results, and the mapping of libpq failures onto
/// Error values. Nothing here throws; nothing here prints (libpq notices go to the debug log).
/// https://www.postgresql.org/docs/15/libpq.html
#include <libpq-fe.h>

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/result.hpp"
#include "store/sql.hpp"

namespace carnet::store::pg {

/// Rewrites the `?` placeholders of `sql` as `$1`, `$2`, … in order. A `?` inside a
/// '…' literal (standard_conforming_strings: only '' escapes a quote, so ESCAPE '\' is a
/// complete literal), an E'…' literal (backslash escapes), a "…" identifier or a comment
/// is left alone.
std::string RenumberPlaceholders(std::string_view sql);

/// Parameters of one statement. Text parameters are sent in text format and let the server
/// infer their type; Bytes() is sent in binary format (bytea). Ref() keeps a pointer to the
/// caller's string, which must outlive the statement.
class Params {
  public:
    Params() = default;
    Params(const Params&) = delete;
    Params& operator=(const Params&) = delete;

    Params& Ref(const std::string& text);
    Params& Text(std::string text);
    Params& Int(int64_t n);
    Params& Double(double d);
    Params& Bytes(const std::string& bytes);
    Params& Null();
    Params& Value(const SqlValue& v);

    [[nodiscard]] int size() const { return static_cast<int>(values_.size()); }
    [[nodiscard]] const char* const* values() const { return values_.data(); }
    [[nodiscard]] const int* lengths() const { return lengths_.data(); }
    [[nodiscard]] const int* formats() const { return formats_.data(); }
    /// PostgreSQL text cannot hold NUL; such a value is refused rather than truncated.
    [[nodiscard]] bool has_nul() const { return has_nul_; }

  private:
    void Push(const char* data, size_t size, int format);

    std::deque<std::string> owned_;  // a deque keeps element addresses stable
    std::vector<const char*> values_;
    std::vector<int> lengths_;
    std::vector<int> formats_;
    bool has_nul_ = false;
};

/// Renders a PostgreSQL array literal ("{…}") of text values, for unnest(?::text[]).
std::string TextArray(const std::vector<std::string_view>& items);

/// A query result in binary format (integers in network order, bytea raw).
class PgResult {
  public:
    explicit PgResult(PGresult* r) : r_(r) {}
    PgResult(PgResult&& other) noexcept : r_(other.r_) { other.r_ = nullptr; }
    PgResult& operator=(PgResult&& other) noexcept;
    PgResult(const PgResult&) = delete;
    PgResult& operator=(const PgResult&) = delete;
    ~PgResult() { PQclear(r_); }

    [[nodiscard]] const PGresult* get() const { return r_; }
    /// True for a command or query that completed.
    [[nodiscard]] bool ok() const {
        const ExecStatusType s = r_ ? PQresultStatus(r_) : PGRES_FATAL_ERROR;
        return s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK;
    }
    [[nodiscard]] int rows() const { return PQntuples(r_); }
    /// Rows written by INSERT/UPDATE/DELETE.
    [[nodiscard]] int64_t affected() const;
    [[nodiscard]] bool IsNull(int row, int col) const { return PQgetisnull(r_, row, col) != 0; }
    /// smallint, integer or bigint column (binary format); 0 for NULL.
    [[nodiscard]] int64_t Int(int row, int col) const;
    /// text or bytea column, raw bytes; empty for NULL.
    [[nodiscard]] std::string Text(int row, int col) const;
    /// Any column as a store::Value, by its type: integers and booleans as int64_t, float8
    /// as double, NULL as nullptr, everything else as its raw bytes.
    [[nodiscard]] store::Value Cell(int row, int col) const;
    [[nodiscard]] int columns() const { return PQnfields(r_); }

  private:
    PGresult* r_;
};

/// Maps a failed statement onto an Error. The libpq/server message goes to `detail` only.
/// Connection loss, shutdown and resource exhaustion: kUnavailable. Unique violation,
/// serialization failure and deadlock (concurrent writers): kConflict. Data exceptions
/// (values PostgreSQL cannot store): kInvalid. Anything else is a bug: kInternal.
Error PgError(PGconn* conn, const PGresult* result, const char* what);

/// One libpq connection, used by one thread at a time.
class Conn {
  public:
    /// Connects with `dsn` (a libpq connection string or URI); connect_timeout defaults to
    /// 10 s and application_name to "carnet" unless the DSN says otherwise. Sets
    /// synchronous_commit = on (see the .cpp) and standard_conforming_strings = on.
    static Result<std::unique_ptr<Conn>> Connect(const std::string& dsn);

    Conn(const Conn&) = delete;
    Conn& operator=(const Conn&) = delete;
    ~Conn();

    /// Simple-protocol command without parameters (BEGIN, SAVEPOINT, DDL). Inside a
    /// transaction that already failed, returns that first failure without a round trip.
    Status Exec(const std::string& sql);
    /// Starts a transaction (`sql` is the BEGIN statement) and forgets any earlier failure.
    Status Begin(const char* sql);
    /// COMMIT; a transaction the server rolled back (an earlier statement failed) reports
    /// that failure instead of success.
    Status Commit();
    /// ROLLBACK TO SAVEPOINT + RELEASE: undoes what followed the savepoint, including a
    /// failed statement, so the transaction can go on.
    Status RollbackTo(const std::string& savepoint);
    /// Best-effort ROLLBACK (nothing to report: the connection is dropped if it is broken).
    void Rollback();

    /// Runs `sql` (with `?` placeholders) as a prepared statement, prepared once per
    /// connection and cached by SQL text. Results come back in binary format. Inside a
    /// transaction that already failed, returns that first failure without a round trip.
    Result<PgResult> Run(const std::string& sql, const Params& params);

    /// The connection is lost (it must not go back to the pool).
    [[nodiscard]] bool Broken() const { return PQstatus(conn_) != CONNECTION_OK; }
    /// Idle, outside any transaction: fit for the pool.
    [[nodiscard]] bool Idle() const { return PQtransactionStatus(conn_) == PQTRANS_IDLE; }

  private:
    explicit Conn(PGconn* conn) : conn_(conn) {}
    Result<std::string> Prepared(const std::string& sql);
    Error Fail(const PGresult* result, const char* what);

    PGconn* conn_;
    std::unordered_map<std::string, std::string> prepared_;  // SQL with `?` -> statement name
    uint64_t next_statement_ = 0;
    std::optional<Error> txn_error_;  // first failure inside the current transaction
};

}  // namespace carnet::store::pg
