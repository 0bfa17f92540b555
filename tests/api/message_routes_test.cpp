// Issue 5, secure messaging (docs/MESSAGING.md) with the stack `carnet serve` builds (access
// decision, identity routes, FHIR view), on both engines: a professional with a basis starts
// a thread, the holder side is told without content, reads (receipts), replies and archives;
// nobody else reaches a thread, each refusal is in the holder's log; attachments are
// readable documents of the record or nothing is stored; texts are sealed at rest and come
// back exactly as written; the FHIR view shows messages as Communication.
#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include "api/auth_routes.hpp"
#include "api/message_routes.hpp"
#include "api_harness.hpp"
#include "auth/service.hpp"
#include "crypto/crypto.hpp"
#include "messaging/service.hpp"
#include "people.hpp"

namespace carnet::api::testing {
namespace {

constexpr int64_t kT0 = 1'800'000'000'000'000;  // 2027-01-15
constexpr const char* kPortal = "http://portal";

std::string S(const json::value& v) {
    return v.is_string() ? std::string(v.as_string()) : json::serialize(v);
}

std::vector<std::string> Tables() {
    std::vector<std::string> t = kIdentityAndAccessTables;
    for (const char* m : {"message_threads", "messages", "message_marks"}) t.emplace_back(m);
    return t;
}

class MessageRoutesTest : public ::testing::TestWithParam<std::string>, protected PeopleFixture {
  protected:
    void SetUp() override {
        crypto::Init();
        spdlog::set_level(spdlog::level::warn);
        if (GetParam() == "postgres" && !PgDsn()) GTEST_SKIP() << "CARNET_TEST_PG not set";
        ASSERT_NO_FATAL_FAILURE(OpenCleanStore(GetParam(), "carnet-messages-", Tables()));
        service_ = std::make_unique<FhirService>(*store_, clock_);
        service_->SetWriteGate(auth::CheckRecordWritable);
        service_->SetAccess(AccessConfig{&grids_, kPortal});
        StartAuth(clock_);
        authenticator_ = std::make_unique<Authenticator>(*auth_, AuthRouteOptions{});
        messages_ = std::make_unique<messaging::MessageService>(*store_, clock_, grids_, kPortal);
        RegisterAuthRoutes(router_, *authenticator_, *store_, clock_, service_.get());
        RegisterMessageRoutes(router_, *authenticator_, *messages_);
        ApiOptions api;
        api.identify = [this](http::Request& req) { return IdentifyContent(*authenticator_, req); };
        api.messages = messages_.get();
        RegisterFhirRoutes(router_, *service_, api);
        server_ = std::make_unique<http::Server>(ApiServer::DefaultServerOptions(), router_);
        ASSERT_TRUE(server_->Start().ok());
        client_ = std::make_unique<Client>(server_->Port());

        marie_ = NewPatient("2850575123456", "Marie", "Martin", "1985-05-12", "marie@example.fr");
        paul_ = NewPatient("1790175123456", "Paul", "Durand", "1979-01-20", "paul@example.fr");
        claire_ =
            NewPatient("2900575123456", "Claire", "Martin", "1990-05-01", "claire@example.fr");
        gp_ = NewPro("1000000001", "Grégoire", "Lebon", "medecin", "Médecine générale",
                     "gp@example.fr");
        gp2_ = NewPro("1000000002", "Hélène", "Roux", "medecin", "Médecine générale",
                      "gp2@example.fr");
        pharma_ = NewPro("1000000004", "Luc", "Petit", "pharmacien", "", "pharma@example.fr");
        // Marie authorised both GPs; Claire is her caregiver; the pharmacist has no relation.
        for (const Person* p : {&gp_, &gp2_}) Authorise(marie_.patient_id, *p, kT0);
        Delegate(marie_, claire_, "caregiver", kT0);
        Exec("DELETE FROM outbox");
    }

    void TearDown() override {
        if (server_) server_->Stop();
        server_.reset();
        CloseStore();
    }

    Headers As(const Person& who) const { return {{"Authorization", "Bearer " + who.token}}; }
    Reply Call(const std::string& method, const std::string& path, const Person& who,
               const json::object& body) {
        Headers h = As(who);
        h.emplace_back("Content-Type", "application/json");
        return client_->Send(method, path, h, json::serialize(body));
    }
    Reply Get(const std::string& path, const Person& who) { return client_->Get(path, As(who)); }

    /// A document of Marie's record written by `who` (LOINC type), its id.
    std::string Document(const Person& who, const std::string& pid, const std::string& loinc,
                         const std::string& title) {
        json::object doc{
            {"resourceType", "DocumentReference"},
            {"status", "current"},
            {"type",
             json::object{{"coding", json::array{json::object{{"system", "http://loinc.org"},
                                                              {"code", loinc}}}}}},
            {"subject", json::object{{"reference", "Patient/" + pid}}},
            {"date", "2027-01-15T10:00:00Z"},
            {"description", title},
            {"content",
             json::array{json::object{
                 {"attachment", json::object{{"contentType", "text/plain"}, {"title", title}}}}}}};
        Reply r = client_->Post("/fhir/DocumentReference", json::serialize(doc), As(who));
        EXPECT_EQ(r.status, 201) << Describe(r);
        return r.status == 201 ? std::string(r.Json().at("id").as_string()) : std::string();
    }
    Reply Start(const Person& pro, const std::string& pid, const std::string& subject,
                const std::string& text, const std::vector<std::string>& attachments = {}) {
        json::array atts;
        for (const auto& a : attachments) atts.emplace_back(a);
        return Call("POST", "/messages/threads", pro,
                    json::object{{"patient", pid},
                                 {"subject", subject},
                                 {"text", text},
                                 {"attachments", std::move(atts)}});
    }
    Reply Send(const Person& who, const std::string& thread, const std::string& text,
               const std::vector<std::string>& attachments = {}) {
        json::array atts;
        for (const auto& a : attachments) atts.emplace_back(a);
        return Call("POST", "/messages/threads/" + thread + "/messages", who,
                    json::object{{"text", text}, {"attachments", std::move(atts)}});
    }
    json::array Threads(const Person& who, const std::string& query) {
        Reply r = Get("/messages/threads" + query, who);
        EXPECT_EQ(r.status, 200) << Describe(r);
        return r.status == 200 ? r.Json().as_array() : json::array{};
    }
    int64_t Unread(const Person& who, const std::string& query) {
        Reply r = Get("/messages/unread" + query, who);
        EXPECT_EQ(r.status, 200) << Describe(r);
        return r.status == 200 ? r.Json().at("unread").as_int64() : -1;
    }
    /// (action, outcome, reason, actor) of Marie's log entries about messages, oldest first.
    std::vector<std::vector<std::string>> MessageLog() {
        std::vector<std::vector<std::string>> out;
        for (const auto& r : Query("SELECT action, outcome, reason, actor_account FROM audit_log "
                                   "WHERE patient_id = ? AND resource_type = 'Communication' "
                                   "ORDER BY seq",
                                   {marie_.patient_id})) {
            out.push_back({store::AsText(r[0]), store::AsText(r[1]), store::AsText(r[2]),
                           store::AsText(r[3])});
        }
        return out;
    }
    static std::string Diagnostics(const Reply& r) {
        if (!r.IsOperationOutcome()) return {};
        return std::string(r.Json().at("issue").at(0).at("diagnostics").as_string());
    }

    FixedClock clock_{kT0};
    std::unique_ptr<FhirService> service_;
    std::unique_ptr<Authenticator> authenticator_;
    std::unique_ptr<messaging::MessageService> messages_;
    access::GridStore grids_;
    http::Router router_;
    std::unique_ptr<http::Server> server_;
    std::unique_ptr<Client> client_;
    Person marie_, paul_, claire_, gp_, gp2_, pharma_;
};

TEST_P(MessageRoutesTest, AProfessionalWritesThePatientIsToldReadsAndReplies) {
    const std::string pid = marie_.patient_id;
    const std::string rx = Document(gp_, pid, "57833-6", "Ordonnance du 15 janvier");
    Reply started = Start(gp_, pid, "Vos résultats", "Bonjour,\nvoici votre ordonnance.", {rx});
    ASSERT_EQ(started.status, 201) << Describe(started);
    const json::value thread = started.Json();
    const std::string tid(thread.at("id").as_string());
    EXPECT_EQ(thread.at("subject"), "Vos résultats");
    EXPECT_EQ(thread.at("patient_name"), "Marie Martin");
    EXPECT_EQ(thread.at("professional").at("name"), "Grégoire Lebon");
    EXPECT_EQ(thread.at("messages").at(0).at("own"), true);
    EXPECT_EQ(thread.at("messages").at(0).at("attachments").at(0).at("category"), "42");

    // The holder is told "a new message", by e-mail (her choice by default) and in the app,
    // in the transaction of the message: nothing of the subject, the text or the sender.
    auto notices = Query(
        "SELECT channel, recipient, template, params FROM outbox WHERE template "
        "= 'new_message' ORDER BY channel");
    std::set<std::string> seen;
    for (const auto& n : notices) {
        seen.insert(store::AsText(n[0]) + " " + store::AsText(n[1]));
        const std::string params = store::AsText(n[3]);
        EXPECT_EQ(params.find("résultats"), std::string::npos) << params;
        EXPECT_EQ(params.find("Lebon"), std::string::npos) << params;
        EXPECT_EQ(params.find("ordonnance"), std::string::npos) << params;
    }
    EXPECT_TRUE(seen.contains("email marie@example.fr")) << notices.size();
    EXPECT_TRUE(seen.contains("inapp " + marie_.account_id)) << notices.size();
    EXPECT_FALSE(seen.contains("email claire@example.fr")) << "caregivers are not the holder";

    // Marie's list: one unread thread; the caregiver sees it too.
    EXPECT_EQ(Unread(marie_, "?patient=" + pid), 1);
    auto list = Threads(marie_, "?patient=" + pid);
    ASSERT_EQ(list.size(), 1U);
    EXPECT_EQ(list[0].at("unread"), 1);
    EXPECT_EQ(list[0].at("last_sender"), "professional");
    EXPECT_EQ(list[0].as_object().if_contains("messages")->as_int64(), 1);
    EXPECT_EQ(Threads(claire_, "?patient=" + pid).size(), 1U);

    // She opens it: the text as written, the prescription readable, and a receipt for him.
    Reply opened = Get("/messages/threads/" + tid, marie_);
    ASSERT_EQ(opened.status, 200) << Describe(opened);
    const json::value opened_json = opened.Json();
    const auto& m0 = opened_json.at("messages").at(0);
    EXPECT_EQ(m0.at("text"), "Bonjour,\nvoici votre ordonnance.");
    EXPECT_EQ(m0.at("own"), false);
    EXPECT_EQ(m0.at("sender").at("kind"), "professional");
    EXPECT_EQ(m0.at("attachments").at(0).at("available"), true);
    EXPECT_EQ(S(m0.at("attachments").at(0).at("id")), rx);
    EXPECT_EQ(m0.at("attachments").at(0).at("title"), "Ordonnance du 15 janvier");
    EXPECT_EQ(Unread(marie_, "?patient=" + pid), 0);
    clock_.AdvanceForTest(5LL * 60 * 1000000);
    Reply his = Get("/messages/threads/" + tid, gp_);
    ASSERT_EQ(his.status, 200) << Describe(his);
    EXPECT_EQ(his.Json().at("messages").at(0).at("read_at"), kT0) << "read by Marie at T0";

    // She replies; he is told (in the app and by e-mail) and has one unread message.
    Exec("DELETE FROM outbox");
    Reply reply = Send(marie_, tid, "Merci docteur.");
    ASSERT_EQ(reply.status, 201) << Describe(reply);
    EXPECT_EQ(reply.Json().at("seq"), 2);
    EXPECT_EQ(reply.Json().at("sender").at("name"), "Marie Martin");
    EXPECT_EQ(Count("SELECT COUNT(*) FROM outbox WHERE template = 'new_message' AND recipient = ?",
                    {gp_.account_id}),
              1);
    EXPECT_EQ(Count("SELECT COUNT(*) FROM outbox WHERE template = 'new_message' AND recipient = "
                    "'gp@example.fr'"),
              1);
    EXPECT_EQ(Unread(gp_, ""), 1);
    auto his_list = Threads(gp_, "");
    ASSERT_EQ(his_list.size(), 1U);
    EXPECT_EQ(his_list[0].at("patient_name"), "Marie Martin");
    EXPECT_EQ(his_list[0].at("last_sender"), "patient");
    // Her reply is unread until he opens the thread; then it carries his receipt.
    Reply mine = Get("/messages/threads/" + tid, marie_);
    EXPECT_TRUE(mine.Json().at("messages").at(1).at("read_at").is_null());
    ASSERT_EQ(Get("/messages/threads/" + tid, gp_).status, 200);
    mine = Get("/messages/threads/" + tid, marie_);
    EXPECT_EQ(mine.Json().at("messages").at(1).at("read_at"), clock_.NowMicros());

    // Every step is in Marie's log: the message, the reads, the reply.
    auto log = MessageLog();
    ASSERT_FALSE(log.empty());
    EXPECT_EQ(log[0], (std::vector<std::string>{"message", "allow", "allowed", gp_.account_id}));
    std::set<std::string> kinds;
    for (const auto& e : log) kinds.insert(e[0] + " " + e[1] + " " + e[3]);
    EXPECT_TRUE(kinds.contains("read allow " + marie_.account_id));
    EXPECT_TRUE(kinds.contains("message allow " + marie_.account_id));
    EXPECT_TRUE(kinds.contains("read allow " + gp_.account_id));
}

TEST_P(MessageRoutesTest, NobodyElseReachesAThreadAndEveryRefusalIsLogged) {
    const std::string pid = marie_.patient_id;
    Reply started = Start(gp_, pid, "Suivi", "Comment allez-vous ?");
    ASSERT_EQ(started.status, 201) << Describe(started);
    const std::string tid(started.Json().at("id").as_string());
    const Reply unknown = Get("/messages/threads/" + NewUuid(), pharma_);
    ASSERT_EQ(unknown.status, 404);

    // Another authorised GP knows the record: 403, the rule named; never the text.
    for (const Reply& r : {Get("/messages/threads/" + tid, gp2_), Send(gp2_, tid, "Moi aussi"),
                           Call("PUT", "/messages/threads/" + tid + "/archive", gp2_,
                                json::object{{"archived", true}})}) {
        EXPECT_EQ(r.status, 403) << Describe(r);
        EXPECT_EQ(Diagnostics(r).rfind("not-author", 0), 0U) << Diagnostics(r);
        EXPECT_EQ(r.body.find("Comment allez"), std::string::npos);
    }
    EXPECT_TRUE(Threads(gp2_, "").empty());
    EXPECT_TRUE(Threads(gp2_, "?patient=" + pid).empty());
    // A pharmacist without relation and another patient: exactly an unknown thread.
    for (const Person* who : {&pharma_, &paul_}) {
        Reply r = Get("/messages/threads/" + tid, *who);
        EXPECT_EQ(r.status, 404) << Describe(r);
        EXPECT_EQ(r.body, unknown.body);
        EXPECT_EQ(Send(*who, tid, "Bonjour").status, 404);
    }
    EXPECT_EQ(Get("/messages/threads?patient=" + pid, paul_).status, 404);
    EXPECT_EQ(Get("/messages/unread?patient=" + pid, paul_).status, 404);
    // Nor may they start one; and patients never start threads.
    EXPECT_EQ(Start(pharma_, pid, "Bonjour", "Bonjour").status, 404);
    Reply patient_start = Start(marie_, pid, "Question", "Bonjour");
    EXPECT_EQ(patient_start.status, 403) << Describe(patient_start);
    EXPECT_EQ(Start(gp_, "no-such-record", "Bonjour", "Bonjour").status, 404);
    // Operators never reach messages.
    Person admin = NewStaff("admin", "admin@carnet.test");
    EXPECT_EQ(Get("/messages/threads", admin).status, 403);

    // The caregiver reads and replies.
    EXPECT_EQ(Get("/messages/threads/" + tid, claire_).status, 200);
    EXPECT_EQ(Send(claire_, tid, "Je réponds pour Marie.").status, 201);

    // Blocked, the GP can neither write nor read his own thread, nor list it.
    ASSERT_EQ(Call("PUT", "/access/records/" + pid + "/professionals/" + gp_.account_id, marie_,
                   json::object{{"status", "blocked"}})
                  .status,
              404)
        << "the access routes are not mounted here: the relation is changed in the table";
    Exec(
        "UPDATE access_relations SET status = 'blocked' WHERE patient_id = ? AND "
        "professional_account = ?",
        {pid, gp_.account_id});
    Reply blocked = Send(gp_, tid, "Encore moi");
    EXPECT_EQ(blocked.status, 403) << Describe(blocked);
    EXPECT_EQ(Diagnostics(blocked).rfind("blocked", 0), 0U);
    EXPECT_EQ(Get("/messages/threads/" + tid, gp_).status, 403);
    EXPECT_TRUE(Threads(gp_, "").empty());
    EXPECT_EQ(Unread(gp_, ""), 0);
    EXPECT_EQ(Start(gp_, pid, "Nouveau", "Bonjour").status, 403);
    EXPECT_EQ(Count("SELECT COUNT(*) FROM messages WHERE patient_id = ?", {pid}), 2);

    // The refusals about Marie's record are in her log, with their rule.
    std::multiset<std::string> denied;
    for (const auto& e : MessageLog()) {
        if (e[1] == "deny") denied.insert(e[2] + " " + e[3]);
    }
    EXPECT_EQ(denied.count("not-author " + gp2_.account_id), 3U);
    EXPECT_GE(denied.count("no-basis " + pharma_.account_id), 3U);
    EXPECT_GE(denied.count("blocked " + gp_.account_id), 3U);
}

TEST_P(MessageRoutesTest, AttachmentsAreReadableDocumentsOfTheRecordOrNothingIsStored) {
    const std::string pid = marie_.patient_id;
    const std::string pauls = Document(paul_, paul_.patient_id, "11502-2", "Analyse de Paul");
    const std::string rx = Document(gp_, pid, "57833-6", "Ordonnance");
    auto nothing_stored = [&] {
        EXPECT_EQ(Count("SELECT COUNT(*) FROM message_threads"), 0);
        EXPECT_EQ(Count("SELECT COUNT(*) FROM messages"), 0);
        EXPECT_EQ(Count("SELECT COUNT(*) FROM blobs WHERE id LIKE 'thr:%' OR id LIKE 'msg:%'"), 0);
        EXPECT_EQ(Count("SELECT COUNT(*) FROM outbox WHERE template = 'new_message'"), 0);
    };
    // Another record's document, an unknown one: 422, the same words; nothing stored.
    Reply other = Start(gp_, pid, "Résultats", "Voici", {pauls});
    Reply missing = Start(gp_, pid, "Résultats", "Voici", {"no-such-doc"});
    EXPECT_EQ(other.status, 422) << Describe(other);
    EXPECT_EQ(missing.status, 422) << Describe(missing);
    EXPECT_EQ(Diagnostics(other).find("Analyse"), std::string::npos);
    nothing_stored();
    // Bad input: 400 with the field, nothing stored.
    const std::string long_text(messaging::kMaxText + 1, 'a');
    for (const Reply& r :
         {Start(gp_, pid, "Résultats", long_text), Start(gp_, pid, "Résultats", "  \n "),
          Start(gp_, pid, "Résultats", std::string("nul\x01") + "x"),
          Start(gp_, pid, std::string(messaging::kMaxSubject + 1, 's'), "Voici"),
          Start(gp_, pid, "", "Voici"), Start(gp_, pid, "Résultats", "Voici", {rx, rx}),
          Start(gp_, pid, "Résultats", "Voici", {"a", "b", "c", "d", "e", "f"}),
          Call("POST", "/messages/threads", gp_,
               json::object{{"patient", pid}, {"subject", "x"}, {"text", "y"}, {"html", "z"}}),
          Call("POST", "/messages/threads", gp_, json::object{{"patient", pid}, {"text", "y"}})}) {
        EXPECT_EQ(r.status, 400) << Describe(r);
        EXPECT_TRUE(r.IsOperationOutcome());
    }
    // Exactly at the limits: accepted (10 000 characters of two bytes each).
    std::string at_limit;
    for (size_t i = 0; i < messaging::kMaxText; ++i) at_limit += "é";
    Reply ok = Start(gp_, pid, std::string(messaging::kMaxSubject, 's'), at_limit, {rx});
    ASSERT_EQ(ok.status, 201) << Describe(ok);
    const std::string tid(ok.Json().at("id").as_string());

    // Marie replies with a document of her own, then masks it: the GP (not her médecin
    // traitant) sees that an attachment is there, and nothing about it.
    const std::string hers = Document(marie_, pid, "11502-2", "Ma prise de sang secrète");
    ASSERT_EQ(Send(marie_, tid, "Voici mes analyses", {hers}).status, 201);
    Reply before = Get("/messages/threads/" + tid, gp_);
    EXPECT_EQ(before.Json().at("messages").at(1).at("attachments").at(0).at("available"), true);
    Exec(
        "INSERT INTO access_flags(patient_id, type, id, author_account, author_kind, masked, "
        "hidden_until, hidden_repr, created_at) VALUES (?, 'DocumentReference', ?, ?, "
        "'patient', 1, 0, 0, ?) ON CONFLICT(patient_id, type, id) DO UPDATE SET masked = 1",
        {pid, hers, marie_.account_id, kT0});
    Reply after = Get("/messages/threads/" + tid, gp_);
    ASSERT_EQ(after.status, 200) << Describe(after);
    const json::value after_json = after.Json();
    const auto& att = after_json.at("messages").at(1).at("attachments").at(0).as_object();
    EXPECT_EQ(att.at("available"), false);
    EXPECT_EQ(att.size(), 1U) << json::serialize(att);
    EXPECT_EQ(after.body.find("secrète"), std::string::npos);
    EXPECT_EQ(after.body.find(hers), std::string::npos);
    // Nor may he forward what he cannot read.
    EXPECT_EQ(Send(gp_, tid, "Je transfère", {hers}).status, 422);
}

TEST_P(MessageRoutesTest, TextsAreSealedAtRestAndComeBackExactlyAsWritten) {
    const std::string pid = marie_.patient_id;
    const std::vector<std::string> vectors = {"<script>alert(1)</script>",
                                              "<img src=x onerror=alert(1)>",
                                              "<svg onload=alert(1)>",
                                              "\"><iframe src=javascript:alert(1)>",
                                              "<a href=\"javascript:alert(1)\">x</a>",
                                              "{{constructor.constructor('alert(1)')()}}",
                                              "<style>*{display:none}</style>",
                                              "Ligne 1\r\nLigne 2\ttabulée & « guillemets » — 😀"};
    const std::string marker = "MARQUEUR-SECRET-4242";
    Reply started = Start(gp_, pid, "Sujet " + marker, "Texte " + marker);
    ASSERT_EQ(started.status, 201) << Describe(started);
    const std::string tid(started.Json().at("id").as_string());
    for (const auto& v : vectors) ASSERT_EQ(Send(marie_, tid, v).status, 201) << v;
    Reply opened = Get("/messages/threads/" + tid, gp_);
    ASSERT_EQ(opened.status, 200);
    EXPECT_NE(opened.Header("content-type").find("application/json"), std::string::npos);
    const json::value opened_json = opened.Json();
    const auto& items = opened_json.at("messages").as_array();
    ASSERT_EQ(items.size(), vectors.size() + 1);
    for (size_t i = 0; i < vectors.size(); ++i) EXPECT_EQ(S(items[i + 1].at("text")), vectors[i]);

    // No row of any table holds the subject or the text in clear.
    for (const char* table : {"message_threads", "messages", "message_marks", "blobs",
                              "blob_chunks", "outbox", "inbox", "audit_log"}) {
        for (const auto& row : Query(std::string("SELECT * FROM ") + table)) {
            for (const auto& v : row) {
                if (const auto* s = std::get_if<std::string>(&v)) {
                    EXPECT_EQ(s->find(marker), std::string::npos) << table;
                    EXPECT_EQ(s->find("onerror"), std::string::npos) << table;
                }
            }
        }
    }
}

TEST_P(MessageRoutesTest, ArchivingIsPerPersonAndANewMessageBringsTheThreadBack) {
    const std::string pid = marie_.patient_id;
    Reply started = Start(gp_, pid, "Suivi", "Bonjour");
    ASSERT_EQ(started.status, 201);
    const std::string tid(started.Json().at("id").as_string());
    Reply archived = Call("PUT", "/messages/threads/" + tid + "/archive", marie_,
                          json::object{{"archived", true}});
    EXPECT_EQ(archived.status, 204) << Describe(archived);
    EXPECT_TRUE(Threads(marie_, "?patient=" + pid).empty());
    ASSERT_EQ(Threads(marie_, "?patient=" + pid + "&archived=1").size(), 1U);
    EXPECT_EQ(Threads(claire_, "?patient=" + pid).size(), 1U) << "her caregiver's view is hers";
    EXPECT_EQ(Threads(gp_, "").size(), 1U);
    EXPECT_EQ(Call("PUT", "/messages/threads/" + tid + "/archive", marie_,
                   json::object{{"archived", "yes"}})
                  .status,
              400);
    // The GP writes again: the thread is back in her list, unread.
    ASSERT_EQ(Send(gp_, tid, "Avez-vous pu faire la prise de sang ?").status, 201);
    auto list = Threads(marie_, "?patient=" + pid);
    ASSERT_EQ(list.size(), 1U);
    EXPECT_EQ(list[0].at("archived"), false);
    EXPECT_EQ(list[0].at("unread"), 2);
    EXPECT_EQ(Get("/messages/threads?archived=2&patient=" + pid, marie_).status, 400);
    EXPECT_EQ(Get("/messages/threads", marie_).status, 400) << "the holder side names its record";
}

TEST_P(MessageRoutesTest, TheFhirViewShowsMessagesAsCommunications) {
    const std::string pid = marie_.patient_id;
    const std::string rx = Document(gp_, pid, "57833-6", "Ordonnance");
    Reply started = Start(gp_, pid, "Ordonnance", "Voici l'ordonnance.", {rx});
    ASSERT_EQ(started.status, 201);
    const std::string tid(started.Json().at("id").as_string());
    const std::string first(started.Json().at("messages").at(0).at("id").as_string());
    ASSERT_EQ(Get("/messages/threads/" + tid, marie_).status, 200);
    Reply reply = Send(marie_, tid, "Merci.");
    ASSERT_EQ(reply.status, 201);
    const std::string second(reply.Json().at("id").as_string());

    Reply bundle = Get("/fhir/Communication?patient=" + pid, marie_);
    ASSERT_EQ(bundle.status, 200) << Describe(bundle);
    const json::value b = bundle.Json();
    EXPECT_EQ(b.at("type"), "searchset");
    ASSERT_EQ(b.at("total"), 2);
    const auto& c1 = b.at("entry").at(0).at("resource").as_object();
    const auto& c2 = b.at("entry").at(1).at("resource").as_object();
    EXPECT_TRUE(FhirService::CheckResource("Communication", c1).ok());
    EXPECT_TRUE(FhirService::CheckResource("Communication", c2).ok());
    EXPECT_EQ(S(c1.at("id")), first);
    EXPECT_EQ(c1.at("status"), "completed");
    EXPECT_EQ(S(c1.at("subject").at("reference")), "Patient/" + pid);
    EXPECT_EQ(c1.at("topic").at("text"), "Ordonnance");
    EXPECT_EQ(c1.at("payload").at(0).at("contentString"), "Voici l'ordonnance.");
    EXPECT_EQ(S(c1.at("payload").at(1).at("contentReference").at("reference")),
              "DocumentReference/" + rx);
    EXPECT_EQ(c1.at("sender").at("display"), "Grégoire Lebon");
    EXPECT_TRUE(c1.contains("received")) << "Marie read it";
    EXPECT_EQ(S(c2.at("inResponseTo").at(0).at("reference")), "Communication/" + first);
    EXPECT_EQ(S(c2.at("sender").at("reference")), "Patient/" + pid);
    EXPECT_EQ(S(c2.at("identifier").at(0).at("value")), tid);

    // One message by id: its author and the holder; the other GP and strangers get nothing.
    Reply one = Get("/fhir/Communication/" + second, gp_);
    ASSERT_EQ(one.status, 200) << Describe(one);
    EXPECT_EQ(S(one.Json().at("inResponseTo").at(0).at("reference")), "Communication/" + first);
    const Reply unknown = Get("/fhir/Communication/" + NewUuid(), gp2_);
    EXPECT_EQ(unknown.status, 404);
    for (const Person* who : {&gp2_, &pharma_, &paul_}) {
        Reply r = Get("/fhir/Communication/" + second, *who);
        EXPECT_EQ(r.status, 404) << Describe(r);
        Reply s = Get("/fhir/Communication?patient=" + pid, *who);
        EXPECT_EQ(s.status, 200) << Describe(s);
        EXPECT_EQ(s.Json().at("total"), 0);
        EXPECT_EQ(s.body.find("Merci"), std::string::npos);
    }
    // Read only: messages are sent through /messages.
    EXPECT_EQ(client_->Post("/fhir/Communication", json::serialize(c1), As(gp_)).status, 405);
    EXPECT_EQ(client_->Put("/fhir/Communication/" + first, json::serialize(c1), As(gp_)).status,
              405);
    EXPECT_EQ(Get("/fhir/Communication?patient=" + pid + "&category=x", marie_).status, 400);
    // Nor through a Bundle, where it would become an ordinary resource beside the view: the
    // transaction is refused whole, and a batch refuses that entry.
    json::object forged = c1;
    forged.erase("id");
    forged["payload"] = json::array{json::object{{"contentString", "FORGED-MESSAGE"}}};
    const json::object note{{"resourceType", "Observation"},
                            {"status", "final"},
                            {"code", json::object{{"text", "Tabac"}}},
                            {"subject", json::object{{"reference", "Patient/" + pid}}},
                            {"valueString", "non"}};
    for (const std::string type : {"transaction", "batch"}) {
        json::object posted{
            {"resourceType", "Bundle"},
            {"type", type},
            {"entry",
             json::array{json::object{
                             {"resource", note},
                             {"request", json::object{{"method", "POST"}, {"url", "Observation"}}}},
                         json::object{{"resource", forged},
                                      {"request", json::object{{"method", "POST"},
                                                               {"url", "Communication"}}}}}}};
        Reply r = client_->Post("/fhir", json::serialize(posted), As(gp_));
        if (type == "transaction") {
            EXPECT_EQ(r.status, 405) << Describe(r);
            EXPECT_TRUE(r.IsOperationOutcome());
            EXPECT_EQ(Count("SELECT COUNT(*) FROM resources WHERE type = 'Observation'"), 0);
        } else {
            ASSERT_EQ(r.status, 200) << Describe(r);
            const json::value answer = r.Json();
            const auto& entries = answer.at("entry").as_array();
            ASSERT_EQ(entries.size(), 2U);
            EXPECT_EQ(S(entries[0].at("response").at("status")).substr(0, 3), "201");
            EXPECT_EQ(S(entries[1].at("response").at("status")).substr(0, 3), "405");
        }
    }
    EXPECT_EQ(Count("SELECT COUNT(*) FROM resources WHERE type = 'Communication'"), 0);
    EXPECT_EQ(Get("/fhir/Communication?patient=" + pid, marie_).body.find("FORGED-MESSAGE"),
              std::string::npos);
}

INSTANTIATE_TEST_SUITE_P(Engines, MessageRoutesTest, ::testing::Values("sqlite", "postgres"),
                         [](const auto& p) { return p.param; });

}  // namespace
}  // namespace carnet::api::testing
