// PostgreSQL engine: a fixed-size pool of libpq connections; every write job is its own
// transaction (PostgreSQL groups concurrent commits in one WAL flush itself), every reader a
// REPEATABLE READ READ ONLY transaction (one snapshot per request). Statements are prepared
// once per connection and cached by SQL text. Behaviour mirrors sqlite/sqlite_store.cpp; the
// behavioural suite (tests/store/store_test.cpp) runs over both.
//
// Durability: synchronous_commit = on (pg_conn.cpp), so an acknowledged write is flushed to
// the WAL. https://www.postgresql.org/docs/15/wal-async-commit.html
//
// Sharding: every patient-scoped table leads with patient_id (PRIMARY KEY(patient_id, rid),
// (patient_id, vid), patient_keys(patient_id)), the distribution column of a Citus
// deployment. Citus is not required; a deployment that outgrows one machine would run, after
// `carnet migrate`:
//   SELECT create_distributed_table('patient_keys', 'patient_id');
//   SELECT create_distributed_table('resources', 'patient_id', colocate_with => 'patient_keys');
//   SELECT create_distributed_table('versions', 'patient_id', colocate_with => 'patient_keys');
//   -- and idx_token, idx_string, idx_date, idx_ref, idx_quantity the same way.
// Before that, two unique indexes that do not lead with patient_id (resources_type_id on
// (type, id) and resources_rid on (rid)) must give way: Citus only enforces uniqueness that
// includes the distribution column, so (type, id) uniqueness would move to ids that embed the
// patient or to a small reference table mapping (type, id) to patient_id.
#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <mutex>

#include "core/log.hpp"
#include "store/blob.hpp"
#include "store/keyring.hpp"
#include "store/open.hpp"
#include "store/postgres/pg_conn.hpp"
#include "store/sql.hpp"

namespace carnet::store {
namespace {

using pg::Conn;
using pg::Params;
using pg::PgResult;

constexpr const char* kBeginRead = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY";
// READ COMMITTED: Put locks the current row (FOR UPDATE) and inserts with ON CONFLICT, so
// version checks are exact without serialization failures to retry.
constexpr const char* kBeginWrite = "BEGIN";
/// A write job storing at least this many resources refreshes the planner statistics.
constexpr int64_t kAnalyzeAfterPuts = 200;
// Serialises migrations between processes ("carnet" in ASCII).
constexpr const char* kMigrationLock = "SELECT pg_advisory_xact_lock(109270182815092)";
// How long a caller waits for a free pooled connection before giving up.
constexpr auto kAcquireTimeout = std::chrono::seconds(30);

Error Unavailable(const char* detail) {
    Error e = Error::Make(Code::kUnavailable, "transient", "storage error");
    e.detail = detail;
    return e;
}

Error Conflict() {
    return Error::Make(Code::kConflict, "conflict", "the resource was changed by another request");
}

/// Reads and writes on one connection, inside the transaction its owner opened.
class Ops : public WriteTxn {
  public:
    Ops(Conn& conn, Keyring& keyring) : conn_(conn), keyring_(keyring) {}

    Result<std::optional<ResourceVersion>> ReadCurrent(const std::string& type,
                                                       const std::string& id) override {
        Params p;
        p.Ref(type).Ref(id);
        CARNET_TRY(PgResult r,
                   conn_.Run("SELECT r.patient_id, r.version, r.last_updated, r.deleted, v.body "
                             "FROM resources r JOIN versions v ON v.patient_id = r.patient_id "
                             "AND v.type = r.type AND v.id = r.id AND v.version = r.version "
                             "WHERE r.type = ? AND r.id = ?",
                             p));
        if (r.rows() == 0) return std::optional<ResourceVersion>();
        ResourceVersion v;
        v.type = type;
        v.id = id;
        v.patient_id = r.Text(0, 0);
        v.version = r.Int(0, 1);
        v.last_updated_us = r.Int(0, 2);
        v.deleted = r.Int(0, 3) != 0;
        CARNET_CHECK(Decrypt(v, r.Text(0, 4)));
        return std::optional<ResourceVersion>(std::move(v));
    }

    Result<bool> Exists(const std::string& type, const std::string& id) override {
        Params p;
        p.Ref(type).Ref(id);
        CARNET_TRY(PgResult r, conn_.Run("SELECT 1 FROM resources WHERE type = ? AND id = ?", p));
        return r.rows() > 0;
    }

    Result<std::optional<ResourceVersion>> ReadVersion(const std::string& type,
                                                       const std::string& id,
                                                       int64_t version) override {
        Params p;
        p.Ref(type).Ref(id).Int(version);
        CARNET_TRY(PgResult r, conn_.Run("SELECT patient_id, last_updated, deleted, body FROM "
                                         "versions WHERE type = ? AND id = ? AND version = ?",
                                         p));
        if (r.rows() == 0) return std::optional<ResourceVersion>();
        ResourceVersion v;
        v.type = type;
        v.id = id;
        v.version = version;
        v.patient_id = r.Text(0, 0);
        v.last_updated_us = r.Int(0, 1);
        v.deleted = r.Int(0, 2) != 0;
        CARNET_CHECK(Decrypt(v, r.Text(0, 3)));
        return std::optional<ResourceVersion>(std::move(v));
    }

    Result<SearchPage> Search(const SearchQuery& query) override {
        if (!query.cursor.empty()) CARNET_CHECK(DecodeCursor(query.cursor));
        SearchPage page;
        if (query.count > 0) {
            // CompileSearch writes `?`; Conn::Run renumbers them to $n once per connection.
            SqlStatement s = CompileSearch(query, Dialect::kPostgres);
            Params p;
            for (const auto& v : s.params) p.Value(v);
            CARNET_TRY(PgResult r, conn_.Run(s.sql, p));
            const int rows = r.rows();
            int64_t last_sv = 0, last_rid = 0;
            for (int i = 0; i < rows; ++i) {
                // The query fetched one row more than a page: its presence means "more".
                if (static_cast<int>(page.resources.size()) == query.count) {
                    page.next_cursor = EncodeCursor(Cursor{last_sv, last_rid});
                    break;
                }
                ResourceVersion v;
                last_rid = r.Int(i, 0);
                v.patient_id = r.Text(i, 1);
                v.type = r.Text(i, 2);
                v.id = r.Text(i, 3);
                v.version = r.Int(i, 4);
                v.last_updated_us = r.Int(i, 5);
                v.deleted = r.Int(i, 6) != 0;
                CARNET_CHECK(Decrypt(v, r.Text(i, 7)));
                last_sv = r.Int(i, 8);
                page.resources.push_back(std::move(v));
            }
        }
        if (query.want_total) {
            SqlStatement s = CompileCount(query, Dialect::kPostgres);
            Params p;
            for (const auto& v : s.params) p.Value(v);
            CARNET_TRY(PgResult r, conn_.Run(s.sql, p));
            if (r.rows() != 1) return Error::Internal("count: no row");
            page.total = r.Int(0, 0);
        }
        return page;
    }

    Result<HistoryPage> History(const HistoryQuery& q) override {
        std::string sql =
            "SELECT patient_id, type, id, version, last_updated, deleted, body, vid FROM versions "
            "WHERE 1=1";
        Params p;
        if (!q.type.empty()) {
            sql += " AND type = ?";
            p.Ref(q.type);
        }
        if (!q.id.empty()) {
            sql += " AND id = ?";
            p.Ref(q.id);
        }
        if (q.since_us) {
            sql += " AND last_updated >= ?";
            p.Int(*q.since_us);
        }
        if (!q.cursor.empty()) {
            CARNET_TRY(Cursor c, DecodeCursor(q.cursor));
            sql += " AND vid < ?";
            p.Int(c.rid);
        }
        sql += " ORDER BY vid DESC LIMIT ?";
        p.Int(static_cast<int64_t>(q.count) + 1);
        CARNET_TRY(PgResult r, conn_.Run(sql, p));
        HistoryPage page;
        int64_t last_vid = 0;
        for (int i = 0; i < r.rows(); ++i) {
            if (static_cast<int>(page.versions.size()) == q.count) {
                page.next_cursor = EncodeCursor(Cursor{0, last_vid});
                break;
            }
            ResourceVersion v;
            v.patient_id = r.Text(i, 0);
            v.type = r.Text(i, 1);
            v.id = r.Text(i, 2);
            v.version = r.Int(i, 3);
            v.last_updated_us = r.Int(i, 4);
            v.deleted = r.Int(i, 5) != 0;
            CARNET_CHECK(Decrypt(v, r.Text(i, 6)));
            last_vid = r.Int(i, 7);
            page.versions.push_back(std::move(v));
        }
        return page;
    }

    Status Put(const PutRequest& req) override {
        ++puts_;
        const ResourceVersion& r = req.resource;
        int64_t rid = 0, current = 0;
        {
            // FOR UPDATE: a concurrent writer of the same resource waits here, then sees the
            // version that writer committed (READ COMMITTED re-reads the locked row).
            Params p;
            p.Ref(r.type).Ref(r.id);
            CARNET_TRY(PgResult found, conn_.Run("SELECT rid, version FROM resources WHERE type "
                                                 "= ? AND id = ? FOR UPDATE",
                                                 p));
            if (found.rows() > 0) {
                rid = found.Int(0, 0);
                current = found.Int(0, 1);
            }
        }
        if (current != req.expected_previous_version) return Conflict();
        std::string body;
        if (!r.deleted) {
            CARNET_TRY(crypto::Key key, WriteKey(r.patient_id));
            body = crypto::Seal(key, r.json, BodyAad(r.patient_id, r.type, r.id, r.version));
        }
        if (rid) {
            // Replace the index rows and move the current pointer in one round trip (data-
            // modifying CTEs always run to completion, referenced or not).
            Params p;
            for (int i = 0; i < 5; ++i) p.Int(rid);
            p.Ref(r.patient_id).Int(r.version).Int(r.last_updated_us).Int(r.deleted ? 1 : 0);
            p.Int(rid);
            CARNET_TRY(PgResult updated,
                       conn_.Run("WITH t AS (DELETE FROM idx_token WHERE rid = ?), s AS (DELETE "
                                 "FROM idx_string WHERE rid = ?), d AS (DELETE FROM idx_date "
                                 "WHERE rid = ?), f AS (DELETE FROM idx_ref WHERE rid = ?), q AS "
                                 "(DELETE FROM idx_quantity WHERE rid = ?) UPDATE resources SET "
                                 "patient_id = ?, version = ?, last_updated = ?, deleted = ? "
                                 "WHERE rid = ?",
                                 p));
            (void)updated;
        } else {
            // A concurrent create of the same (type, id) either committed (no row inserted:
            // conflict, and nothing written) or rolled back (we insert).
            Params p;
            p.Ref(r.patient_id).Ref(r.type).Ref(r.id).Int(r.version).Int(r.last_updated_us);
            p.Int(r.deleted ? 1 : 0);
            CARNET_TRY(PgResult inserted,
                       conn_.Run("INSERT INTO resources(patient_id, type, id, version, "
                                 "last_updated, deleted) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT "
                                 "(type, id) DO NOTHING RETURNING rid",
                                 p));
            if (inserted.rows() == 0) return Conflict();
            rid = inserted.Int(0, 0);
        }
        {
            Params p;
            p.Ref(r.patient_id).Ref(r.type).Ref(r.id).Int(r.version).Int(r.last_updated_us);
            p.Int(r.deleted ? 1 : 0);
            if (r.deleted) {
                p.Null();
            } else {
                p.Bytes(body);
            }
            CARNET_TRY(PgResult inserted,
                       conn_.Run("INSERT INTO versions(patient_id, type, id, version, "
                                 "last_updated, deleted, body) VALUES (?, ?, ?, ?, ?, ?, ?)",
                                 p));
            (void)inserted;
        }
        if (!r.deleted) CARNET_CHECK(WriteIndex(rid, r, req.index));
        return Ok();
    }

    Result<std::vector<Row>> Query(const std::string& sql,
                                   const std::vector<Value>& params) override {
        Params p;
        for (const auto& v : params) p.Value(v);
        CARNET_TRY(PgResult r, conn_.Run(sql, p));
        std::vector<Row> rows;
        rows.reserve(static_cast<size_t>(r.rows()));
        for (int i = 0; i < r.rows(); ++i) {
            Row row;
            row.reserve(static_cast<size_t>(r.columns()));
            for (int c = 0; c < r.columns(); ++c) row.push_back(r.Cell(i, c));
            rows.push_back(std::move(row));
        }
        return rows;
    }

    Result<int64_t> Exec(const std::string& sql, const std::vector<Value>& params) override {
        Params p;
        for (const auto& v : params) p.Value(v);
        CARNET_TRY(PgResult r, conn_.Run(sql, p));
        return r.affected();
    }

    bool SoleWriter() const override { return false; }

    Result<std::optional<BlobMeta>> BlobMetaOf(const std::string& patient_id,
                                               const std::string& id) override {
        Params p;
        p.Ref(patient_id).Ref(id);
        CARNET_TRY(PgResult r, conn_.Run("SELECT content_type, size, chunks, header, created_at "
                                         "FROM blobs WHERE patient_id = ? AND id = ?",
                                         p));
        if (r.rows() == 0) return std::optional<BlobMeta>();
        BlobMeta m;
        m.patient_id = patient_id;
        m.id = id;
        m.content_type = r.Text(0, 0);
        m.size = r.Int(0, 1);
        m.chunks = r.Int(0, 2);
        m.header = r.Text(0, 3);
        m.created_at_us = r.Int(0, 4);
        return std::optional<BlobMeta>(std::move(m));
    }

    Result<std::optional<std::string>> BlobChunk(const std::string& patient_id,
                                                 const std::string& id, int64_t n) {
        Params p;
        p.Ref(patient_id).Ref(id).Int(n);
        CARNET_TRY(PgResult r, conn_.Run("SELECT data FROM blob_chunks WHERE patient_id = ? AND "
                                         "blob_id = ? AND n = ?",
                                         p));
        if (r.rows() == 0) return std::optional<std::string>();
        return std::optional<std::string>(r.Text(0, 0));
    }

    Result<BlobMeta> PutBlob(BlobMeta meta, const ChunkSource& source, int64_t max_bytes) override {
        CARNET_TRY(auto existing, BlobMetaOf(meta.patient_id, meta.id));
        if (existing)
            return Error::Make(Code::kConflict, "duplicate", "the content exists already");
        CARNET_TRY(crypto::Key key, WriteKey(meta.patient_id));
        CARNET_CHECK(SealBlob(
            key, meta, source, max_bytes, [&](int64_t n, const std::string& sealed) -> Status {
                Params p;
                p.Ref(meta.patient_id).Ref(meta.id).Int(n).Bytes(sealed);
                CARNET_TRY(PgResult r, conn_.Run("INSERT INTO blob_chunks(patient_id, "
                                                 "blob_id, n, data) VALUES (?, ?, ?, ?)",
                                                 p));
                (void)r;
                return Ok();
            }));
        Params p;
        p.Ref(meta.patient_id)
            .Ref(meta.id)
            .Ref(meta.content_type)
            .Int(meta.size)
            .Int(meta.chunks)
            .Bytes(meta.header)
            .Int(meta.created_at_us);
        // A concurrent upload of the same id: the primary key refuses the second (kConflict).
        CARNET_TRY(PgResult r, conn_.Run("INSERT INTO blobs(patient_id, id, content_type, size, "
                                         "chunks, header, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                                         p));
        (void)r;
        return meta;
    }

    Result<bool> DeleteBlob(const std::string& patient_id, const std::string& id) override {
        CARNET_CHECK(
            Exec("DELETE FROM blob_chunks WHERE patient_id = ? AND blob_id = ?", {patient_id, id}));
        CARNET_TRY(int64_t n,
                   Exec("DELETE FROM blobs WHERE patient_id = ? AND id = ?", {patient_id, id}));
        return n > 0;
    }

    /// The patient's data key, for a blob stream opened outside this transaction.
    Result<crypto::Key> KeyOf(const std::string& patient_id) { return ReadKey(patient_id); }

    Status Nested(const std::function<Status()>& fn) override {
        const std::string name = "nested" + std::to_string(++nesting_);
        CARNET_CHECK(conn_.Exec("SAVEPOINT " + name));
        const size_t keys_before = new_keys_.size();
        Status s = Ok();
        try {
            s = fn();
        } catch (const std::exception& e) {
            s = Error::Internal(std::string("nested write threw: ") + e.what());
        }
        if (s.ok()) {
            Status released = conn_.Exec("RELEASE " + name);
            --nesting_;
            return released;
        }
        // Also clears a failed statement inside: the transaction goes on.
        (void)conn_.RollbackTo(name);
        new_keys_.resize(keys_before);  // keys created inside were rolled back too
        --nesting_;
        return s;
    }

    /// Keys created by this transaction, cached once it commits.
    std::vector<std::pair<std::string, crypto::Key>>& new_keys() { return new_keys_; }
    /// Resources written by this transaction (counts attempts; enough to spot bulk loads).
    [[nodiscard]] int64_t puts() const { return puts_; }

  private:
    // One statement per index table, whatever the number of values: the values travel as
    // arrays and unnest() turns them back into rows.
    Status InsertIndex(const char* sql, int64_t rid, const ResourceVersion& r,
                       std::vector<std::string> arrays) {
        Params p;
        p.Ref(r.patient_id).Int(rid).Ref(r.type);
        for (auto& a : arrays) p.Text(std::move(a));
        CARNET_TRY(PgResult inserted, conn_.Run(sql, p));
        (void)inserted;
        return Ok();
    }

    /// One field of every value, as a text[] literal.
    template <typename T>
    static std::string Column(const std::vector<T>& items, std::string T::*field) {
        std::vector<std::string_view> values;
        values.reserve(items.size());
        for (const auto& item : items) values.emplace_back(item.*field);
        return pg::TextArray(values);
    }

    /// One numeric field of every value, as a bigint[] or float8[] literal.
    template <typename T, typename N>
    static std::string Numbers(const std::vector<T>& items, N T::*field) {
        std::string out = "{";
        for (size_t i = 0; i < items.size(); ++i) {
            if (i) out += ',';
            char buf[64];
            auto [end, ec] = std::to_chars(buf, buf + sizeof buf, items[i].*field);
            (void)ec;  // 64 bytes hold any int64 and the shortest form of any double
            out.append(buf, end);
        }
        out += '}';
        return out;
    }

    Status WriteIndex(int64_t rid, const ResourceVersion& r, const IndexValues& ix) {
        if (!ix.tokens.empty()) {
            CARNET_CHECK(InsertIndex(
                "INSERT INTO idx_token(patient_id, rid, type, param, system, code) SELECT "
                "?::text, ?::bigint, ?::text, u.param, u.system, u.code FROM unnest(?::text[], "
                "?::text[], ?::text[]) AS u(param, system, code)",
                rid, r,
                {Column(ix.tokens, &TokenValue::param), Column(ix.tokens, &TokenValue::system),
                 Column(ix.tokens, &TokenValue::code)}));
        }
        if (!ix.strings.empty()) {
            CARNET_CHECK(InsertIndex(
                "INSERT INTO idx_string(patient_id, rid, type, param, normalized, exact) SELECT "
                "?::text, ?::bigint, ?::text, u.param, u.normalized, u.exact FROM "
                "unnest(?::text[], ?::text[], ?::text[]) AS u(param, normalized, exact)",
                rid, r,
                {Column(ix.strings, &StringValue::param),
                 Column(ix.strings, &StringValue::normalized),
                 Column(ix.strings, &StringValue::exact)}));
        }
        if (!ix.dates.empty()) {
            CARNET_CHECK(InsertIndex(
                "INSERT INTO idx_date(patient_id, rid, type, param, low, high) SELECT ?::text, "
                "?::bigint, ?::text, u.param, u.low, u.high FROM unnest(?::text[], ?::bigint[], "
                "?::bigint[]) AS u(param, low, high)",
                rid, r,
                {Column(ix.dates, &DateValue::param), Numbers(ix.dates, &DateValue::low_us),
                 Numbers(ix.dates, &DateValue::high_us)}));
        }
        if (!ix.references.empty()) {
            CARNET_CHECK(InsertIndex(
                "INSERT INTO idx_ref(patient_id, rid, type, param, target_type, target_id) SELECT "
                "?::text, ?::bigint, ?::text, u.param, u.target_type, u.target_id FROM "
                "unnest(?::text[], ?::text[], ?::text[]) AS u(param, target_type, target_id)",
                rid, r,
                {Column(ix.references, &ReferenceValue::param),
                 Column(ix.references, &ReferenceValue::target_type),
                 Column(ix.references, &ReferenceValue::target_id)}));
        }
        if (!ix.quantities.empty()) {
            CARNET_CHECK(InsertIndex(
                "INSERT INTO idx_quantity(patient_id, rid, type, param, value, system, code) "
                "SELECT ?::text, ?::bigint, ?::text, u.param, u.value, u.system, u.code FROM "
                "unnest(?::text[], ?::float8[], ?::text[], ?::text[]) AS u(param, value, system, "
                "code)",
                rid, r,
                {Column(ix.quantities, &QuantityValue::param),
                 Numbers(ix.quantities, &QuantityValue::value),
                 Column(ix.quantities, &QuantityValue::system),
                 Column(ix.quantities, &QuantityValue::code)}));
        }
        return Ok();
    }

    Result<std::optional<std::string>> LoadWrapped(const std::string& patient_id) {
        Params p;
        p.Ref(patient_id);
        CARNET_TRY(PgResult r,
                   conn_.Run("SELECT wrapped FROM patient_keys WHERE patient_id = ?", p));
        if (r.rows() == 0) return std::optional<std::string>();
        return std::optional<std::string>(r.Text(0, 0));
    }

    /// The patient's key; nullopt when none is stored (nor created by this transaction).
    Result<std::optional<crypto::Key>> FindKey(const std::string& patient_id) {
        if (auto k = keyring_.Cached(patient_id)) return k;
        for (auto& [pid, key] : new_keys_) {
            if (pid == patient_id) return std::optional<crypto::Key>(key);
        }
        CARNET_TRY(auto wrapped, LoadWrapped(patient_id));
        if (!wrapped) return std::optional<crypto::Key>();
        CARNET_TRY(crypto::Key key, keyring_.Adopt(patient_id, *wrapped));
        return std::optional<crypto::Key>(key);
    }

    Result<crypto::Key> ReadKey(const std::string& patient_id) {
        CARNET_TRY(auto key, FindKey(patient_id));
        if (!key) return Error::Internal("no data key for this patient");
        return *key;
    }

    Result<crypto::Key> WriteKey(const std::string& patient_id) {
        CARNET_TRY(auto existing, FindKey(patient_id));
        if (existing) return *existing;
        auto [key, wrapped] = keyring_.Create(patient_id);
        Params p;
        p.Ref(patient_id).Bytes(wrapped);
        // Concurrent first writes for one patient: the first key committed wins, the others
        // adopt it (READ COMMITTED: the SELECT after the wait sees the committed row).
        CARNET_TRY(PgResult inserted,
                   conn_.Run("INSERT INTO patient_keys(patient_id, wrapped, created_at) VALUES "
                             "(?, ?, EXTRACT(EPOCH FROM now())::bigint) ON CONFLICT (patient_id) "
                             "DO NOTHING",
                             p));
        if (inserted.affected() == 1) {
            new_keys_.emplace_back(patient_id, key);
            return key;
        }
        CARNET_TRY(auto won, FindKey(patient_id));
        if (!won) return Error::Internal("data key vanished while being created");
        return *won;
    }

    Status Decrypt(ResourceVersion& v, const std::string& sealed) {
        if (v.deleted) return Ok();
        CARNET_TRY(crypto::Key key, ReadKey(v.patient_id));
        CARNET_TRY(v.json,
                   crypto::Open(key, sealed, BodyAad(v.patient_id, v.type, v.id, v.version)));
        return Ok();
    }

    Conn& conn_;
    Keyring& keyring_;
    std::vector<std::pair<std::string, crypto::Key>> new_keys_;
    int nesting_ = 0;
    int64_t puts_ = 0;
};

class PostgresStore;

/// A pooled connection, given back to the pool (or dropped when broken) on destruction.
class Lease {
  public:
    Lease(PostgresStore& store, std::unique_ptr<Conn> conn)
        : store_(&store), conn_(std::move(conn)) {}
    Lease(Lease&& other) noexcept = default;
    Lease& operator=(Lease&&) = delete;
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    ~Lease();
    Conn& operator*() { return *conn_; }
    Conn* operator->() { return conn_.get(); }

  private:
    PostgresStore* store_;
    std::unique_ptr<Conn> conn_;
};

/// A reader holding a pooled connection inside one REPEATABLE READ transaction.
class PostgresReader final : public Reader {
  public:
    PostgresReader(Lease lease, Keyring& keyring)
        : lease_(std::move(lease)), ops_(*lease_, keyring) {}
    PostgresReader(const PostgresReader&) = delete;
    PostgresReader& operator=(const PostgresReader&) = delete;
    ~PostgresReader() override {
        // Read only: nothing to commit, end the snapshot the cheapest way.
        lease_->Rollback();
    }
    Result<std::optional<ResourceVersion>> ReadCurrent(const std::string& type,
                                                       const std::string& id) override {
        return ops_.ReadCurrent(type, id);
    }
    Result<bool> Exists(const std::string& type, const std::string& id) override {
        return ops_.Exists(type, id);
    }
    Result<std::optional<ResourceVersion>> ReadVersion(const std::string& type,
                                                       const std::string& id,
                                                       int64_t version) override {
        return ops_.ReadVersion(type, id, version);
    }
    Result<SearchPage> Search(const SearchQuery& query) override { return ops_.Search(query); }
    Result<HistoryPage> History(const HistoryQuery& query) override { return ops_.History(query); }
    Result<std::vector<Row>> Query(const std::string& sql,
                                   const std::vector<Value>& params) override {
        return ops_.Query(sql, params);
    }
    Result<std::optional<BlobMeta>> BlobMetaOf(const std::string& patient_id,
                                               const std::string& id) override {
        return ops_.BlobMetaOf(patient_id, id);
    }
    Ops& ops() { return ops_; }

  private:
    Lease lease_;
    Ops ops_;
};

class PostgresStore final : public Store {
  public:
    PostgresStore(std::string dsn, int pool_size, crypto::MasterKey master)
        : dsn_(std::move(dsn)), pool_size_(pool_size), keyring_(std::move(master)) {}

    ~PostgresStore() override { Close(); }

    Status Init(bool migrate) {
        // Connect once up front: a wrong DSN fails here, not on the first request.
        CARNET_TRY(Lease lease, Take());
        if (migrate) CARNET_CHECK(Migrate(*lease));
        return Ok();
    }

    Status Write(const std::function<Status(WriteTxn&)>& job) override {
        CARNET_TRY(Lease lease, Begin(kBeginWrite));
        Ops ops(*lease, keyring_);
        Status s = Ok();
        try {
            s = job(ops);
        } catch (const std::exception& e) {
            s = Error::Internal(std::string("write job threw: ") + e.what());
        }
        if (!s.ok()) {
            lease->Rollback();
            return s;
        }
        // A failed statement the job chose to ignore still aborted the transaction: Commit
        // reports that failure. A lost connection during COMMIT leaves the outcome unknown
        // (kUnavailable); the caller retries with its version check.
        CARNET_CHECK(lease->Commit());
        for (auto& [pid, key] : ops.new_keys()) keyring_.Remember(pid, key);
        // After a bulk load (an imported bundle) the planner's statistics may still describe
        // empty tables until autovacuum runs, and searches then pick nested loops over
        // thousands of rows (seen: minutes per query). Refreshing them here is cheap next to
        // the load itself. The threshold doubles with what was already written, so a load of
        // n resources analyzes O(log n) times, not once per bundle (an ANALYZE per Synthea
        // bundle halved the import rate). Best effort: a failure keeps the old statistics.
        int64_t written = puts_since_analyze_.fetch_add(ops.puts()) + ops.puts();
        const int64_t threshold = std::max(kAnalyzeAfterPuts, puts_at_last_analyze_.load());
        if (written >= threshold && puts_since_analyze_.compare_exchange_strong(written, 0)) {
            puts_at_last_analyze_.fetch_add(written);
            Status analyzed = lease->Exec(
                "ANALYZE resources, versions, idx_token, idx_string, idx_date, idx_ref, "
                "idx_quantity");
            if (!analyzed.ok()) spdlog::debug("store: ANALYZE after bulk write failed");
        }
        return Ok();
    }

    Result<std::unique_ptr<Reader>> OpenReader() override {
        CARNET_TRY(Lease lease, Begin(kBeginRead));
        return std::unique_ptr<Reader>(new PostgresReader(std::move(lease), keyring_));
    }

    Result<std::unique_ptr<BlobSource>> OpenBlob(const std::string& patient_id,
                                                 const std::string& id) override {
        return OpenSealedBlob<PostgresReader>([this] { return OpenReader(); }, patient_id, id);
    }

    Status PurgePatient(const std::string& patient_id) override {
        if (patient_id.empty()) return Error::Invalid("a patient id is required");
        Status s = [&]() -> Status {
            CARNET_TRY(Lease lease, Begin(kBeginWrite));
            Params p;
            for (int i = 0; i < 15; ++i) p.Ref(patient_id);
            // One statement, every table: on a Citus cluster it routes to one shard group.
            // Index rows are found by their row ids (the rid indexes) rather than by scanning
            // for patient_id, which the index tables do not index.
            auto idx = [](const char* table) {
                return std::string("DELETE FROM ") + table +
                       " WHERE patient_id = ? AND rid IN (SELECT rid FROM resources WHERE "
                       "patient_id = ?)";
            };
            CARNET_TRY(
                PgResult deleted,
                lease->Run("WITH t AS (" + idx("idx_token") + "), s AS (" + idx("idx_string") +
                               "), d AS (" + idx("idx_date") + "), f AS (" + idx("idx_ref") +
                               "), q AS (" + idx("idx_quantity") +
                               "), r AS (DELETE FROM resources WHERE patient_id = ?), v AS "
                               "(DELETE FROM versions WHERE patient_id = ?), c AS (DELETE FROM "
                               "blob_chunks WHERE patient_id = ?), b AS (DELETE FROM blobs WHERE "
                               "patient_id = ?) DELETE FROM patient_keys WHERE patient_id = ?",
                           p));
            (void)deleted;
            return lease->Commit();
        }();
        keyring_.Forget(patient_id);
        return s;
    }

    Status Ping() override {
        CARNET_TRY(Lease lease, Begin(kBeginRead));
        lease->Rollback();
        return Ok();
    }

    Result<StoreStats> Stats() override {
        CARNET_TRY(Lease lease, Begin(kBeginRead));
        Params none;
        CARNET_TRY(PgResult r, lease->Run("SELECT (SELECT COUNT(*) FROM resources WHERE deleted "
                                          "= 0), (SELECT COUNT(*) FROM versions), (SELECT "
                                          "COUNT(*) FROM patient_keys WHERE patient_id <> '')",
                                          none));
        lease->Rollback();
        if (r.rows() != 1) return Error::Internal("stats: no row");
        StoreStats stats;
        stats.resources = r.Int(0, 0);
        stats.versions = r.Int(0, 1);
        stats.patients_with_keys = r.Int(0, 2);
        return stats;
    }

    [[nodiscard]] std::string Engine() const override { return "postgres"; }

    void Close() override {
        std::vector<std::unique_ptr<Conn>> idle;
        {
            std::lock_guard lock(mu_);
            if (closed_) return;
            closed_ = true;
            open_ -= static_cast<int>(idle_.size());
            idle.swap(idle_);
        }
        cv_.notify_all();
        // Connections still leased are closed when they come back (Release).
    }

    /// Takes back a leased connection: pooled if idle and healthy, closed otherwise.
    void Release(std::unique_ptr<Conn> conn) {
        if (!conn) return;
        // A transaction left open by an error path ends here, so the pool only holds idle
        // connections.
        if (!conn->Broken() && !conn->Idle()) conn->Rollback();
        const bool reusable = !conn->Broken() && conn->Idle();
        {
            std::lock_guard lock(mu_);
            if (reusable && !closed_) {
                idle_.push_back(std::move(conn));
            } else {
                --open_;
            }
        }
        cv_.notify_one();
        // `conn`, if still held, closes here, outside the lock.
    }

  private:
    /// Resources written since the last ANALYZE, and in all before it (see Write).
    std::atomic<int64_t> puts_since_analyze_{0};
    std::atomic<int64_t> puts_at_last_analyze_{0};

    /// A connection from the pool, or a new one while fewer than pool_size_ are open;
    /// waits for one to come back otherwise.
    Result<Lease> Take() {
        std::unique_lock lock(mu_);
        const auto deadline = std::chrono::steady_clock::now() + kAcquireTimeout;
        for (;;) {
            if (closed_) return Unavailable("store is closed");
            if (!idle_.empty()) {
                auto conn = std::move(idle_.back());
                idle_.pop_back();
                return Lease(*this, std::move(conn));
            }
            if (open_ < pool_size_) {
                ++open_;
                lock.unlock();
                auto conn = Conn::Connect(dsn_);
                if (!conn.ok()) {
                    lock.lock();
                    --open_;
                    cv_.notify_one();
                    return std::move(conn).error();
                }
                return Lease(*this, std::move(conn).value());
            }
            if (cv_.wait_until(lock, deadline) == std::cv_status::timeout) {
                return Unavailable("no free connection in the pool");
            }
        }
    }

    /// A connection inside a fresh transaction. A pooled connection whose server went away
    /// (restart, pg_terminate_backend, network) fails its BEGIN: it is dropped and the next
    /// one tried, until a new connection is made; nothing was done on it, so this is safe.
    Result<Lease> Begin(const char* begin_sql) {
        for (int attempt = 0;; ++attempt) {
            CARNET_TRY(Lease lease, Take());
            Status s = lease->Begin(begin_sql);
            if (s.ok()) return lease;
            if (!lease->Broken() || attempt >= pool_size_) return std::move(s).error();
            spdlog::warn("store: dropped a lost PostgreSQL connection");
        }
    }

    Status Migrate(Conn& conn) {
        CARNET_CHECK(conn.Begin("BEGIN"));
        Status s = [&]() -> Status {
            // Two processes starting together: the second waits here, then finds the
            // migrations applied.
            CARNET_CHECK(conn.Exec(kMigrationLock));
            CARNET_CHECK(conn.Exec(
                "CREATE TABLE IF NOT EXISTS schema_migrations(version INTEGER PRIMARY KEY, name "
                "TEXT NOT NULL, applied_at BIGINT NOT NULL)"));
            Params none;
            CARNET_TRY(PgResult r,
                       conn.Run("SELECT COALESCE(MAX(version), 0) FROM schema_migrations", none));
            const int64_t current = r.Int(0, 0);
            for (const auto& m : Migrations(Dialect::kPostgres)) {
                if (m.version <= current) continue;
                for (const auto& sql : m.statements) CARNET_CHECK(conn.Exec(sql));
                Params p;
                p.Int(m.version).Text(m.name);
                CARNET_TRY(PgResult inserted,
                           conn.Run("INSERT INTO schema_migrations(version, name, applied_at) "
                                    "VALUES (?::integer, ?, EXTRACT(EPOCH FROM now())::bigint)",
                                    p));
                (void)inserted;
                spdlog::info("store: applied migration {} ({})", m.version, m.name);
            }
            return conn.Commit();
        }();
        if (!s.ok()) conn.Rollback();
        return s;
    }

    std::string dsn_;
    int pool_size_;
    Keyring keyring_;
    std::mutex mu_;
    std::condition_variable cv_;
    std::vector<std::unique_ptr<Conn>> idle_;
    int open_ = 0;  // connections in existence: idle_ plus leased
    bool closed_ = false;
};

Lease::~Lease() {
    if (store_ && conn_) store_->Release(std::move(conn_));
}

}  // namespace

Result<std::unique_ptr<Store>> OpenPostgresStore(const StoreOptions& options,
                                                 crypto::MasterKey master) {
    if (options.pg_dsn.empty()) return Error::Invalid("a PostgreSQL connection string is required");
    if (options.pg_pool_size < 1) return Error::Invalid("the PostgreSQL pool size must be >= 1");
    auto store =
        std::make_unique<PostgresStore>(options.pg_dsn, options.pg_pool_size, std::move(master));
    CARNET_CHECK(store->Init(options.migrate));
    return std::unique_ptr<Store>(std::move(store));
}

}  // namespace carnet::store
