// The access log on both engines: the chains, the checkpoints, the witness file, and the
// verifier against each way of tampering with them (a rewritten field, a deleted or moved
// entry, a truncated chain, a chain rewritten and re-hashed without the key, forged or
// deleted checkpoints, an older backup restored), plus concurrent writers on PostgreSQL.
#include "audit/audit.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <boost/json.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "core/ids.hpp"
#include "crypto/crypto.hpp"
#include "store/open.hpp"

namespace carnet::audit {
namespace {

namespace fs = std::filesystem;
using store::AsInt;
using store::AsText;

constexpr int64_t kT0 = 1'800'000'000'000'000;  // 2027-01-15, microseconds
constexpr int64_t kSecond = 1'000'000;

std::string ReadFile(const fs::path& p) {
    std::ifstream f(p, std::ios::binary);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

std::string Describe(const Report& r) {
    std::string out = "patients=" + std::to_string(r.patients) +
                      " entries=" + std::to_string(r.entries) +
                      " checkpoints=" + std::to_string(r.checkpoints) + "\n";
    for (const auto& p : r.problems)
        out += "  [" + p.patient_id + "] seq " + std::to_string(p.seq) + ": " + p.what + " (" +
               p.detail + ")\n";
    return out;
}

bool Has(const Report& r, const std::string& pid, int64_t seq, const std::string& what) {
    return std::any_of(r.problems.begin(), r.problems.end(), [&](const Problem& p) {
        return p.patient_id == pid && p.seq == seq && p.what == what;
    });
}

/// The problems that name a patient.
std::vector<Problem> EntryProblems(const Report& r) {
    std::vector<Problem> out;
    for (const auto& p : r.problems)
        if (!p.patient_id.empty()) out.push_back(p);
    return out;
}

class AuditTest : public ::testing::TestWithParam<std::string> {
  protected:
    void SetUp() override {
        crypto::Init();
        options_.engine = GetParam();
        if (GetParam() == "postgres") {
            const char* dsn = std::getenv("CARNET_TEST_PG");
            if (!dsn || !*dsn) GTEST_SKIP() << "CARNET_TEST_PG not set";
            options_.pg_dsn = dsn;
        }
        dir_ = fs::temp_directory_path() / ("carnet-audit-" + NewUuid());
        options_.data_dir = dir_;
        witness_ = dir_ / "audit" / "checkpoints.jsonl";
        master_ = crypto::NewKey();
        signer_ = std::make_unique<Signer>(crypto::MasterKey::FromKeyForTest(master_));
        Open();
        // PostgreSQL tests share one database.
        Exec("DELETE FROM audit_log");
        Exec("DELETE FROM audit_heads");
        Exec("DELETE FROM audit_checkpoints");
    }
    void TearDown() override {
        if (store_) store_->Close();
        store_.reset();
        std::error_code ec;
        fs::remove_all(dir_, ec);
    }
    void Open() {
        auto s = store::OpenStore(options_, crypto::MasterKey::FromKeyForTest(master_));
        ASSERT_TRUE(s.ok()) << s.error().Summary() << " " << s.error().detail;
        store_ = std::move(s).value();
    }
    void Close() {
        store_->Close();
        store_.reset();
    }
    bool Sqlite() const { return GetParam() == "sqlite"; }

    Entry MakeEntry(const std::string& pid, int i) {
        Entry e;
        e.patient_id = pid;
        e.at_us = clock_.NowMicros();
        e.actor_account = "acct-" + std::to_string(i % 3);
        e.actor_kind = i % 3 == 0 ? "patient" : "professional";
        e.actor_profession = i % 3 == 0 ? "" : "medecin";
        e.action = i % 2 ? "read" : "search";
        e.resource_type = "Observation";
        e.resource_id = "obs-" + std::to_string(i);
        e.category = "general";
        e.basis = i % 3 == 0 ? "holder" : "relation";
        e.outcome = i % 4 == 3 ? "deny" : "allow";
        e.reason = i % 4 == 3 ? "blocked" : "";
        e.purpose = i % 5 == 4 ? "BTG" : "TREAT";
        e.emergency = i % 5 == 4;
        e.count = i % 2 ? 0 : i;
        e.request_id = "req-" + std::to_string(i);
        return e;
    }
    /// Appends `n` entries to `pid`'s chain, one transaction each, a second apart.
    void AppendN(const std::string& pid, int n) {
        for (int i = 0; i < n; ++i) {
            clock_.AdvanceForTest(kSecond);
            Entry e = MakeEntry(pid, ++counter_);
            auto s = store_->Write([&](store::WriteTxn& txn) { return Append(txn, e); });
            ASSERT_TRUE(s.ok()) << s.error().Summary() << " " << s.error().detail;
        }
    }
    int64_t Checkpoint(bool force = false, const fs::path& witness = {}) {
        clock_.AdvanceForTest(kSecond);
        auto r =
            WriteCheckpoint(*store_, *signer_, witness.empty() ? witness_ : witness, clock_, force);
        EXPECT_TRUE(r.ok()) << r.error().Summary() << " " << r.error().detail;
        return r.ok() ? *r : -1;
    }
    Report Check(const fs::path& witness) {
        auto r = audit::Verify(*store_, signer_->PublicKeyHex(), witness);
        EXPECT_TRUE(r.ok()) << r.error().Summary() << " " << r.error().detail;
        return r.ok() ? *r : Report{};
    }
    Report Check() { return Check(witness_); }

    void Exec(const std::string& sql, const std::vector<store::Value>& params = {}) {
        auto s = store_->Write([&](store::WriteTxn& txn) -> Status {
            CARNET_CHECK(txn.Exec(sql, params));
            return Ok();
        });
        ASSERT_TRUE(s.ok()) << sql << ": " << s.error().detail;
    }
    std::vector<store::Row> Rows(const std::string& sql,
                                 const std::vector<store::Value>& params = {}) {
        auto reader = store_->OpenReader();
        EXPECT_TRUE(reader.ok());
        auto rows = (*reader)->Query(sql, params);
        EXPECT_TRUE(rows.ok()) << (rows.ok() ? "" : rows.error().detail);
        return rows.ok() ? *rows : std::vector<store::Row>{};
    }
    /// A patient's chain, oldest first.
    std::vector<StoredEntry> Chain(const std::string& pid) {
        auto reader = store_->OpenReader();
        EXPECT_TRUE(reader.ok());
        std::vector<StoredEntry> all;
        Filter f;
        f.patient_id = pid;
        f.limit = 1000;
        for (;;) {
            auto page = List(**reader, f);
            EXPECT_TRUE(page.ok());
            if (!page.ok() || page->empty()) break;
            all.insert(all.end(), page->begin(), page->end());
            f.before_seq = page->back().seq;
        }
        std::reverse(all.begin(), all.end());
        return all;
    }
    /// What an attacker with database access but without the key can do: rewrite entries
    /// from `from` on and recompute every hash after them, and the head.
    void RehashFrom(const std::string& pid, int64_t from) {
        auto chain = Chain(pid);
        std::string prev;
        for (auto& s : chain) {
            if (s.seq >= from) {
                s.hash = ChainHash(s.entry, s.seq, prev);
                Exec(
                    "UPDATE audit_log SET resource_id = ?, hash = ? WHERE patient_id = ? AND "
                    "seq = ?",
                    {s.entry.resource_id, s.hash, pid, s.seq});
            }
            prev = s.hash;
        }
        Exec("UPDATE audit_heads SET seq = ?, hash = ? WHERE patient_id = ?",
             {chain.back().seq, chain.back().hash, pid});
    }

    store::StoreOptions options_;
    fs::path dir_;
    fs::path witness_;
    crypto::Key master_{};
    std::unique_ptr<Signer> signer_;
    std::unique_ptr<store::Store> store_;
    FixedClock clock_{kT0};
    int counter_ = 0;
};

TEST_P(AuditTest, AnIntactLogVerifiesAndEachChainIsContiguous) {
    AppendN("pa", 20);
    AppendN("pb", 5);
    EXPECT_EQ(Checkpoint(), 1);
    AppendN("pc", 7);
    AppendN("pa", 3);
    EXPECT_EQ(Checkpoint(), 2);
    AppendN("pb", 2);  // after the last checkpoint: not signed yet, still verified

    Report r = Check();
    EXPECT_TRUE(r.ok()) << Describe(r);
    EXPECT_EQ(r.patients, 3);
    EXPECT_EQ(r.entries, 37);
    EXPECT_EQ(r.checkpoints, 2);
    EXPECT_EQ(r.witnessed, 2);

    auto chain = Chain("pa");
    ASSERT_EQ(chain.size(), 23U);
    std::string prev;
    for (size_t i = 0; i < chain.size(); ++i) {
        EXPECT_EQ(chain[i].seq, static_cast<int64_t>(i + 1));
        EXPECT_EQ(chain[i].hash, ChainHash(chain[i].entry, chain[i].seq, prev));
        EXPECT_EQ(chain[i].hash.size(), 64U);
        prev = chain[i].hash;
    }
    auto head = Rows("SELECT seq, hash FROM audit_heads WHERE patient_id = 'pa'");
    ASSERT_EQ(head.size(), 1U);
    EXPECT_EQ(AsInt(head[0][0]), 23);
    EXPECT_EQ(AsText(head[0][1]), prev);

    // The witness file: private, one line per checkpoint.
    struct stat st {};
    ASSERT_EQ(::stat(witness_.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600U);
    ASSERT_EQ(::stat(witness_.parent_path().c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0700U);
    std::string text = ReadFile(witness_);
    EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 2);
    // No entry content in the witness: ids, seqs and hashes only.
    EXPECT_EQ(text.find("obs-"), std::string::npos);
    EXPECT_EQ(text.find("acct-"), std::string::npos);
}

TEST_P(AuditTest, CanonicalFormIsUnambiguousAndCoversEveryField) {
    Entry a = MakeEntry("pa", 1);
    Entry b = a;
    a.actor_account = "ab";
    a.actor_kind = "c";
    b.actor_account = "a";
    b.actor_kind = "bc";
    EXPECT_NE(Canonical(a, 1, ""), Canonical(b, 1, ""));
    const std::string base = ChainHash(a, 3, "00");
    EXPECT_NE(ChainHash(a, 4, "00"), base);
    EXPECT_NE(ChainHash(a, 3, "01"), base);
    auto differs = [&](auto change) {
        Entry c = a;
        change(c);
        return ChainHash(c, 3, "00") != base;
    };
    EXPECT_TRUE(differs([](Entry& e) { e.patient_id += "x"; }));
    EXPECT_TRUE(differs([](Entry& e) { e.at_us += 1; }));
    EXPECT_TRUE(differs([](Entry& e) { e.actor_account += "x"; }));
    EXPECT_TRUE(differs([](Entry& e) { e.actor_kind += "x"; }));
    EXPECT_TRUE(differs([](Entry& e) { e.actor_profession += "x"; }));
    EXPECT_TRUE(differs([](Entry& e) { e.action += "x"; }));
    EXPECT_TRUE(differs([](Entry& e) { e.resource_type += "x"; }));
    EXPECT_TRUE(differs([](Entry& e) { e.resource_id += "x"; }));
    EXPECT_TRUE(differs([](Entry& e) { e.category += "x"; }));
    EXPECT_TRUE(differs([](Entry& e) { e.basis += "x"; }));
    EXPECT_TRUE(differs([](Entry& e) { e.outcome += "x"; }));
    EXPECT_TRUE(differs([](Entry& e) { e.reason += "x"; }));
    EXPECT_TRUE(differs([](Entry& e) { e.purpose += "x"; }));
    EXPECT_TRUE(differs([](Entry& e) { e.emergency = !e.emergency; }));
    EXPECT_TRUE(differs([](Entry& e) { e.count += 1; }));
    EXPECT_TRUE(differs([](Entry& e) { e.request_id += "x"; }));
    // An entry needs its patient.
    Entry none = a;
    none.patient_id = "";
    auto s = store_->Write([&](store::WriteTxn& txn) { return Append(txn, none); });
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.error().code, Code::kInvalid);
}

TEST_P(AuditTest, ARewrittenFieldIsFoundAtItsSeq) {
    AppendN("pa", 10);
    AppendN("pb", 4);
    Exec("UPDATE audit_log SET resource_id = 'obs-other' WHERE patient_id = 'pa' AND seq = 5");
    Report r = Check();
    ASSERT_EQ(r.problems.size(), 1U) << Describe(r);
    EXPECT_EQ(r.problems[0].patient_id, "pa");
    EXPECT_EQ(r.problems[0].seq, 5);
    EXPECT_EQ(r.problems[0].what, "hash mismatch");
    EXPECT_EQ(r.entries, 14);
}

TEST_P(AuditTest, ADeletedEntryIsFoundAtItsSeq) {
    AppendN("pa", 10);
    Exec("DELETE FROM audit_log WHERE patient_id = 'pa' AND seq = 5");
    Report r = Check();
    ASSERT_EQ(r.problems.size(), 1U) << Describe(r);
    EXPECT_TRUE(Has(r, "pa", 5, "missing entry")) << Describe(r);
    // The first entry too.
    Exec("DELETE FROM audit_log WHERE patient_id = 'pa' AND seq = 1");
    r = Check();
    ASSERT_EQ(r.problems.size(), 1U) << Describe(r);
    EXPECT_TRUE(Has(r, "pa", 1, "missing entry")) << Describe(r);
}

TEST_P(AuditTest, SwappedEntriesAreFoundOutOfOrder) {
    AppendN("pa", 10);
    Exec("UPDATE audit_log SET seq = -1 WHERE patient_id = 'pa' AND seq = 3");
    Exec("UPDATE audit_log SET seq = 3 WHERE patient_id = 'pa' AND seq = 4");
    Exec("UPDATE audit_log SET seq = 4 WHERE patient_id = 'pa' AND seq = -1");
    Report r = Check();
    ASSERT_EQ(r.problems.size(), 1U) << Describe(r);
    EXPECT_TRUE(Has(r, "pa", 3, "out of order")) << Describe(r);
}

TEST_P(AuditTest, ATruncatedChainIsFoundThroughTheCheckpointEvenWithTheHeadMovedBack) {
    AppendN("pa", 10);
    AppendN("pb", 3);
    ASSERT_EQ(Checkpoint(), 1);
    // The last three entries deleted: the head row still says 10.
    Exec("DELETE FROM audit_log WHERE patient_id = 'pa' AND seq >= 8");
    Report r = Check();
    ASSERT_EQ(r.problems.size(), 1U) << Describe(r);
    EXPECT_TRUE(Has(r, "pa", 8, "truncated")) << Describe(r);
    // The head moved back too: the checkpoint still remembers seq 10.
    auto chain = Chain("pa");
    ASSERT_EQ(chain.size(), 7U);
    Exec("UPDATE audit_heads SET seq = 7, hash = ? WHERE patient_id = 'pa'", {chain.back().hash});
    r = Check();
    ASSERT_EQ(r.problems.size(), 1U) << Describe(r);
    EXPECT_TRUE(Has(r, "pa", 8, "truncated")) << Describe(r);
    EXPECT_NE(r.problems[0].detail.find("checkpoint #1"), std::string::npos) << Describe(r);
    // Every entry and the head deleted: the checkpoint still names the patient.
    Exec("DELETE FROM audit_log WHERE patient_id = 'pa'");
    Exec("DELETE FROM audit_heads WHERE patient_id = 'pa'");
    r = Check();
    ASSERT_EQ(r.problems.size(), 1U) << Describe(r);
    EXPECT_TRUE(Has(r, "pa", 1, "truncated")) << Describe(r);
}

TEST_P(AuditTest, AChainRewrittenAndRehashedWithoutTheKeyIsCaughtByTheCheckpoint) {
    AppendN("pa", 6);
    AppendN("pb", 2);
    ASSERT_EQ(Checkpoint(), 1);  // signs pa at 6
    AppendN("pa", 4);
    ASSERT_EQ(Checkpoint(), 2);  // signs pa at 10
    // Rewrite entry 4 and recompute 4..10 and the head: the chain itself is consistent.
    Exec("UPDATE audit_log SET resource_id = 'obs-innocent' WHERE patient_id = 'pa' AND seq = 4");
    RehashFrom("pa", 4);
    // The first checkpoint that signed a seq at or after 4 (seq 6) no longer matches.
    Report r = Check();
    ASSERT_EQ(r.problems.size(), 1U) << Describe(r);
    EXPECT_TRUE(Has(r, "pa", 6, "not as signed")) << Describe(r);
    EXPECT_NE(r.problems[0].detail.find("seq 1..6"), std::string::npos) << Describe(r);
}

TEST_P(AuditTest, AnEntryRewrittenAfterACheckpointPerEntryIsPinpointed) {
    for (int i = 0; i < 8; ++i) {
        AppendN("pa", 1);
        ASSERT_EQ(Checkpoint(), i + 1);
    }
    Exec("UPDATE audit_log SET outcome = 'allow', reason = '' WHERE patient_id = 'pa' AND seq = 3");
    RehashFrom("pa", 3);
    Report r = Check();
    auto entry_problems = EntryProblems(r);
    ASSERT_EQ(entry_problems.size(), 1U) << Describe(r);
    EXPECT_TRUE(Has(r, "pa", 3, "not as signed")) << Describe(r);
    EXPECT_NE(r.problems[0].detail.find("seq 3..3"), std::string::npos) << Describe(r);
}

TEST_P(AuditTest, ForgedOrAlteredCheckpointsAreRefused) {
    AppendN("pa", 5);
    ASSERT_EQ(Checkpoint(), 1);
    AppendN("pa", 2);
    ASSERT_EQ(Checkpoint(), 2);
    AppendN("pb", 2);
    ASSERT_EQ(Checkpoint(), 3);
    ASSERT_TRUE(Check().ok());
    auto row = Rows("SELECT payload, signature, hash FROM audit_checkpoints WHERE seq = 2");
    ASSERT_EQ(row.size(), 1U);
    const std::string payload = AsText(row[0][0]), signature = AsText(row[0][1]),
                      hash = AsText(row[0][2]);
    ASSERT_NE(payload.find("\"pa\",7,"), std::string::npos) << payload;

    // 1. The payload altered (another head), the hash recomputed: the signature fails.
    std::string forged = payload;
    forged.replace(forged.find("\"pa\",7,"), 7, "\"pa\",6,");
    Exec("UPDATE audit_checkpoints SET payload = ?, hash = ? WHERE seq = 2",
         {forged, crypto::ToHex(forged)});  // any hash: the signature is checked first
    Report r = Check();
    EXPECT_TRUE(Has(r, "", 2, "bad signature")) << Describe(r);
    EXPECT_TRUE(EntryProblems(r).empty()) << Describe(r);

    // 2. Re-signed with another key (the attacker's), hash consistent: still refused.
    Signer other(crypto::MasterKey::FromKeyForTest(crypto::NewKey()));
    const std::string other_sig = other.Sign(forged);
    ASSERT_TRUE(Signer::VerifySignature(other.PublicKeyHex(), forged, other_sig));
    Exec("UPDATE audit_checkpoints SET signature = ? WHERE seq = 2", {other_sig});
    r = Check();
    EXPECT_TRUE(Has(r, "", 2, "bad signature")) << Describe(r);

    // 3. The signature alone altered.
    std::string bad_sig = signature;
    bad_sig[10] = bad_sig[10] == 'a' ? 'b' : 'a';
    Exec("UPDATE audit_checkpoints SET payload = ?, signature = ?, hash = ? WHERE seq = 2",
         {payload, bad_sig, hash});
    r = Check();
    ASSERT_EQ(r.problems.size(), 1U) << Describe(r);
    EXPECT_TRUE(Has(r, "", 2, "bad signature")) << Describe(r);

    // 4. The signature back, the stored hash altered: the hash and the next link fail.
    Exec("UPDATE audit_checkpoints SET signature = ?, hash = ? WHERE seq = 2",
         {signature, std::string(64, 'f')});
    r = Check();
    EXPECT_TRUE(Has(r, "", 2, "checkpoint hash mismatch")) << Describe(r);
    EXPECT_TRUE(Has(r, "", 3, "broken link")) << Describe(r);
    EXPECT_TRUE(Has(r, "", 2, "witness mismatch")) << Describe(r);

    // Restored: intact again, and a wrong public key fails every checkpoint.
    Exec("UPDATE audit_checkpoints SET hash = ? WHERE seq = 2", {hash});
    EXPECT_TRUE(Check().ok());
    auto wrong = audit::Verify(*store_, other.PublicKeyHex(), fs::path());
    ASSERT_TRUE(wrong.ok());
    EXPECT_TRUE(Has(*wrong, "", 1, "bad signature"));
    EXPECT_TRUE(Has(*wrong, "", 3, "bad signature"));
    EXPECT_FALSE(audit::Verify(*store_, "not-a-key", fs::path()).ok());
}

TEST_P(AuditTest, DeletedCheckpointsAreFound) {
    AppendN("pa", 2);
    ASSERT_EQ(Checkpoint(), 1);
    AppendN("pa", 2);
    ASSERT_EQ(Checkpoint(), 2);
    AppendN("pa", 2);
    ASSERT_EQ(Checkpoint(), 3);
    // A middle one: the gap shows in the database alone.
    Exec("DELETE FROM audit_checkpoints WHERE seq = 2");
    Report r = Check(fs::path());
    ASSERT_EQ(r.problems.size(), 1U) << Describe(r);
    EXPECT_TRUE(Has(r, "", 2, "missing checkpoint")) << Describe(r);
    // The last one: only the witness file knows it existed.
    Exec("DELETE FROM audit_checkpoints WHERE seq = 3");
    // The database alone now ends at checkpoint 1, gapless: it cannot tell.
    EXPECT_TRUE(Check(fs::path()).ok());
    r = Check();
    EXPECT_TRUE(Has(r, "", 2, "missing checkpoint")) << Describe(r);
    EXPECT_TRUE(Has(r, "", 3, "missing checkpoint")) << Describe(r);
    EXPECT_EQ(r.witnessed, 3);
}

TEST_P(AuditTest, AnOlderBackupRestoredOverTheLogIsRevealedByTheWitness) {
    AppendN("pa", 5);
    AppendN("pb", 3);
    ASSERT_EQ(Checkpoint(), 1);
    const fs::path backup = dir_ / "backup";
    if (Sqlite()) {
        // A copy of the database files taken after checkpoint 1.
        Close();
        fs::create_directories(backup);
        for (const char* f : {"carnet.db", "carnet.db-wal"})
            if (fs::exists(dir_ / f)) fs::copy_file(dir_ / f, backup / f);
        Open();
    }
    AppendN("pa", 4);  // 6..9
    ASSERT_EQ(Checkpoint(), 2);
    ASSERT_TRUE(Check().ok());
    if (Sqlite()) {
        Close();
        for (const char* f : {"carnet.db", "carnet.db-wal", "carnet.db-shm"}) fs::remove(dir_ / f);
        for (const auto& f : fs::directory_iterator(backup))
            fs::copy_file(f.path(), dir_ / f.path().filename());
        Open();
    } else {
        // The same state as a restore: the newer checkpoint and entries gone, the head back.
        Exec("DELETE FROM audit_checkpoints WHERE seq = 2");
        Exec("DELETE FROM audit_log WHERE patient_id = 'pa' AND seq > 5");
        auto chain = Chain("pa");
        Exec("UPDATE audit_heads SET seq = 5, hash = ? WHERE patient_id = 'pa'",
             {chain.back().hash});
    }
    EXPECT_EQ(Rows("SELECT seq FROM audit_checkpoints").size(), 1U);
    // The database alone looks intact.
    EXPECT_TRUE(Check(fs::path()).ok()) << Describe(Check(fs::path()));
    Report r = Check();
    EXPECT_TRUE(Has(r, "", 2, "missing checkpoint")) << Describe(r);
    EXPECT_TRUE(Has(r, "pa", 6, "truncated")) << Describe(r);
    EXPECT_EQ(EntryProblems(r).size(), 1U) << Describe(r);

    // The server goes on after the restore: new entries, a new checkpoint 2. The witness
    // still holds the old checkpoint 2, whose head for pa (seq 9) the new chain does not match.
    AppendN("pa", 4);
    ASSERT_EQ(Checkpoint(), 2);
    r = Check();
    EXPECT_TRUE(Has(r, "", 2, "witness mismatch")) << Describe(r);
    EXPECT_TRUE(Has(r, "pa", 9, "not as signed")) << Describe(r);
    EXPECT_EQ(EntryProblems(r).size(), 1U) << Describe(r);
    EXPECT_TRUE(Check(fs::path()).ok());
}

TEST_P(AuditTest, CheckpointsSignOnlyTheHeadsThatMoved) {
    EXPECT_EQ(Checkpoint(), 0);  // empty log, nothing to sign
    AppendN("pa", 3);
    AppendN("pb", 2);
    EXPECT_EQ(Checkpoint(), 1);
    EXPECT_EQ(Checkpoint(), 0);
    EXPECT_EQ(Checkpoint(true), 2);  // forced: an empty checkpoint, still chained
    AppendN("pb", 1);
    EXPECT_EQ(Checkpoint(), 3);
    // An entry stamped before checkpoint 3 but committed after it (a slow transaction).
    Entry late = MakeEntry("pc", 99);
    late.at_us = clock_.NowMicros() - 30 * kSecond;
    ASSERT_TRUE(store_->Write([&](store::WriteTxn& txn) { return Append(txn, late); }).ok());
    EXPECT_EQ(Checkpoint(), 4);

    auto rows = Rows("SELECT seq, at, payload FROM audit_checkpoints ORDER BY seq");
    ASSERT_EQ(rows.size(), 4U);
    auto heads = [&](size_t i) {
        auto v = boost::json::parse(AsText(rows[i][2])).as_object();
        EXPECT_EQ(v.at("seq").as_int64(), AsInt(rows[i][0]));
        EXPECT_EQ(v.at("at").as_int64(), AsInt(rows[i][1]));
        return boost::json::serialize(v.at("heads"));
    };
    auto pa = Chain("pa"), pb = Chain("pb"), pc = Chain("pc");
    EXPECT_EQ(heads(0),
              "[[\"pa\",3,\"" + pa.back().hash + "\"],[\"pb\",2,\"" + pb[1].hash + "\"]]");
    EXPECT_EQ(heads(1), "[]");
    EXPECT_EQ(heads(2), "[[\"pb\",3,\"" + pb.back().hash + "\"]]");
    EXPECT_EQ(heads(3), "[[\"pc\",1,\"" + pc.back().hash + "\"]]");
    // Each links to the previous one.
    auto all = Rows("SELECT payload, hash FROM audit_checkpoints ORDER BY seq");
    for (size_t i = 1; i < all.size(); ++i) {
        auto v = boost::json::parse(AsText(all[i][0])).as_object();
        EXPECT_EQ(std::string(v.at("prev").as_string()), AsText(all[i - 1][1]));
    }
    EXPECT_TRUE(Check().ok()) << Describe(Check());
}

TEST_P(AuditTest, TheWitnessFileToleratesATornLastLineButNotGarbage) {
    AppendN("pa", 2);
    ASSERT_EQ(Checkpoint(), 1);
    {
        std::ofstream out(witness_, std::ios::app);
        out << "{\"seq\":2,\"at\":1,\"ha";  // a crash in the middle of an append
    }
    Report r = Check();
    EXPECT_TRUE(r.ok()) << Describe(r);
    EXPECT_EQ(r.witnessed, 1);
    {
        std::ofstream out(witness_, std::ios::app);
        out << "\nnot json\n";
    }
    r = Check();
    EXPECT_FALSE(r.ok());
    EXPECT_EQ(r.problems.size(), 2U) << Describe(r);  // the torn line and the garbage one
    EXPECT_EQ(r.problems[0].what, "invalid witness line");
}

TEST_P(AuditTest, ConcurrentAppendsFormOneChainPerPatient) {
    constexpr int kThreads = 8, kEach = 200;
    std::atomic<int> failures{0};
    std::atomic<bool> writing{true};
    // Checkpoints run meanwhile, as the server's loop would.
    std::thread checkpointer([&] {
        SystemClock clock;
        while (writing) {
            auto c = WriteCheckpoint(*store_, *signer_, witness_, clock);
            if (!c.ok()) ++failures;
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
    });
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
        threads.emplace_back([&, t] {
            SystemClock clock;
            for (int i = 0; i < kEach; ++i) {
                // Every thread on "shared"; and one of four other patients.
                for (const std::string& pid :
                     {std::string("shared"), "p" + std::to_string(i % 4)}) {
                    Entry e;
                    e.patient_id = pid;
                    e.at_us = clock.NowMicros();
                    e.actor_account = "t" + std::to_string(t);
                    e.action = "read";
                    e.outcome = "allow";
                    e.request_id = std::to_string(t) + "-" + std::to_string(i);
                    auto s = store_->Write([&](store::WriteTxn& txn) { return Append(txn, e); });
                    if (!s.ok()) {
                        ++failures;
                        ADD_FAILURE() << s.error().Summary() << " " << s.error().detail;
                    }
                }
            }
        });
    }
    for (auto& t : threads) t.join();
    writing = false;
    checkpointer.join();
    EXPECT_EQ(failures.load(), 0);
    ASSERT_GE(Checkpoint(), 0);

    auto shared = Chain("shared");
    ASSERT_EQ(shared.size(), static_cast<size_t>(kThreads * kEach));
    for (size_t i = 0; i < shared.size(); ++i)
        ASSERT_EQ(shared[i].seq, static_cast<int64_t>(i + 1));
    auto heads = Rows("SELECT patient_id, seq FROM audit_heads ORDER BY patient_id");
    ASSERT_EQ(heads.size(), 5U);
    for (const auto& h : heads)
        EXPECT_EQ(AsInt(h[1]), AsText(h[0]) == "shared" ? kThreads * kEach : kThreads * kEach / 4)
            << AsText(h[0]);
    Report r = Check();
    EXPECT_TRUE(r.ok()) << Describe(r);
    EXPECT_EQ(r.entries, 2 * kThreads * kEach);
    EXPECT_EQ(r.patients, 5);
    EXPECT_GE(r.checkpoints, 1);
}

TEST_P(AuditTest, ListFiltersAndPages) {
    // pa: 12 entries from MakeEntry's cycle; pb: 3.
    AppendN("pa", 12);  // counter 1..12
    AppendN("pb", 3);   // counter 13..15
    auto reader = store_->OpenReader();
    ASSERT_TRUE(reader.ok());
    auto seqs = [](const std::vector<StoredEntry>& v) {
        std::vector<int64_t> out;
        for (const auto& s : v) out.push_back(s.seq);
        return out;
    };
    Filter f;
    f.patient_id = "pa";
    auto all = List(**reader, f);
    ASSERT_TRUE(all.ok());
    ASSERT_EQ(all->size(), 12U);
    EXPECT_EQ(all->front().seq, 12);
    EXPECT_EQ(all->front().entry.resource_id, "obs-12");
    EXPECT_EQ(all->front().entry.request_id, "req-12");
    EXPECT_EQ(all->front().hash.size(), 64U);
    // Paging: 5 at a time.
    f.limit = 5;
    auto p1 = List(**reader, f);
    EXPECT_EQ(seqs(*p1), (std::vector<int64_t>{12, 11, 10, 9, 8}));
    f.before_seq = p1->back().seq;
    auto p2 = List(**reader, f);
    EXPECT_EQ(seqs(*p2), (std::vector<int64_t>{7, 6, 5, 4, 3}));
    f.before_seq = p2->back().seq;
    auto p3 = List(**reader, f);
    EXPECT_EQ(seqs(*p3), (std::vector<int64_t>{2, 1}));
    // Outcome: i % 4 == 3 is a denial (3, 7, 11).
    f = Filter{};
    f.patient_id = "pa";
    f.outcome = "deny";
    auto denied = List(**reader, f);
    EXPECT_EQ(seqs(*denied), (std::vector<int64_t>{11, 7, 3}));
    EXPECT_EQ(denied->front().entry.reason, "blocked");
    // Emergencies: i % 5 == 4 (4, 9).
    f = Filter{};
    f.patient_id = "pa";
    f.emergency_only = true;
    auto em = List(**reader, f);
    EXPECT_EQ(seqs(*em), (std::vector<int64_t>{9, 4}));
    EXPECT_TRUE(em->front().entry.emergency);
    EXPECT_EQ(em->front().entry.purpose, "BTG");
    // Time: entry i was stamped at kT0 + i seconds; [since, until).
    f = Filter{};
    f.patient_id = "pa";
    f.since_us = kT0 + 4 * kSecond;
    f.until_us = kT0 + 7 * kSecond;
    EXPECT_EQ(seqs(*List(**reader, f)), (std::vector<int64_t>{6, 5, 4}));
    // One actor on one record: acct-1 is i % 3 == 1 (1, 4, 7, 10).
    f = Filter{};
    f.patient_id = "pa";
    f.actor_account = "acct-1";
    auto mine = List(**reader, f);
    EXPECT_EQ(seqs(*mine), (std::vector<int64_t>{10, 7, 4, 1}));
    EXPECT_EQ(mine->front().entry.actor_kind, "professional");
    EXPECT_EQ(mine->front().entry.actor_profession, "medecin");
    // One actor across records, newest first: acct-1 also has pb's counter 13 (seq 1).
    f = Filter{};
    f.actor_account = "acct-1";
    auto across = List(**reader, f);
    ASSERT_TRUE(across.ok());
    ASSERT_EQ(across->size(), 5U);
    EXPECT_EQ(across->front().entry.patient_id, "pb");
    EXPECT_EQ(across->front().seq, 1);
    EXPECT_EQ((*across)[1].entry.patient_id, "pa");
    EXPECT_EQ((*across)[1].seq, 10);
    f.until_us = across->front().entry.at_us;  // paging by time across records
    f.limit = 2;
    auto next = List(**reader, f);
    ASSERT_EQ(next->size(), 2U);
    EXPECT_EQ((*next)[0].seq, 10);
    EXPECT_EQ((*next)[1].seq, 7);
    // Neither a patient nor an actor: refused.
    auto none = List(**reader, Filter{});
    ASSERT_FALSE(none.ok());
    EXPECT_EQ(none.error().code, Code::kInvalid);
}

TEST_P(AuditTest, TheLoopWritesAFinalCheckpointOnStop) {
    AppendN("pa", 3);
    {
        CheckpointLoop loop(*store_, *signer_, witness_, clock_, std::chrono::seconds(3600));
        loop.Start();
        AppendN("pb", 2);
        loop.Stop();
        loop.Stop();  // idempotent
    }
    auto rows = Rows("SELECT seq, payload FROM audit_checkpoints");
    ASSERT_EQ(rows.size(), 1U);
    EXPECT_NE(AsText(rows[0][1]).find("\"pb\",2,"), std::string::npos);
    Report r = Check();
    EXPECT_TRUE(r.ok()) << Describe(r);
    EXPECT_EQ(r.witnessed, 1);
}

TEST_P(AuditTest, TheLoopSignsOnItsOwnEveryPeriod) {
    AppendN("pa", 2);  // the clock is not touched while the loop runs
    CheckpointLoop loop(*store_, *signer_, witness_, clock_, std::chrono::seconds(1));
    loop.Start();
    bool written = false;
    for (int i = 0; i < 50 && !written; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        written = !Rows("SELECT seq FROM audit_checkpoints").empty();
    }
    EXPECT_TRUE(written);
    loop.Stop();  // nothing moved since: no second checkpoint
    EXPECT_EQ(Rows("SELECT seq FROM audit_checkpoints").size(), 1U);
    EXPECT_TRUE(Check().ok());
}

TEST(AuditSigner, TheKeyComesFromTheMasterKey) {
    crypto::Init();
    const crypto::Key k = crypto::NewKey();
    Signer a(crypto::MasterKey::FromKeyForTest(k));
    Signer b(crypto::MasterKey::FromKeyForTest(k));
    Signer c(crypto::MasterKey::FromKeyForTest(crypto::NewKey()));
    EXPECT_EQ(a.PublicKeyHex(), b.PublicKeyHex());
    EXPECT_NE(a.PublicKeyHex(), c.PublicKeyHex());
    EXPECT_EQ(a.PublicKeyHex().size(), 64U);
    const std::string sig = a.Sign("hello");
    EXPECT_EQ(sig.size(), 128U);
    EXPECT_TRUE(Signer::VerifySignature(b.PublicKeyHex(), "hello", sig));
    EXPECT_FALSE(Signer::VerifySignature(a.PublicKeyHex(), "hellO", sig));
    EXPECT_FALSE(Signer::VerifySignature(c.PublicKeyHex(), "hello", sig));
    EXPECT_FALSE(Signer::VerifySignature(a.PublicKeyHex(), "hello", sig.substr(2)));
    EXPECT_FALSE(Signer::VerifySignature("zz" + a.PublicKeyHex().substr(2), "hello", sig));
}

INSTANTIATE_TEST_SUITE_P(Engines, AuditTest, ::testing::Values("sqlite", "postgres"),
                         [](const auto& param_info) { return param_info.param; });

}  // namespace
}  // namespace carnet::audit
