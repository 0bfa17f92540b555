#pragma once
/// People for the HTTP tests of the identity and access routes: valid INS and RPPS numbers,
/// accounts created through auth::AuthService and signed in (the one-time code read from the
/// outbox), and the store helpers those tests use to set up and check rows. One copy for
/// every fixture that needs them (access routes, the leak hunt, the auth routes).
#include <archive.h>
#include <archive_entry.h>
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "api_harness.hpp"
#include "auth/primitives.hpp"
#include "auth/service.hpp"
#include "core/clock.hpp"
#include "store/store.hpp"

namespace carnet::api::testing {

inline const std::string kPassword = "Velo-rouge-sur-la-colline";

inline std::string Ins(const std::string& first13) { return auth::InsWithKey(first13); }
inline std::string Rpps(const std::string& first10) { return auth::RppsWithCheckDigit(first10); }

/// The files of a zip held in memory (name → content), read back with libarchive.
inline std::map<std::string, std::string> Unzip(const std::string& bytes) {
    std::map<std::string, std::string> out;
    struct archive* a = archive_read_new();
    archive_read_support_format_zip(a);
    if (archive_read_open_memory(a, bytes.data(), bytes.size()) != ARCHIVE_OK) {
        archive_read_free(a);
        return out;
    }
    struct archive_entry* e = nullptr;
    while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
        std::string content;
        char buf[8192];
        la_ssize_t n;
        while ((n = archive_read_data(a, buf, sizeof buf)) > 0)
            content.append(buf, static_cast<size_t>(n));
        out[archive_entry_pathname(e)] = std::move(content);
    }
    archive_read_free(a);
    return out;
}

/// Every table the identity and access services write: emptied before each access test.
inline const std::vector<std::string> kIdentityAndAccessTables = {
    "outbox",           "inbox",          "accounts",         "challenges",       "sessions",
    "trusted_devices",  "login_throttle", "account_events",   "delegations",      "access_settings",
    "access_relations", "access_codes",   "emergency_grants", "access_flags",     "access_notices",
    "access_grid",      "audit_log",      "audit_heads",      "audit_checkpoints"};

/// A signed-in person: bearer token, CSRF value, account, and (patients) record.
struct Person {
    std::string login;
    std::string account_id;
    std::string patient_id;
    std::string ins;
    std::string token;
    std::string csrf;
};

/// Mixed into a parameterised fixture (the parameter is the engine): the store and the auth
/// service, opened and emptied by OpenCleanStore, and the people and row helpers on them.
class PeopleFixture {
  protected:
    /// Opens the engine's store under a new temporary directory and empties `tables` (and,
    /// on the shared PostgreSQL database, the resource tables, since the master key is new).
    void OpenCleanStore(const std::string& engine, const std::string& dir_prefix,
                        const std::vector<std::string>& tables) {
        dir_ = std::filesystem::temp_directory_path() / (dir_prefix + NewUuid());
        store::StoreOptions so;
        so.engine = engine;
        so.data_dir = dir_;
        if (engine == "postgres") so.pg_dsn = PgDsn();
        auto opened = store::OpenStore(so, crypto::MasterKey::FromKeyForTest(crypto::NewKey()));
        ASSERT_TRUE(opened.ok()) << opened.error().Summary();
        store_ = std::move(opened).value();
        if (engine == "postgres") {
            ASSERT_EQ(
                PgAdmin(
                    PgDsn(),
                    "TRUNCATE resources, versions, patient_keys, blobs, blob_chunks, idx_token, "
                    "idx_string, idx_date, idx_ref, idx_quantity"),
                "");
        }
        ASSERT_TRUE(store_
                        ->Write([&](store::WriteTxn& txn) -> Status {
                            for (const auto& t : tables) {
                                CARNET_CHECK(txn.Exec("DELETE FROM " + t));
                            }
                            return Ok();
                        })
                        .ok());
    }
    /// Auth options for tests: a cheap password hash and limits no test reaches by accident
    /// (the throttling tests set their own).
    static auth::AuthOptions TestAuthOptions() {
        auth::AuthOptions ao;
        ao.password_cost = {1, 1024 * 1024};
        ao.attempts_per_ip_per_minute = 100000;
        ao.sends_per_account = 1000;
        ao.sends_per_destination = 1000;
        return ao;
    }
    /// The auth service on the store (after OpenCleanStore).
    void StartAuth(const Clock& clock, const auth::AuthOptions& options = TestAuthOptions()) {
        auth_ = std::make_unique<auth::AuthService>(*store_, clock, std::string(32, 's'), options);
    }
    /// Stops what OpenCleanStore opened (the fixture stops its server first).
    void CloseStore() {
        if (store_) store_->Close();
        std::error_code ec;
        std::filesystem::remove_all(dir_, ec);
    }

    // ---- people ----

    /// A patient account (its record `pid`, or a new one); signed in when `email` is given.
    Person NewPatient(const std::string& ins13, const std::string& given, const std::string& family,
                      const std::string& birth, const std::string& email,
                      const std::string& pid = {}) {
        auth::NewPatient p;
        p.ins = Ins(ins13);
        p.given = given;
        p.family = family;
        p.birth_date = birth;
        p.patient_id = pid;
        auto created = auth_->CreatePatient(p, "test");
        EXPECT_TRUE(created.ok()) << (created.ok() ? "" : created.error().Summary());
        if (!created.ok()) return {};
        Person out;
        out.login = email;
        out.account_id = created->account.id;
        out.patient_id = created->account.patient_id;
        out.ins = created->account.ins;
        if (!email.empty()) {
            EXPECT_TRUE(auth_->SetPasswordForSetup(out.account_id, kPassword, email, "").ok());
            SignIn(out);
        }
        return out;
    }
    Person NewPro(const std::string& rpps10, const std::string& given, const std::string& family,
                  const std::string& profession, const std::string& specialty,
                  const std::string& email) {
        auth::NewProfessional n;
        n.rpps = Rpps(rpps10);
        n.given = given;
        n.family = family;
        n.profession = profession;
        n.specialty = specialty;
        auto created = auth_->CreateProfessional(n, "test");
        EXPECT_TRUE(created.ok()) << (created.ok() ? "" : created.error().Summary());
        if (!created.ok()) return {};
        Person out;
        out.login = email;
        out.account_id = created->account.id;
        EXPECT_TRUE(auth_->SetPasswordForSetup(out.account_id, kPassword, email, "").ok());
        SignIn(out);
        return out;
    }
    Person NewStaff(const std::string& kind, const std::string& login) {
        auth::NewStaff s;
        s.kind = kind;
        s.login = login;
        auto created = auth_->CreateStaff(s, "test");
        EXPECT_TRUE(created.ok());
        if (!created.ok()) return {};
        Person out;
        out.login = login;
        out.account_id = created->account.id;
        EXPECT_TRUE(
            auth_->SetPasswordForSetup(out.account_id, kPassword, login + "@example.fr", "").ok());
        SignIn(out, login + "@example.fr");
        return out;
    }
    // ---- relations, as the access routes write them ----

    /// `pro` authorised by the holder of record `patient_id` since `at`.
    void Authorise(const std::string& patient_id, const Person& pro, int64_t at) {
        Exec(
            "INSERT INTO access_relations(patient_id, professional_account, status, via_code, "
            "roles, created_at, updated_at, updated_by) VALUES (?, ?, 'authorised', 0, '', ?, ?, "
            "'test')",
            {patient_id, pro.account_id, at, at});
    }
    /// `delegate` an active `kind` ("representative" or "caregiver") of `holder`'s record.
    void Delegate(const Person& holder, const Person& delegate, const std::string& kind,
                  int64_t at) {
        Exec(
            "INSERT INTO delegations(patient_id, id, patient_account, delegate_account, kind, "
            "status, invited_by, created_at, accepted_at) VALUES (?, ?, ?, ?, ?, 'active', ?, ?, "
            "?)",
            {holder.patient_id, NewUuid(), holder.account_id, delegate.account_id, kind,
             holder.account_id, at, at});
    }

    /// A fresh session (fresh authentication) for `p`; the code is read from the outbox.
    void SignIn(Person& p, std::string email = {}) {
        if (email.empty()) email = p.login;
        Exec("DELETE FROM outbox WHERE template = 'login_code'");
        auth::ClientInfo client{"127.0.0.1", "test", ""};
        auto out = auth_->Login(p.login, kPassword, client);
        ASSERT_TRUE(out.ok()) << out.error().Summary();
        auto rows = Query(
            "SELECT params FROM outbox WHERE recipient = ? AND template = "
            "'login_code'",
            {email});
        ASSERT_EQ(rows.size(), 1U) << p.login;
        auto code =
            std::string(boost::json::parse(store::AsText(rows[0][0])).at("code").as_string());
        auto session = auth_->Verify(out->challenge.challenge, code, false, client);
        ASSERT_TRUE(session.ok()) << session.error().Summary();
        Exec("DELETE FROM outbox WHERE template = 'login_code'");
        p.token = session->token;
        p.csrf = session->csrf;
    }

    // ---- store helpers ----

    void Exec(const std::string& sql, const std::vector<store::Value>& params = {}) {
        ASSERT_TRUE(store_
                        ->Write([&](store::WriteTxn& txn) -> Status {
                            CARNET_CHECK(txn.Exec(sql, params));
                            return Ok();
                        })
                        .ok())
            << sql;
    }
    std::vector<store::Row> Query(const std::string& sql,
                                  const std::vector<store::Value>& params = {}) {
        auto reader = store_->OpenReader();
        EXPECT_TRUE(reader.ok());
        if (!reader.ok()) return {};
        auto rows = (*reader)->Query(sql, params);
        EXPECT_TRUE(rows.ok()) << sql << ": " << (rows.ok() ? "" : rows.error().Summary());
        return rows.ok() ? *rows : std::vector<store::Row>{};
    }
    int64_t Count(const std::string& sql, const std::vector<store::Value>& params = {}) {
        auto rows = Query(sql, params);
        return rows.empty() ? -1 : store::AsInt(rows[0][0]);
    }

    std::filesystem::path dir_;
    std::unique_ptr<store::Store> store_;
    std::unique_ptr<auth::AuthService> auth_;
};

}  // namespace carnet::api::testing
