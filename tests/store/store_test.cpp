// The behavioural suite every engine must pass. PostgreSQL runs when CARNET_TEST_PG holds a
// DSN (the test command starts a throwaway server and sets it; CI always does).
#include "store/store.hpp"

#include <gtest/gtest.h>
#include <libpq-fe.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "core/ids.hpp"
#include "store/open.hpp"
#include "store/postgres/pg_conn.hpp"
#include "store/sql.hpp"

namespace carnet::store {
namespace {

std::string ReadFile(const std::filesystem::path& p) {
    std::ifstream f(p, std::ios::binary);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

class StoreTest : public ::testing::TestWithParam<std::string> {
  protected:
    void SetUp() override {
        crypto::Init();
        master_ = crypto::NewKey();
        options_.engine = GetParam();
        if (GetParam() == "postgres") {
            const char* dsn = std::getenv("CARNET_TEST_PG");
            if (!dsn || !*dsn) GTEST_SKIP() << "CARNET_TEST_PG not set";
            options_.pg_dsn = dsn;
        }
        dir_ = std::filesystem::temp_directory_path() /
               ("carnet-store-" + std::to_string(getpid()) + "-" + NewUuid());
        options_.data_dir = dir_;
        Open();
        if (GetParam() == "postgres") Wipe();
    }
    void TearDown() override {
        if (store_) store_->Close();
        store_.reset();
        std::filesystem::remove_all(dir_);
    }
    void Open() {
        auto s = OpenStore(options_, crypto::MasterKey::FromKeyForTest(master_));
        ASSERT_TRUE(s.ok()) << s.error().Summary() << " " << s.error().detail;
        store_ = std::move(s).value();
    }
    // PostgreSQL tests share one database: each test starts from empty tables (the store
    // was just opened, so its key cache is empty too).
    void Wipe() {
        ASSERT_TRUE(store_->Write([&](WriteTxn&) { return Ok(); }).ok());
        WipeForTest();
    }
    void WipeForTest();
    /// Runs one SQL command on its own connection (PostgreSQL only; `dsn` defaults to the
    /// store's); "" on success, else the server's message.
    std::string PgAdmin(const std::string& sql, const std::string& dsn = {}) {
        PGconn* conn = PQconnectdb((dsn.empty() ? options_.pg_dsn : dsn).c_str());
        std::string error;
        if (PQstatus(conn) != CONNECTION_OK) {
            error = PQerrorMessage(conn);
        } else {
            PQsetNoticeProcessor(
                conn, [](void*, const char*) {}, nullptr);
            PGresult* r = PQexec(conn, sql.c_str());
            const auto st = PQresultStatus(r);
            if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) error = PQerrorMessage(conn);
            PQclear(r);
        }
        PQfinish(conn);
        return error;
    }

    std::unique_ptr<Reader> reader() {
        auto r = store_->OpenReader();
        EXPECT_TRUE(r.ok());
        return std::move(r).value();
    }

    Status Put(const std::string& type, const std::string& id, int64_t version,
               const std::string& patient, const std::string& json, IndexValues ix = {},
               int64_t expected = -1, int64_t when = 0, bool deleted = false) {
        PutRequest req;
        req.resource.type = type;
        req.resource.id = id;
        req.resource.version = version;
        req.resource.patient_id = patient;
        req.resource.json = json;
        req.resource.deleted = deleted;
        req.resource.last_updated_us = when ? when : 1'700'000'000'000'000 + version;
        req.index = std::move(ix);
        req.expected_previous_version = expected >= 0 ? expected : version - 1;
        return store_->Write([&](WriteTxn& txn) { return txn.Put(req); });
    }

    std::vector<std::string> Ids(const SearchQuery& q) {
        auto page = reader()->Search(q);
        EXPECT_TRUE(page.ok()) << (page.ok() ? "" : page.error().detail);
        std::vector<std::string> ids;
        if (page.ok())
            for (auto& r : page->resources) ids.push_back(r.id);
        return ids;
    }

    static Predicate Token(const std::string& param, std::optional<std::string> system,
                           std::optional<std::string> code) {
        Predicate p;
        p.kind = Predicate::Kind::kToken;
        p.param = param;
        p.system = std::move(system);
        p.code = std::move(code);
        return p;
    }
    static Predicate Date(const std::string& param, Prefix prefix, int64_t low, int64_t high) {
        Predicate p;
        p.kind = Predicate::Kind::kDate;
        p.param = param;
        p.prefix = prefix;
        p.low_us = low;
        p.high_us = high;
        return p;
    }
    static SearchQuery Query(const std::string& type, std::vector<std::vector<Predicate>> ands) {
        SearchQuery q;
        q.type = type;
        for (auto& ors : ands) q.all_of.push_back(Clause{std::move(ors)});
        return q;
    }

    crypto::Key master_{};
    StoreOptions options_;
    std::filesystem::path dir_;
    std::unique_ptr<Store> store_;
};

void StoreTest::WipeForTest() {
    // Every table the store writes, whatever patients earlier tests used; RESTART IDENTITY
    // so rid/vid orders start over too.
    ASSERT_EQ(PgAdmin("TRUNCATE resources, versions, patient_keys, idx_token, idx_string, "
                      "idx_date, idx_ref, idx_quantity, outbox, inbox, accounts, access_settings, "
                      "access_relations, emergency_grants, access_flags, delegations, "
                      "access_epochs, blobs, blob_chunks RESTART IDENTITY"),
              "");
}

TEST_P(StoreTest, PutReadVersionAndConflict) {
    ASSERT_TRUE(Put("Patient", "p1", 1, "p1", R"({"resourceType":"Patient","id":"p1"})").ok());
    ASSERT_TRUE(
        Put("Patient", "p1", 2, "p1", R"({"resourceType":"Patient","id":"p1","active":true})")
            .ok());
    auto cur = reader()->ReadCurrent("Patient", "p1");
    ASSERT_TRUE(cur.ok());
    ASSERT_TRUE(cur->has_value());
    EXPECT_EQ((*cur)->version, 2);
    EXPECT_NE((*cur)->json.find("active"), std::string::npos);
    auto v1 = reader()->ReadVersion("Patient", "p1", 1);
    ASSERT_TRUE(v1.ok() && v1->has_value());
    EXPECT_EQ((*v1)->json.find("active"), std::string::npos);
    EXPECT_FALSE(reader()->ReadVersion("Patient", "p1", 3)->has_value());
    EXPECT_FALSE(reader()->ReadCurrent("Patient", "nope")->has_value());
    // A writer that read version 1 loses against the one that wrote version 2.
    auto stale = Put("Patient", "p1", 2, "p1", "{}", {}, 1);
    ASSERT_FALSE(stale.ok());
    EXPECT_EQ(stale.error().code, Code::kConflict);
    // Creating something that exists is a conflict too.
    EXPECT_EQ(Put("Patient", "p1", 1, "p1", "{}", {}, 0).error().code, Code::kConflict);
}

TEST_P(StoreTest, DeleteLeavesMarkerAndHistory) {
    ASSERT_TRUE(Put("Observation", "o1", 1, "p1", R"({"a":1})").ok());
    ASSERT_TRUE(Put("Observation", "o1", 2, "p1", "", {}, 1, 0, true).ok());
    auto cur = reader()->ReadCurrent("Observation", "o1");
    ASSERT_TRUE(cur.ok() && cur->has_value());
    EXPECT_TRUE((*cur)->deleted);
    // Exists answers what ReadCurrent would find, without reading a body.
    EXPECT_TRUE(*reader()->Exists("Observation", "o1")) << "a deletion marker is still known";
    EXPECT_FALSE(*reader()->Exists("Observation", "o2"));
    EXPECT_FALSE(*reader()->Exists("Patient", "o1")) << "the type is part of the key";
    EXPECT_TRUE(Ids(Query("Observation", {})).empty()) << "deleted resources are not found";
    HistoryQuery h;
    h.type = "Observation";
    h.id = "o1";
    auto hist = reader()->History(h);
    ASSERT_TRUE(hist.ok());
    ASSERT_EQ(hist->versions.size(), 2u);
    EXPECT_EQ(hist->versions[0].version, 2);
    EXPECT_TRUE(hist->versions[0].deleted);
    EXPECT_EQ(hist->versions[1].json, R"({"a":1})");
    // Re-creation after deletion continues the version sequence.
    EXPECT_TRUE(Put("Observation", "o1", 3, "p1", R"({"a":3})", {}, 2).ok());
}

TEST_P(StoreTest, TokenStringReferenceQuantitySearch) {
    IndexValues a;
    a.tokens = {{"code", "http://loinc.org", "8302-2"}, {"status", "", "final"}};
    a.references = {{"subject", "Patient", "p1"}, {"patient", "Patient", "p1"}};
    a.quantities = {{"value-quantity", 172.5, "http://unitsofmeasure.org", "cm"}};
    IndexValues b;
    b.tokens = {{"code", "http://loinc.org", "29463-7"}, {"status", "", "amended"}};
    b.references = {{"subject", "Patient", "p2"}, {"patient", "Patient", "p2"}};
    b.quantities = {{"value-quantity", 80, "http://unitsofmeasure.org", "kg"}};
    ASSERT_TRUE(Put("Observation", "a", 1, "p1", "{}", a).ok());
    ASSERT_TRUE(Put("Observation", "b", 1, "p2", "{}", b).ok());

    using V = std::vector<std::string>;
    EXPECT_EQ(Ids(Query("Observation", {{Token("code", "http://loinc.org", "8302-2")}})), V{"a"});
    EXPECT_EQ(Ids(Query("Observation", {{Token("code", std::nullopt, "29463-7")}})), V{"b"});
    EXPECT_EQ(Ids(Query("Observation", {{Token("code", "http://other", "29463-7")}})), V{});
    EXPECT_EQ(Ids(Query("Observation", {{Token("status", "", "final")}})), V{"a"});
    // OR within a parameter, AND across parameters.
    EXPECT_EQ(Ids(Query("Observation", {{Token("status", std::nullopt, "final"),
                                         Token("status", std::nullopt, "amended")}})),
              (V{"a", "b"}));
    EXPECT_EQ(Ids(Query("Observation", {{Token("status", std::nullopt, "final")},
                                        {Token("code", std::nullopt, "29463-7")}})),
              V{});
    Predicate notfinal = Token("status", std::nullopt, "final");
    notfinal.negate = true;
    EXPECT_EQ(Ids(Query("Observation", {{notfinal}})), V{"b"});

    Predicate ref;
    ref.kind = Predicate::Kind::kReference;
    ref.param = "patient";
    ref.target_type = "Patient";
    ref.target_id = "p2";
    EXPECT_EQ(Ids(Query("Observation", {{ref}})), V{"b"});
    ref.target_type = "";
    EXPECT_EQ(Ids(Query("Observation", {{ref}})), V{"b"});
    ref.target_type = "Group";
    EXPECT_EQ(Ids(Query("Observation", {{ref}})), V{});

    Predicate q;
    q.kind = Predicate::Kind::kQuantity;
    q.param = "value-quantity";
    q.prefix = Prefix::kGt;
    q.number = 100;
    EXPECT_EQ(Ids(Query("Observation", {{q}})), V{"a"});
    q.prefix = Prefix::kEq;
    q.number = 80;
    q.number_low = 79.5;
    q.number_high = 80.5;
    EXPECT_EQ(Ids(Query("Observation", {{q}})), V{"b"});
    q.code = "cm";
    EXPECT_EQ(Ids(Query("Observation", {{q}})), V{}) << "unit must match when given";

    Predicate id;
    id.kind = Predicate::Kind::kId;
    id.id = "a";
    EXPECT_EQ(Ids(Query("Observation", {{id}})), V{"a"});
    EXPECT_EQ(Ids(Query("Patient", {})), V{}) << "search is scoped to the type";
}

TEST_P(StoreTest, StringMatching) {
    IndexValues a;
    a.strings = {{"family", "dupont", "Dupont"}, {"name", "dupont", "Dupont"}};
    IndexValues b;
    b.strings = {{"family", "dupont-moretti", "Dupont-Moretti"}, {"name", "elodie", "Élodie"}};
    IndexValues c;
    c.strings = {{"family", "100%_sure", "100%_sure"}};
    ASSERT_TRUE(Put("Patient", "a", 1, "a", "{}", a).ok());
    ASSERT_TRUE(Put("Patient", "b", 1, "b", "{}", b).ok());
    ASSERT_TRUE(Put("Patient", "c", 1, "c", "{}", c).ok());
    auto s = [](std::string text, StringMatch m, std::string param = "family") {
        Predicate p;
        p.kind = Predicate::Kind::kString;
        p.param = std::move(param);
        p.text = std::move(text);
        p.match = m;
        return p;
    };
    using V = std::vector<std::string>;
    EXPECT_EQ(Ids(Query("Patient", {{s("dup", StringMatch::kStartsWith)}})), (V{"a", "b"}));
    EXPECT_EQ(Ids(Query("Patient", {{s("Dupont", StringMatch::kExact)}})), V{"a"});
    EXPECT_EQ(Ids(Query("Patient", {{s("dupont", StringMatch::kExact)}})), V{});
    EXPECT_EQ(Ids(Query("Patient", {{s("moret", StringMatch::kContains)}})), V{"b"});
    EXPECT_EQ(Ids(Query("Patient", {{s("Élodie", StringMatch::kExact, "name")}})), V{"b"});
    // LIKE wildcards in the search text are literal characters.
    EXPECT_EQ(Ids(Query("Patient", {{s("%", StringMatch::kContains)}})), V{"c"});
    EXPECT_EQ(Ids(Query("Patient", {{s("_", StringMatch::kContains)}})), V{"c"});
    EXPECT_EQ(Ids(Query("Patient", {{s("1", StringMatch::kStartsWith)}})), V{"c"});
}

TEST_P(StoreTest, DatePrefixesAndSort) {
    // Three observations on 2020-01-01, 2021-06-15 and over the whole of 2022.
    const int64_t d2020 = 1577836800LL * 1'000'000, day = 86400LL * 1'000'000;
    const int64_t d2021 = 1623715200LL * 1'000'000, d2022 = 1640995200LL * 1'000'000;
    const int64_t d2023 = 1672531200LL * 1'000'000;
    auto put = [&](const std::string& id, int64_t low, int64_t high) {
        IndexValues ix;
        ix.dates = {{"date", low, high}};
        ASSERT_TRUE(Put("Observation", id, 1, "p1", "{}", ix).ok());
    };
    put("x2021", d2021, d2021 + day - 1);
    put("x2020", d2020, d2020 + day - 1);
    put("x2022", d2022, d2023 - 1);
    using V = std::vector<std::string>;
    auto q = [&](Prefix p, int64_t low, int64_t high) {
        return Query("Observation", {{Date("date", p, low, high)}});
    };
    EXPECT_EQ(Ids(q(Prefix::kEq, d2020, d2020 + day - 1)), V{"x2020"});
    EXPECT_EQ(Ids(q(Prefix::kGe, d2021, d2021 + day - 1)), (V{"x2021", "x2022"}));
    EXPECT_EQ(Ids(q(Prefix::kGt, d2021, d2021 + day - 1)), V{"x2022"});
    EXPECT_EQ(Ids(q(Prefix::kLt, d2021, d2021 + day - 1)), V{"x2020"});
    EXPECT_EQ(Ids(q(Prefix::kLe, d2021, d2021 + day - 1)), (V{"x2021", "x2020"}));
    EXPECT_EQ(Ids(q(Prefix::kNe, d2020, d2020 + day - 1)), (V{"x2021", "x2022"}));
    // A search day inside 2022 overlaps the 2022 period but does not contain it.
    EXPECT_EQ(Ids(q(Prefix::kEq, d2022 + 10 * day, d2022 + 11 * day - 1)), V{});
    EXPECT_EQ(Ids(q(Prefix::kAp, d2022 + 10 * day, d2022 + 11 * day - 1)), V{"x2022"});
    EXPECT_EQ(Ids(q(Prefix::kSa, d2020, d2020 + day - 1)), (V{"x2021", "x2022"}));
    EXPECT_EQ(Ids(q(Prefix::kEb, d2022, d2022 + day - 1)), (V{"x2021", "x2020"}));

    SearchQuery sorted = Query("Observation", {});
    sorted.sort = SortKey{SortKey::Field::kDateParam, "date", false};
    EXPECT_EQ(Ids(sorted), (V{"x2020", "x2021", "x2022"}));
    sorted.sort->descending = true;
    EXPECT_EQ(Ids(sorted), (V{"x2022", "x2021", "x2020"}));

    Predicate lu;
    lu.kind = Predicate::Kind::kLastUpdated;
    lu.prefix = Prefix::kGe;
    lu.low_us = 1'700'000'000'000'001;
    lu.high_us = lu.low_us;
    EXPECT_EQ(Ids(Query("Observation", {{lu}})).size(), 3u);
    lu.prefix = Prefix::kGt;
    EXPECT_EQ(Ids(Query("Observation", {{lu}})).size(), 0u);
}

TEST_P(StoreTest, PagingStaysCorrectUnderInserts) {
    IndexValues ix;
    ix.tokens = {{"status", "", "final"}};
    for (int i = 0; i < 5; ++i) {
        ASSERT_TRUE(Put("Observation", "o" + std::to_string(i), 1, "p1", "{}", ix).ok());
    }
    SearchQuery q = Query("Observation", {{Token("status", std::nullopt, "final")}});
    q.count = 2;
    q.want_total = true;
    auto p1 = reader()->Search(q);
    ASSERT_TRUE(p1.ok());
    ASSERT_EQ(p1->resources.size(), 2u);
    EXPECT_EQ(p1->total, 5);
    ASSERT_FALSE(p1->next_cursor.empty());
    // Inserted between page 1 and page 2: must neither shift nor duplicate what follows.
    ASSERT_TRUE(Put("Observation", "new", 1, "p1", "{}", ix).ok());
    std::vector<std::string> seen = {p1->resources[0].id, p1->resources[1].id};
    std::string cursor = p1->next_cursor;
    while (!cursor.empty()) {
        q.cursor = cursor;
        auto page = reader()->Search(q);
        ASSERT_TRUE(page.ok());
        for (auto& r : page->resources) seen.push_back(r.id);
        cursor = page->next_cursor;
    }
    EXPECT_EQ(seen, (std::vector<std::string>{"o0", "o1", "o2", "o3", "o4", "new"}));
    q.cursor = "garbage";
    auto bad = reader()->Search(q);
    ASSERT_FALSE(bad.ok());
    EXPECT_EQ(bad.error().code, Code::kInvalid);
    q.cursor.clear();
    q.count = 0;
    auto count_only = reader()->Search(q);
    ASSERT_TRUE(count_only.ok());
    EXPECT_TRUE(count_only->resources.empty());
    EXPECT_EQ(count_only->total, 6);
}

TEST_P(StoreTest, UpdateReplacesIndexRows) {
    IndexValues a;
    a.tokens = {{"status", "", "preliminary"}};
    ASSERT_TRUE(Put("Observation", "o", 1, "p1", "{}", a).ok());
    a.tokens = {{"status", "", "final"}};
    ASSERT_TRUE(Put("Observation", "o", 2, "p1", "{}", a).ok());
    EXPECT_TRUE(
        Ids(Query("Observation", {{Token("status", std::nullopt, "preliminary")}})).empty());
    EXPECT_EQ(Ids(Query("Observation", {{Token("status", std::nullopt, "final")}})).size(), 1u);
}

TEST_P(StoreTest, HistoryPagingAndTypeLevel) {
    for (int v = 1; v <= 4; ++v) ASSERT_TRUE(Put("Patient", "p1", v, "p1", "{}").ok());
    ASSERT_TRUE(Put("Observation", "o", 1, "p1", "{}").ok());
    HistoryQuery h;
    h.type = "Patient";
    h.id = "p1";
    h.count = 3;
    auto page = reader()->History(h);
    ASSERT_TRUE(page.ok());
    ASSERT_EQ(page->versions.size(), 3u);
    EXPECT_EQ(page->versions[0].version, 4);
    h.cursor = page->next_cursor;
    auto page2 = reader()->History(h);
    ASSERT_TRUE(page2.ok());
    ASSERT_EQ(page2->versions.size(), 1u);
    EXPECT_EQ(page2->versions[0].version, 1);
    EXPECT_TRUE(page2->next_cursor.empty());
    HistoryQuery system;
    auto all = reader()->History(system);
    ASSERT_TRUE(all.ok());
    EXPECT_EQ(all->versions.size(), 5u);
    EXPECT_EQ(all->versions[0].type, "Observation");
}

TEST_P(StoreTest, FailedJobRollsBackOnlyItself) {
    std::atomic<int> ok_count{0}, failed{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; ++t) {
        threads.emplace_back([&, t] {
            for (int i = 0; i < 25; ++i) {
                std::string id = "t" + std::to_string(t) + "-" + std::to_string(i);
                Status s = store_->Write([&](WriteTxn& txn) -> Status {
                    PutRequest req;
                    req.resource = {"Observation", id, 1, 1, false, "p1", "{}"};
                    CARNET_CHECK(txn.Put(req));
                    // Every 5th job fails after writing: its write must vanish.
                    if (i % 5 == 0) return Error::Invalid("rejected on purpose");
                    return Ok();
                });
                (s.ok() ? ok_count : failed)++;
            }
        });
    }
    for (auto& th : threads) th.join();
    EXPECT_EQ(ok_count, 160);
    EXPECT_EQ(failed, 40);
    SearchQuery q = Query("Observation", {});
    q.count = 0;
    q.want_total = true;
    EXPECT_EQ(reader()->Search(q)->total, 160);
    EXPECT_FALSE(reader()->ReadCurrent("Observation", "t0-0")->has_value());
    EXPECT_TRUE(reader()->ReadCurrent("Observation", "t0-1")->has_value());
}

// A read decided on a snapshot is re-validated at commit by the record's access epoch
// alone (api::Scope::StillValid): every change to a fact a decision reads must move it, by
// whichever statement form the service uses (upserts included), and nothing else's.
TEST_P(StoreTest, EveryFactOfAnAccessDecisionMovesTheRecordsEpoch) {
    auto epoch = [&](const std::string& pid) -> int64_t {
        auto rows = reader()->Query("SELECT n FROM access_epochs WHERE patient_id = ?", {pid});
        EXPECT_TRUE(rows.ok());
        return rows.ok() && !rows->empty() ? AsInt((*rows)[0][0]) : 0;
    };
    auto exec = [&](const std::string& sql, std::vector<Value> params) {
        Status s = store_->Write([&](WriteTxn& txn) -> Status {
            CARNET_TRY(int64_t n, txn.Exec(sql, params));
            EXPECT_EQ(n, 1) << sql;
            return Ok();
        });
        ASSERT_TRUE(s.ok()) << sql << ": " << s.error().detail;
    };
    const std::vector<std::pair<std::string, std::vector<Value>>> moves = {
        {"INSERT INTO accounts(id, kind, status, patient_id, given, family, birth_date, "
         "profession, specialty, organisation, second_factor, activation_tries, totp_last_step, "
         "created_at, credentials_at) VALUES ('acc-a', 'patient', 'active', 'pa', 'A', 'B', "
         "'2010-01-01', '', '', '', 'email', 0, 0, 1, 1)",
         {}},
        {"UPDATE accounts SET status = 'closed' WHERE id = 'acc-a'", {}},
        {"UPDATE accounts SET birth_date = '1990-01-01' WHERE id = 'acc-a'", {}},
        {"INSERT INTO access_settings(patient_id, etreat, btg, emergency_masked, emergency_only, "
         "mask_new, notify_email, notify_sms, updated_at, updated_by) VALUES ('pa', 1, 1, 0, 0, "
         "0, 0, 0, 1, 'x')",
         {}},
        {"INSERT INTO access_settings(patient_id, etreat, btg, emergency_masked, emergency_only, "
         "mask_new, notify_email, notify_sms, updated_at, updated_by) VALUES ('pa', 0, 1, 0, 0, "
         "0, 0, 0, 2, 'x') ON CONFLICT(patient_id) DO UPDATE SET etreat = excluded.etreat",
         {}},
        {"INSERT INTO access_relations(patient_id, professional_account, status, via_code, roles, "
         "created_at, updated_at, updated_by) VALUES ('pa', 'pro', 'authorised', 0, '', 1, 1, "
         "'x')",
         {}},
        {"UPDATE access_relations SET status = 'blocked' WHERE patient_id = 'pa'", {}},
        {"DELETE FROM access_relations WHERE patient_id = 'pa'", {}},
        {"INSERT INTO emergency_grants(patient_id, id, professional_account, kind, reason, "
         "opened_at, until_at) VALUES ('pa', 'g1', 'pro', 'BTG', 'r', 1, 2)",
         {}},
        {"INSERT INTO access_flags(patient_id, type, id, author_account, author_kind, masked, "
         "hidden_until, hidden_repr, created_at) VALUES ('pa', 'DocumentReference', 'd1', '', '', "
         "1, 0, 0, 1) ON CONFLICT(patient_id, type, id) DO UPDATE SET masked = excluded.masked",
         {}},
        {"INSERT INTO access_flags(patient_id, type, id, author_account, author_kind, masked, "
         "hidden_until, hidden_repr, created_at) VALUES ('pa', 'DocumentReference', 'd1', '', '', "
         "0, 0, 0, 1) ON CONFLICT(patient_id, type, id) DO UPDATE SET masked = excluded.masked",
         {}},
        {"INSERT INTO delegations(patient_id, id, patient_account, delegate_account, kind, "
         "status, invited_by, created_at) VALUES ('pa', 'd1', 'acc-a', 'rep', 'representative', "
         "'active', 'acc-a', 1)",
         {}},
        {"UPDATE delegations SET status = 'ended' WHERE patient_id = 'pa'", {}},
        {"DELETE FROM emergency_grants WHERE patient_id = 'pa'", {}},
        {"DELETE FROM accounts WHERE id = 'acc-a'", {}},
    };
    int64_t before = epoch("pa");
    for (const auto& [sql, params] : moves) {
        exec(sql, params);
        const int64_t after = epoch("pa");
        EXPECT_GT(after, before) << "did not move the epoch: " << sql;
        before = after;
    }
    EXPECT_EQ(epoch("pb"), 0) << "another record's epoch moved";
    // What no decision reads leaves it alone (logins touch accounts all the time).
    exec(
        "INSERT INTO accounts(id, kind, status, patient_id, given, family, birth_date, "
        "profession, specialty, organisation, second_factor, activation_tries, totp_last_step, "
        "created_at, credentials_at) VALUES ('acc-b', 'patient', 'active', 'pb', 'A', 'B', "
        "'2010-01-01', '', '', '', 'email', 0, 0, 1, 1)",
        {});
    const int64_t pb = epoch("pb");
    EXPECT_GT(pb, 0);
    exec("UPDATE accounts SET email = 'x@example.org', totp_last_step = 5 WHERE id = 'acc-b'", {});
    EXPECT_EQ(epoch("pb"), pb);
    // A change that rolls back leaves no trace either.
    Status failed = store_->Write([&](WriteTxn& txn) -> Status {
        CARNET_CHECK(txn.Exec("UPDATE accounts SET status = 'opposed' WHERE id = 'acc-b'"));
        return Error::Invalid("rolled back on purpose");
    });
    EXPECT_FALSE(failed.ok());
    EXPECT_EQ(epoch("pb"), pb);
}

TEST_P(StoreTest, NestedFailureUndoesOnlyItsOwnWrites) {
    Status s = store_->Write([&](WriteTxn& txn) -> Status {
        PutRequest a;
        a.resource = {"Observation", "kept", 1, 1, false, "p1", "{}"};
        CARNET_CHECK(txn.Nested([&] { return txn.Put(a); }));
        Status failed = txn.Nested([&]() -> Status {
            PutRequest b;
            b.resource = {"Observation", "undone", 1, 1, false, "p3", "{}"};
            CARNET_CHECK(txn.Put(b));
            return Error::Invalid("entry refused");
        });
        EXPECT_FALSE(failed.ok());
        return Ok();
    });
    ASSERT_TRUE(s.ok());
    EXPECT_TRUE(reader()->ReadCurrent("Observation", "kept")->has_value());
    EXPECT_FALSE(reader()->ReadCurrent("Observation", "undone")->has_value());
    // The key created for p3 inside the undone savepoint must not be cached as committed:
    // writing for p3 again must create and store a key that reads back.
    ASSERT_TRUE(Put("Observation", "later", 1, "p3", R"({"x":1})").ok());
    auto later = reader()->ReadCurrent("Observation", "later");
    ASSERT_TRUE(later.ok() && later->has_value());
    EXPECT_EQ((*later)->json, R"({"x":1})");
}

TEST_P(StoreTest, DurableAcrossReopen) {
    ASSERT_TRUE(Put("Patient", "p1", 1, "p1", R"({"x":"kept"})").ok());
    store_->Close();
    store_.reset();
    Open();
    auto cur = reader()->ReadCurrent("Patient", "p1");
    ASSERT_TRUE(cur.ok() && cur->has_value());
    EXPECT_EQ((*cur)->json, R"({"x":"kept"})");
}

TEST_P(StoreTest, WrongMasterKeyCannotRead) {
    ASSERT_TRUE(Put("Patient", "p1", 1, "p1", R"({"x":1})").ok());
    store_->Close();
    store_.reset();
    master_ = crypto::NewKey();
    Open();
    auto cur = reader()->ReadCurrent("Patient", "p1");
    EXPECT_FALSE(cur.ok()) << "a body must not open without the right master key";
}

TEST_P(StoreTest, PurgePatientShredsKeyAndRows) {
    // One row in every index table for each patient's Observation.
    auto index = [](const std::string& patient) {
        IndexValues ix;
        ix.tokens.push_back({"code", "http://loinc.org", "8302-2"});
        ix.strings.push_back({"note", "taille", "taille"});
        ix.dates.push_back({"date", 1'600'000'000'000'000, 1'600'000'000'000'000});
        ix.references.push_back({"subject", "Patient", patient});
        ix.quantities.push_back({"value-quantity", 170, "http://unitsofmeasure.org", "cm"});
        return ix;
    };
    ASSERT_TRUE(Put("Patient", "p1", 1, "p1", "{}").ok());
    ASSERT_TRUE(Put("Observation", "o1", 1, "p1", "{}", index("p1")).ok());
    ASSERT_TRUE(Put("Patient", "p2", 1, "p2", "{}").ok());
    ASSERT_TRUE(Put("Observation", "o2", 1, "p2", "{}", index("p2")).ok());
    auto index_rows = [&](const std::string& patient) {
        int64_t n = 0;
        for (const char* t : {"idx_token", "idx_string", "idx_date", "idx_ref", "idx_quantity"}) {
            auto rows = reader()->Query(
                std::string("SELECT COUNT(*) FROM ") + t + " WHERE patient_id = ?", {patient});
            EXPECT_TRUE(rows.ok());
            if (rows.ok()) n += AsInt((*rows)[0][0]);
        }
        return n;
    };
    ASSERT_EQ(index_rows("p1"), 5);
    auto before = store_->Stats();
    ASSERT_TRUE(before.ok());
    ASSERT_TRUE(store_->PurgePatient("p1").ok());
    EXPECT_FALSE(reader()->ReadCurrent("Patient", "p1")->has_value());
    EXPECT_FALSE(reader()->ReadCurrent("Observation", "o1")->has_value());
    EXPECT_TRUE(reader()->ReadCurrent("Patient", "p2")->has_value());
    EXPECT_EQ(index_rows("p1"), 0) << "no index row of the purged patient is left";
    EXPECT_EQ(index_rows("p2"), 5) << "the other patient's rows stay";
    auto after = store_->Stats();
    ASSERT_TRUE(after.ok());
    EXPECT_EQ(after->patients_with_keys, before->patients_with_keys - 1);
}

TEST_P(StoreTest, HealthContentNeverInClearOnDisk) {
    const std::string marker = "MARKER-" + NewUuid();
    ASSERT_TRUE(Put("Observation", "o1", 1, "p1",
                    R"({"resourceType":"Observation","note":[{"text":")" + marker + R"("}]})")
                    .ok());
    ASSERT_TRUE(Put("Practitioner", "dr", 1, "", R"({"note":")" + marker + R"("})").ok());
    auto cur = reader()->ReadCurrent("Observation", "o1");
    ASSERT_TRUE(cur.ok() && cur->has_value());
    ASSERT_NE((*cur)->json.find(marker), std::string::npos) << "readable through the store";
    if (GetParam() == "sqlite") {
        // Before close: the WAL holds the recent pages; after: the main file does.
        std::string wal = ReadFile(dir_ / "carnet.db-wal");
        EXPECT_FALSE(wal.empty());
        EXPECT_EQ(wal.find(marker), std::string::npos);
        EXPECT_EQ(ReadFile(dir_ / "carnet.db").find(marker), std::string::npos);
        store_->Close();
        EXPECT_EQ(ReadFile(dir_ / "carnet.db").find(marker), std::string::npos);
    } else {
        const std::string dump = (dir_ / "dump.sql").string();
        std::filesystem::create_directories(dir_);
        std::string cmd = "pg_dump --data-only '" + options_.pg_dsn + "' > " + dump;
        ASSERT_EQ(std::system(cmd.c_str()), 0);
        std::string text = ReadFile(dump);
        EXPECT_GT(text.size(), 100u);
        EXPECT_EQ(text.find(marker), std::string::npos);
        // Sanity: the dump does contain the ids, so the search above was meaningful.
        EXPECT_NE(text.find("o1"), std::string::npos);
    }
}

// ---- blobs -----------------------------------------------------------------------------

namespace {
/// Content of n bytes, different at every offset (so a chunk out of place would show).
std::string Pattern(size_t n, unsigned seed) {
    std::string s(n, '\0');
    uint32_t x = seed * 2654435761u + 1;
    for (size_t i = 0; i < n; ++i) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        s[i] = static_cast<char>(x & 0xff);
    }
    return s;
}

/// A source handing out `content` in pieces of `piece` bytes.
ChunkSource Pieces(const std::string& content, size_t piece) {
    auto offset = std::make_shared<size_t>(0);
    return [&content, piece, offset]() -> Result<std::optional<std::string>> {
        if (*offset >= content.size()) return std::optional<std::string>();
        std::string out = content.substr(*offset, piece);
        *offset += out.size();
        return std::optional<std::string>(std::move(out));
    };
}

Result<std::string> ReadAll(BlobSource& source) {
    std::string out;
    for (;;) {
        CARNET_TRY(auto chunk, source.Next());
        if (!chunk) return out;
        out += *chunk;
    }
}
}  // namespace

TEST_P(StoreTest, BlobsRoundTripAtEveryChunkBoundary) {
    // Sizes around the chunk size, fed in pieces that do not line up with chunks.
    const size_t c = kBlobChunkBytes;
    const std::vector<size_t> sizes = {1, 1000, c - 1, c, c + 1, 2 * c, 5 * 1024 * 1024 + 3};
    unsigned seed = 0;
    for (size_t size : sizes) {
        const std::string id = "b" + std::to_string(size);
        const std::string content = Pattern(size, ++seed);
        for (size_t piece : {size_t{7919}, size_t{1} << 20}) {
            const std::string bid = id + "-" + std::to_string(piece);
            Result<BlobMeta> put = Error::Internal("not run");
            ASSERT_TRUE(store_
                            ->Write([&](WriteTxn& txn) -> Status {
                                BlobMeta m;
                                m.patient_id = "p1";
                                m.id = bid;
                                m.content_type = "application/pdf";
                                m.created_at_us = 42;
                                put = txn.PutBlob(m, Pieces(content, piece), 64 << 20);
                                return put.ok() ? Ok() : Status(put.error());
                            })
                            .ok());
            ASSERT_TRUE(put.ok());
            EXPECT_EQ(put->size, static_cast<int64_t>(size));
            EXPECT_EQ(put->chunks, static_cast<int64_t>((size + c - 1) / c)) << size;
            auto meta = reader()->BlobMetaOf("p1", bid);
            ASSERT_TRUE(meta.ok() && meta->has_value());
            EXPECT_EQ((*meta)->content_type, "application/pdf");
            EXPECT_EQ((*meta)->created_at_us, 42);
            auto source = store_->OpenBlob("p1", bid);
            ASSERT_TRUE(source.ok()) << source.error().detail;
            auto back = ReadAll(**source);
            ASSERT_TRUE(back.ok()) << back.error().detail;
            EXPECT_TRUE(*back == content) << "size " << size << " piece " << piece;
        }
    }
    // The other patient's blob space is separate, and a missing blob is not found.
    auto none = store_->OpenBlob("p2", "b1-7919");
    ASSERT_FALSE(none.ok());
    EXPECT_EQ(none.error().code, Code::kNotFound);
}

TEST_P(StoreTest, ABlobOverItsLimitLeavesNothingBehind) {
    const std::string content = Pattern(3 * kBlobChunkBytes, 9);
    const int64_t limit = static_cast<int64_t>(content.size()) - 1;
    Status s = store_->Write([&](WriteTxn& txn) -> Status {
        BlobMeta m;
        m.patient_id = "p1";
        m.id = "big";
        m.content_type = "image/png";
        CARNET_TRY(auto meta, txn.PutBlob(m, Pieces(content, 100000), limit));
        (void)meta;
        return Ok();
    });
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.error().code, Code::kTooLarge);
    // Exactly at the limit is accepted.
    Status at = store_->Write([&](WriteTxn& txn) -> Status {
        BlobMeta m;
        m.patient_id = "p1";
        m.id = "fits";
        m.content_type = "image/png";
        CARNET_TRY(auto meta, txn.PutBlob(m, Pieces(content, 100000), limit + 1));
        (void)meta;
        return Ok();
    });
    ASSERT_TRUE(at.ok());
    auto rows = reader()->Query("SELECT COUNT(*) FROM blob_chunks WHERE blob_id = 'big'");
    ASSERT_TRUE(rows.ok());
    EXPECT_EQ(AsInt((*rows)[0][0]), 0) << "no chunk of the refused blob was kept";
    EXPECT_FALSE(reader()->BlobMetaOf("p1", "big")->has_value());
    // The same id again is a conflict, and the first stays intact.
    Status again = store_->Write([&](WriteTxn& txn) -> Status {
        BlobMeta m;
        m.patient_id = "p1";
        m.id = "fits";
        m.content_type = "image/png";
        CARNET_TRY(auto meta, txn.PutBlob(m, Pieces("x", 1), 10));
        (void)meta;
        return Ok();
    });
    ASSERT_FALSE(again.ok());
    EXPECT_EQ(again.error().code, Code::kConflict);
    auto source = store_->OpenBlob("p1", "fits");
    ASSERT_TRUE(source.ok());
    EXPECT_TRUE(*ReadAll(**source) == content);
}

TEST_P(StoreTest, ATamperedMovedOrMissingBlobChunkIsRefused) {
    const std::string content = Pattern(3 * kBlobChunkBytes + 10, 5);
    for (const char* id : {"t1", "t2"}) {
        ASSERT_TRUE(store_
                        ->Write([&](WriteTxn& txn) -> Status {
                            BlobMeta m;
                            m.patient_id = "p1";
                            m.id = id;
                            m.content_type = "application/pdf";
                            CARNET_TRY(auto meta, txn.PutBlob(m, Pieces(content, 65536), 1 << 30));
                            (void)meta;
                            return Ok();
                        })
                        .ok());
    }
    auto exec = [&](const std::string& sql) {
        ASSERT_TRUE(store_
                        ->Write([&](WriteTxn& txn) -> Status {
                            CARNET_TRY(int64_t n, txn.Exec(sql));
                            EXPECT_GT(n, 0) << sql;
                            return Ok();
                        })
                        .ok())
            << sql;
    };
    auto fails = [&](const std::string& id) {
        auto source = store_->OpenBlob("p1", id);
        if (!source.ok()) return true;
        return !ReadAll(**source).ok();
    };
    ASSERT_FALSE(fails("t1"));
    // Chunk 1 of t1 replaced by chunk 1 of t2 (same key, same position, other blob).
    exec(
        "UPDATE blob_chunks SET data = (SELECT data FROM blob_chunks WHERE blob_id = 't2' AND "
        "n = 1) WHERE blob_id = 't1' AND n = 1");
    EXPECT_TRUE(fails("t1")) << "a chunk from another blob";
    // Chunks 1 and 2 of t2 swapped.
    exec("UPDATE blob_chunks SET n = 99 WHERE blob_id = 't2' AND n = 1");
    exec("UPDATE blob_chunks SET n = 1 WHERE blob_id = 't2' AND n = 2");
    exec("UPDATE blob_chunks SET n = 2 WHERE blob_id = 't2' AND n = 99");
    EXPECT_TRUE(fails("t2")) << "reordered chunks";
    // Truncation: the final chunk deleted and the count lowered to match.
    ASSERT_TRUE(store_
                    ->Write([&](WriteTxn& txn) -> Status {
                        BlobMeta m;
                        m.patient_id = "p1";
                        m.id = "t3";
                        m.content_type = "application/pdf";
                        CARNET_TRY(auto meta, txn.PutBlob(m, Pieces(content, 65536), 1 << 30));
                        (void)meta;
                        return Ok();
                    })
                    .ok());
    exec("DELETE FROM blob_chunks WHERE blob_id = 't3' AND n = 3");
    exec("UPDATE blobs SET chunks = 3, size = " + std::to_string(3 * kBlobChunkBytes) +
         " WHERE id = 't3'");
    EXPECT_TRUE(fails("t3")) << "a truncated blob";
}

TEST_P(StoreTest, BlobsAreSealedAndPurgedWithTheirPatient) {
    const std::string marker = "BLOB-MARKER-" + NewUuid();
    const std::string content = Pattern(kBlobChunkBytes, 3) + marker + Pattern(1000, 4);
    ASSERT_TRUE(store_
                    ->Write([&](WriteTxn& txn) -> Status {
                        for (const char* pid : {"p1", "p2"}) {
                            BlobMeta m;
                            m.patient_id = pid;
                            m.id = std::string("doc-") + pid;
                            m.content_type = "text/plain";
                            CARNET_TRY(auto meta, txn.PutBlob(m, Pieces(content, 4096), 1 << 30));
                            (void)meta;
                        }
                        return Ok();
                    })
                    .ok());
    if (GetParam() == "sqlite") {
        EXPECT_EQ(ReadFile(dir_ / "carnet.db-wal").find(marker), std::string::npos);
        EXPECT_EQ(ReadFile(dir_ / "carnet.db").find(marker), std::string::npos);
    }
    ASSERT_TRUE(store_->PurgePatient("p1").ok());
    EXPECT_FALSE(reader()->BlobMetaOf("p1", "doc-p1")->has_value());
    auto rows = reader()->Query("SELECT COUNT(*) FROM blob_chunks WHERE patient_id = 'p1'");
    ASSERT_TRUE(rows.ok());
    EXPECT_EQ(AsInt((*rows)[0][0]), 0);
    auto kept = store_->OpenBlob("p2", "doc-p2");
    ASSERT_TRUE(kept.ok());
    EXPECT_TRUE(*ReadAll(**kept) == content) << "the other patient's blob stays";
}

TEST_P(StoreTest, ConcurrentCreatesOfOneIdOnlyOneWins) {
    // Eight writers create the same resource (and the same new patient's key) at once.
    for (int round = 0; round < 5; ++round) {
        const std::string id = "race" + std::to_string(round);
        const std::string patient = "racer" + std::to_string(round);
        std::atomic<int> ready{0}, won{0}, conflicts{0}, other{0};
        std::vector<std::thread> threads;
        for (int t = 0; t < 8; ++t) {
            threads.emplace_back([&, t] {
                ++ready;
                while (ready < 8) std::this_thread::yield();
                Status s =
                    Put("Patient", id, 1, patient, R"({"t":)" + std::to_string(t) + "}", {}, 0);
                if (s.ok()) {
                    ++won;
                } else if (s.error().code == Code::kConflict) {
                    ++conflicts;
                } else {
                    ++other;
                }
            });
        }
        for (auto& th : threads) th.join();
        EXPECT_EQ(won, 1) << id;
        EXPECT_EQ(conflicts, 7) << id;
        EXPECT_EQ(other, 0) << id;
        HistoryQuery h;
        h.type = "Patient";
        h.id = id;
        auto hist = reader()->History(h);
        ASSERT_TRUE(hist.ok());
        ASSERT_EQ(hist->versions.size(), 1u) << "the losers wrote nothing";
        EXPECT_NE(hist->versions[0].json.find("\"t\":"), std::string::npos);
    }
}

TEST_P(StoreTest, IndexValuesWithQuotesAndSeparators) {
    // Values travel as array literals on PostgreSQL: quotes, backslashes, commas and braces
    // must come back as written.
    const std::string odd = R"(o'brien "x" {a,b} \ NULL)";
    IndexValues ix;
    ix.strings = {{"family", "obrien", odd}, {"family", "", ""}};
    ix.tokens = {{"identifier", odd, "NULL"}};
    ix.references = {{"general-practitioner", "Practitioner", odd}};
    ix.quantities = {{"weight", -0.1, "", ""}, {"weight", 1e300, "", ""}};
    ASSERT_TRUE(Put("Patient", "odd", 1, "p1", "{}", ix).ok());
    Predicate exact;
    exact.kind = Predicate::Kind::kString;
    exact.param = "family";
    exact.text = odd;
    exact.match = StringMatch::kExact;
    using V = std::vector<std::string>;
    EXPECT_EQ(Ids(Query("Patient", {{exact}})), V{"odd"});
    EXPECT_EQ(Ids(Query("Patient", {{Token("identifier", odd, "NULL")}})), V{"odd"});
    Predicate ref;
    ref.kind = Predicate::Kind::kReference;
    ref.param = "general-practitioner";
    ref.target_id = odd;
    EXPECT_EQ(Ids(Query("Patient", {{ref}})), V{"odd"});
    Predicate q;
    q.kind = Predicate::Kind::kQuantity;
    q.param = "weight";
    q.prefix = Prefix::kLt;
    q.number = 0;
    EXPECT_EQ(Ids(Query("Patient", {{q}})), V{"odd"});
    q.prefix = Prefix::kGt;
    q.number = 1e299;
    EXPECT_EQ(Ids(Query("Patient", {{q}})), V{"odd"});
}

TEST_P(StoreTest, LostConnectionsFailCleanlyThenRecover) {
    if (GetParam() != "postgres") GTEST_SKIP() << "PostgreSQL only";
    // A name of our own, so we kill this store's connections and nobody else's.
    const std::string app = "carnet_kill_" + std::to_string(getpid());
    store_->Close();
    store_.reset();
    options_.pg_dsn += " application_name=" + app;
    Open();
    const std::string kill =
        "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity WHERE application_name = '" +
        app + "' AND pid <> pg_backend_pid()";
    ASSERT_TRUE(Put("Patient", "p1", 1, "p1", R"({"x":1})").ok());

    // Idle pooled connections killed: the next calls notice and reconnect.
    ASSERT_EQ(PgAdmin(kill), "");
    EXPECT_TRUE(store_->Ping().ok());
    ASSERT_EQ(PgAdmin(kill), "");
    ASSERT_TRUE(Put("Patient", "p1", 2, "p1", R"({"x":2})").ok());
    ASSERT_EQ(PgAdmin(kill), "");
    auto cur = reader()->ReadCurrent("Patient", "p1");
    ASSERT_TRUE(cur.ok() && cur->has_value());
    EXPECT_EQ((*cur)->version, 2);

    // Killed under an open reader: its next call fails as a value, the message internal.
    {
        auto r = reader();
        ASSERT_EQ(PgAdmin(kill), "");
        auto lost = r->ReadCurrent("Patient", "p1");
        ASSERT_FALSE(lost.ok());
        EXPECT_EQ(lost.error().code, Code::kUnavailable);
        EXPECT_FALSE(lost.error().detail.empty());
        for (const auto& issue : lost.error().issues) EXPECT_EQ(issue.diagnostics, "storage error");
        EXPECT_FALSE(r->Search(Query("Patient", {})).ok()) << "still a value, never a crash";
    }

    // Killed inside a write job: the write fails cleanly and leaves nothing behind.
    Status s = store_->Write([&](WriteTxn& txn) -> Status {
        EXPECT_EQ(PgAdmin(kill), "");
        PutRequest req;
        req.resource = {"Patient", "p1", 3, 1, false, "p1", R"({"x":3})"};
        req.expected_previous_version = 2;
        return txn.Put(req);
    });
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.error().code, Code::kUnavailable);

    // And the store goes on.
    ASSERT_TRUE(Put("Patient", "p1", 3, "p1", R"({"x":3})").ok());
    cur = reader()->ReadCurrent("Patient", "p1");
    ASSERT_TRUE(cur.ok() && cur->has_value());
    EXPECT_EQ((*cur)->json, R"({"x":3})");
    EXPECT_TRUE(store_->Stats().ok());
}

TEST_P(StoreTest, ConcurrentFirstOpensMigrateOnce) {
    if (GetParam() != "postgres") GTEST_SKIP() << "PostgreSQL only";
    // A fresh database of our own: four processes' worth of stores open it at once.
    const std::string db = "carnet_migrate_" + std::to_string(getpid());
    (void)PgAdmin("DROP DATABASE IF EXISTS " + db);
    ASSERT_EQ(PgAdmin("CREATE DATABASE " + db), "");
    StoreOptions fresh = options_;
    fresh.pg_dsn += " dbname=" + db;
    fresh.pg_pool_size = 2;
    std::atomic<int> opened{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&] {
            auto s = OpenStore(fresh, crypto::MasterKey::FromKeyForTest(master_));
            EXPECT_TRUE(s.ok()) << (s.ok() ? "" : s.error().detail);
            if (!s.ok()) return;
            ++opened;
            (*s)->Close();
        });
    }
    for (auto& th : threads) th.join();
    EXPECT_EQ(opened, 4);
    EXPECT_EQ(PgAdmin("DO $$ BEGIN IF (SELECT COUNT(*) FROM schema_migrations) <> " +
                          std::to_string(Migrations(Dialect::kPostgres).size()) +
                          " THEN RAISE EXCEPTION 'migrations applied more than once'; END IF; "
                          "END $$",
                      fresh.pg_dsn),
              "");
    EXPECT_EQ(PgAdmin("DROP DATABASE " + db + " WITH (FORCE)"), "");
}

TEST(PgSql, RenumbersPlaceholdersOutsideLiterals) {
    using pg::RenumberPlaceholders;
    EXPECT_EQ(RenumberPlaceholders("a = ? AND b = ?"), "a = $1 AND b = $2");
    // standard_conforming_strings: '\' is a whole literal, the next ? is a placeholder.
    EXPECT_EQ(RenumberPlaceholders(R"(x LIKE ? ESCAPE '\' AND y = ?)"),
              R"(x LIKE $1 ESCAPE '\' AND y = $2)");
    EXPECT_EQ(RenumberPlaceholders("'it''s ?' = ?"), "'it''s ?' = $1");
    EXPECT_EQ(RenumberPlaceholders(R"(E'\'?' = ?)"), R"(E'\'?' = $1)");
    EXPECT_EQ(RenumberPlaceholders("\"col?\" = ? -- why?\nAND /* a ? /* b ? */ c? */ z = ?"),
              "\"col?\" = $1 -- why?\nAND /* a ? /* b ? */ c? */ z = $2");
    EXPECT_EQ(RenumberPlaceholders("$$ ? $$ || $tag$ ? $tag$ || ?"),
              "$$ ? $$ || $tag$ ? $tag$ || $1");
    EXPECT_EQ(RenumberPlaceholders("?::text[] || ?"), "$1::text[] || $2");
}

TEST(PgSql, ArrayLiteralsEscapeQuotesAndBackslashes) {
    EXPECT_EQ(pg::TextArray({}), "{}");
    EXPECT_EQ(pg::TextArray({"a", "", R"(b"c\d,{e})"}), R"({"a","","b\"c\\d,{e}"})");
}

TEST(SqlCursor, RoundTripAndRejects) {
    auto c = DecodeCursor(EncodeCursor(Cursor{-42, 7}));
    ASSERT_TRUE(c.ok());
    EXPECT_EQ(c->sort_value, -42);
    EXPECT_EQ(c->rid, 7);
    for (const char* bad : {"", "12", "a_b", "1_2x", "_", "1_"}) {
        EXPECT_FALSE(DecodeCursor(bad).ok()) << bad;
    }
}

TEST_P(StoreTest, ServiceRowsRoundTripWithTypesNullsAndConflicts) {
    const std::string text = "é\"'; DROP TABLE outbox; --";  // stays data, not SQL
    Status s = store_->Write([&](WriteTxn& txn) -> Status {
        CARNET_TRY(int64_t n,
                   txn.Exec("INSERT INTO outbox(patient_id, id, channel, recipient, template, "
                            "params, created_at, next_attempt_at, attempts, status, last_error) "
                            "VALUES (?, ?, 'email', ?, 't', '{}', ?, ?, 0, 'pending', ?)",
                            {"p1", "o1", text, int64_t{-5}, int64_t{1} << 40, nullptr}));
        EXPECT_EQ(n, 1);
        // Reads inside the transaction see its own rows.
        CARNET_TRY(auto rows, txn.Query("SELECT COUNT(*) FROM outbox"));
        EXPECT_EQ(AsInt(rows.at(0).at(0)), 1);
        return Ok();
    });
    ASSERT_TRUE(s.ok()) << s.error().Summary() << " " << s.error().detail;

    auto reader = store_->OpenReader();
    ASSERT_TRUE(reader.ok());
    auto rows = (*reader)->Query(
        "SELECT recipient, created_at, next_attempt_at, last_error, sent_at FROM outbox WHERE "
        "patient_id = ? AND id = ?",
        {"p1", "o1"});
    ASSERT_TRUE(rows.ok()) << rows.error().detail;
    ASSERT_EQ(rows->size(), 1U);
    const Row& row = rows->front();
    EXPECT_EQ(AsText(row[0]), text);
    EXPECT_EQ(AsInt(row[1]), -5);
    EXPECT_EQ(AsInt(row[2]), int64_t{1} << 40);
    EXPECT_TRUE(IsNull(row[3]));
    EXPECT_TRUE(IsNull(row[4]));
    reader->reset();

    // The same key again: kConflict, and the failed job leaves nothing behind.
    Status dup = store_->Write([&](WriteTxn& txn) -> Status {
        CARNET_CHECK(
            txn.Exec("INSERT INTO inbox(patient_id, id, account_id, title, text, "
                     "created_at) VALUES ('p1', 'i1', 'a', 't', 'x', 1)"));
        CARNET_CHECK(txn.Exec(
            "INSERT INTO outbox(patient_id, id, channel, recipient, template, params, "
            "created_at, next_attempt_at, attempts, status) VALUES ('p1', 'o1', 'email', 'x', "
            "'t', '{}', 1, 1, 0, 'pending')"));
        return Ok();
    });
    ASSERT_FALSE(dup.ok());
    EXPECT_EQ(dup.error().code, Code::kConflict);
    auto again = store_->OpenReader();
    ASSERT_TRUE(again.ok());
    auto inbox = (*again)->Query("SELECT COUNT(*) FROM inbox");
    ASSERT_TRUE(inbox.ok());
    EXPECT_EQ(AsInt(inbox->at(0).at(0)), 0);

    // A statement error is an error value, not a crash.
    auto bad = (*again)->Query("SELECT no_such_column FROM outbox");
    EXPECT_FALSE(bad.ok());
}

INSTANTIATE_TEST_SUITE_P(Engines, StoreTest, ::testing::Values("sqlite", "postgres"),
                         [](const auto& param_info) { return param_info.param; });

}  // namespace
}  // namespace carnet::store
