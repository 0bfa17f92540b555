// The account service on both engines: every rule of the identity issue is tried in its
// refused form (unknown logins, wrong codes, replays, expiry, throttles, caps, timeouts,
// revoked sessions and devices, operator-only actions).
#include "auth/service.hpp"
#include "auth/primitives.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <boost/json.hpp>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <thread>

#include "core/ids.hpp"
#include "crypto/crypto.hpp"
#include "store/open.hpp"

namespace carnet::auth {
namespace {

namespace fs = std::filesystem;
using store::AsInt;
using store::AsText;

constexpr int64_t kT0 = 1'800'000'000'000'000;  // 2027-01-15, microseconds
constexpr int64_t kSecond = 1'000'000;
const PasswordCost kCheap{1, 1024 * 1024};
const std::string kPassword = "Velo-rouge-sur-la-colline";

std::string Ins(const std::string& first13) { return InsWithKey(first13); }
std::string Rpps(const std::string& first10) { return RppsWithCheckDigit(first10); }

class AuthTest : public ::testing::TestWithParam<std::string> {
  protected:
    void SetUp() override {
        crypto::Init();
        store::StoreOptions o;
        o.engine = GetParam();
        if (GetParam() == "postgres") {
            const char* dsn = std::getenv("CARNET_TEST_PG");
            if (!dsn || !*dsn) GTEST_SKIP() << "CARNET_TEST_PG not set";
            o.pg_dsn = dsn;
        }
        dir_ = fs::temp_directory_path() / ("carnet-auth-" + NewUuid());
        o.data_dir = dir_;
        auto s = store::OpenStore(o, crypto::MasterKey::FromKeyForTest(crypto::NewKey()));
        ASSERT_TRUE(s.ok()) << s.error().Summary() << " " << s.error().detail;
        store_ = std::move(s).value();
        ASSERT_TRUE(store_
                        ->Write([](store::WriteTxn& txn) -> Status {
                            for (const char* t :
                                 {"outbox", "inbox", "accounts", "challenges", "sessions",
                                  "trusted_devices", "login_throttle", "delegations",
                                  "account_events", "audit_log", "audit_heads"}) {
                                CARNET_CHECK(txn.Exec(std::string("DELETE FROM ") + t));
                            }
                            return Ok();
                        })
                        .ok());
        options_.password_cost = kCheap;
        Rebuild();
    }
    void TearDown() override {
        service_.reset();
        if (store_) store_->Close();
        std::error_code ec;
        fs::remove_all(dir_, ec);
    }
    void Rebuild() {
        service_ = std::make_unique<AuthService>(*store_, clock_, std::string(32, 'k'), options_);
    }

    /// An active patient with a verified e-mail and kPassword.
    Account ActivePatient(const std::string& email = "marie.martin@example.fr",
                          const std::string& ins13 = "2850575123456") {
        NewPatient p;
        p.ins = Ins(ins13);
        p.given = "Marie";
        p.family = "Martin";
        p.birth_date = "1985-05-12";
        auto c = service_->CreatePatient(p, "test");
        EXPECT_TRUE(c.ok()) << (c.ok() ? "" : c.error().Summary());
        EXPECT_TRUE(service_->SetPasswordForSetup(c->account.id, kPassword, email, "").ok());
        return c->account;
    }

    /// The code of the one pending notification to `to` (read from the outbox params).
    /// The clock is fixed, so rows cannot be ordered by time: tests clear the outbox before
    /// the step whose code they read, and a second row is a test error.
    std::string LastCode(const std::string& to) {
        auto rows = Rows("SELECT params FROM outbox WHERE recipient = '" + to + "'");
        EXPECT_EQ(rows.size(), 1U) << "codes sent to " << to;
        if (rows.empty()) return {};
        auto v = boost::json::parse(AsText(rows.back()[0]));
        const auto* code = v.as_object().if_contains("code");
        return code ? std::string(code->as_string()) : std::string();
    }
    int64_t OutboxCount(const std::string& to = "") {
        auto rows = Rows(to.empty() ? "SELECT COUNT(*) FROM outbox"
                                    : "SELECT COUNT(*) FROM outbox WHERE recipient = '" + to + "'");
        return rows.empty() ? -1 : AsInt(rows[0][0]);
    }
    void ClearOutbox() {
        ASSERT_TRUE(store_
                        ->Write([](store::WriteTxn& txn) -> Status {
                            CARNET_CHECK(txn.Exec("DELETE FROM outbox"));
                            return Ok();
                        })
                        .ok());
    }
    std::vector<store::Row> Rows(const std::string& sql) {
        auto reader = store_->OpenReader();
        EXPECT_TRUE(reader.ok());
        auto rows = (*reader)->Query(sql);
        EXPECT_TRUE(rows.ok()) << (rows.ok() ? "" : rows.error().detail);
        return rows.ok() ? *rows : std::vector<store::Row>{};
    }
    /// Full login: password, code from the outbox, verify.
    Result<IssuedSession> SignIn(const std::string& login, const std::string& to,
                                 bool trust = false) {
        ClearOutbox();
        CARNET_TRY(auto out, service_->Login(login, kPassword, client_));
        return service_->Verify(out.challenge.challenge, LastCode(to), trust, client_);
    }

    fs::path dir_;
    std::unique_ptr<store::Store> store_;
    FixedClock clock_{kT0};
    AuthOptions options_;
    std::unique_ptr<AuthService> service_;
    ClientInfo client_{"10.0.0.1", "Mozilla/5.0 test", ""};
};

TEST_P(AuthTest, LoginAnswersTheSameShapeForUnknownWrongAndRightAndOnlyTheRightSendsACode) {
    Account a = ActivePatient();
    ClearOutbox();
    auto unknown = service_->Login("personne@example.fr", kPassword, client_);
    auto wrong = service_->Login("marie.martin@example.fr", "pas le bon mot de passe", client_);
    ASSERT_TRUE(unknown.ok());
    ASSERT_TRUE(wrong.ok());
    EXPECT_EQ(OutboxCount(), 0) << "no code for an unknown login or a wrong password";
    auto right = service_->Login("marie.martin@example.fr", kPassword, client_);
    ASSERT_TRUE(right.ok());
    EXPECT_EQ(OutboxCount("marie.martin@example.fr"), 1);
    const std::string real_code = LastCode("marie.martin@example.fr");
    for (const auto* o : {&*unknown, &*wrong, &*right}) {
        EXPECT_EQ(o->challenge.challenge.size(), right->challenge.challenge.size());
        EXPECT_EQ(o->challenge.channel, "email");
        EXPECT_NE(o->challenge.to.find("@"), std::string::npos);
        EXPECT_FALSE(o->session.has_value());
    }
    EXPECT_EQ(right->challenge.to, "m\u2022\u2022\u2022@e\u2022\u2022\u2022.fr");
    // An e-mail login that has no account is masked the way a real one would be.
    EXPECT_EQ(unknown->challenge.to, "p\u2022\u2022\u2022@e\u2022\u2022\u2022.fr");
    auto again = service_->Login("personne@example.fr", "autre", client_);
    ASSERT_TRUE(again.ok());
    EXPECT_EQ(again->challenge.to, unknown->challenge.to);
    // The INS works as a login too.
    EXPECT_TRUE(service_->Login(a.ins, kPassword, client_).ok());
    // A decoy challenge cannot be completed, whatever the code.
    for (const std::string& code : std::vector<std::string>{"000000", "123456", real_code}) {
        auto v = service_->Verify(unknown->challenge.challenge, code, false, client_);
        ASSERT_FALSE(v.ok());
        EXPECT_EQ(v.error().code, Code::kUnauthenticated);
    }
}

TEST_P(AuthTest, TheCodeIsSingleUseBoundToItsChallengeAndDiesAfterFiveTriesOrTenMinutes) {
    ActivePatient();
    const std::string to = "marie.martin@example.fr";
    ClearOutbox();
    auto first = service_->Login(to, kPassword, client_);
    ASSERT_TRUE(first.ok());
    std::string code1 = LastCode(to);
    ASSERT_EQ(code1.size(), 6U);
    ClearOutbox();
    auto second = service_->Login(to, kPassword, client_);
    ASSERT_TRUE(second.ok());
    std::string code2 = LastCode(to);
    // A new login voids the previous challenge; codes are bound to their own challenge.
    EXPECT_FALSE(service_->Verify(first->challenge.challenge, code1, false, client_).ok());
    if (code1 != code2) {
        EXPECT_FALSE(service_->Verify(second->challenge.challenge, code1, false, client_).ok());
    }
    auto session = service_->Verify(second->challenge.challenge, code2, false, client_);
    ASSERT_TRUE(session.ok()) << session.error().Summary();
    EXPECT_GE(session->token.size(), 43U);  // 256 bits base64url
    // Single use.
    EXPECT_FALSE(service_->Verify(second->challenge.challenge, code2, false, client_).ok());

    // Five wrong tries void the challenge: the right code is refused afterwards.
    ClearOutbox();
    auto third = service_->Login(to, kPassword, client_);
    ASSERT_TRUE(third.ok());
    std::string code3 = LastCode(to);
    std::string wrong = code3 == "999999" ? "999998" : "999999";
    for (int i = 0; i < 5; ++i) {
        auto v = service_->Verify(third->challenge.challenge, wrong, false, client_);
        ASSERT_FALSE(v.ok());
        EXPECT_EQ(v.error().code, Code::kUnauthenticated);
    }
    EXPECT_FALSE(service_->Verify(third->challenge.challenge, code3, false, client_).ok());

    // Ten minutes later the code is dead.
    ClearOutbox();
    auto fourth = service_->Login(to, kPassword, client_);
    ASSERT_TRUE(fourth.ok());
    std::string code4 = LastCode(to);
    clock_.AdvanceForTest(600 * kSecond + 1);
    EXPECT_FALSE(service_->Verify(fourth->challenge.challenge, code4, false, client_).ok());
}

TEST_P(AuthTest, BackoffStartsAtTheFifthFailureForKnownAndUnknownLoginsAndNeverLocksForGood) {
    ActivePatient();
    for (const std::string& login :
         std::vector<std::string>{"marie.martin@example.fr", "inconnu@example.fr"}) {
        for (int i = 0; i < 4; ++i) {
            ASSERT_TRUE(service_->Login(login, "mauvais mot de passe", client_).ok()) << i;
        }
        // Fifth failure: accepted as an attempt, then the login must wait.
        ASSERT_TRUE(service_->Login(login, "mauvais mot de passe", client_).ok());
        auto blocked = service_->Login(login, kPassword, client_);
        ASSERT_FALSE(blocked.ok()) << login;
        EXPECT_EQ(blocked.error().code, Code::kTooManyRequests);
        EXPECT_GE(blocked.error().retry_after_s, 1);
        clock_.AdvanceForTest(2 * kSecond);
    }
    // The right password after the wait works, and resets the count.
    ClearOutbox();
    auto ok = service_->Login("marie.martin@example.fr", kPassword, client_);
    ASSERT_TRUE(ok.ok());
    EXPECT_EQ(OutboxCount("marie.martin@example.fr"), 1);
    // Many failures: the wait is capped (15 min), never permanent.
    for (int i = 0; i < 30; ++i) {
        (void)service_->Login("marie.martin@example.fr", "faux", client_);
        clock_.AdvanceForTest(16 * 60 * kSecond);
    }
    clock_.AdvanceForTest(16 * 60 * kSecond);
    EXPECT_TRUE(service_->Login("marie.martin@example.fr", kPassword, client_).ok());
}

TEST_P(AuthTest, OneAddressIsThrottledAcrossLogins) {
    options_.attempts_per_ip_per_minute = 3;
    Rebuild();
    ClientInfo attacker{"203.0.113.9", "x", ""};
    for (int i = 0; i < 3; ++i)
        EXPECT_TRUE(service_->Login("a" + std::to_string(i) + "@x.fr", "p", attacker).ok());
    auto r = service_->Login("b@x.fr", "p", attacker);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, Code::kTooManyRequests);
    // Another address is not affected; the next minute the first one may try again.
    EXPECT_TRUE(service_->Login("b@x.fr", "p", client_).ok());
    clock_.AdvanceForTest(61 * kSecond);
    EXPECT_TRUE(service_->Login("b@x.fr", "p", attacker).ok());
}

TEST_P(AuthTest, CodeSendingIsCappedPerAccountAndPerDestination) {
    options_.sends_per_account = 3;
    options_.sends_per_destination = 4;
    Rebuild();
    ActivePatient();
    for (int i = 0; i < 3; ++i)
        ASSERT_TRUE(service_->Login("marie.martin@example.fr", kPassword, client_).ok());
    auto capped = service_->Login("marie.martin@example.fr", kPassword, client_);
    ASSERT_FALSE(capped.ok());
    EXPECT_EQ(capped.error().code, Code::kTooManyRequests);
    EXPECT_EQ(OutboxCount("marie.martin@example.fr"), 3);
    // A resend counts too.
    clock_.AdvanceForTest(3601 * kSecond);
    auto c = service_->Login("marie.martin@example.fr", kPassword, client_);
    ASSERT_TRUE(c.ok());
    EXPECT_TRUE(service_->Resend(c->challenge.challenge, client_).ok());
    EXPECT_TRUE(service_->Resend(c->challenge.challenge, client_).ok());
    EXPECT_EQ(service_->Resend(c->challenge.challenge, client_).error().code,
              Code::kTooManyRequests);

    // Per destination: someone activating accounts with a victim's phone number.
    clock_.AdvanceForTest(3601 * kSecond);
    for (int i = 0; i < 5; ++i) {
        NewPatient p;
        p.ins = Ins("19001751234" + std::to_string(10 + i));
        p.family = "Essai";
        p.birth_date = "1990-01-01";
        auto created = service_->CreatePatient(p, "test");
        ASSERT_TRUE(created.ok());
        auto start = service_->StartActivation(p.ins, created->activation_code, kPassword, "sms",
                                               "06 12 34 56 78", client_);
        if (i < 4) {
            EXPECT_TRUE(start.ok()) << i << " " << (start.ok() ? "" : start.error().Summary());
        } else {
            ASSERT_FALSE(start.ok());
            EXPECT_EQ(start.error().code, Code::kTooManyRequests);
        }
    }
}

TEST_P(AuthTest, SessionsEndAtLogoutIdleAndAbsoluteTimeoutAndAreStoredHashed) {
    ActivePatient();
    auto s = SignIn("marie.martin@example.fr", "marie.martin@example.fr");
    ASSERT_TRUE(s.ok()) << s.error().Summary();
    auto who = service_->Authenticate(s->token, client_);
    ASSERT_TRUE(who.ok());
    EXPECT_EQ(who->kind, "patient");
    EXPECT_EQ(who->method, "password+email");
    // The token is not in the database, only its keyed hash.
    for (const auto& row : Rows("SELECT id, handle FROM sessions")) {
        EXPECT_NE(AsText(row[0]), s->token);
        EXPECT_NE(AsText(row[1]), s->token);
    }
    EXPECT_FALSE(service_->Authenticate(s->token + "x", client_).ok());
    ASSERT_TRUE(service_->Logout(s->token).ok());
    EXPECT_EQ(service_->Authenticate(s->token, client_).error().code, Code::kUnauthenticated);

    // Idle: 14 min between requests is fine, 16 min is not.
    auto s2 = SignIn("marie.martin@example.fr", "marie.martin@example.fr");
    ASSERT_TRUE(s2.ok());
    clock_.AdvanceForTest(14 * 60 * kSecond);
    ASSERT_TRUE(service_->Authenticate(s2->token, client_).ok());
    clock_.AdvanceForTest(14 * 60 * kSecond);
    ASSERT_TRUE(service_->Authenticate(s2->token, client_).ok());
    clock_.AdvanceForTest(16 * 60 * kSecond);
    EXPECT_FALSE(service_->Authenticate(s2->token, client_).ok());

    // Absolute: active every 10 minutes, still ends after 12 hours.
    auto s3 = SignIn("marie.martin@example.fr", "marie.martin@example.fr");
    ASSERT_TRUE(s3.ok());
    for (int i = 0; i < 71; ++i) {
        clock_.AdvanceForTest(10 * 60 * kSecond);
        ASSERT_TRUE(service_->Authenticate(s3->token, client_).ok()) << i;
    }
    clock_.AdvanceForTest(11 * 60 * kSecond);
    EXPECT_FALSE(service_->Authenticate(s3->token, client_).ok());
}

TEST_P(AuthTest, PasswordChangeEndsOtherSessionsAndResetEndsThemAll) {
    ActivePatient();
    const std::string to = "marie.martin@example.fr";
    auto phone = SignIn(to, to);
    auto laptop = SignIn(to, to);
    ASSERT_TRUE(phone.ok() && laptop.ok());
    auto who = service_->Authenticate(laptop->token, client_);
    ASSERT_TRUE(who.ok());
    const std::string next = "Nouveau-mot-de-passe-solide";
    EXPECT_FALSE(service_->ChangePassword(*who, "pas le bon", next).ok());
    EXPECT_FALSE(service_->ChangePassword(*who, kPassword, "azerty").ok()) << "policy applies";
    ASSERT_TRUE(service_->ChangePassword(*who, kPassword, next).ok());
    EXPECT_FALSE(service_->Authenticate(phone->token, client_).ok());
    EXPECT_TRUE(service_->Authenticate(laptop->token, client_).ok());
    EXPECT_GE(OutboxCount(to), 1);  // "your password changed" notice

    // Reset: unknown logins get the same shape, no code.
    ClearOutbox();
    auto unknown = service_->StartReset("personne@example.fr", client_);
    ASSERT_TRUE(unknown.ok());
    EXPECT_EQ(OutboxCount(), 0);
    EXPECT_FALSE(
        service_->FinishReset(unknown->challenge, "000000", "Encore-un-autre-secret", client_)
            .ok());
    auto reset = service_->StartReset(to, client_);
    ASSERT_TRUE(reset.ok());
    std::string code = LastCode(to);
    EXPECT_FALSE(service_->FinishReset(reset->challenge, code, "123456789", client_).ok())
        << "a weak new password is refused";
    ASSERT_TRUE(
        service_->FinishReset(reset->challenge, code, "Encore-un-autre-secret", client_).ok());
    EXPECT_FALSE(service_->Authenticate(laptop->token, client_).ok()) << "reset ends every session";
    EXPECT_FALSE(
        service_->FinishReset(reset->challenge, code, "Encore-un-autre-secret", client_).ok())
        << "single use";
    ClearOutbox();
    ASSERT_TRUE(service_->Login(to, next, client_).ok());
    EXPECT_EQ(OutboxCount(), 0) << "the old password no longer works";
    ASSERT_TRUE(service_->Login(to, "Encore-un-autre-secret", client_).ok());
    EXPECT_EQ(OutboxCount(), 1);
}

TEST_P(AuthTest, ActivationNeedsTheRightCodeAStrongPasswordAndAConfirmedContact) {
    NewPatient p;
    p.ins = Ins("1750275123456");
    p.given = "Paul";
    p.family = "Durand";
    p.birth_date = "1975-02-01";
    p.email = "paul.durand@example.fr";
    auto created = service_->CreatePatient(p, "test");
    ASSERT_TRUE(created.ok()) << created.error().Summary();
    EXPECT_EQ(created->account.status, "pending");
    EXPECT_EQ(created->activation_code.size(), 14U);
    // The activation letter went to the contact the insurer had.
    EXPECT_EQ(OutboxCount("paul.durand@example.fr"), 1);
    // Import is idempotent.
    auto again = service_->CreatePatient(p, "test");
    ASSERT_TRUE(again.ok());
    EXPECT_TRUE(again->existed);
    EXPECT_TRUE(again->activation_code.empty());
    // Invalid INS refused.
    NewPatient bad = p;
    bad.ins =
        "1750275123456"
        "00";
    EXPECT_EQ(service_->CreatePatient(bad, "test").error().code, Code::kInvalid);

    // A pending account cannot log in.
    ClearOutbox();
    ASSERT_TRUE(service_->Login(p.ins, kPassword, client_).ok());
    EXPECT_EQ(OutboxCount(), 0);

    // Wrong code, weak password, bad address.
    auto wrong = service_->StartActivation(p.ins, "AAAA-BBBB-CCCC", kPassword, "email",
                                           "paul@example.fr", client_);
    EXPECT_EQ(wrong.error().code, Code::kUnauthenticated);
    auto weak = service_->StartActivation(p.ins, created->activation_code, "motdepasse", "email",
                                          "paul@example.fr", client_);
    EXPECT_EQ(weak.error().code, Code::kInvalid);
    auto bad_mail = service_->StartActivation(p.ins, created->activation_code, kPassword, "email",
                                              "paul@", client_);
    EXPECT_EQ(bad_mail.error().code, Code::kInvalid);

    // Lower-case and without dashes is the same code.
    std::string typed = created->activation_code;
    typed.erase(std::remove(typed.begin(), typed.end(), '-'), typed.end());
    for (auto& ch : typed) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    auto start =
        service_->StartActivation(p.ins, typed, kPassword, "email", "Paul@Example.FR", client_);
    ASSERT_TRUE(start.ok()) << start.error().Summary();
    EXPECT_EQ(start->channel, "email");
    std::string code = LastCode("paul@example.fr");
    ASSERT_EQ(code.size(), 6U);
    EXPECT_FALSE(
        service_
            ->FinishActivation(start->challenge, code == "111111" ? "222222" : "111111", client_)
            .ok());
    auto session = service_->FinishActivation(start->challenge, code, client_);
    ASSERT_TRUE(session.ok()) << session.error().Summary();
    auto acc = service_->GetAccount(created->account.id);
    ASSERT_TRUE(acc.ok());
    EXPECT_EQ(acc->status, "active");
    EXPECT_TRUE(acc->email_verified);
    EXPECT_EQ(acc->login, "paul@example.fr");
    // The activation code is spent.
    EXPECT_FALSE(service_
                     ->StartActivation(p.ins, created->activation_code, kPassword, "email",
                                       "paul@example.fr", client_)
                     .ok());
    // And the history says so.
    auto history = service_->History(created->account.id);
    ASSERT_TRUE(history.ok());
    ASSERT_FALSE(history->empty());
    EXPECT_TRUE(std::any_of(history->begin(), history->end(),
                            [](const AccountEvent& e) { return e.action == "activation"; }));
}

TEST_P(AuthTest, ActivationCodesDieAfterFiveWrongTries) {
    NewPatient p;
    p.ins = Ins("1750275123457");
    p.family = "Petit";
    p.birth_date = "1975-02-01";
    p.email = "courrier.petit@example.fr";  // where a new activation code can go
    auto created = service_->CreatePatient(p, "test");
    ASSERT_TRUE(created.ok());
    for (int i = 0; i < 5; ++i) {
        EXPECT_EQ(service_
                      ->StartActivation(p.ins, "ZZZZ-ZZZZ-ZZZZ", kPassword, "email",
                                        "petit@example.fr", client_)
                      .error()
                      .code,
                  Code::kUnauthenticated);
    }
    EXPECT_FALSE(service_
                     ->StartActivation(p.ins, created->activation_code, kPassword, "email",
                                       "petit@example.fr", client_)
                     .ok());
    // An advisor sends a new one; a patient cannot.
    Principal patient;
    patient.kind = "patient";
    EXPECT_EQ(service_->ResendActivation(created->account.id, patient).error().code,
              Code::kForbidden);
    Principal advisor;
    advisor.kind = "advisor";
    advisor.account_id = "adv-1";
    advisor.display_name = "Conseiller";
    auto fresh = service_->ResendActivation(created->account.id, advisor);
    ASSERT_TRUE(fresh.ok());
    EXPECT_TRUE(
        service_->StartActivation(p.ins, *fresh, kPassword, "email", "petit@example.fr", client_)
            .ok());
    // The advisor's action is in the person's history.
    auto history = service_->History(created->account.id);
    ASSERT_TRUE(history.ok());
    bool seen = false;
    for (const auto& e : *history)
        seen = seen || (e.action == "operator.resend-activation" && e.actor_kind == "advisor");
    EXPECT_TRUE(seen);
}

TEST_P(AuthTest, OppositionDeletesTheRecordAndForbidsActivation) {
    NewPatient p;
    p.ins = Ins("2600375123456");
    p.family = "Refus";
    p.birth_date = "1960-03-01";
    auto created = service_->CreatePatient(p, "test");
    ASSERT_TRUE(created.ok());
    EXPECT_FALSE(service_->Oppose(p.ins, "ZZZZ-ZZZZ-ZZZZ", client_).ok());
    store::PutRequest put;
    put.resource.type = "Observation";
    put.resource.id = "obs-" + NewUuid();
    put.resource.version = 1;
    put.resource.patient_id = created->account.patient_id;
    put.resource.json = R"({"resourceType":"Observation"})";
    ASSERT_TRUE(store_->Write([&](store::WriteTxn& txn) { return txn.Put(put); }).ok());
    ASSERT_TRUE(service_->Oppose(p.ins, created->activation_code, client_).ok());
    auto left = Rows("SELECT COUNT(*) FROM resources WHERE patient_id = '" +
                     created->account.patient_id + "'");
    EXPECT_EQ(AsInt(left[0][0]), 0) << "no record is kept";
    auto acc = service_->GetAccount(created->account.id);
    ASSERT_TRUE(acc.ok());
    EXPECT_EQ(acc->status, "opposed");
    EXPECT_FALSE(service_
                     ->StartActivation(p.ins, created->activation_code, kPassword, "email",
                                       "refus@example.fr", client_)
                     .ok());
    // Importing the person again does not bring the account back.
    auto again = service_->CreatePatient(p, "test");
    ASSERT_TRUE(again.ok());
    EXPECT_TRUE(again->existed);
    EXPECT_EQ(again->account.status, "opposed");
}

TEST_P(AuthTest, TotpReplacesTheMailedCodeAndACodeCannotBeReplayed) {
    ActivePatient();
    auto s = SignIn("marie.martin@example.fr", "marie.martin@example.fr");
    ASSERT_TRUE(s.ok());
    auto who = service_->Authenticate(s->token, client_);
    ASSERT_TRUE(who.ok());
    auto enrol = service_->StartTotp(*who);
    ASSERT_TRUE(enrol.ok());
    EXPECT_NE(enrol->otpauth_uri.find("otpauth://totp/"), std::string::npos);
    auto secret = Base32Decode(enrol->secret_base32);
    ASSERT_TRUE(secret.has_value());
    int64_t unix_s = clock_.NowMicros() / kSecond;
    EXPECT_FALSE(service_->ConfirmTotp(*who, "000000").ok() &&
                 TotpCode(*secret, unix_s) != "000000");
    ASSERT_TRUE(service_->ConfirmTotp(*who, TotpCode(*secret, unix_s)).ok());
    EXPECT_EQ(service_->SetSecondFactor(*who, "email").error().code, Code::kUnprocessable)
        << "no way around the password that DisableTotp asks";
    // The secret is not stored in clear.
    for (const auto& r : Rows("SELECT totp_secret FROM accounts")) {
        EXPECT_EQ(AsText(r[0]).find(enrol->secret_base32), std::string::npos);
    }

    clock_.AdvanceForTest(60 * kSecond);
    ClearOutbox();
    auto login = service_->Login("marie.martin@example.fr", kPassword, client_);
    ASSERT_TRUE(login.ok());
    EXPECT_EQ(login->challenge.channel, "totp");
    EXPECT_EQ(OutboxCount(), 0) << "nothing is mailed when the app is the second factor";
    unix_s = clock_.NowMicros() / kSecond;
    std::string code = TotpCode(*secret, unix_s);
    ASSERT_TRUE(service_->Verify(login->challenge.challenge, code, false, client_).ok());
    // The same app code cannot open a second session.
    auto again = service_->Login("marie.martin@example.fr", kPassword, client_);
    ASSERT_TRUE(again.ok());
    EXPECT_FALSE(service_->Verify(again->challenge.challenge, code, false, client_).ok());
    // Disabling needs the password.
    EXPECT_FALSE(service_->DisableTotp(*who, "faux").ok());
    ASSERT_TRUE(service_->DisableTotp(*who, kPassword).ok());
    auto mailed = service_->Login("marie.martin@example.fr", kPassword, client_);
    ASSERT_TRUE(mailed.ok());
    EXPECT_EQ(mailed->challenge.channel, "email");
}

TEST_P(AuthTest, ATrustedDeviceSkipsTheCodeUntilRevokedOrExpired) {
    ActivePatient();
    const std::string to = "marie.martin@example.fr";
    auto s = SignIn(to, to, true);
    ASSERT_TRUE(s.ok());
    ASSERT_FALSE(s->device_token.empty());
    ClientInfo device = client_;
    device.device_token = s->device_token;
    ClearOutbox();
    auto quick = service_->Login(to, kPassword, device);
    ASSERT_TRUE(quick.ok());
    ASSERT_TRUE(quick->session.has_value());
    EXPECT_EQ(quick->challenge.channel, "trusted-device");
    EXPECT_EQ(OutboxCount(), 0);
    // The device token never replaces the password.
    auto wrong = service_->Login(to, "mauvais", device);
    ASSERT_TRUE(wrong.ok());
    EXPECT_FALSE(wrong->session.has_value());
    // Another account's device token does not work.
    ActivePatient("autre@example.fr", "1920275123456");
    auto other = service_->Login("autre@example.fr", kPassword, device);
    ASSERT_TRUE(other.ok());
    EXPECT_FALSE(other->session.has_value());
    // Listed, revocable.
    auto who = service_->Authenticate(quick->session->token, client_);
    ASSERT_TRUE(who.ok());
    auto devices = service_->ListDevices(*who);
    ASSERT_TRUE(devices.ok());
    ASSERT_EQ(devices->size(), 1U);
    EXPECT_EQ(devices->front().label, "Mozilla/5.0 test");
    ASSERT_TRUE(service_->RevokeDevice(*who, devices->front().handle).ok());
    auto after = service_->Login(to, kPassword, device);
    ASSERT_TRUE(after.ok());
    EXPECT_FALSE(after->session.has_value());
    EXPECT_EQ(service_->RevokeDevice(*who, devices->front().handle).error().code, Code::kNotFound);
    // Expiry: 30 days.
    auto s2 = SignIn(to, to, true);
    ASSERT_TRUE(s2.ok());
    device.device_token = s2->device_token;
    clock_.AdvanceForTest(31LL * 24 * 3600 * kSecond);
    auto expired = service_->Login(to, kPassword, device);
    ASSERT_TRUE(expired.ok());
    EXPECT_FALSE(expired->session.has_value());
}

TEST_P(AuthTest, SessionsAreListedAndOnlyTheOwnerRevokesThem) {
    ActivePatient();
    ActivePatient("autre@example.fr", "1920275123456");
    auto mine = SignIn("marie.martin@example.fr", "marie.martin@example.fr");
    auto mine2 = SignIn("marie.martin@example.fr", "marie.martin@example.fr");
    auto theirs = SignIn("autre@example.fr", "autre@example.fr");
    ASSERT_TRUE(mine.ok() && mine2.ok() && theirs.ok());
    auto me = service_->Authenticate(mine->token, client_);
    auto them = service_->Authenticate(theirs->token, client_);
    ASSERT_TRUE(me.ok() && them.ok());
    auto list = service_->ListSessions(*me);
    ASSERT_TRUE(list.ok());
    ASSERT_EQ(list->size(), 2U);
    int current = 0;
    for (const auto& s : *list) current += s.current ? 1 : 0;
    EXPECT_EQ(current, 1);
    EXPECT_EQ(service_->RevokeSession(*them, mine2->handle).error().code, Code::kNotFound);
    EXPECT_TRUE(service_->Authenticate(mine2->token, client_).ok());
    ASSERT_TRUE(service_->RevokeSession(*me, mine2->handle).ok());
    EXPECT_FALSE(service_->Authenticate(mine2->token, client_).ok());
}

TEST_P(AuthTest, ReauthenticationNeedsPasswordAndCodeAndIsBoundToTheSession) {
    ActivePatient();
    const std::string to = "marie.martin@example.fr";
    auto s = SignIn(to, to);
    ASSERT_TRUE(s.ok());
    clock_.AdvanceForTest(10 * 60 * kSecond);
    auto who = service_->Authenticate(s->token, client_);
    ASSERT_TRUE(who.ok());
    EXPECT_FALSE(service_->RecentlyAuthenticated(*who));
    EXPECT_EQ(service_->StartReauth(*who, "faux", client_).error().code, Code::kUnauthenticated);
    ClearOutbox();
    auto c = service_->StartReauth(*who, kPassword, client_);
    ASSERT_TRUE(c.ok());
    std::string code = LastCode(to);
    // Another session of the same person cannot use this challenge.
    auto other = SignIn(to, to);
    ASSERT_TRUE(other.ok());
    auto other_who = service_->Authenticate(other->token, client_);
    ASSERT_TRUE(other_who.ok());
    EXPECT_FALSE(service_->FinishReauth(*other_who, c->challenge, code, client_).ok());
    ClearOutbox();
    auto c2 = service_->StartReauth(*who, kPassword, client_);
    ASSERT_TRUE(c2.ok());
    ASSERT_TRUE(service_->FinishReauth(*who, c2->challenge, LastCode(to), client_).ok());
    who = service_->Authenticate(s->token, client_);
    ASSERT_TRUE(who.ok());
    EXPECT_TRUE(service_->RecentlyAuthenticated(*who));
    clock_.AdvanceForTest(6 * 60 * kSecond);
    who = service_->Authenticate(s->token, client_);
    ASSERT_TRUE(who.ok());
    EXPECT_FALSE(service_->RecentlyAuthenticated(*who));
}

TEST_P(AuthTest, ContactChangeNeedsTheCodeSentToTheNewContact) {
    ActivePatient();
    auto s = SignIn("marie.martin@example.fr", "marie.martin@example.fr");
    ASSERT_TRUE(s.ok());
    auto who = service_->Authenticate(s->token, client_);
    ASSERT_TRUE(who.ok());
    EXPECT_EQ(service_->SetSecondFactor(*who, "sms").error().code, Code::kUnprocessable)
        << "no verified phone yet";
    EXPECT_EQ(service_->StartContactChange(*who, "sms", "12", client_).error().code,
              Code::kInvalid);
    auto c = service_->StartContactChange(*who, "sms", "06 11 22 33 44", client_);
    ASSERT_TRUE(c.ok());
    EXPECT_EQ(c->to, "\u2022\u2022 \u2022\u2022 \u2022\u2022 \u2022\u2022 44");
    EXPECT_FALSE(service_->ConfirmContact(*who, c->challenge, "000000").ok() &&
                 LastCode("+33611223344") != "000000");
    ASSERT_TRUE(service_->ConfirmContact(*who, c->challenge, LastCode("+33611223344")).ok());
    // A new e-mail: the one it replaces is told.
    ClearOutbox();
    auto mail = service_->StartContactChange(*who, "email", "nouvelle@example.fr", client_);
    ASSERT_TRUE(mail.ok());
    ASSERT_TRUE(
        service_->ConfirmContact(*who, mail->challenge, LastCode("nouvelle@example.fr")).ok());
    auto told = Rows("SELECT template FROM outbox WHERE recipient = 'marie.martin@example.fr'");
    ASSERT_EQ(told.size(), 1U);
    EXPECT_EQ(AsText(told[0][0]), "contact_changed");
    ASSERT_TRUE(service_->SetSecondFactor(*who, "sms").ok());
    ClearOutbox();
    // The new e-mail is the login now (it replaced the old one).
    auto login = service_->Login("nouvelle@example.fr", kPassword, client_);
    ASSERT_TRUE(login.ok());
    EXPECT_EQ(login->challenge.channel, "sms");
    EXPECT_EQ(OutboxCount("+33611223344"), 1);
}

TEST_P(AuthTest, OperatorsUnlockAndTheDirectoryFindsProfessionals) {
    ActivePatient();
    for (int i = 0; i < 6; ++i) (void)service_->Login("marie.martin@example.fr", "faux", client_);
    EXPECT_EQ(service_->Login("marie.martin@example.fr", kPassword, client_).error().code,
              Code::kTooManyRequests);
    auto acc = service_->FindByLogin("marie.martin@example.fr");
    ASSERT_TRUE(acc.ok() && acc->has_value());
    Principal patient;
    patient.kind = "patient";
    EXPECT_EQ(service_->Unlock((*acc)->id, patient).error().code, Code::kForbidden);
    Principal advisor;
    advisor.kind = "advisor";
    advisor.account_id = "adv";
    ASSERT_TRUE(service_->Unlock((*acc)->id, advisor).ok());
    EXPECT_TRUE(service_->Login("marie.martin@example.fr", kPassword, client_).ok());
    // The advisor's action is in the record's access log too (the patient reads it there).
    {
        auto reader = store_->OpenReader();
        ASSERT_TRUE(reader.ok());
        auto log = (*reader)->Query(
            "SELECT actor_account, actor_kind, action, outcome FROM "
            "audit_log WHERE patient_id = ? AND actor_kind = 'advisor'",
            {(*acc)->patient_id});
        ASSERT_TRUE(log.ok());
        ASSERT_EQ(log->size(), 1U);
        EXPECT_EQ(store::AsText((*log)[0][0]), "adv");
        EXPECT_EQ(store::AsText((*log)[0][2]), "account:operator.unlock");
        EXPECT_EQ(store::AsText((*log)[0][3]), "allow");
    }

    NewProfessional pro;
    pro.rpps = Rpps("1000123456");
    pro.given = "Jean";
    pro.family = "Dupont";
    pro.profession = "medecin";
    pro.specialty = "Médecine générale";
    ASSERT_TRUE(service_->CreateProfessional(pro, "admin").ok());
    NewProfessional bad = pro;
    bad.rpps = "10001234567";
    if (IsValidRpps(bad.rpps)) bad.rpps = "10001234568";
    EXPECT_EQ(service_->CreateProfessional(bad, "admin").error().code, Code::kInvalid);
    bad = pro;
    bad.profession = "astrologue";
    EXPECT_EQ(service_->CreateProfessional(bad, "admin").error().code, Code::kInvalid);
    auto found = service_->SearchDirectory("dup", "");
    ASSERT_TRUE(found.ok());
    ASSERT_EQ(found->size(), 1U);
    EXPECT_EQ(found->front().rpps, pro.rpps);
    EXPECT_EQ(service_->SearchDirectory("dup", "pharmacien")->size(), 0U);
    EXPECT_EQ(service_->SearchDirectory(pro.rpps, "")->size(), 1U);
    EXPECT_EQ(service_->SearchDirectory("%", "")->size(), 0U) << "LIKE wildcards are literal";
    EXPECT_EQ(service_->SearchDirectory("martin", "")->size(), 0U) << "patients are not listed";
}

TEST_P(AuthTest, ARepresentativeActsForAMinorUntilMajorityAndInvitesTheSecondOne) {
    Account parent = ActivePatient("parent@example.fr", "1780275123456");
    Account other = ActivePatient("autre.parent@example.fr", "2790275123456");
    Account stranger = ActivePatient("voisin@example.fr", "1800275123456");
    NewPatient child;
    child.ins = Ins("2160475123456");
    child.given = "Léa";
    child.family = "Martin";
    child.birth_date = "2016-04-14";  // 10 at kT0 (2027-01-15)
    child.email = "lea@example.fr";
    auto c = service_->CreatePatient(child, "test");
    ASSERT_TRUE(c.ok());
    EXPECT_EQ(OutboxCount("lea@example.fr"), 0) << "no activation letter to a child";
    // Only for minors, only to another account.
    EXPECT_FALSE(service_->AddRepresentative(parent.patient_id, other.id, "admin").ok());
    EXPECT_FALSE(service_->AddRepresentative(c->account.patient_id, c->account.id, "admin").ok());
    ASSERT_TRUE(service_->AddRepresentative(c->account.patient_id, parent.id, "admin").ok());

    auto ps = SignIn("parent@example.fr", "parent@example.fr");
    auto os = SignIn("autre.parent@example.fr", "autre.parent@example.fr");
    auto ss = SignIn("voisin@example.fr", "voisin@example.fr");
    ASSERT_TRUE(ps.ok() && os.ok() && ss.ok());
    auto p = service_->Authenticate(ps->token, client_);
    auto o = service_->Authenticate(os->token, client_);
    auto st = service_->Authenticate(ss->token, client_);
    ASSERT_TRUE(p.ok() && o.ok() && st.ok());
    auto records = service_->Records(*p);
    ASSERT_TRUE(records.ok());
    ASSERT_EQ(records->size(), 2U);
    EXPECT_EQ((*records)[1].relation, "representative");
    EXPECT_EQ((*records)[1].patient_id, c->account.patient_id);
    EXPECT_EQ(service_->RecordFor(*st, c->account.patient_id).error().code, Code::kForbidden);

    // A stranger cannot invite anyone to the child's record; the parent invites the other.
    EXPECT_EQ(
        service_->Invite(*st, c->account.patient_id, "representative", "autre.parent@example.fr")
            .error()
            .code,
        Code::kForbidden);
    EXPECT_EQ(service_->Invite(*p, c->account.patient_id, "representative", "personne@example.fr")
                  .error()
                  .code,
              Code::kNotFound);
    ClearOutbox();
    auto inv =
        service_->Invite(*p, c->account.patient_id, "representative", "autre.parent@example.fr");
    ASSERT_TRUE(inv.ok()) << inv.error().Summary();
    EXPECT_EQ(inv->status, "invited");
    auto rows = Rows("SELECT params FROM outbox WHERE recipient = 'autre.parent@example.fr'");
    ASSERT_EQ(rows.size(), 1U);
    std::string code(boost::json::parse(AsText(rows[0][0])).at("code").as_string());
    // Until accepted, nothing; the code is bound to the invitee.
    EXPECT_EQ(service_->Records(*o)->size(), 1U);
    EXPECT_FALSE(service_->AcceptInvitation(*st, code).ok());
    EXPECT_FALSE(service_->AcceptInvitation(*o, "AAAA-BBBB-CCCC").ok());
    auto accepted = service_->AcceptInvitation(*o, code);
    ASSERT_TRUE(accepted.ok()) << accepted.error().Summary();
    EXPECT_EQ(accepted->relation, "representative");
    EXPECT_EQ(service_->Records(*o)->size(), 2U);
    EXPECT_FALSE(service_->AcceptInvitation(*o, code).ok()) << "single use";

    // Majority: the representatives lose access that very day.
    clock_.AdvanceForTest((8LL * 365 + 2 + 90) * 24 * 3600 * kSecond);  // 2034-04-15
    p = service_->Authenticate(SignIn("parent@example.fr", "parent@example.fr")->token, client_);
    ASSERT_TRUE(p.ok());
    EXPECT_EQ(service_->Records(*p)->size(), 1U) << "only their own record";
    EXPECT_EQ(service_->RecordFor(*p, c->account.patient_id).error().code, Code::kForbidden);
}

TEST_P(AuthTest, CaregiversAreChosenByThePatientAtMostThreeAndCannotManageDelegations) {
    Account me = ActivePatient("moi@example.fr", "2500275123456");
    std::vector<Account> helpers;
    for (int i = 0; i < 4; ++i) {
        helpers.push_back(ActivePatient("aidant" + std::to_string(i) + "@example.fr",
                                        "17002751234" + std::to_string(50 + i)));
    }
    auto ms = SignIn("moi@example.fr", "moi@example.fr");
    ASSERT_TRUE(ms.ok());
    auto who = service_->Authenticate(ms->token, client_);
    ASSERT_TRUE(who.ok());
    std::vector<std::string> codes;
    for (int i = 0; i < 3; ++i) {
        ClearOutbox();
        const std::string login = "aidant" + std::to_string(i) + "@example.fr";
        auto inv = service_->Invite(*who, me.patient_id, "caregiver", login);
        ASSERT_TRUE(inv.ok()) << i << " " << inv.error().Summary();
        codes.push_back(LastCode(login));
    }
    auto fourth = service_->Invite(*who, me.patient_id, "caregiver", "aidant3@example.fr");
    ASSERT_FALSE(fourth.ok());
    EXPECT_EQ(fourth.error().code, Code::kUnprocessable);
    EXPECT_EQ(service_->Invite(*who, me.patient_id, "caregiver", "aidant0@example.fr").error().code,
              Code::kConflict);

    auto hs = SignIn("aidant0@example.fr", "aidant0@example.fr");
    ASSERT_TRUE(hs.ok());
    auto helper = service_->Authenticate(hs->token, client_);
    ASSERT_TRUE(helper.ok());
    ASSERT_TRUE(service_->AcceptInvitation(*helper, codes[0]).ok());
    auto rec = service_->RecordFor(*helper, me.patient_id);
    ASSERT_TRUE(rec.ok());
    EXPECT_EQ(rec->relation, "caregiver");
    // A caregiver cannot invite, list or end others' delegations, nor close the record.
    EXPECT_EQ(
        service_->Invite(*helper, me.patient_id, "caregiver", "aidant3@example.fr").error().code,
        Code::kForbidden);
    EXPECT_EQ(service_->Delegations(*helper, me.patient_id).error().code, Code::kForbidden);
    auto list = service_->Delegations(*who, me.patient_id);
    ASSERT_TRUE(list.ok());
    ASSERT_EQ(list->size(), 3U);
    std::string other_id;
    for (const auto& d : *list)
        if (d.delegate_account != helper->account_id) other_id = d.id;
    EXPECT_EQ(service_->EndDelegation(*helper, me.patient_id, other_id).error().code,
              Code::kForbidden);
    // The patient ends it: access stops at once.
    std::string mine;
    for (const auto& d : *list)
        if (d.delegate_account == helper->account_id) mine = d.id;
    ASSERT_TRUE(service_->EndDelegation(*who, me.patient_id, mine).ok());
    EXPECT_EQ(service_->RecordFor(*helper, me.patient_id).error().code, Code::kForbidden);
}

TEST_P(AuthTest, ClosureNeedsAFreshIdentityCheckEndsEverythingAndCanBeUndone) {
    Account me = ActivePatient("moi@example.fr", "2500275123456");
    Account helper = ActivePatient("aidant@example.fr", "1700275123450");
    auto ms = SignIn("moi@example.fr", "moi@example.fr");
    auto other = SignIn("moi@example.fr", "moi@example.fr", true);
    auto hs = SignIn("aidant@example.fr", "aidant@example.fr");
    ASSERT_TRUE(ms.ok() && other.ok() && hs.ok());
    auto who = service_->Authenticate(ms->token, client_);
    auto h = service_->Authenticate(hs->token, client_);
    ASSERT_TRUE(who.ok() && h.ok());
    ClearOutbox();
    ASSERT_TRUE(service_->Invite(*who, me.patient_id, "caregiver", "aidant@example.fr").ok());
    ASSERT_TRUE(service_->AcceptInvitation(*h, LastCode("aidant@example.fr")).ok());

    // Ten minutes after login the session is no longer fresh enough.
    clock_.AdvanceForTest(10 * 60 * kSecond);
    who = service_->Authenticate(ms->token, client_);
    ASSERT_TRUE(who.ok());
    EXPECT_EQ(service_->Close(*who).error().code, Code::kForbidden);
    EXPECT_EQ(service_->Close(*h).error().code, Code::kForbidden) << "a caregiver cannot close";
    ClearOutbox();
    auto re = service_->StartReauth(*who, kPassword, client_);
    ASSERT_TRUE(re.ok());
    ASSERT_TRUE(
        service_->FinishReauth(*who, re->challenge, LastCode("moi@example.fr"), client_).ok());
    who = service_->Authenticate(ms->token, client_);
    ASSERT_TRUE(who.ok());
    ClearOutbox();
    ASSERT_TRUE(service_->Close(*who).ok());
    auto acc = service_->GetAccount(me.id);
    ASSERT_TRUE(acc.ok());
    EXPECT_EQ(acc->status, "closed");
    EXPECT_GT(acc->purge_at, clock_.NowMicros() + 9LL * 365 * 24 * 3600 * kSecond);
    EXPECT_FALSE(service_->Authenticate(ms->token, client_).ok()) << "every session ends";
    EXPECT_FALSE(service_->Authenticate(other->token, client_).ok());
    EXPECT_EQ(service_->RecordFor(*h, me.patient_id).error().code, Code::kForbidden)
        << "and every delegation";
    EXPECT_EQ(OutboxCount("moi@example.fr"), 1) << "the person is told";
    // The trusted device no longer skips the code.
    ClientInfo device = client_;
    device.device_token = other->device_token;
    auto login = service_->Login("moi@example.fr", kPassword, device);
    ASSERT_TRUE(login.ok());
    EXPECT_FALSE(login->session.has_value());

    // A closed space's holder can get a forgotten password back (to reopen it).
    ClearOutbox();
    auto reset = service_->StartReset("moi@example.fr", client_);
    ASSERT_TRUE(reset.ok());
    EXPECT_EQ(OutboxCount("moi@example.fr"), 1);
    // The holder signs in to the archive (an hour later: this test used up the account's
    // codes for the hour) and reopens it.
    clock_.AdvanceForTest(3601 * kSecond);
    auto back = SignIn("moi@example.fr", "moi@example.fr");
    ASSERT_TRUE(back.ok());
    auto again = service_->Authenticate(back->token, client_);
    ASSERT_TRUE(again.ok());
    ASSERT_TRUE(service_->Reopen(*again).ok());
    EXPECT_EQ(service_->GetAccount(me.id)->status, "active");
}

TEST_P(AuthTest, DeletionPurgesTheRecordAtTheDeadlineAndNotBefore) {
    options_.deletion_delay_days = 90;
    Rebuild();
    Account me = ActivePatient("moi@example.fr", "2500275123456");
    // A record row for this patient, sealed with their key.
    store::PutRequest put;
    put.resource.type = "Observation";
    put.resource.id = "obs-" + NewUuid();
    put.resource.version = 1;
    put.resource.patient_id = me.patient_id;
    put.resource.json = R"({"resourceType":"Observation","id":")" + put.resource.id + R"("})";
    ASSERT_TRUE(store_->Write([&](store::WriteTxn& txn) { return txn.Put(put); }).ok());
    auto s = SignIn("moi@example.fr", "moi@example.fr");
    ASSERT_TRUE(s.ok());
    auto who = service_->Authenticate(s->token, client_);
    ASSERT_TRUE(who.ok());
    ASSERT_TRUE(service_->RequestDeletion(*who).ok());
    EXPECT_EQ(service_->PurgeDue().value(), 0);
    auto present =
        Rows("SELECT COUNT(*) FROM resources WHERE patient_id = '" + me.patient_id + "'");
    EXPECT_EQ(AsInt(present[0][0]), 1);
    clock_.AdvanceForTest(91LL * 24 * 3600 * kSecond);
    EXPECT_EQ(service_->PurgeDue().value(), 1);
    auto gone = Rows("SELECT COUNT(*) FROM resources WHERE patient_id = '" + me.patient_id + "'");
    EXPECT_EQ(AsInt(gone[0][0]), 0);
    auto key = Rows("SELECT COUNT(*) FROM patient_keys WHERE patient_id = '" + me.patient_id + "'");
    EXPECT_EQ(AsInt(key[0][0]), 0) << "the key is destroyed";
    EXPECT_EQ(service_->GetAccount(me.id)->status, "deleted");
    ClearOutbox();
    ASSERT_TRUE(service_->Login("moi@example.fr", kPassword, client_).ok());
    EXPECT_EQ(OutboxCount(), 0) << "no login into a deleted account";
    // Only an admin purges at once.
    Account other = ActivePatient("autre@example.fr", "1920275123456");
    Principal advisor;
    advisor.kind = "advisor";
    EXPECT_EQ(service_->PurgeNow(other.id, advisor).error().code, Code::kForbidden);
    Principal admin;
    admin.kind = "admin";
    EXPECT_EQ(service_->PurgeNow(other.id, admin).error().code, Code::kUnprocessable)
        << "an open account is never purged";
}

TEST_P(AuthTest, EverySpellingOfAnInsSharesOneFailureCount) {
    Account a = ActivePatient();
    const std::string ins = a.ins;  // 15 digits
    const std::vector<std::string> spellings = {
        ins, ins.substr(0, 1) + " " + ins.substr(1, 2) + " " + ins.substr(3),
        ins.substr(0, 5) + "." + ins.substr(5), ins.substr(0, 7) + "-" + ins.substr(7),
        " " + ins + " "};
    for (const auto& s : spellings) ASSERT_TRUE(service_->Login(s, "faux", client_).ok()) << s;
    auto blocked = service_->Login(ins.substr(0, 3) + " " + ins.substr(3), kPassword, client_);
    ASSERT_FALSE(blocked.ok()) << "a sixth spelling is not a fresh count";
    EXPECT_EQ(blocked.error().code, Code::kTooManyRequests);
}

TEST_P(AuthTest, WrongCodesAreThrottledPerAccountAcrossNewChallenges) {
    ActivePatient();
    const std::string to = "marie.martin@example.fr";
    ClearOutbox();
    auto first = service_->Login(to, kPassword, client_);
    ASSERT_TRUE(first.ok());
    std::string right = LastCode(to);
    std::string wrong = right == "000000" ? "000001" : "000000";
    for (int i = 0; i < 5; ++i) {
        EXPECT_EQ(service_->Verify(first->challenge.challenge, wrong, false, client_).error().code,
                  Code::kUnauthenticated);
    }
    // A new challenge does not start a new count: even its right code waits.
    ClearOutbox();
    auto second = service_->Login(to, kPassword, client_);
    ASSERT_TRUE(second.ok());
    right = LastCode(to);
    auto held = service_->Verify(second->challenge.challenge, right, false, client_);
    ASSERT_FALSE(held.ok());
    EXPECT_EQ(held.error().code, Code::kTooManyRequests);
    EXPECT_GE(held.error().retry_after_s, 1);
    clock_.AdvanceForTest(2 * kSecond);
    EXPECT_TRUE(service_->Verify(second->challenge.challenge, right, false, client_).ok());
}

TEST_P(AuthTest, ConcurrentVerificationsOfOneCodeOpenOneSession) {
    ActivePatient();
    const std::string to = "marie.martin@example.fr";
    ClearOutbox();
    auto login = service_->Login(to, kPassword, client_);
    ASSERT_TRUE(login.ok());
    const std::string code = LastCode(to);
    std::atomic<int> opened{0};
    std::vector<std::thread> threads;
    for (int i = 0; i < 8; ++i) {
        threads.emplace_back([&] {
            if (service_->Verify(login->challenge.challenge, code, false, client_).ok()) ++opened;
        });
    }
    for (auto& t : threads) t.join();
    EXPECT_EQ(opened.load(), 1);
    auto rows = Rows("SELECT COUNT(*) FROM sessions");
    EXPECT_EQ(AsInt(rows[0][0]), 1);
}

TEST_P(AuthTest, AMinorNeitherActivatesNorOpposesAndGetsNoCode) {
    NewPatient child;
    child.ins = Ins("2160475123499");
    child.family = "Enfant";
    child.birth_date = "2016-04-14";
    child.email = "enfant@example.fr";
    auto c = service_->CreatePatient(child, "test");
    ASSERT_TRUE(c.ok());
    EXPECT_TRUE(c->activation_code.empty()) << "no code leaves Carnet for a minor";
    Principal advisor;
    advisor.kind = "advisor";
    EXPECT_EQ(service_->ResendActivation(c->account.id, advisor).error().code,
              Code::kUnprocessable);
    // Someone who turns 18 at kT0 has a code; the same person the month before does not
    // get to use it.
    NewPatient teen;
    teen.ins = Ins("1090175123456");
    teen.family = "Presque";
    teen.birth_date = "2009-01-10";
    auto t = service_->CreatePatient(teen, "test");
    ASSERT_TRUE(t.ok());
    ASSERT_FALSE(t->activation_code.empty());
    clock_.AdvanceForTest(-30LL * 24 * 3600 * kSecond);
    EXPECT_EQ(service_
                  ->StartActivation(teen.ins, t->activation_code, kPassword, "email",
                                    "presque@example.fr", client_)
                  .error()
                  .code,
              Code::kUnauthenticated);
    EXPECT_EQ(service_->Oppose(teen.ins, t->activation_code, client_).error().code,
              Code::kUnauthenticated);
    clock_.AdvanceForTest(30LL * 24 * 3600 * kSecond);
    EXPECT_TRUE(service_
                    ->StartActivation(teen.ins, t->activation_code, kPassword, "email",
                                      "presque@example.fr", client_)
                    .ok());
}

TEST_P(AuthTest, AResetOverTheSendingCapLooksLikeAnUnknownLogin) {
    options_.sends_per_account = 1;
    Rebuild();
    ActivePatient();
    ASSERT_TRUE(service_->Login("marie.martin@example.fr", kPassword, client_).ok());
    ClearOutbox();
    auto reset = service_->StartReset("marie.martin@example.fr", client_);
    ASSERT_TRUE(reset.ok()) << "no 429 that would tell the account exists";
    EXPECT_EQ(OutboxCount(), 0);
    EXPECT_EQ(reset->to, service_->StartReset("marie.martin@example.fr", client_)->to);
}

TEST_P(AuthTest, ATrustedDeviceLoginIsNoFreshIdentityCheck) {
    ActivePatient();
    const std::string to = "marie.martin@example.fr";
    auto s = SignIn(to, to, true);
    ASSERT_TRUE(s.ok());
    ClientInfo device = client_;
    device.device_token = s->device_token;
    auto quick = service_->Login(to, kPassword, device);
    ASSERT_TRUE(quick.ok() && quick->session.has_value());
    auto who = service_->Authenticate(quick->session->token, client_);
    ASSERT_TRUE(who.ok());
    EXPECT_FALSE(service_->RecentlyAuthenticated(*who));
    EXPECT_EQ(service_->Close(*who).error().code, Code::kForbidden);
}

INSTANTIATE_TEST_SUITE_P(Engines, AuthTest, ::testing::Values("sqlite", "postgres"),
                         [](const auto& param_info) { return param_info.param; });

}  // namespace
}  // namespace carnet::auth
