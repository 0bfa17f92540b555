// SQLite engine: WAL with synchronous=FULL (an acknowledged write survives a power cut),
// one writer thread doing group commit, a pool of reader connections (one per thread in
// use), prepared statements cached per connection.
// https://www.sqlite.org/wal.html  https://www.sqlite.org/pragma.html#pragma_synchronous
#include <sqlite3.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <future>
#include <mutex>
#include <thread>
#include <unordered_map>

#include "core/log.hpp"
#include "store/blob.hpp"
#include "store/keyring.hpp"
#include "store/open.hpp"
#include "store/sql.hpp"

namespace carnet::store {
namespace {

Error SqliteError(sqlite3* db, const char* what) {
    Error e = Error::Make(Code::kUnavailable, "transient", "storage error");
    e.detail = std::string(what) + ": " + (db ? sqlite3_errmsg(db) : "no connection");
    return e;
}

/// A cached prepared statement; reset and unbound when the guard goes out of scope.
class Stmt {
  public:
    explicit Stmt(sqlite3_stmt* s) : s_(s) {}
    Stmt(const Stmt&) = delete;
    Stmt& operator=(const Stmt&) = delete;
    ~Stmt() {
        sqlite3_reset(s_);
        sqlite3_clear_bindings(s_);
    }
    void Bind(int i, const SqlValue& v) {
        if (std::holds_alternative<std::nullptr_t>(v)) {
            sqlite3_bind_null(s_, i);
        } else if (const auto* n = std::get_if<int64_t>(&v)) {
            sqlite3_bind_int64(s_, i, *n);
        } else if (const auto* d = std::get_if<double>(&v)) {
            sqlite3_bind_double(s_, i, *d);
        } else {
            // Not copied: every caller's parameters outlive the statement's use, which ends
            // when this guard resets it.
            const auto& s = std::get<std::string>(v);
            sqlite3_bind_text(s_, i, s.data(), static_cast<int>(s.size()), SQLITE_STATIC);
        }
    }
    /// Binds params[0] to ?1, params[1] to ?2…
    void BindAll(const std::vector<SqlValue>& params) {
        for (size_t i = 0; i < params.size(); ++i) Bind(static_cast<int>(i + 1), params[i]);
    }
    void BindText(int i, const std::string& s) {
        sqlite3_bind_text(s_, i, s.data(), static_cast<int>(s.size()), SQLITE_STATIC);
    }
    void BindBlob(int i, const std::string& s) {
        sqlite3_bind_blob(s_, i, s.data(), static_cast<int>(s.size()), SQLITE_STATIC);
    }
    void BindInt(int i, int64_t n) { sqlite3_bind_int64(s_, i, n); }
    int Step() { return sqlite3_step(s_); }
    int64_t Int(int col) { return sqlite3_column_int64(s_, col); }
    std::string Text(int col) {
        const auto* p = sqlite3_column_blob(s_, col);
        int n = sqlite3_column_bytes(s_, col);
        return p ? std::string(static_cast<const char*>(p), static_cast<size_t>(n)) : std::string();
    }
    bool IsNull(int col) { return sqlite3_column_type(s_, col) == SQLITE_NULL; }
    int Columns() { return sqlite3_column_count(s_); }
    Value Cell(int col) {
        switch (sqlite3_column_type(s_, col)) {
            case SQLITE_NULL:
                return nullptr;
            case SQLITE_INTEGER:
                return static_cast<int64_t>(sqlite3_column_int64(s_, col));
            case SQLITE_FLOAT:
                return sqlite3_column_double(s_, col);
            default:
                return Text(col);
        }
    }

  private:
    sqlite3_stmt* s_;
};

class Conn {
  public:
    /// `cache_kib`: page cache of this connection. The writer gets a larger one than the
    /// pooled readers, of which there can be as many as handler threads.
    static Result<std::unique_ptr<Conn>> Open(const std::string& path, int cache_kib = 2048) {
        // SQLite keeps global memory statistics behind one mutex by default: every
        // allocation of every connection takes it (a quarter of the lock waits of an audited
        // read under load). Carnet never reads them. Must precede the library's
        // initialisation; if something initialised it already, the call is refused, harmless.
        static const int no_memstatus = sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
        (void)no_memstatus;
        sqlite3* db = nullptr;
        int rc = sqlite3_open_v2(path.c_str(), &db,
                                 SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                                 nullptr);
        auto conn = std::unique_ptr<Conn>(new Conn(db));
        if (rc != SQLITE_OK) return SqliteError(db, "open");
        sqlite3_busy_timeout(db, 10000);
        for (const char* pragma : {"PRAGMA journal_mode=WAL", "PRAGMA synchronous=FULL",
                                   "PRAGMA foreign_keys=OFF", "PRAGMA temp_store=MEMORY"}) {
            CARNET_CHECK(conn->Exec(pragma));
        }
        CARNET_CHECK(conn->Exec("PRAGMA cache_size=-" + std::to_string(cache_kib)));
        return conn;
    }
    Conn(const Conn&) = delete;
    Conn& operator=(const Conn&) = delete;
    ~Conn() {
        for (auto& [sql, stmt] : cache_) sqlite3_finalize(stmt);
        sqlite3_close(db_);
    }

    Status Exec(const std::string& sql) {
        char* err = nullptr;
        if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
            Error e = Error::Make(Code::kUnavailable, "transient", "storage error");
            e.detail = std::string("exec: ") + (err ? err : "?");
            sqlite3_free(err);
            return e;
        }
        return Ok();
    }

    Result<sqlite3_stmt*> Prepare(const std::string& sql) {
        auto it = cache_.find(sql);
        if (it != cache_.end()) return it->second;
        sqlite3_stmt* s = nullptr;
        if (sqlite3_prepare_v3(db_, sql.c_str(), static_cast<int>(sql.size()),
                               SQLITE_PREPARE_PERSISTENT, &s, nullptr) != SQLITE_OK) {
            return SqliteError(db_, "prepare");
        }
        cache_.emplace(sql, s);
        return s;
    }

    /// Search statements vary in shape; bound the cache so odd queries cannot grow it.
    /// Called only between requests/batches, when no statement of this connection is in use.
    void TrimCache() {
        if (cache_.size() <= 512) return;
        for (auto& [k, v] : cache_) sqlite3_finalize(v);
        cache_.clear();
    }

    /// Runs a cached statement that returns no rows (BEGIN, COMMIT…): parsed once.
    Status Run(const char* sql) {
        CARNET_TRY(auto* s, Prepare(sql));
        const int rc = sqlite3_step(s);
        sqlite3_reset(s);
        if (rc != SQLITE_DONE) return SqliteError(db_, sql);
        return Ok();
    }

    sqlite3* db() { return db_; }
    int64_t LastInsertRowid() { return sqlite3_last_insert_rowid(db_); }

  private:
    explicit Conn(sqlite3* db) : db_(db) {}
    sqlite3* db_;
    std::unordered_map<std::string, sqlite3_stmt*> cache_;
};

/// Reads shared by reader connections and the write transaction.
class Ops : public WriteTxn {
  public:
    Ops(Conn& conn, Keyring& keyring) : conn_(conn), keyring_(keyring) {}

    Result<std::optional<ResourceVersion>> ReadCurrent(const std::string& type,
                                                       const std::string& id) override {
        CARNET_TRY(auto* raw,
                   conn_.Prepare("SELECT r.patient_id, r.version, r.last_updated, r.deleted, "
                                 "v.body FROM resources r JOIN versions v ON v.patient_id = "
                                 "r.patient_id AND v.type = r.type AND v.id = r.id AND v.version "
                                 "= r.version WHERE r.type = ? AND r.id = ?"));
        Stmt st(raw);
        st.BindText(1, type);
        st.BindText(2, id);
        int rc = st.Step();
        if (rc == SQLITE_DONE) return std::optional<ResourceVersion>();
        if (rc != SQLITE_ROW) return SqliteError(conn_.db(), "read");
        ResourceVersion v;
        v.type = type;
        v.id = id;
        v.patient_id = st.Text(0);
        v.version = st.Int(1);
        v.last_updated_us = st.Int(2);
        v.deleted = st.Int(3) != 0;
        CARNET_CHECK(Decrypt(v, st.Text(4)));
        return std::optional<ResourceVersion>(std::move(v));
    }

    Result<bool> Exists(const std::string& type, const std::string& id) override {
        CARNET_TRY(auto* raw, conn_.Prepare("SELECT 1 FROM resources WHERE type = ? AND id = ?"));
        Stmt st(raw);
        st.BindText(1, type);
        st.BindText(2, id);
        const int rc = st.Step();
        if (rc == SQLITE_DONE) return false;
        if (rc != SQLITE_ROW) return SqliteError(conn_.db(), "read");
        return true;
    }

    Result<std::optional<ResourceVersion>> ReadVersion(const std::string& type,
                                                       const std::string& id,
                                                       int64_t version) override {
        CARNET_TRY(auto* raw, conn_.Prepare("SELECT patient_id, last_updated, deleted, body FROM "
                                            "versions WHERE type = ? AND id = ? AND version = ?"));
        Stmt st(raw);
        st.BindText(1, type);
        st.BindText(2, id);
        st.BindInt(3, version);
        int rc = st.Step();
        if (rc == SQLITE_DONE) return std::optional<ResourceVersion>();
        if (rc != SQLITE_ROW) return SqliteError(conn_.db(), "vread");
        ResourceVersion v;
        v.type = type;
        v.id = id;
        v.version = version;
        v.patient_id = st.Text(0);
        v.last_updated_us = st.Int(1);
        v.deleted = st.Int(2) != 0;
        CARNET_CHECK(Decrypt(v, st.Text(3)));
        return std::optional<ResourceVersion>(std::move(v));
    }

    Result<SearchPage> Search(const SearchQuery& query) override {
        if (!query.cursor.empty()) CARNET_CHECK(DecodeCursor(query.cursor));
        SearchPage page;
        if (query.count > 0) {
            SqlStatement s = CompileSearch(query, Dialect::kSqlite);
            CARNET_TRY(auto* raw, conn_.Prepare(s.sql));
            Stmt st(raw);
            st.BindAll(s.params);
            int64_t last_sv = 0, last_rid = 0;
            for (;;) {
                int rc = st.Step();
                if (rc == SQLITE_DONE) break;
                if (rc != SQLITE_ROW) return SqliteError(conn_.db(), "search");
                if (static_cast<int>(page.resources.size()) == query.count) {
                    page.next_cursor = EncodeCursor(Cursor{last_sv, last_rid});
                    break;
                }
                ResourceVersion v;
                last_rid = st.Int(0);
                v.patient_id = st.Text(1);
                v.type = st.Text(2);
                v.id = st.Text(3);
                v.version = st.Int(4);
                v.last_updated_us = st.Int(5);
                v.deleted = st.Int(6) != 0;
                CARNET_CHECK(Decrypt(v, st.Text(7)));
                last_sv = st.Int(8);
                page.resources.push_back(std::move(v));
            }
        }
        if (query.want_total) {
            SqlStatement s = CompileCount(query, Dialect::kSqlite);
            CARNET_TRY(auto* raw, conn_.Prepare(s.sql));
            Stmt st(raw);
            st.BindAll(s.params);
            if (st.Step() != SQLITE_ROW) return SqliteError(conn_.db(), "count");
            page.total = st.Int(0);
        }
        return page;
    }

    Result<HistoryPage> History(const HistoryQuery& q) override {
        std::string sql =
            "SELECT patient_id, type, id, version, last_updated, deleted, body, vid FROM versions "
            "WHERE 1=1";
        std::vector<SqlValue> params;
        if (!q.type.empty()) {
            sql += " AND type = ?";
            params.emplace_back(q.type);
        }
        if (!q.id.empty()) {
            sql += " AND id = ?";
            params.emplace_back(q.id);
        }
        if (q.since_us) {
            sql += " AND last_updated >= ?";
            params.emplace_back(*q.since_us);
        }
        if (!q.cursor.empty()) {
            CARNET_TRY(Cursor c, DecodeCursor(q.cursor));
            sql += " AND vid < ?";
            params.emplace_back(c.rid);
        }
        sql += " ORDER BY vid DESC LIMIT ?";
        params.emplace_back(static_cast<int64_t>(q.count) + 1);
        CARNET_TRY(auto* raw, conn_.Prepare(sql));
        Stmt st(raw);
        st.BindAll(params);
        HistoryPage page;
        int64_t last_vid = 0;
        for (;;) {
            int rc = st.Step();
            if (rc == SQLITE_DONE) break;
            if (rc != SQLITE_ROW) return SqliteError(conn_.db(), "history");
            if (static_cast<int>(page.versions.size()) == q.count) {
                page.next_cursor = EncodeCursor(Cursor{0, last_vid});
                break;
            }
            ResourceVersion v;
            v.patient_id = st.Text(0);
            v.type = st.Text(1);
            v.id = st.Text(2);
            v.version = st.Int(3);
            v.last_updated_us = st.Int(4);
            v.deleted = st.Int(5) != 0;
            CARNET_CHECK(Decrypt(v, st.Text(6)));
            last_vid = st.Int(7);
            page.versions.push_back(std::move(v));
        }
        return page;
    }

    Status Put(const PutRequest& req) override {
        const ResourceVersion& r = req.resource;
        int64_t rid = 0, current = 0;
        {
            CARNET_TRY(
                auto* raw,
                conn_.Prepare("SELECT rid, version FROM resources WHERE type = ? AND id = ?"));
            Stmt st(raw);
            st.BindText(1, r.type);
            st.BindText(2, r.id);
            int rc = st.Step();
            if (rc == SQLITE_ROW) {
                rid = st.Int(0);
                current = st.Int(1);
            } else if (rc != SQLITE_DONE) {
                return SqliteError(conn_.db(), "put lookup");
            }
        }
        if (current != req.expected_previous_version) {
            return Error::Make(Code::kConflict, "conflict",
                               "the resource was changed by another request");
        }
        std::string body;
        if (!r.deleted) {
            CARNET_TRY(crypto::Key key, WriteKey(r.patient_id));
            body = crypto::Seal(key, r.json, BodyAad(r.patient_id, r.type, r.id, r.version));
        }
        {
            CARNET_TRY(auto* raw, conn_.Prepare("INSERT INTO versions(patient_id, type, id, "
                                                "version, last_updated, deleted, body) VALUES "
                                                "(?, ?, ?, ?, ?, ?, ?)"));
            Stmt st(raw);
            st.BindText(1, r.patient_id);
            st.BindText(2, r.type);
            st.BindText(3, r.id);
            st.BindInt(4, r.version);
            st.BindInt(5, r.last_updated_us);
            st.BindInt(6, r.deleted ? 1 : 0);
            if (r.deleted) {
                sqlite3_bind_null(raw, 7);
            } else {
                st.BindBlob(7, body);
            }
            if (st.Step() != SQLITE_DONE) return SqliteError(conn_.db(), "insert version");
        }
        if (rid) {
            CARNET_TRY(auto* raw, conn_.Prepare("UPDATE resources SET patient_id = ?, version = "
                                                "?, last_updated = ?, deleted = ? WHERE rid = ?"));
            Stmt st(raw);
            st.BindText(1, r.patient_id);
            st.BindInt(2, r.version);
            st.BindInt(3, r.last_updated_us);
            st.BindInt(4, r.deleted ? 1 : 0);
            st.BindInt(5, rid);
            if (st.Step() != SQLITE_DONE) return SqliteError(conn_.db(), "update resource");
            for (const char* table :
                 {"idx_token", "idx_string", "idx_date", "idx_ref", "idx_quantity"}) {
                CARNET_TRY(auto* del,
                           conn_.Prepare(std::string("DELETE FROM ") + table + " WHERE rid = ?"));
                Stmt d(del);
                d.BindInt(1, rid);
                if (d.Step() != SQLITE_DONE) return SqliteError(conn_.db(), "clear index");
            }
        } else {
            CARNET_TRY(auto* raw, conn_.Prepare("INSERT INTO resources(patient_id, type, id, "
                                                "version, last_updated, deleted) VALUES (?, ?, ?, "
                                                "?, ?, ?)"));
            Stmt st(raw);
            st.BindText(1, r.patient_id);
            st.BindText(2, r.type);
            st.BindText(3, r.id);
            st.BindInt(4, r.version);
            st.BindInt(5, r.last_updated_us);
            st.BindInt(6, r.deleted ? 1 : 0);
            if (st.Step() != SQLITE_DONE) return SqliteError(conn_.db(), "insert resource");
            rid = conn_.LastInsertRowid();
        }
        if (!r.deleted) CARNET_CHECK(WriteIndex(rid, r, req.index));
        return Ok();
    }

    Result<std::vector<Row>> Query(const std::string& sql,
                                   const std::vector<Value>& params) override {
        CARNET_TRY(auto* raw, conn_.Prepare(sql));
        Stmt st(raw);
        st.BindAll(params);
        std::vector<Row> rows;
        for (;;) {
            const int rc = st.Step();
            if (rc == SQLITE_DONE) break;
            if (rc != SQLITE_ROW) return SqliteError(conn_.db(), "query");
            Row row;
            const int n = st.Columns();
            row.reserve(static_cast<size_t>(n));
            for (int c = 0; c < n; ++c) row.push_back(st.Cell(c));
            rows.push_back(std::move(row));
        }
        return rows;
    }

    Result<int64_t> Exec(const std::string& sql, const std::vector<Value>& params) override {
        CARNET_TRY(auto* raw, conn_.Prepare(sql));
        Stmt st(raw);
        st.BindAll(params);
        const int rc = st.Step();
        if (rc == SQLITE_CONSTRAINT) {
            Error e = Error::Make(Code::kConflict, "conflict", "the row already exists");
            e.detail = sqlite3_errmsg(conn_.db());
            return e;
        }
        if (rc != SQLITE_DONE && rc != SQLITE_ROW) return SqliteError(conn_.db(), "exec");
        return static_cast<int64_t>(sqlite3_changes(conn_.db()));
    }

    bool SoleWriter() const override { return true; }

    Result<std::optional<BlobMeta>> BlobMetaOf(const std::string& patient_id,
                                               const std::string& id) override {
        CARNET_TRY(auto* raw,
                   conn_.Prepare("SELECT content_type, size, chunks, header, "
                                 "created_at FROM blobs WHERE patient_id = ? AND id = ?"));
        Stmt st(raw);
        st.BindText(1, patient_id);
        st.BindText(2, id);
        const int rc = st.Step();
        if (rc == SQLITE_DONE) return std::optional<BlobMeta>();
        if (rc != SQLITE_ROW) return SqliteError(conn_.db(), "blob");
        BlobMeta m;
        m.patient_id = patient_id;
        m.id = id;
        m.content_type = st.Text(0);
        m.size = st.Int(1);
        m.chunks = st.Int(2);
        m.header = st.Text(3);
        m.created_at_us = st.Int(4);
        return std::optional<BlobMeta>(std::move(m));
    }

    Result<std::optional<std::string>> BlobChunk(const std::string& patient_id,
                                                 const std::string& id, int64_t n) {
        CARNET_TRY(auto* raw, conn_.Prepare("SELECT data FROM blob_chunks WHERE patient_id = ? "
                                            "AND blob_id = ? AND n = ?"));
        Stmt st(raw);
        st.BindText(1, patient_id);
        st.BindText(2, id);
        st.BindInt(3, n);
        const int rc = st.Step();
        if (rc == SQLITE_DONE) return std::optional<std::string>();
        if (rc != SQLITE_ROW) return SqliteError(conn_.db(), "blob chunk");
        return std::optional<std::string>(st.Text(0));
    }

    Result<BlobMeta> PutBlob(BlobMeta meta, const ChunkSource& source, int64_t max_bytes) override {
        CARNET_TRY(auto existing, BlobMetaOf(meta.patient_id, meta.id));
        if (existing)
            return Error::Make(Code::kConflict, "duplicate", "the content exists already");
        CARNET_TRY(crypto::Key key, WriteKey(meta.patient_id));
        CARNET_CHECK(SealBlob(
            key, meta, source, max_bytes, [&](int64_t n, const std::string& sealed) -> Status {
                CARNET_TRY(auto* raw, conn_.Prepare("INSERT INTO blob_chunks(patient_id, "
                                                    "blob_id, n, data) VALUES (?, ?, ?, ?)"));
                Stmt st(raw);
                st.BindText(1, meta.patient_id);
                st.BindText(2, meta.id);
                st.BindInt(3, n);
                st.BindBlob(4, sealed);
                if (st.Step() != SQLITE_DONE) {
                    return SqliteError(conn_.db(), "blob chunk");
                }
                return Ok();
            }));
        CARNET_TRY(auto* raw, conn_.Prepare("INSERT INTO blobs(patient_id, id, content_type, size, "
                                            "chunks, header, created_at) VALUES (?, ?, ?, ?, ?, ?, "
                                            "?)"));
        Stmt st(raw);
        st.BindText(1, meta.patient_id);
        st.BindText(2, meta.id);
        st.BindText(3, meta.content_type);
        st.BindInt(4, meta.size);
        st.BindInt(5, meta.chunks);
        st.BindBlob(6, meta.header);
        st.BindInt(7, meta.created_at_us);
        if (st.Step() != SQLITE_DONE) return SqliteError(conn_.db(), "blob");
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
        Status s = fn();
        if (s.ok()) {
            CARNET_CHECK(conn_.Exec("RELEASE " + name));
        } else {
            (void)conn_.Exec("ROLLBACK TO " + name);
            (void)conn_.Exec("RELEASE " + name);
            new_keys_.resize(keys_before);  // keys created inside were rolled back too
        }
        --nesting_;
        return s;
    }

    /// Keys created by this transaction, cached once it commits.
    std::vector<std::pair<std::string, crypto::Key>>& new_keys() { return new_keys_; }

  private:
    Status WriteIndex(int64_t rid, const ResourceVersion& r, const IndexValues& ix) {
        auto common = [&](Stmt& st, const std::string& param) {
            st.BindText(1, r.patient_id);
            st.BindInt(2, rid);
            st.BindText(3, r.type);
            st.BindText(4, param);
        };
        if (!ix.tokens.empty()) {
            CARNET_TRY(auto* raw, conn_.Prepare("INSERT INTO idx_token VALUES (?, ?, ?, ?, ?, ?)"));
            for (const auto& t : ix.tokens) {
                Stmt st(raw);
                common(st, t.param);
                st.BindText(5, t.system);
                st.BindText(6, t.code);
                if (st.Step() != SQLITE_DONE) return SqliteError(conn_.db(), "index token");
            }
        }
        if (!ix.strings.empty()) {
            CARNET_TRY(auto* raw,
                       conn_.Prepare("INSERT INTO idx_string VALUES (?, ?, ?, ?, ?, ?)"));
            for (const auto& t : ix.strings) {
                Stmt st(raw);
                common(st, t.param);
                st.BindText(5, t.normalized);
                st.BindText(6, t.exact);
                if (st.Step() != SQLITE_DONE) return SqliteError(conn_.db(), "index string");
            }
        }
        if (!ix.dates.empty()) {
            CARNET_TRY(auto* raw, conn_.Prepare("INSERT INTO idx_date VALUES (?, ?, ?, ?, ?, ?)"));
            for (const auto& t : ix.dates) {
                Stmt st(raw);
                common(st, t.param);
                st.BindInt(5, t.low_us);
                st.BindInt(6, t.high_us);
                if (st.Step() != SQLITE_DONE) return SqliteError(conn_.db(), "index date");
            }
        }
        if (!ix.references.empty()) {
            CARNET_TRY(auto* raw, conn_.Prepare("INSERT INTO idx_ref VALUES (?, ?, ?, ?, ?, ?)"));
            for (const auto& t : ix.references) {
                Stmt st(raw);
                common(st, t.param);
                st.BindText(5, t.target_type);
                st.BindText(6, t.target_id);
                if (st.Step() != SQLITE_DONE) return SqliteError(conn_.db(), "index reference");
            }
        }
        if (!ix.quantities.empty()) {
            CARNET_TRY(auto* raw,
                       conn_.Prepare("INSERT INTO idx_quantity VALUES (?, ?, ?, ?, ?, ?, ?)"));
            for (const auto& t : ix.quantities) {
                Stmt st(raw);
                common(st, t.param);
                sqlite3_bind_double(raw, 5, t.value);
                st.BindText(6, t.system);
                st.BindText(7, t.code);
                if (st.Step() != SQLITE_DONE) return SqliteError(conn_.db(), "index quantity");
            }
        }
        return Ok();
    }

    Result<std::optional<std::string>> LoadWrapped(const std::string& patient_id) {
        CARNET_TRY(auto* raw,
                   conn_.Prepare("SELECT wrapped FROM patient_keys WHERE patient_id = ?"));
        Stmt st(raw);
        st.BindText(1, patient_id);
        int rc = st.Step();
        if (rc == SQLITE_DONE) return std::optional<std::string>();
        if (rc != SQLITE_ROW) return SqliteError(conn_.db(), "load key");
        return std::optional<std::string>(st.Text(0));
    }

    Result<crypto::Key> ReadKey(const std::string& patient_id) {
        if (auto k = keyring_.Cached(patient_id)) return *k;
        for (auto& [pid, key] : new_keys_) {
            if (pid == patient_id) return key;
        }
        CARNET_TRY(auto wrapped, LoadWrapped(patient_id));
        if (!wrapped) return Error::Internal("no data key for this patient");
        return keyring_.Adopt(patient_id, *wrapped);
    }

    Result<crypto::Key> WriteKey(const std::string& patient_id) {
        auto existing = ReadKey(patient_id);
        if (existing.ok()) return existing;
        auto [key, wrapped] = keyring_.Create(patient_id);
        CARNET_TRY(auto* raw, conn_.Prepare("INSERT INTO patient_keys(patient_id, wrapped, "
                                            "created_at) VALUES (?, ?, strftime('%s','now'))"));
        Stmt st(raw);
        st.BindText(1, patient_id);
        st.BindBlob(2, wrapped);
        if (st.Step() != SQLITE_DONE) return SqliteError(conn_.db(), "insert key");
        new_keys_.emplace_back(patient_id, key);
        return key;
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
};

class SqliteStore;

/// A reader holding a pooled connection inside a read transaction (one snapshot).
class SqliteReader final : public Reader {
  public:
    SqliteReader(SqliteStore& store, std::unique_ptr<Conn> conn, Keyring& keyring);
    ~SqliteReader() override;
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
    SqliteStore& store_;
    std::unique_ptr<Conn> conn_;
    Ops ops_;
};

class SqliteStore final : public Store {
  public:
    SqliteStore(std::string path, crypto::MasterKey master, int max_batch)
        : path_(std::move(path)), keyring_(std::move(master)), max_batch_(max_batch) {}

    ~SqliteStore() override { Close(); }

    Status Init(bool migrate) {
        CARNET_TRY(writer_, Conn::Open(path_, 16 * 1024));
        if (migrate) CARNET_CHECK(Migrate());
        running_ = true;
        writer_thread_ = std::thread([this] { WriterLoop(); });
        return Ok();
    }

    Status Write(const std::function<Status(WriteTxn&)>& job) override {
        Job j{&job, {}};
        auto done = j.done.get_future();
        {
            std::lock_guard lock(mu_);
            if (!running_) {
                return Error::Make(Code::kUnavailable, "transient", "store is closed");
            }
            queue_.push_back(&j);
        }
        cv_.notify_one();
        return done.get();
    }

    Result<std::unique_ptr<Reader>> OpenReader() override {
        std::unique_ptr<Conn> conn;
        {
            std::lock_guard lock(pool_mu_);
            if (closed_) return Error::Make(Code::kUnavailable, "transient", "store is closed");
            if (!pool_.empty()) {
                conn = std::move(pool_.back());
                pool_.pop_back();
            }
        }
        if (!conn) {
            CARNET_TRY(conn, Conn::Open(path_));
        }
        return std::unique_ptr<Reader>(new SqliteReader(*this, std::move(conn), keyring_));
    }

    Result<std::unique_ptr<BlobSource>> OpenBlob(const std::string& patient_id,
                                                 const std::string& id) override {
        return OpenSealedBlob<SqliteReader>([this] { return OpenReader(); }, patient_id, id);
    }

    void Release(std::unique_ptr<Conn> conn) {
        conn->TrimCache();
        std::lock_guard lock(pool_mu_);
        if (!closed_ && pool_.size() < 64) pool_.push_back(std::move(conn));
    }

    Status PurgePatient(const std::string& patient_id) override {
        if (patient_id.empty()) return Error::Invalid("a patient id is required");
        Status s = Write([&](WriteTxn&) -> Status {
            for (const char* table :
                 {"idx_token", "idx_string", "idx_date", "idx_ref", "idx_quantity", "resources",
                  "versions", "blob_chunks", "blobs", "patient_keys"}) {
                // Index rows by their row ids (idx_*_rid), not a scan for patient_id; before
                // `resources` goes.
                const bool index_table = std::string_view(table).rfind("idx_", 0) == 0;
                CARNET_TRY(auto* raw,
                           writer_->Prepare(std::string("DELETE FROM ") + table +
                                            (index_table ? " WHERE rid IN (SELECT rid FROM "
                                                           "resources WHERE patient_id = ?)"
                                                         : " WHERE patient_id = ?")));
                Stmt st(raw);
                st.BindText(1, patient_id);
                if (st.Step() != SQLITE_DONE) return SqliteError(writer_->db(), "purge");
            }
            return Ok();
        });
        keyring_.Forget(patient_id);
        return s;
    }

    Status Ping() override {
        CARNET_TRY(auto reader, OpenReader());
        (void)reader;
        return Ok();
    }

    Result<StoreStats> Stats() override {
        CARNET_TRY(auto conn, Conn::Open(path_));
        StoreStats stats;
        auto count = [&](const char* sql, int64_t& out) -> Status {
            CARNET_TRY(auto* raw, conn->Prepare(sql));
            Stmt st(raw);
            if (st.Step() != SQLITE_ROW) return SqliteError(conn->db(), "stats");
            out = st.Int(0);
            return Ok();
        };
        CARNET_CHECK(count("SELECT COUNT(*) FROM resources WHERE deleted = 0", stats.resources));
        CARNET_CHECK(count("SELECT COUNT(*) FROM versions", stats.versions));
        CARNET_CHECK(count("SELECT COUNT(*) FROM patient_keys WHERE patient_id <> ''",
                           stats.patients_with_keys));
        return stats;
    }

    [[nodiscard]] std::string Engine() const override { return "sqlite"; }

    void Close() override {
        {
            std::lock_guard lock(mu_);
            if (!running_) {
                if (!writer_thread_.joinable()) return;
            }
            running_ = false;
        }
        cv_.notify_all();
        if (writer_thread_.joinable()) writer_thread_.join();
        {
            std::lock_guard lock(pool_mu_);
            closed_ = true;
            pool_.clear();
        }
        if (writer_) {
            // Fold the WAL back into the main file so a closed store is one file.
            (void)writer_->Exec("PRAGMA wal_checkpoint(TRUNCATE)");
            writer_.reset();
        }
    }

  private:
    struct Job {
        const std::function<Status(WriteTxn&)>* fn;
        std::promise<Status> done;
    };

    Status Migrate() {
        CARNET_CHECK(writer_->Exec(
            "CREATE TABLE IF NOT EXISTS schema_migrations(version INTEGER PRIMARY KEY, name TEXT "
            "NOT NULL, applied_at INTEGER NOT NULL)"));
        int64_t current = 0;
        {
            CARNET_TRY(auto* raw, writer_->Prepare("SELECT COALESCE(MAX(version), 0) FROM "
                                                   "schema_migrations"));
            Stmt st(raw);
            if (st.Step() != SQLITE_ROW) return SqliteError(writer_->db(), "migrations");
            current = st.Int(0);
        }
        for (const auto& m : Migrations(Dialect::kSqlite)) {
            if (m.version <= current) continue;
            CARNET_CHECK(writer_->Exec("BEGIN IMMEDIATE"));
            for (const auto& sql : m.statements) {
                Status s = writer_->Exec(sql);
                if (!s.ok()) {
                    (void)writer_->Exec("ROLLBACK");
                    return s;
                }
            }
            CARNET_CHECK(writer_->Exec("INSERT INTO schema_migrations VALUES (" +
                                       std::to_string(m.version) + ", '" + m.name +
                                       "', strftime('%s','now'))"));
            CARNET_CHECK(writer_->Exec("COMMIT"));
            spdlog::info("store: applied migration {} ({})", m.version, m.name);
        }
        return Ok();
    }

    void WriterLoop() {
        std::vector<Job*> batch;
        for (;;) {
            {
                std::unique_lock lock(mu_);
                cv_.wait(lock, [&] { return !queue_.empty() || !running_; });
                if (queue_.empty() && !running_) return;
                while (!queue_.empty() && static_cast<int>(batch.size()) < max_batch_) {
                    batch.push_back(queue_.front());
                    queue_.pop_front();
                }
            }
            RunBatch(batch);
            batch.clear();
        }
    }

    void RunBatch(std::vector<Job*>& batch) {
        writer_->TrimCache();
        std::vector<Status> results;
        results.reserve(batch.size());
        std::vector<std::pair<std::string, crypto::Key>> committed_keys;
        Status begin = writer_->Run("BEGIN IMMEDIATE");
        if (!begin.ok()) {
            for (Job* j : batch) j->done.set_value(begin);
            return;
        }
        for (Job* j : batch) {
            Ops ops(*writer_, keyring_);
            Status s = writer_->Run("SAVEPOINT job");
            if (s.ok()) {
                try {
                    s = (*j->fn)(ops);
                } catch (const std::exception& e) {
                    s = Error::Internal(std::string("write job threw: ") + e.what());
                }
                if (s.ok()) {
                    s = writer_->Run("RELEASE job");
                    for (auto& k : ops.new_keys()) committed_keys.push_back(k);
                } else {
                    (void)writer_->Run("ROLLBACK TO job");
                    (void)writer_->Run("RELEASE job");
                }
            }
            results.push_back(std::move(s));
        }
        Status commit = writer_->Run("COMMIT");
        if (!commit.ok()) {
            (void)writer_->Exec("ROLLBACK");
            spdlog::error("store: group commit of {} jobs failed: {}", batch.size(),
                          commit.error().detail);
            for (Job* j : batch) j->done.set_value(commit);
            return;
        }
        for (auto& [pid, key] : committed_keys) keyring_.Remember(pid, key);
        for (size_t i = 0; i < batch.size(); ++i) batch[i]->done.set_value(std::move(results[i]));
    }

    std::string path_;
    Keyring keyring_;
    int max_batch_;
    std::unique_ptr<Conn> writer_;
    std::thread writer_thread_;
    std::mutex mu_;
    std::condition_variable cv_;
    std::deque<Job*> queue_;
    bool running_ = false;
    std::mutex pool_mu_;
    std::vector<std::unique_ptr<Conn>> pool_;
    bool closed_ = false;
};

SqliteReader::SqliteReader(SqliteStore& store, std::unique_ptr<Conn> conn, Keyring& keyring)
    : store_(store), conn_(std::move(conn)), ops_(*conn_, keyring) {
    // One snapshot for the whole request (search + _include see the same state).
    if (!conn_->Run("BEGIN").ok()) spdlog::warn("store: cannot open read transaction");
}

SqliteReader::~SqliteReader() {
    (void)conn_->Run("COMMIT");
    store_.Release(std::move(conn_));
}

}  // namespace

Result<std::unique_ptr<Store>> OpenSqliteStore(const StoreOptions& options,
                                               crypto::MasterKey master) {
    std::error_code ec;
    std::filesystem::create_directories(options.data_dir, ec);
    if (ec) return Error::Make(Code::kUnavailable, "exception", "cannot create the data directory");
    auto store = std::make_unique<SqliteStore>((options.data_dir / "carnet.db").string(),
                                               std::move(master), options.max_batch);
    CARNET_CHECK(store->Init(options.migrate));
    return std::unique_ptr<Store>(std::move(store));
}

}  // namespace carnet::store
