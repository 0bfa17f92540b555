// The identity endpoints over real HTTP, and the guard in front of every FHIR route:
// cookies and CSRF, bearer tokens, logout, throttling answers, operator routes, and the
// refusal of operators (advisor, admin) on every content route.
#include <algorithm>
#include <chrono>

#include "api/auth_routes.hpp"
#include "api_harness.hpp"
#include "auth/service.hpp"
#include "people.hpp"

namespace carnet::api::testing {
namespace {

constexpr int64_t kT0 = 1'800'000'000'000'000;

class AuthRoutesTest : public ::testing::TestWithParam<std::string>, protected PeopleFixture {
  protected:
    void SetUp() override {
        crypto::Init();
        spdlog::set_level(spdlog::level::warn);
        if (GetParam() == "postgres" && !PgDsn()) GTEST_SKIP() << "CARNET_TEST_PG not set";
        ASSERT_NO_FATAL_FAILURE(
            OpenCleanStore(GetParam(), "carnet-authapi-",
                           {"outbox", "accounts", "challenges", "sessions", "trusted_devices",
                            "login_throttle", "account_events"}));
        service_ = std::make_unique<FhirService>(*store_, clock_);
        service_->SetWriteGate(auth::CheckRecordWritable);
        auth::AuthOptions ao;
        ao.password_cost = {1, 1024 * 1024};
        ao.attempts_per_ip_per_minute = 1000;  // the throttling tests reach it
        StartAuth(clock_, ao);
        authenticator_ = std::make_unique<Authenticator>(*auth_, AuthRouteOptions{});
        RegisterAuthRoutes(router_, *authenticator_, *store_, clock_);
        ApiOptions api;
        api.guard = [this](http::Request& req) { return GuardContent(*authenticator_, req); };
        RegisterFhirRoutes(router_, *service_, api);
        server_ = std::make_unique<http::Server>(ApiServer::DefaultServerOptions(), router_);
        ASSERT_TRUE(server_->Start().ok());
        client_ = std::make_unique<Client>(server_->Port());

        // People: a patient with a record, an advisor, an admin.
        auth::NewPatient p;
        p.ins = Ins("2850575123456");
        p.given = "Marie";
        p.family = "Martin";
        p.birth_date = "1985-05-12";
        auto created = auth_->CreatePatient(p, "test");
        ASSERT_TRUE(created.ok());
        patient_id_ = created->account.patient_id;
        ASSERT_TRUE(
            auth_->SetPasswordForSetup(created->account.id, kPassword, "marie@example.fr", "")
                .ok());
        for (const auto& [kind, login] :
             {std::pair{"advisor", "conseil"}, std::pair{"admin", "root"}}) {
            auth::NewStaff s;
            s.kind = kind;
            s.login = login;
            auto c = auth_->CreateStaff(s, "test");
            ASSERT_TRUE(c.ok());
            ASSERT_TRUE(auth_
                            ->SetPasswordForSetup(c->account.id, kPassword,
                                                  std::string(login) + "@example.fr", "")
                            .ok());
        }
    }
    void TearDown() override {
        if (server_) server_->Stop();
        server_.reset();
        CloseStore();
    }

    Reply PostJson(const std::string& target, const json::value& body, Headers headers = {}) {
        headers.emplace_back("Content-Type", "application/json");
        return client_->Send("POST", target, headers, json::serialize(body));
    }
    std::string CodeSentTo(const std::string& to) {
        auto reader = store_->OpenReader();
        auto rows = (*reader)->Query("SELECT params FROM outbox WHERE recipient = ?", {to});
        if (!rows.ok() || rows->empty()) return {};
        auto v = json::parse(store::AsText(rows->back()[0]));
        return std::string(v.at("code").as_string());
    }
    void ClearOutbox() {
        ASSERT_TRUE(store_
                        ->Write([](store::WriteTxn& txn) -> Status {
                            CARNET_CHECK(txn.Exec("DELETE FROM outbox"));
                            return Ok();
                        })
                        .ok());
    }
    struct Signed {
        std::string token, csrf, cookie;
    };
    /// Logs in over HTTP; the code is read from the outbox.
    Signed SignIn(const std::string& login, const std::string& email) {
        ClearOutbox();
        Reply r = PostJson("/auth/login", json::object{{"login", login}, {"password", kPassword}});
        EXPECT_EQ(r.status, 200) << Describe(r);
        auto challenge = std::string(r.Json().at("challenge").as_string());
        Reply v = PostJson("/auth/verify",
                           json::object{{"challenge", challenge}, {"code", CodeSentTo(email)}});
        EXPECT_EQ(v.status, 200) << Describe(v);
        if (v.status != 200) return {};
        Signed s;
        s.token = std::string(v.Json().at("access_token").as_string());
        s.csrf = std::string(v.Json().at("csrf_token").as_string());
        s.cookie = v.Header("set-cookie");
        return s;
    }
    static Headers Bearer(const Signed& s) { return {{"Authorization", "Bearer " + s.token}}; }
    static Headers Cookie(const Signed& s) { return {{"Cookie", "carnet_session=" + s.token}}; }

    FixedClock clock_{kT0};
    std::unique_ptr<FhirService> service_;
    std::unique_ptr<Authenticator> authenticator_;
    http::Router router_;
    std::unique_ptr<http::Server> server_;
    std::unique_ptr<Client> client_;
    std::string patient_id_;
};

TEST_P(AuthRoutesTest, LoginVerifySetsAStrictHttpOnlyCookieAndTheTokenOpensTheApi) {
    auto s = SignIn("marie@example.fr", "marie@example.fr");
    ASSERT_FALSE(s.token.empty());
    EXPECT_GE(s.token.size(), 43U);
    EXPECT_NE(s.cookie.find("carnet_session=" + s.token), std::string::npos);
    EXPECT_NE(s.cookie.find("HttpOnly"), std::string::npos);
    EXPECT_NE(s.cookie.find("SameSite=Strict"), std::string::npos);
    EXPECT_EQ(s.cookie.find("Secure"), std::string::npos) << "no TLS in this test";
    EXPECT_EQ(client_->Get("/fhir/Patient?_count=1", Bearer(s)).status, 200);
    EXPECT_EQ(client_->Get("/fhir/Patient?_count=1", Cookie(s)).status, 200);
    Reply session = client_->Get("/auth/session", Cookie(s));
    ASSERT_EQ(session.status, 200) << Describe(session);
    EXPECT_EQ(session.Json().at("account").at("kind"), "patient");
    EXPECT_EQ(session.Json().at("account").at("patient_id").as_string(), patient_id_);
    EXPECT_EQ(session.Json().at("csrf_token").as_string(), s.csrf);
    // The token type is what OAuth clients expect.
}

TEST_P(AuthRoutesTest, WithoutCredentialsEveryFhirRouteIs401ButMetadataStaysPublic) {
    EXPECT_EQ(client_->Get("/fhir/metadata").status, 200);
    const std::string patient = R"({"resourceType":"Patient"})";
    for (const auto& [method, target] : std::vector<std::pair<std::string, std::string>>{
             {"GET", "/fhir/Patient"},
             {"GET", "/fhir/Patient/x"},
             {"GET", "/fhir/Patient/x/_history"},
             {"GET", "/fhir/Patient/x/_history/1"},
             {"GET", "/fhir/Patient/_history"},
             {"GET", "/fhir/_history"},
             {"POST", "/fhir/Patient/_search"},
             {"POST", "/fhir/Patient"},
             {"PUT", "/fhir/Patient/x"},
             {"PUT", "/fhir/Patient?identifier=a|b"},
             {"DELETE", "/fhir/Patient/x"},
             {"POST", "/fhir"},
         }) {
        Headers h{{"Content-Type", "application/fhir+json"}};
        Reply r =
            client_->Send(method, target, h, method == "GET" || method == "DELETE" ? "" : patient);
        EXPECT_EQ(r.status, 401) << method << " " << target << " " << Describe(r);
        EXPECT_TRUE(r.IsOperationOutcome()) << method << " " << target;
        // A forged or dead token is no better.
        h.emplace_back("Authorization", "Bearer not-a-real-token");
        EXPECT_EQ(client_->Send(method, target, h, "").status, 401) << method << " " << target;
    }
}

TEST_P(AuthRoutesTest, OperatorsAreRefusedOnEveryContentRoute) {
    auto me = SignIn("marie@example.fr", "marie@example.fr");
    Reply created = client_->Post(
        "/fhir/Observation",
        R"({"resourceType":"Observation","status":"final","code":{"text":"x"},"subject":{"reference":"Patient/)" +
            patient_id_ + R"("}})",
        Bearer(me));
    ASSERT_EQ(created.status, 201) << Describe(created);
    std::string id = std::string(created.Json().at("id").as_string());
    for (const auto& login : {"conseil", "root"}) {
        auto op = SignIn(login, std::string(login) + "@example.fr");
        ASSERT_FALSE(op.token.empty());
        for (const auto& [method, target] : std::vector<std::pair<std::string, std::string>>{
                 {"GET", "/fhir/Observation"},
                 {"GET", "/fhir/Observation/" + id},
                 {"GET", "/fhir/Observation/" + id + "/_history"},
                 {"GET", "/fhir/Observation/" + id + "/_history/1"},
                 {"GET", "/fhir/Observation/_history"},
                 {"GET", "/fhir/_history"},
                 {"GET", "/fhir/Patient/" + patient_id_},
                 {"POST", "/fhir/Observation/_search"},
                 {"POST", "/fhir/Observation"},
                 {"PUT", "/fhir/Observation/" + id},
                 {"PUT", "/fhir/Observation?code=x"},
                 {"DELETE", "/fhir/Observation/" + id},
                 {"POST", "/fhir"},
             }) {
            Headers h = Bearer(op);
            h.emplace_back("Content-Type", "application/fhir+json");
            Reply r = client_->Send(method, target, h, method == "GET" ? "" : created.body);
            EXPECT_EQ(r.status, 403) << login << " " << method << " " << target;
            EXPECT_EQ(r.body.find("\"x\""), std::string::npos) << "no content leaks";
        }
    }
    // The observation is untouched.
    Reply still = client_->Get("/fhir/Observation/" + id, Bearer(me));
    EXPECT_EQ(still.status, 200);
    EXPECT_EQ(still.Header("etag"), "W/\"1\"");
}

TEST_P(AuthRoutesTest, CookieWritesNeedTheCsrfTokenBearerWritesDoNot) {
    auto s = SignIn("marie@example.fr", "marie@example.fr");
    const std::string body =
        R"({"resourceType":"Observation","status":"final","code":{"text":"poids"}})";
    Headers cookie = Cookie(s);
    Reply without = client_->Post("/fhir/Observation", body, cookie);
    EXPECT_EQ(without.status, 403) << Describe(without);
    Headers wrong = cookie;
    wrong.emplace_back("X-CSRF-Token", "forged");
    EXPECT_EQ(client_->Post("/fhir/Observation", body, wrong).status, 403);
    Headers right = cookie;
    right.emplace_back("X-CSRF-Token", s.csrf);
    EXPECT_EQ(client_->Post("/fhir/Observation", body, right).status, 201);
    EXPECT_EQ(client_->Post("/fhir/Observation", body, Bearer(s)).status, 201);
    // The same on the account routes.
    Headers pw = cookie;
    pw.emplace_back("Content-Type", "application/json");
    EXPECT_EQ(
        client_->Send("POST", "/auth/me/password", pw, R"({"current":"a","password":"b"})").status,
        403);
}

TEST_P(AuthRoutesTest, LogoutKillsTheTokenAndClearsTheCookie) {
    auto s = SignIn("marie@example.fr", "marie@example.fr");
    Reply out = client_->Send("POST", "/auth/logout", Bearer(s));
    EXPECT_EQ(out.status, 204);
    EXPECT_NE(out.Header("set-cookie").find("Max-Age=0"), std::string::npos);
    EXPECT_EQ(client_->Get("/fhir/Patient", Bearer(s)).status, 401);
    EXPECT_EQ(client_->Get("/auth/session", Cookie(s)).status, 401);
}

TEST_P(AuthRoutesTest, UnknownLoginsLookLikeKnownOnesAndBadInputIsAClearError) {
    Reply known = PostJson("/auth/login",
                           json::object{{"login", "marie@example.fr"}, {"password", kPassword}});
    Reply unknown = PostJson("/auth/login",
                             json::object{{"login", "paul@example.fr"}, {"password", kPassword}});
    Reply wrong =
        PostJson("/auth/login", json::object{{"login", "marie@example.fr"}, {"password", "x"}});
    for (const Reply* r : {&known, &unknown, &wrong}) {
        ASSERT_EQ(r->status, 200) << Describe(*r);
        auto o = r->Json().as_object();
        std::vector<std::string> keys;
        for (const auto& kv : o) keys.emplace_back(kv.key());
        std::sort(keys.begin(), keys.end());
        EXPECT_EQ(keys, (std::vector<std::string>{"challenge", "channel", "to"}));
        EXPECT_EQ(o.at("challenge").as_string().size(),
                  known.Json().at("challenge").as_string().size());
    }
    EXPECT_EQ(
        client_->Send("POST", "/auth/login", {{"Content-Type", "application/json"}}, "{not json")
            .status,
        400);
    EXPECT_EQ(client_->Send("POST", "/auth/login", {{"Content-Type", "text/plain"}}, "{}").status,
              415);
    Reply missing = PostJson("/auth/login", json::object{{"login", "x"}});
    EXPECT_EQ(missing.status, 400);
    EXPECT_TRUE(missing.IsOperationOutcome());
    Reply typed = PostJson("/auth/login", json::object{{"login", 12}, {"password", "x"}});
    EXPECT_EQ(typed.status, 400);
    std::string huge(20000, 'a');
    EXPECT_EQ(PostJson("/auth/login", json::object{{"login", huge}, {"password", "x"}}).status,
              413);
    Reply bad_code =
        PostJson("/auth/verify", json::object{{"challenge", "nope"}, {"code", "123456"}});
    EXPECT_EQ(bad_code.status, 401);
    EXPECT_TRUE(bad_code.IsOperationOutcome());
}

TEST_P(AuthRoutesTest, ThrottledLoginsAnswer429WithRetryAfter) {
    for (int i = 0; i < 5; ++i) {
        ASSERT_EQ(PostJson("/auth/login",
                           json::object{{"login", "marie@example.fr"}, {"password", "faux"}})
                      .status,
                  200);
    }
    Reply r = PostJson("/auth/login",
                       json::object{{"login", "marie@example.fr"}, {"password", kPassword}});
    EXPECT_EQ(r.status, 429) << Describe(r);
    EXPECT_FALSE(r.Header("retry-after").empty());
    EXPECT_TRUE(r.IsOperationOutcome());
}

TEST_P(AuthRoutesTest, OperatorRoutesAreForOperatorsAndShowNoHealthContent) {
    auto patient = SignIn("marie@example.fr", "marie@example.fr");
    auto advisor = SignIn("conseil", "conseil@example.fr");
    auto admin = SignIn("root", "root@example.fr");
    EXPECT_EQ(client_->Get("/admin/accounts?q=martin", Bearer(patient)).status, 403);
    Reply list = client_->Get("/admin/accounts?q=martin", Bearer(advisor));
    ASSERT_EQ(list.status, 200) << Describe(list);
    ASSERT_EQ(list.Json().as_array().size(), 1U);
    std::string id = std::string(list.Json().as_array()[0].at("id").as_string());
    Reply view = client_->Get("/admin/accounts/" + id, Bearer(advisor));
    ASSERT_EQ(view.status, 200);
    EXPECT_EQ(view.Json().at("status"), "active");
    EXPECT_EQ(view.Json().at("email"), "m\u2022\u2022\u2022@e\u2022\u2022\u2022.fr") << "masked";
    Headers staff = Bearer(advisor);
    staff.emplace_back("Content-Type", "application/json");
    EXPECT_EQ(
        client_->Send("POST", "/admin/staff", staff, R"({"kind":"admin","login":"evil"})").status,
        403)
        << "advisors cannot create staff";
    Headers as_admin = Bearer(admin);
    as_admin.emplace_back("Content-Type", "application/json");
    Reply made =
        client_->Send("POST", "/admin/staff", as_admin, R"({"kind":"advisor","login":"nouveau"})");
    EXPECT_EQ(made.status, 201) << Describe(made);
    EXPECT_EQ(made.Json().at("activation_code").as_string().size(), 14U);
    // A locked-out person: the advisor sees it, and lifts it.
    for (int i = 0; i < 5; ++i) {
        PostJson("/auth/login", json::object{{"login", "marie@example.fr"}, {"password", "faux"}});
    }
    Reply locked = client_->Get("/admin/accounts/" + id, Bearer(advisor));
    EXPECT_GT(locked.Json().at("locked_until").as_int64(), kT0);
    EXPECT_EQ(locked.Json().at("failed_logins").as_int64(), 5);
    EXPECT_EQ(PostJson("/auth/login",
                       json::object{{"login", "marie@example.fr"}, {"password", kPassword}})
                  .status,
              429);
    // Purge and representatives are admin routes; an open account is never purged.
    EXPECT_EQ(client_->Send("POST", "/admin/accounts/" + id + "/purge", Bearer(advisor)).status,
              403);
    EXPECT_EQ(client_->Send("POST", "/admin/accounts/" + id + "/purge", as_admin).status, 422);
    EXPECT_EQ(client_
                  ->Send("POST", "/admin/representatives", staff,
                         R"({"child_patient_id":"x","representative_login":"marie@example.fr"})")
                  .status,
              403);
    EXPECT_EQ(client_
                  ->Send("POST", "/admin/representatives", as_admin,
                         R"({"child_patient_id":"x","representative_login":"personne@example.fr"})")
                  .status,
              404);
    Reply unlock = client_->Send("POST", "/admin/accounts/" + id + "/unlock", Bearer(advisor));
    EXPECT_EQ(unlock.status, 204);
    EXPECT_EQ(
        client_->Get("/admin/accounts/" + id, Bearer(advisor)).Json().at("locked_until").as_int64(),
        0);
    EXPECT_EQ(PostJson("/auth/login",
                       json::object{{"login", "marie@example.fr"}, {"password", kPassword}})
                  .status,
              200);
    // The advisor's action shows in the person's own history.
    Reply history = client_->Get("/auth/me/history", Bearer(patient));
    ASSERT_EQ(history.status, 200);
    bool seen = false;
    const json::value events = history.Json();
    for (const auto& e : events.as_array())
        seen = seen || (e.at("action") == "operator.unlock" && e.at("actor_kind") == "advisor");
    EXPECT_TRUE(seen) << history.body;
    // Directory: professions listed for anyone signed in, nobody else.
    EXPECT_EQ(client_->Get("/directory/professions").status, 401);
    EXPECT_EQ(client_->Get("/directory/professions", Bearer(patient)).status, 200);
}

TEST_P(AuthRoutesTest, UnknownAndWrongPasswordLoginsTakeAsLongAsRightOnes) {
    // Real cost here (the fixture's cheap cost would hide a missing Argon2 run).
    auth_ = std::make_unique<auth::AuthService>(*store_, clock_, std::string(32, 's'),
                                                auth::AuthOptions{});
    auto created = auth_->FindByLogin("marie@example.fr");
    ASSERT_TRUE(created.ok() && created->has_value());
    ASSERT_TRUE(auth_->SetPasswordForSetup((*created)->id, kPassword, "marie@example.fr", "").ok());
    auth::ClientInfo c{"10.1.1.1", "t", ""};
    auto median_ms = [&](const std::string& login, const std::string& password) {
        std::vector<double> ms;
        for (int i = 0; i < 5; ++i) {
            auto t0 = std::chrono::steady_clock::now();
            auto r = auth_->Login(login, password, c);
            ms.push_back(
                std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0)
                    .count());
            EXPECT_TRUE(r.ok());
            clock_.AdvanceForTest(20LL * 60 * 1'000'000);  // past any backoff
        }
        std::sort(ms.begin(), ms.end());
        return ms[2];
    };
    double right = median_ms("marie@example.fr", kPassword);
    double unknown = median_ms("personne@example.fr", kPassword);
    double wrong = median_ms("marie@example.fr", "mauvais");
    // Argon2id (tens of milliseconds) dominates every path; a path skipping it would be tens
    // of times faster. The bounds are wide so that a busy machine cannot make this flaky.
    EXPECT_GT(unknown, right * 0.3) << right << " vs " << unknown;
    EXPECT_GT(wrong, right * 0.3) << right << " vs " << wrong;
    EXPECT_LT(unknown, right * 3.0) << right << " vs " << unknown;
}

TEST_P(AuthRoutesTest, TheHolderExportsEverythingAsOneZipAndNobodyElseCan) {
    auto me = SignIn("marie@example.fr", "marie@example.fr");
    Reply created = client_->Post(
        "/fhir/Observation",
        R"({"resourceType":"Observation","status":"final","code":{"text":"poids"},"subject":{"reference":"Patient/)" +
            patient_id_ + R"("}})",
        Bearer(me));
    ASSERT_EQ(created.status, 201) << Describe(created);
    const std::string obs_id(created.Json().at("id").as_string());
    Reply zip = client_->Get("/auth/me/export", Bearer(me));
    ASSERT_EQ(zip.status, 200) << Describe(zip);
    EXPECT_EQ(zip.Header("content-type"), "application/zip");
    EXPECT_NE(zip.Header("content-disposition").find("attachment; filename=\"carnet-export-"),
              std::string::npos);
    auto files = Unzip(zip.body);
    ASSERT_EQ(files.count("carnet-export.json"), 1U) << zip.body.size();
    ASSERT_EQ(files.count("compte.json"), 1U);
    ASSERT_EQ(files.count("LISEZMOI.txt"), 1U);
    auto bundle = json::parse(files["carnet-export.json"]);
    EXPECT_EQ(bundle.at("resourceType"), "Bundle");
    bool found = false;
    for (const auto& e : bundle.at("entry").as_array())
        found = found || e.at("resource").at("id").as_string() == obs_id;
    EXPECT_TRUE(found) << "the record's resources are in the archive";
    auto account = json::parse(files["compte.json"]);
    EXPECT_EQ(account.at("email").as_string(), "marie@example.fr");
    // Operators and unauthenticated callers get nothing.
    auto advisor = SignIn("conseil", "conseil@example.fr");
    EXPECT_EQ(client_->Get("/auth/me/export", Bearer(advisor)).status, 403);
    EXPECT_EQ(client_->Get("/auth/me/export").status, 401);
}

TEST_P(AuthRoutesTest, OpposedAndClosedRecordsRefuseEveryDeposit) {
    // Another person writes (until the access decision exists, any signed-in person may).
    auth::NewPatient other;
    other.ins = Ins("1750275123456");
    other.family = "Durand";
    other.birth_date = "1975-02-01";
    auto o = auth_->CreatePatient(other, "test");
    ASSERT_TRUE(o.ok());
    ASSERT_TRUE(auth_->SetPasswordForSetup(o->account.id, kPassword, "paul@example.fr", "").ok());
    auto writer = SignIn("paul@example.fr", "paul@example.fr");
    auto obs = [&](const std::string& pid) {
        return R"({"resourceType":"Observation","status":"final","code":{"text":"x"},"subject":{"reference":"Patient/)" +
               pid + R"("}})";
    };
    // Opposition: a pending person refuses the service.
    auth::NewPatient refusing;
    refusing.ins = Ins("2600375123456");
    refusing.family = "Refus";
    refusing.birth_date = "1960-03-01";
    auto r = auth_->CreatePatient(refusing, "test");
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(client_->Post("/fhir/Observation", obs(r->account.patient_id), Bearer(writer)).status,
              201);
    Reply opposed = PostJson("/auth/oppose", json::object{{"login", refusing.ins},
                                                          {"activation_code", r->activation_code}});
    ASSERT_EQ(opposed.status, 204) << Describe(opposed);
    Reply refused = client_->Post("/fhir/Observation", obs(r->account.patient_id), Bearer(writer));
    EXPECT_EQ(refused.status, 403) << Describe(refused);
    EXPECT_TRUE(refused.IsOperationOutcome());
    // The whole transaction is refused, not just the entry.
    Reply bundle = client_->Post("/fhir",
                                 R"({"resourceType":"Bundle","type":"transaction","entry":[
        {"request":{"method":"POST","url":"Observation"},"resource":)" +
                                     obs(patient_id_) + R"(},
        {"request":{"method":"POST","url":"Observation"},"resource":)" +
                                     obs(r->account.patient_id) + R"(}]})",
                                 Bearer(writer));
    EXPECT_EQ(bundle.status, 403) << Describe(bundle);

    // Closure: the record becomes a read-only archive.
    auto me = SignIn("marie@example.fr", "marie@example.fr");
    Reply before = client_->Post("/fhir/Observation", obs(patient_id_), Bearer(writer));
    ASSERT_EQ(before.status, 201);
    const std::string archived(before.Json().at("id").as_string());
    Headers h = Bearer(me);
    h.emplace_back("Content-Type", "application/json");
    ASSERT_EQ(client_->Send("POST", "/auth/me/close", h, "{}").status, 204);
    EXPECT_EQ(client_->Post("/fhir/Observation", obs(patient_id_), Bearer(writer)).status, 403);
    // Nor can a resource leave the archive by a new version naming another patient.
    std::string moved = obs(o->account.patient_id);
    moved.insert(1, R"("id":")" + archived + R"(",)");
    EXPECT_EQ(client_->Put("/fhir/Observation/" + archived, moved, Bearer(writer)).status, 403);
    // Records without an account (imported data) still take deposits.
    EXPECT_EQ(client_->Post("/fhir/Observation", obs("sans-compte"), Bearer(writer)).status, 201);
}

INSTANTIATE_TEST_SUITE_P(Engines, AuthRoutesTest, ::testing::Values("sqlite", "postgres"),
                         [](const auto& param_info) { return param_info.param; });

}  // namespace
}  // namespace carnet::api::testing
