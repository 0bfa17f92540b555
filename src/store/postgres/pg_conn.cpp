#include "store/postgres/pg_conn.hpp"

#include <charconv>
#include <cstring>

#include "core/log.hpp"

namespace carnet::store::pg {

namespace {

bool IsIdentChar(char c) {
    const auto u = static_cast<unsigned char>(c);
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '$' || u >= 0x80;
}

// Copies sql[i..] up to and including the end of a '…' literal starting at sql[i].
size_t SkipQuoted(std::string_view sql, size_t i, char quote, bool backslash_escapes,
                  std::string& out) {
    out += sql[i++];
    while (i < sql.size()) {
        const char c = sql[i++];
        out += c;
        if (backslash_escapes && c == '\\' && i < sql.size()) {
            out += sql[i++];
        } else if (c == quote) {
            if (i < sql.size() && sql[i] == quote) {
                out += sql[i++];  // doubled quote: still inside
            } else {
                break;
            }
        }
    }
    return i;
}

// A dollar-quoted string starting at sql[i] ($$…$$ or $tag$…$tag$); npos when sql[i] does
// not open one (a positional parameter such as $1, or a lone $).
size_t DollarQuoteEnd(std::string_view sql, size_t i) {
    size_t j = i + 1;
    if (j < sql.size() && (sql[j] >= '0' && sql[j] <= '9')) return std::string_view::npos;
    while (j < sql.size() && sql[j] != '$' && IsIdentChar(sql[j])) ++j;
    if (j >= sql.size() || sql[j] != '$') return std::string_view::npos;
    const std::string_view tag = sql.substr(i, j - i + 1);
    const size_t close = sql.find(tag, j + 1);
    return close == std::string_view::npos ? sql.size() : close + tag.size();
}

void LogNotice(void*, const PGresult* notice) {
    // Notices ("relation already exists, skipping", …) are expected; never print them.
    const char* state = PQresultErrorField(notice, PG_DIAG_SQLSTATE);
    const char* message = PQresultErrorField(notice, PG_DIAG_MESSAGE_PRIMARY);
    spdlog::debug("store: postgres notice {} {}", state ? state : "", message ? message : "");
}

std::string Trimmed(const char* text) {
    std::string s = text ? text : "";
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
    return s;
}

}  // namespace

std::string RenumberPlaceholders(std::string_view sql) {
    std::string out;
    out.reserve(sql.size() + 32);
    int n = 0;
    size_t i = 0;
    while (i < sql.size()) {
        const char c = sql[i];
        const char next = i + 1 < sql.size() ? sql[i + 1] : '\0';
        if (c == '\'') {
            // E'…' (escape string syntax) is the only literal where a backslash escapes.
            const bool escape_string = i > 0 && (sql[i - 1] == 'E' || sql[i - 1] == 'e') &&
                                       (i < 2 || !IsIdentChar(sql[i - 2]));
            i = SkipQuoted(sql, i, '\'', escape_string, out);
        } else if (c == '"') {
            i = SkipQuoted(sql, i, '"', false, out);
        } else if (c == '-' && next == '-') {
            const size_t end = sql.find('\n', i);
            const size_t stop = end == std::string_view::npos ? sql.size() : end;
            out.append(sql.substr(i, stop - i));
            i = stop;
        } else if (c == '/' && next == '*') {
            // Block comments nest in PostgreSQL.
            int depth = 0;
            size_t j = i;
            while (j < sql.size()) {
                if (sql.compare(j, 2, "/*") == 0) {
                    ++depth;
                    j += 2;
                } else if (sql.compare(j, 2, "*/") == 0) {
                    j += 2;
                    if (--depth == 0) break;
                } else {
                    ++j;
                }
            }
            out.append(sql.substr(i, j - i));
            i = j;
        } else if (c == '$' && (i == 0 || !IsIdentChar(sql[i - 1])) &&
                   DollarQuoteEnd(sql, i) != std::string_view::npos) {
            const size_t end = DollarQuoteEnd(sql, i);
            out.append(sql.substr(i, end - i));
            i = end;
        } else if (c == '?') {
            out += '$';
            out += std::to_string(++n);
            ++i;
        } else {
            out += c;
            ++i;
        }
    }
    return out;
}

// ---- Params ---------------------------------------------------------------------------

void Params::Push(const char* data, size_t size, int format) {
    if (format == 0 && data && std::memchr(data, '\0', size)) has_nul_ = true;
    values_.push_back(data);
    lengths_.push_back(static_cast<int>(size));
    formats_.push_back(format);
}

Params& Params::Ref(const std::string& text) {
    Push(text.c_str(), text.size(), 0);
    return *this;
}

Params& Params::Text(std::string text) {
    owned_.push_back(std::move(text));
    return Ref(owned_.back());
}

Params& Params::Int(int64_t n) {
    char buf[24];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, n);
    (void)ec;  // 24 bytes always hold an int64
    return Text(std::string(buf, end));
}

Params& Params::Double(double d) {
    // Shortest text that reads back as the same double: no precision lost on the way.
    char buf[64];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, d);
    (void)ec;  // 64 bytes always hold the shortest form of a double
    return Text(std::string(buf, end));
}

Params& Params::Bytes(const std::string& bytes) {
    Push(bytes.data(), bytes.size(), 1);
    return *this;
}

Params& Params::Null() {
    Push(nullptr, 0, 0);
    return *this;
}

Params& Params::Value(const SqlValue& v) {
    if (std::holds_alternative<std::nullptr_t>(v)) return Null();
    if (const auto* n = std::get_if<int64_t>(&v)) return Int(*n);
    if (const auto* d = std::get_if<double>(&v)) return Double(*d);
    return Ref(std::get<std::string>(v));
}

std::string TextArray(const std::vector<std::string_view>& items) {
    // https://www.postgresql.org/docs/15/arrays.html#ARRAYS-IO: quote every element,
    // backslash-escape quotes and backslashes.
    std::string out = "{";
    for (size_t i = 0; i < items.size(); ++i) {
        if (i) out += ',';
        out += '"';
        for (char c : items[i]) {
            if (c == '"' || c == '\\') out += '\\';
            out += c;
        }
        out += '"';
    }
    out += '}';
    return out;
}

// ---- PgResult -------------------------------------------------------------------------

PgResult& PgResult::operator=(PgResult&& other) noexcept {
    if (this != &other) {
        PQclear(r_);
        r_ = other.r_;
        other.r_ = nullptr;
    }
    return *this;
}

int64_t PgResult::affected() const {
    const char* n = PQcmdTuples(r_);
    int64_t count = 0;
    if (n && *n) std::from_chars(n, n + std::strlen(n), count);
    return count;
}

int64_t PgResult::Int(int row, int col) const {
    const auto* p = reinterpret_cast<const unsigned char*>(PQgetvalue(r_, row, col));
    const int n = PQgetlength(r_, row, col);
    uint64_t v = 0;
    for (int i = 0; i < n; ++i) v = (v << 8) | p[i];
    if (n == 2) return static_cast<int16_t>(v);
    if (n == 4) return static_cast<int32_t>(v);
    return static_cast<int64_t>(v);
}

store::Value PgResult::Cell(int row, int col) const {
    if (PQgetisnull(r_, row, col)) return nullptr;
    // Built-in type OIDs (src/include/catalog/pg_type.dat); values are in binary format.
    switch (PQftype(r_, col)) {
        case 16:  // bool
            return static_cast<int64_t>(PQgetlength(r_, row, col) > 0 &&
                                        PQgetvalue(r_, row, col)[0] != 0);
        case 20:  // int8
        case 21:  // int2
        case 23:  // int4
            return Int(row, col);
        case 701: {  // float8, big-endian IEEE 754
            const auto* p = reinterpret_cast<const unsigned char*>(PQgetvalue(r_, row, col));
            if (PQgetlength(r_, row, col) != 8) return nullptr;
            uint64_t bits = 0;
            for (int i = 0; i < 8; ++i) bits = (bits << 8) | p[i];
            double d = 0;
            std::memcpy(&d, &bits, sizeof d);
            return d;
        }
        default:
            return Text(row, col);
    }
}

std::string PgResult::Text(int row, int col) const {
    if (PQgetisnull(r_, row, col)) return {};
    return std::string(PQgetvalue(r_, row, col), static_cast<size_t>(PQgetlength(r_, row, col)));
}

// ---- errors ---------------------------------------------------------------------------

Error PgError(PGconn* conn, const PGresult* result, const char* what) {
    const char* state = result ? PQresultErrorField(result, PG_DIAG_SQLSTATE) : nullptr;
    const std::string sqlstate = state ? state : "";
    // The primary message only: DETAIL lines can quote the values of a row.
    const char* primary = result ? PQresultErrorField(result, PG_DIAG_MESSAGE_PRIMARY) : nullptr;
    const std::string message =
        primary ? Trimmed(primary) : Trimmed(conn ? PQerrorMessage(conn) : "no connection");
    const std::string cls = sqlstate.substr(0, 2);
    const bool lost = !conn || PQstatus(conn) != CONNECTION_OK;
    Error e;
    // https://www.postgresql.org/docs/15/errcodes-appendix.html
    if (lost || sqlstate.empty() || cls == "08" || cls == "53" || cls == "57" || cls == "58") {
        e = Error::Make(Code::kUnavailable, "transient", "storage error");
    } else if (sqlstate == "23505" || sqlstate == "40001" || sqlstate == "40P01") {
        e = Error::Make(Code::kConflict, "conflict", "the resource was changed by another request");
    } else if (cls == "22") {
        e = Error::Invalid("a value cannot be stored");
    } else {
        e = Error::Make(Code::kInternal, "exception", "internal error");
    }
    e.detail = std::string(what) + ": " + (sqlstate.empty() ? "" : sqlstate + " ") + message;
    return e;
}

// ---- Conn -----------------------------------------------------------------------------

Result<std::unique_ptr<Conn>> Conn::Connect(const std::string& dsn) {
    // Keywords are applied in order and the expanded DSN comes last, so it overrides our
    // defaults. https://www.postgresql.org/docs/15/libpq-connect.html#LIBPQ-PQCONNECTDBPARAMS
    const char* keys[] = {"connect_timeout", "application_name", "dbname", nullptr};
    const char* values[] = {"10", "carnet", dsn.c_str(), nullptr};
    PGconn* raw = PQconnectdbParams(keys, values, 1);
    if (!raw) {
        Error e = Error::Make(Code::kUnavailable, "transient", "storage error");
        e.detail = "connect: out of memory";
        return e;
    }
    auto conn = std::unique_ptr<Conn>(new Conn(raw));
    if (PQstatus(raw) != CONNECTION_OK) return PgError(raw, nullptr, "connect");
    PQsetNoticeReceiver(raw, LogNotice, nullptr);
    // An acknowledged commit must survive a crash: synchronous_commit = on (the default,
    // enforced here in case the role or database turned it off). remote_apply is stronger
    // (it also waits for standbys to apply), so a deployment that chose it keeps it.
    // standard_conforming_strings: the shared SQL writes ESCAPE '\' as a plain literal.
    CARNET_CHECK(conn->Exec(
        "SET standard_conforming_strings = on; SET client_encoding = 'UTF8'; "
        "SET client_min_messages = warning; SELECT set_config('synchronous_commit', CASE WHEN "
        "current_setting('synchronous_commit') = 'remote_apply' THEN 'remote_apply' ELSE 'on' "
        "END, false)"));
    return conn;
}

Conn::~Conn() { PQfinish(conn_); }

Error Conn::Fail(const PGresult* result, const char* what) {
    Error e = PgError(conn_, result, what);
    if (!txn_error_ && PQtransactionStatus(conn_) == PQTRANS_INERROR) txn_error_ = e;
    return e;
}

Status Conn::Exec(const std::string& sql) {
    if (txn_error_ && PQtransactionStatus(conn_) == PQTRANS_INERROR) return *txn_error_;
    PgResult r(PQexec(conn_, sql.c_str()));
    if (!r.ok()) return Fail(r.get(), "exec");
    return Ok();
}

Status Conn::Begin(const char* sql) {
    txn_error_.reset();
    return Exec(sql);
}

Status Conn::Commit() {
    if (txn_error_ && PQtransactionStatus(conn_) == PQTRANS_INERROR) {
        Error e = *txn_error_;
        Rollback();
        return e;
    }
    PgResult r(PQexec(conn_, "COMMIT"));
    if (!r.ok()) return Fail(r.get(), "commit");
    // COMMIT of a failed transaction succeeds as a command and reports ROLLBACK.
    if (std::strcmp(PQcmdStatus(const_cast<PGresult*>(r.get())), "COMMIT") != 0) {
        return Error::Internal("commit: the transaction was rolled back");
    }
    return Ok();
}

Status Conn::RollbackTo(const std::string& savepoint) {
    PgResult r(PQexec(conn_, ("ROLLBACK TO SAVEPOINT " + savepoint).c_str()));
    if (!r.ok()) return Fail(r.get(), "rollback to savepoint");
    txn_error_.reset();
    return Exec("RELEASE SAVEPOINT " + savepoint);
}

void Conn::Rollback() {
    txn_error_.reset();
    if (PQtransactionStatus(conn_) == PQTRANS_IDLE || Broken()) return;
    PgResult r(PQexec(conn_, "ROLLBACK"));
}

Result<std::string> Conn::Prepared(const std::string& sql) {
    auto it = prepared_.find(sql);
    if (it != prepared_.end()) return it->second;
    // Search statements vary in shape; bound the cache so odd queries cannot grow it. The
    // names never repeat, so a failed DEALLOCATE cannot make a later PREPARE clash.
    if (prepared_.size() >= 512) {
        if (PQtransactionStatus(conn_) != PQTRANS_INERROR) (void)Exec("DEALLOCATE ALL");
        prepared_.clear();
    }
    std::string name = "carnet_" + std::to_string(++next_statement_);
    const std::string numbered = RenumberPlaceholders(sql);
    PgResult r(PQprepare(conn_, name.c_str(), numbered.c_str(), 0, nullptr));
    if (!r.ok()) return Fail(r.get(), "prepare");
    prepared_.emplace(sql, name);
    return name;
}

Result<PgResult> Conn::Run(const std::string& sql, const Params& params) {
    if (txn_error_ && PQtransactionStatus(conn_) == PQTRANS_INERROR) return *txn_error_;
    if (params.has_nul()) return Error::Invalid("text values cannot contain NUL characters");
    CARNET_TRY(std::string name, Prepared(sql));
    PgResult r(PQexecPrepared(conn_, name.c_str(), params.size(), params.values(), params.lengths(),
                              params.formats(), /*resultFormat=*/1));
    if (!r.ok()) return Fail(r.get(), "statement");
    return r;
}

}  // namespace carnet::store::pg
