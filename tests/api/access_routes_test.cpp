// The access endpoints over real HTTP (docs/ACCESS-API.md): the holder's controls, access
// codes, emergency access, the access log and the grid. Every security rule is tried by the
// actors it must refuse, and each refusal is checked to leave its log entry.
#include <algorithm>
#include <regex>
#include <set>

#include "access/context.hpp"
#include "access/service.hpp"
#include "api/access_routes.hpp"
#include "api/auth_routes.hpp"
#include "api_harness.hpp"
#include "auth/service.hpp"
#include "fhir/index.hpp"
#include "people.hpp"

namespace carnet::api::testing {
namespace {

constexpr int64_t kT0 = 1'800'000'000'000'000;
constexpr int64_t kMinute = 60'000'000;
constexpr int64_t kHour = 60 * kMinute;
constexpr int64_t kDay = 24 * kHour;
class AccessRoutesTest : public ::testing::TestWithParam<std::string>, protected PeopleFixture {
  protected:
    void SetUp() override {
        crypto::Init();
        spdlog::set_level(spdlog::level::warn);
        if (GetParam() == "postgres" && !PgDsn()) GTEST_SKIP() << "CARNET_TEST_PG not set";
        ASSERT_NO_FATAL_FAILURE(
            OpenCleanStore(GetParam(), "carnet-accessapi-", kIdentityAndAccessTables));
        StartAuth(clock_);
        authenticator_ = std::make_unique<Authenticator>(*auth_, AuthRouteOptions{});
        access_ = std::make_unique<access::AccessService>(*store_, clock_, grids_,
                                                          std::string(32, 'k'), kPortal);
        RegisterAuthRoutes(router_, *authenticator_, *store_, clock_);
        RegisterAccessRoutes(router_, *authenticator_, *access_);
        server_ = std::make_unique<http::Server>(ApiServer::DefaultServerOptions(), router_);
        ASSERT_TRUE(server_->Start().ok());
        client_ = std::make_unique<Client>(server_->Port());

        marie_ = NewPatient("2850575123456", "Marie", "Martin", "1985-05-12", "marie@example.fr");
        paul_ = NewPatient("1790175123456", "Paul", "Durand", "1979-01-20", "paul@example.fr");
        claire_ =
            NewPatient("2900575123456", "Claire", "Martin", "1990-05-01", "claire@example.fr");
        // Claire is Marie's caregiver.
        ASSERT_TRUE(store_
                        ->Write([&](store::WriteTxn& txn) -> Status {
                            CARNET_CHECK(txn.Exec(
                                "INSERT INTO delegations(patient_id, id, patient_account, "
                                "delegate_account, kind, status, invited_by, created_at, "
                                "accepted_at) VALUES (?, ?, ?, ?, 'caregiver', 'active', ?, ?, ?)",
                                {marie_.patient_id, NewUuid(), marie_.account_id,
                                 claire_.account_id, marie_.account_id, kT0, kT0}));
                            return Ok();
                        })
                        .ok());
        gp_ = NewPro("1000000001", "Grégoire", "Lebon", "medecin", "Médecine générale",
                     "gp@example.fr");
        gp2_ = NewPro("1000000002", "Hélène", "Roux", "medecin", "Médecine générale",
                      "gp2@example.fr");
        doc_ = NewPro("1000000003", "Jean", "Dupont", "medecin", "Cardiologie", "doc@example.fr");
        pharma_ = NewPro("1000000004", "Luc", "Petit", "pharmacien", "", "pharma@example.fr");
        samu_ =
            NewPro("1000000005", "Sam", "Urgent", "medecin", "regulation-samu", "samu@example.fr");
        midwife_ = NewPro("1000000006", "Anne", "Sage", "sage-femme", "", "sf@example.fr");
        advisor_ = NewStaff("advisor", "conseil");
        admin_ = NewStaff("admin", "root");
    }

    void TearDown() override {
        if (server_) server_->Stop();
        server_.reset();
        CloseStore();
    }

    /// Entries of access decisions (the operators' account actions that set the fixture up
    /// are in the log too, as "account:…": not counted).
    int64_t LogCount(const std::string& pid, const std::string& outcome = {}) {
        if (outcome.empty())
            return Count(
                "SELECT COUNT(*) FROM audit_log WHERE patient_id = ? AND action NOT "
                "LIKE 'account:%'",
                {pid});
        return Count(
            "SELECT COUNT(*) FROM audit_log WHERE patient_id = ? AND outcome = ? AND "
            "action NOT LIKE 'account:%'",
            {pid, outcome});
    }
    int64_t OperatorEntries(const std::string& pid) {
        return Count(
            "SELECT COUNT(*) FROM audit_log WHERE patient_id = ? AND action LIKE "
            "'account:%'",
            {pid});
    }
    /// The newest log entry of a record: (actor_account, action, outcome, reason, basis).
    std::vector<std::string> LastEntry(const std::string& pid) {
        auto rows = Query(
            "SELECT actor_account, action, outcome, reason, basis, purpose, "
            "emergency, request_id FROM audit_log WHERE patient_id = ? ORDER BY "
            "seq DESC LIMIT 1",
            {pid});
        if (rows.empty()) return {};
        return {store::AsText(rows[0][0]),
                store::AsText(rows[0][1]),
                store::AsText(rows[0][2]),
                store::AsText(rows[0][3]),
                store::AsText(rows[0][4]),
                store::AsText(rows[0][5]),
                std::to_string(store::AsInt(rows[0][6])),
                store::AsText(rows[0][7])};
    }
    void PutDocument(const std::string& pid, const std::string& id,
                     const std::string& description) {
        json::object doc{
            {"resourceType", "DocumentReference"},
            {"id", id},
            {"status", "current"},
            {"subject", json::object{{"reference", "Patient/" + pid}}},
            {"type",
             json::object{{"coding", json::array{json::object{{"system", "http://loinc.org"},
                                                              {"code", "11488-4"},
                                                              {"display", "Consult note"}}}}}},
            {"description", description},
            {"date", "2025-03-01T10:00:00Z"},
            {"author", json::array{json::object{{"display", "Dr Body"}}}},
            {"content",
             json::array{json::object{{"attachment", json::object{{"contentType", "text/plain"},
                                                                  {"title", "note"},
                                                                  {"url", "Binary/bin-" + id},
                                                                  {"size", 1234}}}}}}};
        store::PutRequest req;
        req.resource.type = "DocumentReference";
        req.resource.id = id;
        req.resource.version = 1;
        req.resource.last_updated_us = clock_.NowMicros();
        req.resource.patient_id = pid;
        req.resource.json = json::serialize(doc);
        req.index = fhir::ExtractIndex(doc);
        ASSERT_TRUE(store_->Write([&](store::WriteTxn& txn) { return txn.Put(req); }).ok());
    }
    void SetFlags(const std::string& pid, const std::string& id, const std::string& author,
                  bool masked, int64_t hidden_until, bool hidden_repr) {
        Exec(
            "INSERT INTO access_flags(patient_id, type, id, author_account, author_kind, "
            "masked, hidden_until, hidden_repr, created_at) VALUES (?, 'DocumentReference', ?, "
            "?, 'professional', ?, ?, ?, ?)",
            {pid, id, author, int64_t{masked ? 1 : 0}, hidden_until, int64_t{hidden_repr ? 1 : 0},
             clock_.NowMicros()});
    }

    // ---- HTTP ----

    Reply Call(const std::string& method, const std::string& target, const Person& who,
               const std::optional<json::value>& body = std::nullopt, Headers headers = {}) {
        if (!who.token.empty()) headers.emplace_back("Authorization", "Bearer " + who.token);
        std::string text;
        if (body) {
            headers.emplace_back("Content-Type", "application/json");
            text = json::serialize(*body);
        }
        return client_->Send(method, target, headers, text);
    }
    static std::string Rec(const Person& p) { return "/access/records/" + p.patient_id; }
    static std::string Rec(const std::string& pid) { return "/access/records/" + pid; }

    Reply SetRelation(const Person& holder, const Person& pro, const json::object& change) {
        return Call("PUT", Rec(holder) + "/professionals/" + pro.account_id, holder, change);
    }
    std::string NewCodeFor(const Person& holder) {
        Reply r = Call("POST", Rec(holder) + "/codes", holder, json::object{});
        EXPECT_EQ(r.status, 201) << Describe(r);
        return Str(r.Json().at("code"));
    }
    Reply Redeem(const Person& pro, const std::string& ins, const std::string& code) {
        return Call("POST", "/access/codes/redeem", pro,
                    json::object{{"ins", ins}, {"code", code}});
    }
    Reply Btg(const Person& pro, const std::string& pid, const std::string& reason) {
        return Call("POST", Rec(pid) + "/emergency", pro,
                    json::object{{"purpose", "BTG"}, {"reason", reason}});
    }
    static std::string Diagnostics(const Reply& r) {
        auto v = r.Json();
        if (!v.is_object() || !v.as_object().if_contains("issue")) return {};
        return Str(v.at("issue").at(0).at("diagnostics"));
    }
    /// Statuses of the record's codes, newest first.
    std::vector<std::string> CodeStatuses(const Person& holder) {
        Reply r = Call("GET", Rec(holder) + "/codes", holder);
        EXPECT_EQ(r.status, 200) << Describe(r);
        std::vector<std::string> out;
        if (!r.Json().is_array()) return out;
        const json::value codes_json = r.Json();
        for (const auto& c : codes_json.as_array()) out.push_back(Str(c.at("status")));
        return out;
    }

    static constexpr const char* kPortal = "https://carnet.test/";
    FixedClock clock_{kT0};
    std::unique_ptr<Authenticator> authenticator_;
    access::GridStore grids_;
    std::unique_ptr<access::AccessService> access_;
    http::Router router_;
    std::unique_ptr<http::Server> server_;
    std::unique_ptr<Client> client_;
    Person marie_, paul_, claire_;
    Person gp_, gp2_, doc_, pharma_, samu_, midwife_;
    Person advisor_, admin_;
};

// ---- authentication and operators --------------------------------------------------------

TEST_P(AccessRoutesTest, EveryRouteNeedsASessionAndOperatorsReachOnlyTheGrid) {
    const std::string rec = Rec(marie_);
    const std::vector<std::pair<std::string, std::string>> routes = {
        {"GET", rec + "/settings"},
        {"PUT", rec + "/settings"},
        {"GET", rec + "/professionals"},
        {"PUT", rec + "/professionals/" + gp_.account_id},
        {"DELETE", rec + "/professionals/" + gp_.account_id},
        {"POST", rec + "/codes"},
        {"GET", rec + "/codes"},
        {"DELETE", rec + "/codes/x"},
        {"GET", rec + "/documents"},
        {"PUT", rec + "/documents/DocumentReference/d1"},
        {"POST", rec + "/documents/DocumentReference/d1/release"},
        {"GET", rec + "/log"},
        {"GET", rec + "/emergencies"},
        {"POST", rec + "/emergency"},
        {"POST", "/access/codes/redeem"},
        {"GET", "/access/patients"},
        {"GET", "/access/log"},
    };
    const Person nobody;
    for (const auto& [method, target] : routes) {
        const bool body = method == "PUT" || method == "POST";
        Reply r = Call(method, target, nobody,
                       body ? std::optional<json::value>(json::object{}) : std::nullopt);
        EXPECT_EQ(r.status, 401) << method << " " << target << " " << Describe(r);
        EXPECT_TRUE(r.IsOperationOutcome()) << method << " " << target;
        for (const Person* op : {&advisor_, &admin_}) {
            Reply o = Call(method, target, *op,
                           body ? std::optional<json::value>(json::object{}) : std::nullopt);
            EXPECT_EQ(o.status, 403) << op->login << " " << method << " " << target;
        }
    }
    for (const auto& target : {"/access/grid", "/access/grid/versions"}) {
        EXPECT_EQ(Call("GET", target, nobody).status, 401) << target;
        EXPECT_EQ(Call("GET", target, advisor_).status, 200) << target;
    }
    EXPECT_EQ(Call("PUT", "/access/grid", nobody, json::object{}).status, 401);
    EXPECT_EQ(LogCount(marie_.patient_id), 0) << "operators never got as far as a decision";
}

TEST_P(AccessRoutesTest, CookieWritesNeedTheCsrfToken) {
    Headers cookie{{"Cookie", "carnet_session=" + marie_.token},
                   {"Content-Type", "application/json"}};
    Reply r = client_->Send("PUT", Rec(marie_) + "/settings", cookie, R"({"btg":false})");
    EXPECT_EQ(r.status, 403) << Describe(r);
    cookie.emplace_back("X-CSRF-Token", marie_.csrf);
    r = client_->Send("PUT", Rec(marie_) + "/settings", cookie, R"({"btg":false})");
    EXPECT_EQ(r.status, 200) << Describe(r);
    EXPECT_EQ(r.Json().at("btg"), false);
}

// ---- settings ----------------------------------------------------------------------------

TEST_P(AccessRoutesTest, SettingsRoundTripForTheHolderOnly) {
    Reply get = Call("GET", Rec(marie_) + "/settings", marie_);
    ASSERT_EQ(get.status, 200) << Describe(get);
    EXPECT_EQ(get.Json(), json::parse(R"({"etreat":true,"btg":true,"emergency_masked":false,
        "emergency_only":false,"mask_new":false,"notify_email":true,"notify_sms":false})"));
    Reply put = Call("PUT", Rec(marie_) + "/settings", marie_,
                     json::object{{"btg", false}, {"notify_sms", true}});
    ASSERT_EQ(put.status, 200) << Describe(put);
    EXPECT_EQ(put.Json().at("btg"), false);
    EXPECT_EQ(put.Json().at("notify_sms"), true);
    EXPECT_EQ(put.Json().at("etreat"), true) << "untouched";
    get = Call("GET", Rec(marie_) + "/settings", marie_);
    EXPECT_EQ(get.Json(), put.Json());
    // Bad input.
    EXPECT_EQ(Call("PUT", Rec(marie_) + "/settings", marie_, json::object{{"btg", "no"}}).status,
              400);
    EXPECT_EQ(Call("PUT", Rec(marie_) + "/settings", marie_, json::object{{"admin", true}}).status,
              400);
    EXPECT_EQ(Call("PUT", Rec(marie_) + "/settings", marie_, json::array{}).status, 400);

    // Refusals: a caregiver knows the record (403); strangers get what an unknown record gets.
    const int64_t denied_before = LogCount(marie_.patient_id, "deny");
    Reply caregiver = Call("GET", Rec(marie_) + "/settings", claire_);
    EXPECT_EQ(caregiver.status, 403) << Describe(caregiver);
    EXPECT_TRUE(caregiver.IsOperationOutcome());
    EXPECT_EQ(Call("PUT", Rec(marie_) + "/settings", claire_, json::object{{"btg", true}}).status,
              403);
    Reply unknown = Call("GET", Rec("no-such-record") + "/settings", doc_);
    EXPECT_EQ(unknown.status, 404);
    for (const Person* stranger : {&doc_, &paul_}) {
        Reply r = Call("GET", Rec(marie_) + "/settings", *stranger);
        EXPECT_EQ(r.status, 404) << stranger->login;
        EXPECT_EQ(r.body, unknown.body) << stranger->login << ": same body as an unknown record";
        Reply w = Call("PUT", Rec(marie_) + "/settings", *stranger, json::object{{"btg", true}});
        EXPECT_EQ(w.status, 404);
        EXPECT_EQ(w.body, unknown.body);
    }
    // An authorised professional knows the record: 403, never the settings.
    ASSERT_EQ(SetRelation(marie_, gp_, {{"status", "authorised"}}).status, 200);
    Reply pro = Call("GET", Rec(marie_) + "/settings", gp_);
    EXPECT_EQ(pro.status, 403) << Describe(pro);
    EXPECT_NE(Diagnostics(pro).find("not-permitted"), std::string::npos);
    EXPECT_EQ(Call("GET", Rec(marie_) + "/settings", marie_).Json().at("btg"), false)
        << "no refused write took effect";
    // Every refusal above is in the log (the unknown record has no log to write to).
    EXPECT_EQ(LogCount(marie_.patient_id, "deny") - denied_before, 2 + 4 + 1);
    EXPECT_EQ(LogCount("no-such-record"), 0);
}

// ---- professionals -----------------------------------------------------------------------

TEST_P(AccessRoutesTest, BlockUnblockAndRoles) {
    Reply r = SetRelation(marie_, gp_, {{"status", "authorised"}, {"roles", {"medecin-traitant"}}});
    ASSERT_EQ(r.status, 200) << Describe(r);
    EXPECT_EQ(r.Json().at("status"), "authorised");
    EXPECT_EQ(r.Json().at("roles"), json::parse(R"(["medecin-traitant"])"));
    EXPECT_EQ(r.Json().at("name"), "Grégoire Lebon");
    EXPECT_EQ(r.Json().at("profession"), "medecin");
    EXPECT_EQ(r.Json().at("profession_label"), "Médecin");
    EXPECT_EQ(r.Json().at("via_code"), false);
    EXPECT_TRUE(r.Json().at("last_access_at").is_null());

    // Blocking keeps the roles; the blocked professional is refused (403: they know the record).
    r = SetRelation(marie_, gp_, {{"status", "blocked"}});
    ASSERT_EQ(r.status, 200) << Describe(r);
    EXPECT_EQ(r.Json().at("status"), "blocked");
    EXPECT_EQ(r.Json().at("roles"), json::parse(R"(["medecin-traitant"])"));
    Reply btg = Btg(gp_, marie_.patient_id, "patient inconscient aux urgences");
    EXPECT_EQ(btg.status, 403) << Describe(btg);
    EXPECT_NE(Diagnostics(btg).find("blocked"), std::string::npos);
    EXPECT_EQ(LastEntry(marie_.patient_id)[3], "blocked");
    EXPECT_EQ(Count("SELECT COUNT(*) FROM emergency_grants"), 0);
    r = SetRelation(marie_, gp_, {{"status", "authorised"}});
    EXPECT_EQ(r.Json().at("status"), "authorised");

    // One médecin traitant: naming another moves the role.
    r = SetRelation(marie_, gp2_, {{"roles", {"medecin-traitant"}}});
    ASSERT_EQ(r.status, 200) << Describe(r);
    EXPECT_EQ(r.Json().at("status"), "authorised") << "a role given to a newcomer authorises";
    Reply list = Call("GET", Rec(marie_) + "/professionals", marie_);
    ASSERT_EQ(list.status, 200) << Describe(list);
    std::map<std::string, json::value> by_id;
    const json::value listed = list.Json();
    for (const auto& p : listed.as_array()) by_id[Str(p.at("account_id"))] = p;
    ASSERT_EQ(by_id.size(), 2U);
    EXPECT_EQ(by_id[gp_.account_id].at("roles"), json::array{});
    EXPECT_EQ(by_id[gp2_.account_id].at("roles"), json::parse(R"(["medecin-traitant"])"));
    // Administrators: any number. Pharmacien correspondant and sage-femme référente: one each.
    EXPECT_EQ(SetRelation(marie_, gp_, {{"roles", {"administrator"}}}).status, 200);
    EXPECT_EQ(SetRelation(marie_, doc_, {{"roles", {"administrator"}}}).status, 200);
    EXPECT_EQ(SetRelation(marie_, pharma_, {{"roles", {"pharmacien-correspondant"}}}).status, 200);
    EXPECT_EQ(SetRelation(marie_, midwife_, {{"roles", {"sage-femme-referente"}}}).status, 200);
    EXPECT_EQ(Count("SELECT COUNT(*) FROM access_relations WHERE patient_id = ? AND roles = "
                    "'administrator'",
                    {marie_.patient_id}),
              2);
    // A role needs its profession; unknown roles, statuses and accounts are refused.
    EXPECT_EQ(SetRelation(marie_, pharma_, {{"roles", {"medecin-traitant"}}}).status, 400);
    EXPECT_EQ(SetRelation(marie_, doc_, {{"roles", {"sage-femme-referente"}}}).status, 400);
    EXPECT_EQ(SetRelation(marie_, doc_, {{"roles", {"chef"}}}).status, 400);
    EXPECT_EQ(SetRelation(marie_, doc_, {{"status", "friend"}}).status, 400);
    EXPECT_EQ(SetRelation(marie_, doc_, {{"colour", "blue"}}).status, 400);
    EXPECT_EQ(SetRelation(marie_, paul_, {{"status", "authorised"}}).status, 404)
        << "a patient is not in the directory";
    Person unknown;
    unknown.account_id = "no-such-account";
    EXPECT_EQ(SetRelation(marie_, unknown, {{"status", "authorised"}}).status, 404);
    EXPECT_EQ(Count("SELECT COUNT(*) FROM access_relations WHERE roles LIKE '%medecin-traitant%'"),
              1);

    // Nobody but the holder touches the relations.
    Reply caregiver = Call("PUT", Rec(marie_) + "/professionals/" + doc_.account_id, claire_,
                           json::object{{"status", "blocked"}});
    EXPECT_EQ(caregiver.status, 403);
    Reply pro = Call("PUT", Rec(marie_) + "/professionals/" + gp_.account_id, gp_,
                     json::object{{"roles", json::array{"medecin-traitant"}}});
    EXPECT_EQ(pro.status, 403) << "authorised: knows the record, still not the holder";
    Reply stranger = Call("PUT", Rec(marie_) + "/professionals/" + samu_.account_id, samu_,
                          json::object{{"status", "authorised"}});
    EXPECT_EQ(stranger.status, 404);
    EXPECT_EQ(Count("SELECT COUNT(*) FROM access_relations WHERE professional_account = ?",
                    {samu_.account_id}),
              0);

    // DELETE ends the authorisation and the roles.
    Reply del = Call("DELETE", Rec(marie_) + "/professionals/" + gp2_.account_id, marie_);
    EXPECT_EQ(del.status, 204) << Describe(del);
    EXPECT_EQ(Call("DELETE", Rec(marie_) + "/professionals/" + gp2_.account_id, gp2_).status, 404)
        << "now a stranger to the record";
    list = Call("GET", Rec(marie_) + "/professionals", marie_);
    const json::value relisted = list.Json();
    for (const auto& p : relisted.as_array()) {
        if (Str(p.at("account_id")) != gp2_.account_id) continue;
        EXPECT_EQ(p.at("status"), "known");
        EXPECT_EQ(p.at("roles"), json::array{});
    }
    EXPECT_EQ(Call("GET", Rec(marie_) + "/professionals", claire_).status, 403);
    EXPECT_EQ(Call("GET", Rec(marie_) + "/professionals", samu_).status, 404);
}

TEST_P(AccessRoutesTest, ProfessionalsListAddsThoseFoundInTheLog) {
    // A stranger's refused attempt and an emergency access put them in the log.
    EXPECT_EQ(Call("GET", Rec(marie_) + "/settings", doc_).status, 404);
    Reply btg = Btg(gp2_, marie_.patient_id, "malaise dans la salle d'attente");
    ASSERT_EQ(btg.status, 200) << Describe(btg);
    // Reading one's own entries is no access to the record (and tells nothing of it).
    Reply own = Call("GET", Rec(marie_) + "/log", samu_);
    EXPECT_EQ(own.status, 200) << Describe(own);
    EXPECT_EQ(own.body, Call("GET", Rec("no-such-record") + "/log", samu_).body);
    Reply list = Call("GET", Rec(marie_) + "/professionals", marie_);
    ASSERT_EQ(list.status, 200) << Describe(list);
    std::map<std::string, json::value> by_id;
    const json::value listed = list.Json();
    for (const auto& p : listed.as_array()) by_id[Str(p.at("account_id"))] = p;
    ASSERT_EQ(by_id.size(), 3U) << list.body;
    EXPECT_EQ(by_id[samu_.account_id].at("status"), "known");
    EXPECT_TRUE(by_id[samu_.account_id].at("last_access_at").is_null());
    EXPECT_EQ(by_id[doc_.account_id].at("status"), "known");
    EXPECT_TRUE(by_id[doc_.account_id].at("last_access_at").is_null()) << "refused: no access";
    EXPECT_EQ(by_id[doc_.account_id].at("name"), "Jean Dupont");
    EXPECT_EQ(by_id[gp2_.account_id].at("last_access_at"), kT0);
}

// ---- codes -------------------------------------------------------------------------------

TEST_P(AccessRoutesTest, CodeIsRedeemedOnceAndAuthorisesTheProfessional) {
    Reply created = Call("POST", Rec(marie_) + "/codes", marie_, json::object{});
    ASSERT_EQ(created.status, 201) << Describe(created);
    const std::string code = Str(created.Json().at("code"));
    EXPECT_TRUE(std::regex_match(code, std::regex("[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}-"
                                                  "[0-9A-HJKMNP-TV-Z]{2}")))
        << code;
    EXPECT_EQ(created.Json().at("expires_at"), kT0 + kDay);
    // Stored as a keyed hash, never in clear.
    auto stored =
        Query("SELECT code_hash FROM access_codes WHERE patient_id = ?", {marie_.patient_id});
    ASSERT_EQ(stored.size(), 1U);
    std::string plain = code;
    std::erase(plain, '-');
    EXPECT_EQ(store::AsText(stored[0][0]).find(plain), std::string::npos);
    EXPECT_EQ(CodeStatuses(marie_), std::vector<std::string>{"active"});

    // Typed lower-case, without dashes, with Crockford's confusions (0 as O, 1 as l).
    std::string typed;
    for (char c : plain) {
        if (c == '0')
            typed.push_back('o');
        else if (c == '1')
            typed.push_back('l');
        else
            typed.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
    }
    Reply redeemed = Redeem(doc_, marie_.ins, typed);
    ASSERT_EQ(redeemed.status, 200) << Describe(redeemed);
    EXPECT_EQ(Str(redeemed.Json().at("patient_id")), marie_.patient_id);
    EXPECT_EQ(redeemed.Json().at("name"), "Marie Martin");
    auto rel = Query(
        "SELECT status, via_code FROM access_relations WHERE patient_id = ? AND "
        "professional_account = ?",
        {marie_.patient_id, doc_.account_id});
    ASSERT_EQ(rel.size(), 1U);
    EXPECT_EQ(store::AsText(rel[0][0]), "authorised");
    EXPECT_EQ(store::AsInt(rel[0][1]), 1);
    auto entry = LastEntry(marie_.patient_id);
    EXPECT_EQ(entry[1], "redeem-code");
    EXPECT_EQ(entry[2], "allow");
    EXPECT_EQ(entry[4], "code");

    // Single use: by anyone, the same professional included.
    for (const Person* p : {&doc_, &gp_}) {
        Reply again = Redeem(*p, marie_.ins, code);
        EXPECT_EQ(again.status, 404) << Describe(again);
    }
    auto codes = Call("GET", Rec(marie_) + "/codes", marie_).Json();
    EXPECT_EQ(codes.at(0).at("status"), "used");
    EXPECT_EQ(codes.at(0).at("used_by_name"), "Jean Dupont");
    // The professional now reaches the record, by code.
    Reply patients = Call("GET", "/access/patients", doc_);
    ASSERT_EQ(patients.status, 200) << Describe(patients);
    ASSERT_EQ(patients.Json().as_array().size(), 1U);
    EXPECT_EQ(Str(patients.Json().at(0).at("patient_id")), marie_.patient_id);
    EXPECT_EQ(patients.Json().at(0).at("basis"), "code");
    EXPECT_TRUE(patients.Json().at(0).at("until").is_null());
    EXPECT_EQ(Call("GET", "/access/patients", marie_).status, 403);
    EXPECT_EQ(Call("GET", "/access/patients", gp_).Json(), json::array{});

    // By record id too; a patient cannot redeem, even a code of their own record.
    const std::string second = NewCodeFor(marie_);
    Reply self = Call("POST", "/access/codes/redeem", marie_,
                      json::object{{"patient", marie_.patient_id}, {"code", second}});
    EXPECT_EQ(self.status, 403) << Describe(self);
    auto statuses = CodeStatuses(marie_);
    std::sort(statuses.begin(), statuses.end());
    EXPECT_EQ(statuses, (std::vector<std::string>{"active", "used"})) << "not consumed";
    Reply by_pid = Call("POST", "/access/codes/redeem", gp_,
                        json::object{{"patient", marie_.patient_id}, {"code", second}});
    EXPECT_EQ(by_pid.status, 200) << Describe(by_pid);
    // Input errors say nothing of any record.
    EXPECT_EQ(Redeem(gp_, "not-an-ins", second).status, 400);
    EXPECT_EQ(Redeem(gp_, marie_.ins, "ABC").status, 400);
    EXPECT_EQ(Redeem(gp_, marie_.ins, "UUUU-UUUU-UU").status, 400);
}

TEST_P(AccessRoutesTest, FiveWrongTriesVoidEveryOpenCode) {
    const std::string first = NewCodeFor(marie_);
    const std::string second = NewCodeFor(marie_);
    const std::string wrong = first == "0000-0000-00" ? "0000-0000-01" : "0000-0000-00";
    // An unknown INS answers exactly like a wrong code.
    Reply unknown = Redeem(doc_, Ins("1010101010101"), wrong);
    ASSERT_EQ(unknown.status, 404);
    const int64_t denied = LogCount(marie_.patient_id, "deny");
    for (int i = 0; i < 5; ++i) {
        Reply r = Redeem(doc_, marie_.ins, wrong);
        EXPECT_EQ(r.status, 404);
        EXPECT_EQ(r.body, unknown.body) << "try " << i;
    }
    EXPECT_EQ(LogCount(marie_.patient_id, "deny") - denied, 5) << "each wrong try is logged";
    EXPECT_EQ(LastEntry(marie_.patient_id)[3], "invalid-code");
    EXPECT_EQ(CodeStatuses(marie_), (std::vector<std::string>{"void", "void"}));
    for (const auto& c : {first, second}) {
        Reply r = Redeem(doc_, marie_.ins, c);
        EXPECT_EQ(r.status, 404) << "void, even the right one";
        EXPECT_EQ(r.body, unknown.body);
    }
    EXPECT_EQ(Count("SELECT COUNT(*) FROM access_relations"), 0);
    // A new code starts afresh.
    const std::string third = NewCodeFor(marie_);
    EXPECT_EQ(Redeem(doc_, marie_.ins, third).status, 200);
}

TEST_P(AccessRoutesTest, CodeExpiresAfter24Hours) {
    const std::string code = NewCodeFor(marie_);
    clock_.AdvanceForTest(kDay + 1);
    SignIn(marie_);
    SignIn(doc_);
    EXPECT_EQ(Redeem(doc_, marie_.ins, code).status, 404);
    EXPECT_EQ(CodeStatuses(marie_), std::vector<std::string>{"expired"});
    EXPECT_EQ(Count("SELECT COUNT(*) FROM access_relations"), 0);
}

TEST_P(AccessRoutesTest, HolderRevokesACode) {
    Reply created = Call("POST", Rec(marie_) + "/codes", marie_, json::object{});
    const std::string id = Str(created.Json().at("id"));
    const std::string code = Str(created.Json().at("code"));
    // Only the holder revokes.
    EXPECT_EQ(Call("DELETE", Rec(marie_) + "/codes/" + id, doc_).status, 404);
    EXPECT_EQ(Call("DELETE", Rec(marie_) + "/codes/" + id, claire_).status, 403);
    EXPECT_EQ(CodeStatuses(marie_), std::vector<std::string>{"active"});
    EXPECT_EQ(Call("DELETE", Rec(marie_) + "/codes/" + id, marie_).status, 204);
    EXPECT_EQ(Call("DELETE", Rec(marie_) + "/codes/no-such-code", marie_).status, 404);
    EXPECT_EQ(CodeStatuses(marie_), std::vector<std::string>{"revoked"});
    EXPECT_EQ(Redeem(doc_, marie_.ins, code).status, 404);
    EXPECT_EQ(Count("SELECT COUNT(*) FROM access_relations"), 0);
    // Codes are the holder's: nobody else creates or lists them.
    EXPECT_EQ(Call("POST", Rec(marie_) + "/codes", claire_, json::object{}).status, 403);
    EXPECT_EQ(Call("POST", Rec(marie_) + "/codes", doc_, json::object{}).status, 404);
    EXPECT_EQ(Call("GET", Rec(marie_) + "/codes", paul_).status, 404);
    EXPECT_EQ(Count("SELECT COUNT(*) FROM access_codes"), 1);
}

TEST_P(AccessRoutesTest, BlockedProfessionalCannotRedeemAndDoesNotUseTheCodeUp) {
    ASSERT_EQ(SetRelation(marie_, doc_, {{"status", "blocked"}}).status, 200);
    const std::string code = NewCodeFor(marie_);
    Reply r = Redeem(doc_, marie_.ins, code);
    EXPECT_EQ(r.status, 403) << Describe(r);
    EXPECT_NE(Diagnostics(r).find("blocked"), std::string::npos);
    EXPECT_EQ(LastEntry(marie_.patient_id)[2], "deny");
    EXPECT_EQ(LastEntry(marie_.patient_id)[3], "blocked");
    EXPECT_EQ(CodeStatuses(marie_), std::vector<std::string>{"active"});
    EXPECT_EQ(Count("SELECT tries FROM access_codes"), 0);
    auto rel = Query("SELECT status FROM access_relations WHERE professional_account = ?",
                     {doc_.account_id});
    EXPECT_EQ(store::AsText(rel.at(0)[0]), "blocked");
    // Emergency-only mode refuses codes too (a stranger: like a wrong code).
    ASSERT_EQ(Call("PUT", Rec(marie_) + "/settings", marie_, json::object{{"emergency_only", true}})
                  .status,
              200);
    EXPECT_EQ(Redeem(gp_, marie_.ins, code).status, 404);
    EXPECT_EQ(LastEntry(marie_.patient_id)[3], "emergency-only");
    EXPECT_EQ(CodeStatuses(marie_), std::vector<std::string>{"active"});
    ASSERT_EQ(
        Call("PUT", Rec(marie_) + "/settings", marie_, json::object{{"emergency_only", false}})
            .status,
        200);
    EXPECT_EQ(Redeem(gp_, marie_.ins, code).status, 200);
}

// ---- emergency access --------------------------------------------------------------------

TEST_P(AccessRoutesTest, BreakTheGlassNeedsAReasonAndAFreshAuthentication) {
    ASSERT_EQ(SetRelation(marie_, gp_, {{"roles", {"medecin-traitant"}}}).status, 200);
    Exec("DELETE FROM outbox");
    const std::string pid = marie_.patient_id;
    // No reason, a short one: 400 (for an unknown record too: it says nothing of the record).
    for (const std::string& reason : {std::string(), std::string("urgence"), std::string(9, 'x')}) {
        Reply r = Btg(doc_, pid, reason);
        EXPECT_EQ(r.status, 400) << "'" << reason << "' " << Describe(r);
        EXPECT_EQ(Btg(doc_, "no-such-record", reason).status, 400);
    }
    EXPECT_EQ(LastEntry(pid)[3], "needs-reason");
    EXPECT_EQ(
        Call("POST", Rec(pid) + "/emergency", doc_, json::object{{"purpose", "PLEASE"}}).status,
        400);
    // Authentication older than 5 minutes: 403 needs-fresh-auth, whatever the record.
    clock_.AdvanceForTest(6 * kMinute);
    const std::string reason = "patient inconscient, allergies inconnues";
    Reply stale = Btg(doc_, pid, reason);
    EXPECT_EQ(stale.status, 403) << Describe(stale);
    EXPECT_TRUE(stale.IsOperationOutcome());
    EXPECT_EQ(Diagnostics(stale).rfind("needs-fresh-auth", 0), 0U) << Diagnostics(stale);
    EXPECT_EQ(LastEntry(pid)[3], "needs-fresh-auth");
    Reply stale_unknown = Btg(doc_, "no-such-record", reason);
    EXPECT_EQ(stale_unknown.status, 403);
    EXPECT_EQ(stale_unknown.body, stale.body);
    EXPECT_EQ(Count("SELECT COUNT(*) FROM emergency_grants"), 0);
    EXPECT_EQ(Count("SELECT COUNT(*) FROM outbox"), 0) << "no notice for a refusal";

    // Fresh again: the access opens for 24 h and the holder and the GP are told at once.
    SignIn(doc_);
    const int64_t now = clock_.NowMicros();
    Reply ok = Btg(doc_, pid, reason);
    ASSERT_EQ(ok.status, 200) << Describe(ok);
    EXPECT_EQ(ok.Json().at("until"), now + access::kEmergencyDurationUs);
    auto grant = Query(
        "SELECT kind, reason, opened_at, until_at, professional_account FROM "
        "emergency_grants WHERE patient_id = ?",
        {pid});
    ASSERT_EQ(grant.size(), 1U);
    EXPECT_EQ(store::AsText(grant[0][0]), "BTG");
    EXPECT_EQ(store::AsText(grant[0][1]), reason);
    EXPECT_EQ(store::AsInt(grant[0][3]), now + 24 * kHour);
    EXPECT_EQ(store::AsText(grant[0][4]), doc_.account_id);
    auto notices = Query(
        "SELECT channel, recipient, template, created_at, patient_id FROM "
        "outbox ORDER BY template, channel");
    std::set<std::string> seen;
    for (const auto& n : notices) {
        seen.insert(store::AsText(n[2]) + " " + store::AsText(n[0]) + " " + store::AsText(n[1]));
        EXPECT_EQ(store::AsInt(n[3]), now);
        EXPECT_EQ(store::AsText(n[4]), pid);
    }
    EXPECT_TRUE(seen.contains("emergency_access email marie@example.fr")) << notices.size();
    EXPECT_TRUE(seen.contains("emergency_access inapp " + marie_.account_id));
    EXPECT_TRUE(seen.contains("patient_emergency_access email gp@example.fr"));
    EXPECT_TRUE(seen.contains("patient_emergency_access inapp " + gp_.account_id));
    auto entry = LastEntry(pid);
    EXPECT_EQ(entry[1], "open-emergency");
    EXPECT_EQ(entry[2], "allow");
    EXPECT_EQ(entry[4], "BTG");
    EXPECT_EQ(entry[5], "BTG");
    EXPECT_EQ(entry[6], "1");
    // The holder sees it; the professional reaches the record until then.
    Reply list = Call("GET", Rec(pid) + "/emergencies", marie_);
    ASSERT_EQ(list.status, 200) << Describe(list);
    ASSERT_EQ(list.Json().as_array().size(), 1U);
    EXPECT_EQ(list.Json().at(0).at("kind"), "BTG");
    EXPECT_EQ(Str(list.Json().at(0).at("reason")), reason);
    EXPECT_EQ(list.Json().at(0).at("professional_name"), "Jean Dupont");
    EXPECT_EQ(list.Json().at(0).at("until"), now + 24 * kHour);
    EXPECT_EQ(Call("GET", Rec(pid) + "/emergencies", doc_).status, 403);
    EXPECT_EQ(Call("GET", Rec(pid) + "/emergencies", claire_).status, 403);
    Reply patients = Call("GET", "/access/patients", doc_);
    ASSERT_EQ(patients.Json().as_array().size(), 1U);
    EXPECT_EQ(patients.Json().at(0).at("basis"), "BTG");
    EXPECT_EQ(patients.Json().at(0).at("until"), now + 24 * kHour);
    // A fresh, well-reasoned BTG on a record that does not exist is still a 404.
    Reply unknown = Btg(doc_, "no-such-record", reason);
    EXPECT_EQ(unknown.status, 404);
    EXPECT_EQ(Count("SELECT COUNT(*) FROM emergency_grants"), 1);
}

TEST_P(AccessRoutesTest, BreakTheGlassSwitchedOffIsRefused) {
    ASSERT_EQ(Call("PUT", Rec(marie_) + "/settings", marie_, json::object{{"btg", false}}).status,
              200);
    ASSERT_EQ(SetRelation(marie_, gp_, {{"status", "authorised"}}).status, 200);
    const std::string reason = "patient inconscient aux urgences";
    Reply unknown = Btg(doc_, "no-such-record", reason);
    Reply stranger = Btg(doc_, marie_.patient_id, reason);
    EXPECT_EQ(stranger.status, 404);
    EXPECT_EQ(stranger.body, unknown.body);
    EXPECT_EQ(LastEntry(marie_.patient_id)[3], "emergency-disabled");
    Reply known = Btg(gp_, marie_.patient_id, reason);
    EXPECT_EQ(known.status, 403);
    EXPECT_NE(Diagnostics(known).find("emergency-disabled"), std::string::npos);
    EXPECT_EQ(Count("SELECT COUNT(*) FROM emergency_grants"), 0);
    EXPECT_EQ(Count("SELECT COUNT(*) FROM outbox WHERE template LIKE '%emergency%'"), 0);
    // Patients and caregivers never open an emergency access.
    EXPECT_EQ(Btg(claire_, marie_.patient_id, reason).status, 403);
}

TEST_P(AccessRoutesTest, EtreatIsForSamuRegulatorsOnly) {
    Reply refused =
        Call("POST", Rec(marie_) + "/emergency", doc_, json::object{{"purpose", "ETREAT"}});
    EXPECT_EQ(refused.status, 404) << Describe(refused);
    EXPECT_EQ(LastEntry(marie_.patient_id)[3], "not-regulator");
    EXPECT_EQ(Count("SELECT COUNT(*) FROM emergency_grants"), 0);
    clock_.AdvanceForTest(10 * kMinute);  // ETREAT needs no fresh authentication
    Reply ok = Call("POST", Rec(marie_) + "/emergency", samu_, json::object{{"purpose", "ETREAT"}});
    ASSERT_EQ(ok.status, 200) << Describe(ok);
    EXPECT_EQ(ok.Json().at("until"), clock_.NowMicros() + 24 * kHour);
    auto entry = LastEntry(marie_.patient_id);
    EXPECT_EQ(entry[4], "ETREAT");
    EXPECT_EQ(entry[6], "1");
    EXPECT_EQ(Count("SELECT COUNT(*) FROM outbox WHERE template = 'emergency_access'"), 2);
    // The holder switches ETREAT off: the next one is refused.
    ASSERT_EQ(
        Call("PUT", Rec(marie_) + "/settings", marie_, json::object{{"etreat", false}}).status,
        200);
    Reply off =
        Call("POST", Rec(marie_) + "/emergency", samu_, json::object{{"purpose", "ETREAT"}});
    EXPECT_EQ(off.status, 403) << "the grant in force is a relation: the reason is shown";
    EXPECT_NE(Diagnostics(off).find("emergency-disabled"), std::string::npos);
    EXPECT_EQ(Count("SELECT COUNT(*) FROM emergency_grants"), 1);
}

// ---- the log -----------------------------------------------------------------------------

TEST_P(AccessRoutesTest, LogForTheHolderWithFiltersAndOwnEntriesForProfessionals) {
    const std::string pid = marie_.patient_id;
    // Some history: a refusal, the holder's reads, an emergency, a code redeemed.
    EXPECT_EQ(Call("GET", Rec(pid) + "/settings", doc_).status, 404);
    clock_.AdvanceForTest(kMinute);
    Reply tagged = Call("GET", Rec(pid) + "/settings", marie_, std::nullopt,
                        {{"X-Request-Id", "req-test-42"}});
    EXPECT_EQ(tagged.status, 200);
    EXPECT_EQ(LastEntry(pid)[7], "req-test-42");
    clock_.AdvanceForTest(kMinute);
    SignIn(gp2_);
    ASSERT_EQ(Btg(gp2_, pid, "douleur thoracique aiguë").status, 200);
    clock_.AdvanceForTest(kMinute);
    SignIn(doc_);
    SignIn(marie_);
    ASSERT_EQ(Redeem(doc_, marie_.ins, NewCodeFor(marie_)).status, 200);
    // Paul's record gets one of doc's entries too.
    EXPECT_EQ(Call("GET", Rec(paul_) + "/settings", doc_).status, 404);

    Reply all = Call("GET", Rec(pid) + "/log", marie_);
    ASSERT_EQ(all.status, 200) << Describe(all);
    const json::value all_json = all.Json();
    const auto& entries = all_json.at("entries").as_array();
    ASSERT_EQ(entries.size(), static_cast<size_t>(LogCount(pid) - 1 + OperatorEntries(pid)))
        << "everything but this very reading";
    EXPECT_TRUE(all.Json().at("next_before").is_null());
    int64_t prev = INT64_MAX;
    for (const auto& e : entries) {
        EXPECT_LT(e.at("seq").as_int64(), prev) << "newest first";
        prev = e.at("seq").as_int64();
    }
    // The oldest entries are the operator's account set-up; the first decision comes next.
    const json::object* oldest = nullptr;
    for (auto it = entries.rbegin(); it != entries.rend(); ++it) {
        if (!it->at("action").as_string().starts_with("account:")) {
            oldest = &it->as_object();
            break;
        }
    }
    ASSERT_NE(oldest, nullptr);
    EXPECT_EQ(oldest->at("actor_name"), "Jean Dupont");
    EXPECT_EQ(oldest->at("outcome"), "deny");
    EXPECT_EQ(oldest->at("actor_kind"), "professional");
    EXPECT_EQ(oldest->at("actor_profession"), "medecin");
    EXPECT_EQ(oldest->at("at"), kT0);

    Reply denied = Call("GET", Rec(pid) + "/log?outcome=deny", marie_);
    ASSERT_EQ(denied.status, 200);
    ASSERT_EQ(denied.Json().at("entries").as_array().size(), 1U);
    EXPECT_EQ(denied.Json().at("entries").at(0).at("reason"), "not-permitted");
    Reply emergency = Call("GET", Rec(pid) + "/log?emergency=1", marie_);
    ASSERT_EQ(emergency.Json().at("entries").as_array().size(), 1U);
    EXPECT_EQ(emergency.Json().at("entries").at(0).at("purpose"), "BTG");
    EXPECT_EQ(emergency.Json().at("entries").at(0).at("actor_name"), "Hélène Roux");
    Reply window = Call("GET",
                        Rec(pid) + "/log?since=" + std::to_string(kT0 + kMinute) +
                            "&until=" + std::to_string(kT0 + 2 * kMinute),
                        marie_);
    ASSERT_EQ(window.Json().at("entries").as_array().size(), 1U) << window.body;
    EXPECT_EQ(window.Json().at("entries").at(0).at("actor_name"), "Marie Martin");
    // Paging.
    Reply first = Call("GET", Rec(pid) + "/log?limit=2", marie_);
    ASSERT_EQ(first.Json().at("entries").as_array().size(), 2U);
    ASSERT_TRUE(first.Json().at("next_before").is_int64());
    const int64_t before = first.Json().at("next_before").as_int64();
    Reply second = Call("GET", Rec(pid) + "/log?limit=2&before=" + std::to_string(before), marie_);
    ASSERT_EQ(second.status, 200);
    EXPECT_LT(second.Json().at("entries").at(0).at("seq").as_int64(), before);
    // Bad filters.
    EXPECT_EQ(Call("GET", Rec(pid) + "/log?outcome=maybe", marie_).status, 400);
    EXPECT_EQ(Call("GET", Rec(pid) + "/log?limit=0", marie_).status, 400);
    EXPECT_EQ(Call("GET", Rec(pid) + "/log?since=yesterday", marie_).status, 400);

    // Caregivers are refused (and that is logged); strangers get the unknown-record answer.
    const int64_t denies = LogCount(pid, "deny");
    EXPECT_EQ(Call("GET", Rec(pid) + "/log", claire_).status, 403);
    EXPECT_EQ(Call("GET", Rec(pid) + "/log", paul_).status, 404);
    EXPECT_EQ(LogCount(pid, "deny") - denies, 2);

    // A professional reads only their own entries, on a record and across records.
    Reply own = Call("GET", Rec(pid) + "/log", doc_);
    ASSERT_EQ(own.status, 200) << Describe(own);
    ASSERT_FALSE(own.Json().at("entries").as_array().empty());
    const json::value own_json = own.Json();
    for (const auto& e : own_json.at("entries").as_array()) {
        EXPECT_EQ(e.at("actor_name"), "Jean Dupont");
    }
    Reply mine = Call("GET", "/access/log", doc_);
    ASSERT_EQ(mine.status, 200) << Describe(mine);
    std::set<std::string> records;
    const json::value mine_json = mine.Json();
    for (const auto& e : mine_json.at("entries").as_array()) {
        EXPECT_EQ(e.at("actor_name"), "Jean Dupont");
        records.insert(Str(e.at("patient_id")));
    }
    EXPECT_EQ(records, (std::set<std::string>{pid, paul_.patient_id}));
    EXPECT_EQ(Call("GET", "/access/log", marie_).status, 403);
    Reply paged = Call("GET", "/access/log?limit=1", doc_);
    ASSERT_EQ(paged.Json().at("entries").as_array().size(), 1U);
    ASSERT_TRUE(paged.Json().as_object().contains("next_until"));
}

TEST_P(AccessRoutesTest, RefusedActionsLeaveTheirEntry) {
    const std::string pid = marie_.patient_id;
    const int64_t allowed = LogCount(pid, "allow");
    const int64_t denied = LogCount(pid, "deny");
    EXPECT_EQ(Call("GET", Rec(pid) + "/settings", marie_).status, 200);
    EXPECT_EQ(Call("GET", Rec(pid) + "/codes", claire_).status, 403);
    EXPECT_EQ(Call("POST", Rec(pid) + "/codes", gp_, json::object{}).status, 404);
    EXPECT_EQ(Call("GET", Rec(pid) + "/professionals", paul_).status, 404);
    EXPECT_EQ(Call("GET", Rec(pid) + "/emergencies", samu_).status, 404);
    EXPECT_EQ(LogCount(pid, "allow") - allowed, 1);
    EXPECT_EQ(LogCount(pid, "deny") - denied, 4);
    auto rows = Query(
        "SELECT actor_account, reason FROM audit_log WHERE patient_id = ? AND "
        "outcome = 'deny' ORDER BY seq",
        {pid});
    ASSERT_EQ(rows.size(), 4U);
    EXPECT_EQ(store::AsText(rows[0][0]), claire_.account_id);
    EXPECT_EQ(store::AsText(rows[1][0]), gp_.account_id);
    EXPECT_EQ(store::AsText(rows[2][0]), paul_.account_id);
    EXPECT_EQ(store::AsText(rows[3][0]), samu_.account_id);
}

// ---- documents ---------------------------------------------------------------------------

TEST_P(AccessRoutesTest, ADocumentTheHolderDepositedIsTheirs) {
    const std::string pid = marie_.patient_id;
    PutDocument(pid, "doc-mine", "Mon ordonnance");
    PutDocument(pid, "doc-theirs", "Compte rendu");
    SetFlags(pid, "doc-mine", marie_.account_id, false, 0, false);
    SetFlags(pid, "doc-theirs", gp_.account_id, false, 0, false);
    Reply r = Call("GET", Rec(pid) + "/documents", marie_);
    ASSERT_EQ(r.status, 200) << Describe(r);
    std::map<std::string, bool> own;
    const json::value list = r.Json();
    for (const auto& d : list.as_array()) own[Str(d.at("id"))] = d.at("own").as_bool();
    EXPECT_TRUE(own["doc-mine"]);
    EXPECT_FALSE(own["doc-theirs"]);
}

TEST_P(AccessRoutesTest, DocumentsListMaskingAndRelease) {
    const std::string pid = marie_.patient_id;
    PutDocument(pid, "doc-plain", "Compte rendu de consultation");
    PutDocument(pid, "doc-hidden", "Résultats à annoncer");
    PutDocument(pid, "doc-masked", "Bilan");
    PutDocument(paul_.patient_id, "doc-paul", "Autre dossier");
    const int64_t now = clock_.NowMicros();
    SetFlags(pid, "doc-hidden", doc_.account_id, false, now + 30 * kDay, false);
    SetFlags(pid, "doc-masked", gp_.account_id, true, 0, false);

    Reply r =
        Call("GET", Rec(pid) + "/documents", marie_, std::nullopt, {{"X-Request-Id", "docs-1"}});
    ASSERT_EQ(r.status, 200) << Describe(r);
    std::map<std::string, json::value> docs;
    const json::value docs_json = r.Json();
    for (const auto& d : docs_json.as_array()) docs[Str(d.at("id"))] = d;
    ASSERT_EQ(docs.size(), 2U) << r.body << ": the hidden one is not listed for the holder";
    EXPECT_EQ(docs["doc-plain"].at("title"), "Compte rendu de consultation");
    EXPECT_EQ(docs["doc-plain"].at("type"), "DocumentReference");
    EXPECT_EQ(docs["doc-plain"].at("date"), "2025-03-01T10:00:00Z");
    EXPECT_EQ(docs["doc-plain"].at("category"), "10");
    EXPECT_EQ(docs["doc-plain"].at("masked"), false);
    EXPECT_EQ(docs["doc-plain"].at("author_name"), "Dr Body");
    EXPECT_EQ(docs["doc-plain"].at("binary_id"), "bin-doc-plain") << "what the portal opens";
    EXPECT_EQ(docs["doc-plain"].at("content_type"), "text/plain");
    EXPECT_EQ(docs["doc-plain"].at("size"), 1234);
    EXPECT_EQ(docs["doc-plain"].at("own"), false);
    EXPECT_EQ(docs["doc-masked"].at("masked"), true);
    EXPECT_EQ(docs["doc-masked"].at("author_name"), "Grégoire Lebon");
    auto entry = Query(
        "SELECT action, resource_type, count, outcome, request_id FROM audit_log "
        "WHERE patient_id = ? ORDER BY seq DESC LIMIT 1",
        {pid});
    ASSERT_EQ(entry.size(), 1U);
    EXPECT_EQ(store::AsText(entry[0][0]), "read");
    EXPECT_EQ(store::AsText(entry[0][1]), "DocumentReference");
    EXPECT_EQ(store::AsInt(entry[0][2]), 2);
    EXPECT_EQ(store::AsText(entry[0][3]), "allow");
    EXPECT_EQ(store::AsText(entry[0][4]), "docs-1");

    // Masking: the holder only, documents of this record only, and not the hidden one.
    EXPECT_EQ(Call("PUT", Rec(pid) + "/documents/DocumentReference/doc-plain", marie_,
                   json::object{{"masked", true}})
                  .status,
              204);
    EXPECT_EQ(Count("SELECT masked FROM access_flags WHERE id = 'doc-plain'"), 1);
    EXPECT_EQ(Call("PUT", Rec(pid) + "/documents/DocumentReference/doc-masked", marie_,
                   json::object{{"masked", false}})
                  .status,
              204);
    EXPECT_EQ(Count("SELECT masked FROM access_flags WHERE id = 'doc-masked'"), 0);
    Reply hidden = Call("PUT", Rec(pid) + "/documents/DocumentReference/doc-hidden", marie_,
                        json::object{{"masked", true}});
    Reply foreign = Call("PUT", Rec(pid) + "/documents/DocumentReference/doc-paul", marie_,
                         json::object{{"masked", true}});
    Reply missing = Call("PUT", Rec(pid) + "/documents/DocumentReference/nope", marie_,
                         json::object{{"masked", true}});
    EXPECT_EQ(hidden.status, 404);
    EXPECT_EQ(foreign.status, 404);
    EXPECT_EQ(missing.status, 404);
    EXPECT_EQ(hidden.body, missing.body);
    EXPECT_EQ(foreign.body, missing.body);
    EXPECT_EQ(Count("SELECT COUNT(*) FROM access_flags WHERE id = 'doc-paul'"), 0);
    EXPECT_EQ(Call("PUT", Rec(pid) + "/documents/DocumentReference/doc-plain", marie_,
                   json::object{{"masked", "yes"}})
                  .status,
              400);
    EXPECT_EQ(Call("PUT", Rec(pid) + "/documents/DocumentReference/doc-plain", claire_,
                   json::object{{"masked", false}})
                  .status,
              403);
    EXPECT_EQ(Call("PUT", Rec(pid) + "/documents/DocumentReference/doc-plain", gp_,
                   json::object{{"masked", false}})
                  .status,
              404);
    EXPECT_EQ(Count("SELECT masked FROM access_flags WHERE id = 'doc-plain'"), 1);
    EXPECT_EQ(Call("GET", Rec(pid) + "/documents", claire_).status, 403);
    EXPECT_EQ(Call("GET", Rec(pid) + "/documents", doc_).status, 404);

    // Release: the author only (others: as if the document were not there).
    Reply not_author =
        Call("POST", Rec(pid) + "/documents/DocumentReference/doc-hidden/release", gp_);
    EXPECT_EQ(not_author.status, 404) << Describe(not_author);
    EXPECT_EQ(LastEntry(pid)[3], "not-author");
    EXPECT_EQ(
        Call("POST", Rec(pid) + "/documents/DocumentReference/doc-hidden/release", marie_).status,
        403);
    Reply released =
        Call("POST", Rec(pid) + "/documents/DocumentReference/doc-hidden/release", doc_);
    EXPECT_EQ(released.status, 204) << Describe(released);
    EXPECT_EQ(Call("POST", Rec(pid) + "/documents/DocumentReference/nope/release", doc_).status,
              404);
    r = Call("GET", Rec(pid) + "/documents", marie_);
    EXPECT_EQ(r.Json().as_array().size(), 3U) << "released: the holder sees it now";
}

TEST_P(AccessRoutesTest, RepresentativeManagesAMinorButNotTheConfidentialDocuments) {
    Person child = NewPatient("1150575123456", "Léo", "Martin", "2015-05-12", "");
    ASSERT_TRUE(auth_->AddRepresentative(child.patient_id, marie_.account_id, "test").ok());
    PutDocument(child.patient_id, "minor-open", "Vaccins");
    PutDocument(child.patient_id, "minor-private", "Consultation confidentielle");
    SetFlags(child.patient_id, "minor-private", doc_.account_id, false, 0, true);
    Reply settings = Call("GET", Rec(child.patient_id) + "/settings", marie_);
    EXPECT_EQ(settings.status, 200) << Describe(settings);
    EXPECT_EQ(LastEntry(child.patient_id)[4], "representative");
    Reply docs = Call("GET", Rec(child.patient_id) + "/documents", marie_);
    ASSERT_EQ(docs.status, 200) << Describe(docs);
    ASSERT_EQ(docs.Json().as_array().size(), 1U) << docs.body;
    EXPECT_EQ(docs.Json().at(0).at("id"), "minor-open");
    EXPECT_EQ(Call("PUT", Rec(child.patient_id) + "/documents/DocumentReference/minor-private",
                   marie_, json::object{{"masked", true}})
                  .status,
              404);
    EXPECT_EQ(Call("GET", Rec(child.patient_id) + "/settings", paul_).status, 404);
}

TEST_P(AccessRoutesTest, SweepHiddenTellsTheHolderOnce) {
    const std::string pid = marie_.patient_id;
    PutDocument(pid, "doc-hidden", "Résultats");
    PutDocument(pid, "doc-later", "Autres résultats");
    const int64_t now = clock_.NowMicros();
    SetFlags(pid, "doc-hidden", doc_.account_id, false, now + access::kHiddenFromPatientUs, false);
    SetFlags(pid, "doc-later", doc_.account_id, false, now + 40 * kDay, false);
    Exec("DELETE FROM outbox");
    auto swept = access_->SweepHidden(now);
    ASSERT_TRUE(swept.ok());
    EXPECT_EQ(*swept, 0) << "30 days left: too early";
    swept = access_->SweepHidden(now + 15 * kDay - 1);
    EXPECT_EQ(*swept, 0);
    swept = access_->SweepHidden(now + 15 * kDay);
    ASSERT_TRUE(swept.ok());
    EXPECT_EQ(*swept, 1);
    auto notices = Query(
        "SELECT channel, recipient FROM outbox WHERE template = "
        "'hidden_document_notice' ORDER BY channel");
    ASSERT_EQ(notices.size(), 2U);
    EXPECT_EQ(store::AsText(notices[0][0]), "email");
    EXPECT_EQ(store::AsText(notices[0][1]), "marie@example.fr");
    EXPECT_EQ(store::AsText(notices[1][0]), "inapp");
    EXPECT_EQ(Count("SELECT COUNT(*) FROM access_flags WHERE warned_at IS NOT NULL"), 1);
    swept = access_->SweepHidden(now + 16 * kDay);
    EXPECT_EQ(*swept, 0) << "told once";
    EXPECT_EQ(Count("SELECT COUNT(*) FROM outbox"), 2);
    swept = access_->SweepHidden(now + 25 * kDay);
    EXPECT_EQ(*swept, 1) << "the other one's turn";
    swept = access_->SweepHidden(now + 60 * kDay);
    EXPECT_EQ(*swept, 0) << "visible already: nothing to announce";
}

// ---- the grid ----------------------------------------------------------------------------

TEST_P(AccessRoutesTest, GridReadByAnyoneEditedByAdminsOnly) {
    Reply get = Call("GET", "/access/grid", marie_);
    ASSERT_EQ(get.status, 200) << Describe(get);
    EXPECT_EQ(get.Json().at("version"), 0);
    EXPECT_EQ(get.Json().at("grid").at("professions").at("medecin").at("10"), "Y");
    EXPECT_EQ(get.Json().at("grid").at("professions").at("infirmier").at("60"), "N");
    json::object grid = get.Json().at("grid").as_object();
    grid["professions"].as_object()["infirmier"].as_object()["60"] = "Y";

    // Refused to everyone but admins, and nothing is saved.
    for (const Person* p : {&marie_, &doc_, &advisor_}) {
        Reply r = Call("PUT", "/access/grid", *p, grid);
        EXPECT_EQ(r.status, 403) << p->login << " " << Describe(r);
    }
    EXPECT_EQ(Count("SELECT COUNT(*) FROM access_grid"), 0);

    Reply put = Call("PUT", "/access/grid", admin_, grid);
    ASSERT_EQ(put.status, 200) << Describe(put);
    EXPECT_EQ(put.Json().at("version"), 1);
    EXPECT_EQ(Str(put.Json().at("created_by")), admin_.account_id);
    get = Call("GET", "/access/grid", doc_);
    EXPECT_EQ(get.Json().at("version"), 1);
    EXPECT_EQ(get.Json().at("created_at"), kT0);
    EXPECT_EQ(get.Json().at("grid").at("professions").at("infirmier").at("60"), "Y");
    Reply versions = Call("GET", "/access/grid/versions", admin_);
    ASSERT_EQ(versions.status, 200);
    ASSERT_EQ(versions.Json().as_array().size(), 2U);
    EXPECT_EQ(versions.Json().at(0).at("version"), 1);
    EXPECT_EQ(versions.Json().at(1).at("version"), 0);

    // Invalid grids: 400, nothing saved.
    auto broken = [&](const std::function<void(json::object&)>& edit) {
        json::object g = grid;
        edit(g["professions"].as_object());
        return Call("PUT", "/access/grid", admin_, g);
    };
    EXPECT_EQ(broken([](json::object& p) { p["medecin"].as_object().erase("10"); }).status, 400);
    EXPECT_EQ(broken([](json::object& p) { p["medecin"].as_object()["10"] = "Maybe"; }).status,
              400);
    EXPECT_EQ(broken([](json::object& p) { p["medecin"].as_object()["99"] = "Y"; }).status, 400);
    EXPECT_EQ(broken([](json::object& p) { p.erase("social"); }).status, 400);
    EXPECT_EQ(broken([](json::object& p) {
                  json::value row = p["medecin"];
                  p["astrologue"] = row;
              }).status,
              400);
    EXPECT_EQ(broken([](json::object& p) {
                  json::value row = p["medecin"];
                  p["assureur"] = row;
              }).status,
              400)
        << "never content, whatever the grid says: no row for them";
    EXPECT_EQ(broken([](json::object& p) { p.clear(); }).status, 400);
    EXPECT_EQ(Call("PUT", "/access/grid", admin_, json::array{}).status, 400);
    EXPECT_EQ(Count("SELECT COUNT(*) FROM access_grid"), 1);
    EXPECT_EQ(Call("GET", "/access/grid", marie_).Json().at("version"), 1);
}

// In an emergency the professional knows the patient's INS (the card), not the record's id.
TEST_P(AccessRoutesTest, BreakTheGlassByInsOpensTheRecordItNames) {
    const std::string reason = "patient inconscient, allergies inconnues";
    Reply unknown =
        Call("POST", "/access/emergency", doc_,
             json::object{{"ins", Ins("1800575999999")}, {"purpose", "BTG"}, {"reason", reason}});
    EXPECT_EQ(unknown.status, 404) << Describe(unknown);
    EXPECT_EQ(Count("SELECT COUNT(*) FROM emergency_grants"), 0);
    Reply ok = Call("POST", "/access/emergency", doc_,
                    json::object{{"ins", marie_.ins}, {"purpose", "BTG"}, {"reason", reason}});
    ASSERT_EQ(ok.status, 200) << Describe(ok);
    EXPECT_EQ(ok.Json().at("patient_id").as_string(), marie_.patient_id);
    EXPECT_EQ(
        Count("SELECT COUNT(*) FROM emergency_grants WHERE patient_id = ?", {marie_.patient_id}),
        1);
    EXPECT_EQ(LastEntry(marie_.patient_id)[4], "BTG");
    // A short reason is refused the same way as on the record's own route.
    EXPECT_EQ(Call("POST", "/access/emergency", doc_,
                   json::object{{"ins", marie_.ins}, {"purpose", "BTG"}, {"reason", "vite"}})
                  .status,
              400);
}

INSTANTIATE_TEST_SUITE_P(Engines, AccessRoutesTest, ::testing::Values("sqlite", "postgres"),
                         [](const auto& param_info) { return param_info.param; });

}  // namespace
}  // namespace carnet::api::testing
