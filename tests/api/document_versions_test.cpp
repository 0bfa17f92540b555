// Issue 5, documents' versions: a DocumentReference that `relatesTo` replaces another makes
// the old one "superseded" in the same transaction (only the old one's author may), the
// author retracts ("entered-in-error"), and the lists — the holder's
// (GET /access/records/{pid}/documents) and everybody's (GET /records/{pid}/documents) — say
// each document's status and link its versions; a professional's list leaves out what the
// grid or the patient's masking refuses and says only that something was left out. With the
// stack `carnet serve` builds, on both engines.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "access/context.hpp"
#include "access/service.hpp"
#include "api/access_routes.hpp"
#include "api/auth_routes.hpp"
#include "api_harness.hpp"
#include "auth/service.hpp"
#include "crypto/crypto.hpp"
#include "people.hpp"

namespace carnet::api::testing {
namespace {

constexpr int64_t kT0 = 1'800'000'000'000'000;  // 2027-01-15
constexpr const char* kPortal = "http://portal/";

class DocumentVersionsTest : public ::testing::TestWithParam<std::string>, protected PeopleFixture {
  protected:
    void SetUp() override {
        crypto::Init();
        spdlog::set_level(spdlog::level::warn);
        if (GetParam() == "postgres" && !PgDsn()) GTEST_SKIP() << "CARNET_TEST_PG not set";
        ASSERT_NO_FATAL_FAILURE(
            OpenCleanStore(GetParam(), "carnet-docversions-", kIdentityAndAccessTables));
        service_ = std::make_unique<FhirService>(*store_, clock_);
        service_->SetWriteGate(auth::CheckRecordWritable);
        service_->SetAccess(AccessConfig{&grids_, kPortal});
        StartAuth(clock_);
        authenticator_ = std::make_unique<Authenticator>(*auth_, AuthRouteOptions{});
        access_ = std::make_unique<access::AccessService>(*store_, clock_, grids_,
                                                          std::string(32, 'k'), kPortal);
        RegisterAuthRoutes(router_, *authenticator_, *store_, clock_, service_.get());
        RegisterAccessRoutes(router_, *authenticator_, *access_);
        ApiOptions api;
        api.identify = [this](http::Request& req) { return IdentifyContent(*authenticator_, req); };
        RegisterFhirRoutes(router_, *service_, api);
        server_ = std::make_unique<http::Server>(ApiServer::DefaultServerOptions(), router_);
        ASSERT_TRUE(server_->Start().ok());
        client_ = std::make_unique<Client>(server_->Port());

        marie_ = NewPatient("2850575123456", "Marie", "Martin", "1985-05-12", "marie@example.fr");
        paul_ = NewPatient("1790175123456", "Paul", "Durand", "1979-01-20", "paul@example.fr");
        gp_ = NewPro("1000000001", "Grégoire", "Lebon", "medecin", "Médecine générale",
                     "gp@example.fr");
        gp2_ = NewPro("1000000002", "Hélène", "Roux", "medecin", "Médecine générale",
                      "gp2@example.fr");
        kine_ = NewPro("1000000003", "Karine", "Moreau", "masseur-kinesitherapeute", "",
                       "kine@example.fr");
        pharma_ = NewPro("1000000004", "Luc", "Petit", "pharmacien", "", "pharma@example.fr");
        // Marie authorised both doctors and her physiotherapist; the pharmacist has no
        // relation with her. The GP is Paul's doctor too.
        for (const Person* p : {&gp_, &gp2_, &kine_}) Authorise(marie_.patient_id, *p, kT0);
        Authorise(paul_.patient_id, gp_, kT0);
    }

    void TearDown() override {
        if (server_) server_->Stop();
        server_.reset();
        CloseStore();
    }

    Headers As(const Person& who) const { return {{"Authorization", "Bearer " + who.token}}; }

    /// A DocumentReference of `patient`'s record (LOINC `code`), optionally replacing `old`.
    static json::object Doc(const Person& patient, const std::string& title,
                            const std::string& code = "11488-4", const std::string& old = {}) {
        json::object d{
            {"resourceType", "DocumentReference"},
            {"status", "current"},
            {"type",
             json::object{{"coding", json::array{json::object{{"system", "http://loinc.org"},
                                                              {"code", code}}}}}},
            {"subject", json::object{{"reference", "Patient/" + patient.patient_id}}},
            {"date", "2027-01-10T12:00:00Z"},
            {"description", title},
            {"content", json::array{json::object{
                            {"attachment", json::object{{"contentType", "text/plain"}}}}}}};
        if (!old.empty()) {
            d["relatesTo"] = json::array{
                json::object{{"code", "replaces"},
                             {"target", json::object{{"reference", "DocumentReference/" + old}}}}};
        }
        return d;
    }

    /// Creates a document; its id ("" on failure, with the assertion's message).
    std::string Create(const Person& who, const json::object& doc) {
        Reply r = client_->Post("/fhir/DocumentReference", json::serialize(doc), As(who));
        EXPECT_EQ(r.status, 201) << Describe(r);
        if (r.status != 201) return {};
        return std::string(r.Json().at("id").as_string());
    }

    /// A new version as the portal sends it: one transaction with the new document (which
    /// replaces `old`) and its content.
    Reply ReplaceInBundle(const Person& who, const Person& patient, const std::string& old,
                          const std::string& title) {
        const std::string doc_urn = "urn:uuid:" + NewUuid();
        const std::string bin_urn = "urn:uuid:" + NewUuid();
        json::object doc = Doc(patient, title, "11488-4", old);
        doc["content"] = json::array{json::object{
            {"attachment", json::object{{"contentType", "text/plain"}, {"url", bin_urn}}}}};
        json::object bundle{
            {"resourceType", "Bundle"},
            {"type", "transaction"},
            {"entry",
             json::array{
                 json::object{
                     {"fullUrl", doc_urn},
                     {"resource", doc},
                     {"request", json::object{{"method", "POST"}, {"url", "DocumentReference"}}}},
                 json::object{
                     {"fullUrl", bin_urn},
                     {"resource",
                      json::object{{"resourceType", "Binary"},
                                   {"contentType", "text/plain"},
                                   {"securityContext", json::object{{"reference", doc_urn}}},
                                   {"data", crypto::Base64Encode("Compte rendu, version 2")}}},
                     {"request", json::object{{"method", "POST"}, {"url", "Binary"}}}}}}};
        return client_->Post("/fhir", json::serialize(bundle), As(who));
    }

    json::value Read(const Person& who, const std::string& id) {
        Reply r = client_->Get("/fhir/DocumentReference/" + id, As(who));
        EXPECT_EQ(r.status, 200) << Describe(r);
        return r.Json();
    }
    Reply Retract(const Person& who, const Person& patient, const std::string& id) {
        return client_->Send(
            "POST", "/records/" + patient.patient_id + "/documents/" + id + "/retract", As(who));
    }
    Reply List(const Person& who, const Person& patient) {
        return client_->Get("/records/" + patient.patient_id + "/documents", As(who));
    }
    Reply HolderList(const Person& who, const Person& patient) {
        return client_->Get("/access/records/" + patient.patient_id + "/documents", As(who));
    }
    /// The item for `id` in a list's documents (null when it is not listed).
    static json::value Item(const json::array& docs, const std::string& id) {
        for (const auto& d : docs) {
            if (d.at("id") == json::value(id)) return d;
        }
        return nullptr;
    }
    int64_t Documents() {
        return Count("SELECT COUNT(*) FROM resources WHERE type = 'DocumentReference'");
    }
    int64_t VersionsOf(const std::string& id) {
        return Count("SELECT COUNT(*) FROM versions WHERE type = 'DocumentReference' AND id = ?",
                     {id});
    }

    FixedClock clock_{kT0};
    std::unique_ptr<FhirService> service_;
    std::unique_ptr<Authenticator> authenticator_;
    std::unique_ptr<access::AccessService> access_;
    access::GridStore grids_;
    http::Router router_;
    std::unique_ptr<http::Server> server_;
    std::unique_ptr<Client> client_;
    Person marie_, paul_, gp_, gp2_, kine_, pharma_;
};

TEST_P(DocumentVersionsTest, AReplacementSupersedesTheOldVersionInOneTransaction) {
    const std::string a = Create(gp_, Doc(marie_, "Compte rendu v1"));
    ASSERT_FALSE(a.empty());
    const int64_t provenances = Count("SELECT COUNT(*) FROM resources WHERE type = 'Provenance'");

    Reply r = ReplaceInBundle(gp_, marie_, a, "Compte rendu v2");
    ASSERT_EQ(r.status, 200) << Describe(r);
    std::string b;
    const json::value answer = r.Json();
    for (const auto& e : answer.at("entry").as_array()) {
        const std::string loc(e.at("response").at("location").as_string());
        if (loc.rfind("DocumentReference/", 0) == 0) b = loc.substr(18, loc.find('/', 18) - 18);
    }
    ASSERT_FALSE(b.empty());
    const json::value old = Read(marie_, a);
    EXPECT_EQ(old.at("status"), "superseded");
    EXPECT_EQ(old.at("meta").at("versionId"), "2");
    EXPECT_EQ(old.at("description"), "Compte rendu v1") << "only its status changed";
    EXPECT_EQ(Read(marie_, b).at("status"), "current");
    // Each new version has its Provenance: the new document's and the old one's.
    EXPECT_EQ(Count("SELECT COUNT(*) FROM resources WHERE type = 'Provenance'"), provenances + 2);
    // The old version stays readable: vread and history.
    Reply v1 = client_->Get("/fhir/DocumentReference/" + a + "/_history/1", As(marie_));
    ASSERT_EQ(v1.status, 200) << Describe(v1);
    EXPECT_EQ(v1.Json().at("status"), "current");
    Reply hist = client_->Get("/fhir/DocumentReference/" + a + "/_history", As(gp_));
    ASSERT_EQ(hist.status, 200) << Describe(hist);
    EXPECT_EQ(hist.Json().at("entry").as_array().size(), 2U);
    // The update of the old one is in Marie's access log, as the GP's.
    EXPECT_EQ(Count("SELECT COUNT(*) FROM audit_log WHERE patient_id = ? AND resource_id = ? AND "
                    "action = 'update' AND outcome = 'allow'",
                    {marie_.patient_id, a}),
              1);

    // A plain POST replaces too; a superseded document cannot be replaced again.
    const std::string c = Create(gp_, Doc(marie_, "Compte rendu v3", "11488-4", b));
    ASSERT_FALSE(c.empty());
    EXPECT_EQ(Read(gp_, b).at("status"), "superseded");
    const int64_t docs = Documents();
    Reply again = client_->Post("/fhir/DocumentReference",
                                json::serialize(Doc(marie_, "Bis", "11488-4", a)), As(gp_));
    EXPECT_EQ(again.status, 422) << Describe(again);
    EXPECT_TRUE(again.IsOperationOutcome());
    EXPECT_EQ(Documents(), docs) << "the new document is not stored";
    EXPECT_EQ(VersionsOf(a), 2);
}

TEST_P(DocumentVersionsTest, ReplacingWhatOneMayNotChangeIsRefusedAndNothingIsStored) {
    const std::string a = Create(gp_, Doc(marie_, "Compte rendu du Dr Lebon"));
    const std::string pauls = Create(gp_, Doc(paul_, "Compte rendu de Paul"));
    ASSERT_FALSE(a.empty());
    ASSERT_FALSE(pauls.empty());
    const int64_t docs = Documents();
    const int64_t binaries = Count("SELECT COUNT(*) FROM resources WHERE type = 'Binary'");
    // Another doctor, and the patient herself: they see it, they did not write it.
    for (const Person* who : {&gp2_, &marie_}) {
        Reply r = ReplaceInBundle(*who, marie_, a, "Autre version");
        EXPECT_EQ(r.status, 403) << Describe(r);
        Reply plain = client_->Post("/fhir/DocumentReference",
                                    json::serialize(Doc(marie_, "Autre", "11488-4", a)), As(*who));
        EXPECT_EQ(plain.status, 403) << Describe(plain);
    }
    // Someone who cannot open the record: as if it did not exist.
    Reply stranger = ReplaceInBundle(pharma_, marie_, a, "Autre version");
    EXPECT_EQ(stranger.status, 404) << Describe(stranger);
    // Not a document of this record, no such document, not a DocumentReference: 422.
    for (const std::string& target : {pauls, NewUuid()}) {
        Reply r = client_->Post("/fhir/DocumentReference",
                                json::serialize(Doc(marie_, "Mauvaise cible", "11488-4", target)),
                                As(gp_));
        EXPECT_EQ(r.status, 422) << Describe(r);
    }
    json::object odd = Doc(marie_, "Mauvaise cible");
    odd["relatesTo"] = json::array{json::object{
        {"code", "replaces"}, {"target", json::object{{"reference", "Patient/" + a}}}}};
    EXPECT_EQ(client_->Post("/fhir/DocumentReference", json::serialize(odd), As(gp_)).status, 422);

    EXPECT_EQ(Documents(), docs) << "no new document";
    EXPECT_EQ(Count("SELECT COUNT(*) FROM resources WHERE type = 'Binary'"), binaries)
        << "nor its content";
    EXPECT_EQ(VersionsOf(a), 1) << "the old one unchanged";
    EXPECT_EQ(VersionsOf(pauls), 1);
    EXPECT_EQ(Read(marie_, a).at("status"), "current");
    // The refusals are logged.
    EXPECT_GE(Count("SELECT COUNT(*) FROM audit_log WHERE patient_id = ? AND resource_id = ? AND "
                    "action = 'update' AND outcome = 'deny'",
                    {marie_.patient_id, a}),
              2);
}

TEST_P(DocumentVersionsTest, OnlyTheAuthorRetractsAndTheRetractedLeavesEveryOtherList) {
    const std::string a = Create(gp_, Doc(marie_, "Ordonnance erronée", "57833-6"));
    const std::string keep = Create(gp_, Doc(marie_, "Ordonnance juste", "57833-6"));
    ASSERT_FALSE(a.empty());
    EXPECT_EQ(Retract(marie_, marie_, a).status, 403);
    EXPECT_EQ(Retract(gp2_, marie_, a).status, 403);
    EXPECT_EQ(Retract(pharma_, marie_, a).status, 404);
    EXPECT_EQ(Retract(gp_, paul_, a).status, 404) << "not a document of Paul's record";
    EXPECT_EQ(VersionsOf(a), 1);
    // Through FHIR too, the patient cannot.
    json::value body = Read(marie_, a);
    body.as_object()["status"] = "entered-in-error";
    body.as_object().erase("meta");
    EXPECT_EQ(
        client_->Put("/fhir/DocumentReference/" + a, json::serialize(body), As(marie_)).status,
        403);

    Reply ok = Retract(gp_, marie_, a);
    ASSERT_EQ(ok.status, 200) << Describe(ok);
    EXPECT_EQ(ok.Json().at("changed"), true);
    EXPECT_EQ(Retract(gp_, marie_, a).Json().at("changed"), false) << "once is enough";
    EXPECT_EQ(Read(gp_, a).at("status"), "entered-in-error");
    EXPECT_EQ(VersionsOf(a), 2) << "it stays in history";

    // The author sees it, marked; nobody else lists it.
    Reply mine = List(gp_, marie_);
    ASSERT_EQ(mine.status, 200) << Describe(mine);
    const json::value item = Item(mine.Json().at("documents").as_array(), a);
    ASSERT_TRUE(item.is_object()) << Describe(mine);
    EXPECT_EQ(item.at("status"), "entered-in-error");
    EXPECT_EQ(item.at("own"), true);
    for (const Person* who : {&gp2_, &marie_}) {
        Reply r = List(*who, marie_);
        ASSERT_EQ(r.status, 200) << Describe(r);
        EXPECT_TRUE(Item(r.Json().at("documents").as_array(), a).is_null());
        EXPECT_TRUE(Item(r.Json().at("documents").as_array(), keep).is_object());
        EXPECT_EQ(r.Json().at("withheld"), false) << "a retraction is not something hidden";
    }
    Reply holder = HolderList(marie_, marie_);
    ASSERT_EQ(holder.status, 200) << Describe(holder);
    EXPECT_TRUE(Item(holder.Json().as_array(), a).is_null());
    EXPECT_TRUE(Item(holder.Json().as_array(), keep).is_object());
}

TEST_P(DocumentVersionsTest, AWithdrawnReplacementGivesBackTheDocumentItReplaced) {
    // The GP replaces his report, then finds the new version was a mistake and retracts it:
    // the report it displaced is the record's current one again.
    const std::string a = Create(gp_, Doc(marie_, "Compte rendu v1"));
    const std::string b = Create(gp_, Doc(marie_, "Compte rendu v2 (erreur)", "11488-4", a));
    ASSERT_FALSE(b.empty());
    ASSERT_EQ(Read(gp_, a).at("status"), "superseded");
    // Someone else's attempt changes nothing.
    EXPECT_EQ(Retract(gp2_, marie_, b).status, 403);
    EXPECT_EQ(Read(gp_, a).at("status"), "superseded");
    EXPECT_EQ(VersionsOf(a), 2);

    Reply ok = Retract(gp_, marie_, b);
    ASSERT_EQ(ok.status, 200) << Describe(ok);
    EXPECT_EQ(Read(gp_, b).at("status"), "entered-in-error");
    const json::value back = Read(marie_, a);
    EXPECT_EQ(back.at("status"), "current");
    EXPECT_EQ(back.at("meta").at("versionId"), "3") << "a new version, history kept";
    EXPECT_EQ(back.at("description"), "Compte rendu v1");
    EXPECT_EQ(Count("SELECT COUNT(*) FROM audit_log WHERE patient_id = ? AND resource_id = ? AND "
                    "action = 'update' AND outcome = 'allow'",
                    {marie_.patient_id, a}),
              2)
        << "superseded, then restored: each an update in her log";
    Reply list = List(marie_, marie_);
    ASSERT_EQ(list.status, 200) << Describe(list);
    const json::value item = Item(list.Json().at("documents").as_array(), a);
    ASSERT_TRUE(item.is_object()) << Describe(list);
    EXPECT_EQ(item.at("status"), "current");
    EXPECT_TRUE(Item(list.Json().at("documents").as_array(), b).is_null());
    // Retracting again is no change, for either.
    EXPECT_EQ(Retract(gp_, marie_, b).Json().at("changed"), false);
    EXPECT_EQ(VersionsOf(a), 3);

    // Only a current replacement gives back: in a → c → d, retracting c (already replaced by
    // d) leaves a superseded, since d is the current version.
    const std::string c = Create(gp_, Doc(marie_, "Compte rendu v2", "11488-4", a));
    const std::string d = Create(gp_, Doc(marie_, "Compte rendu v3", "11488-4", c));
    ASSERT_FALSE(d.empty());
    ASSERT_EQ(Retract(gp_, marie_, c).status, 200);
    EXPECT_EQ(Read(gp_, a).at("status"), "superseded");
    EXPECT_EQ(Read(gp_, d).at("status"), "current");

    // The patient deletes her own replacement: her first upload comes back.
    const std::string m1 = Create(marie_, Doc(marie_, "Ma radio"));
    const std::string m2 = Create(marie_, Doc(marie_, "Ma radio (mauvais fichier)", "11488-4", m1));
    ASSERT_FALSE(m2.empty());
    ASSERT_EQ(Read(marie_, m1).at("status"), "superseded");
    Reply gone = client_->Send("DELETE", "/fhir/DocumentReference/" + m2, As(marie_));
    ASSERT_EQ(gone.status, 204) << Describe(gone);
    EXPECT_EQ(Read(marie_, m1).at("status"), "current");
}

TEST_P(DocumentVersionsTest, ListsSayEachStatusAndLinkTheVersions) {
    const std::string a = Create(marie_, Doc(marie_, "Ma radio"));
    ASSERT_FALSE(a.empty());
    // The patient replaces her own upload.
    Reply r = ReplaceInBundle(marie_, marie_, a, "Ma radio, mieux scannée");
    ASSERT_EQ(r.status, 200) << Describe(r);
    std::string b;
    const json::value answer = r.Json();
    for (const auto& e : answer.at("entry").as_array()) {
        const std::string loc(e.at("response").at("location").as_string());
        if (loc.rfind("DocumentReference/", 0) == 0) b = loc.substr(18, loc.find('/', 18) - 18);
    }
    ASSERT_FALSE(b.empty());
    auto check = [&](const json::array& docs) {
        const json::value old = Item(docs, a), cur = Item(docs, b);
        ASSERT_TRUE(old.is_object());
        ASSERT_TRUE(cur.is_object());
        EXPECT_EQ(old.at("status"), "superseded");
        EXPECT_EQ(old.at("replaced_by"), json::value(b));
        EXPECT_EQ(old.at("replaces"), "");
        EXPECT_EQ(cur.at("status"), "current");
        EXPECT_EQ(cur.at("replaces"), json::value(a));
        EXPECT_EQ(cur.at("replaced_by"), "");
        EXPECT_EQ(cur.at("own"), true);
        EXPECT_FALSE(cur.at("binary_id").as_string().empty());
    };
    Reply holder = HolderList(marie_, marie_);
    ASSERT_EQ(holder.status, 200) << Describe(holder);
    check(holder.Json().as_array());
    Reply list = List(marie_, marie_);
    ASSERT_EQ(list.status, 200) << Describe(list);
    check(list.Json().at("documents").as_array());
    EXPECT_EQ(list.Json().at("can_deposit"), true);
}

TEST_P(DocumentVersionsTest, AProfessionalsListLeavesOutWhatIsRefusedWithoutSayingWhat) {
    // A dispensation (class 43, N for physiotherapists) and a report Marie masks.
    const std::string dispensed = Create(gp_, Doc(marie_, "Délivrance MARKER-GRID-43", "60593-1"));
    const std::string masked = Create(gp2_, Doc(marie_, "Consultation MARKER-MASKED"));
    const std::string plain = Create(gp_, Doc(marie_, "Bilan de kinésithérapie"));
    ASSERT_FALSE(masked.empty());
    Headers json_as_marie = As(marie_);
    json_as_marie.emplace_back("Content-Type", "application/json");
    Reply m = client_->Send(
        "PUT", "/access/records/" + marie_.patient_id + "/documents/DocumentReference/" + masked,
        json_as_marie, R"({"masked":true})");
    ASSERT_EQ(m.status, 204) << Describe(m);

    Reply kine = List(kine_, marie_);
    ASSERT_EQ(kine.status, 200) << Describe(kine);
    const json::value view = kine.Json();
    EXPECT_EQ(view.at("withheld"), true);
    EXPECT_EQ(view.at("documents").as_array().size(), 1U);
    EXPECT_TRUE(Item(view.at("documents").as_array(), plain).is_object());
    for (const std::string& hidden :
         {std::string("MARKER-GRID-43"), std::string("MARKER-MASKED"), dispensed, masked}) {
        EXPECT_EQ(kine.body.find(hidden), std::string::npos) << hidden;
    }
    // The pharmacist has no relation with Marie: the answer for a record that does not exist.
    Reply stranger = List(pharma_, marie_);
    EXPECT_EQ(stranger.status, 404) << Describe(stranger);
    EXPECT_EQ(stranger.body.find("MARKER"), std::string::npos);
    EXPECT_EQ(List(gp_, paul_).status, 200);
    EXPECT_EQ(List(kine_, paul_).status, 404);
    // The GP (author of the dispensation, médecin) sees all but the masked one; its author
    // sees it. Marie sees everything, and is never told of anything withheld.
    Reply gp = List(gp_, marie_);
    ASSERT_EQ(gp.status, 200);
    EXPECT_TRUE(Item(gp.Json().at("documents").as_array(), dispensed).is_object());
    Reply gp2 = List(gp2_, marie_);
    ASSERT_EQ(gp2.status, 200);
    EXPECT_TRUE(Item(gp2.Json().at("documents").as_array(), masked).is_object());
    Reply marie = List(marie_, marie_);
    ASSERT_EQ(marie.status, 200);
    EXPECT_EQ(marie.Json().at("documents").as_array().size(), 3U);
    EXPECT_EQ(marie.Json().at("withheld"), false);
    // The list is a read of the record, named in the log, and its documents are counted.
    EXPECT_GE(Count("SELECT COUNT(*) FROM audit_log WHERE patient_id = ? AND actor_account = ? "
                    "AND action = 'read' AND outcome = 'allow'",
                    {marie_.patient_id, kine_.account_id}),
              1);
}

INSTANTIATE_TEST_SUITE_P(Engines, DocumentVersionsTest, ::testing::Values("sqlite", "postgres"),
                         [](const ::testing::TestParamInfo<std::string>& p) { return p.param; });

}  // namespace
}  // namespace carnet::api::testing
