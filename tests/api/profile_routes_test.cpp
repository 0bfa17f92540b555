// Issue 5, the medical profile (docs/PROFILE.md) with the stack `carnet serve` builds (access
// decision, write gate, the identity routes), on both engines: every section's resource goes
// in through FHIR and comes back in its section of GET /records/{patient}/profile with its
// author; each version written by a person or the insurer's feed has a Provenance; what the
// grid refuses is withheld without saying what; advance directives stay out of a minor's
// record; the feed is idempotent and read-only; the IPS summary holds what the caller may see.
#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include "access/context.hpp"
#include "api/auth_routes.hpp"
#include "api_harness.hpp"
#include "auth/service.hpp"
#include "crypto/crypto.hpp"
#include "people.hpp"

namespace carnet::api::testing {
namespace {

constexpr int64_t kT0 = 1'800'000'000'000'000;  // 2027-01-15
constexpr const char* kPortal = "http://portal/";

json::object Coding(const std::string& system, const std::string& code,
                    const std::string& display = {}) {
    json::object c{{"system", system}, {"code", code}};
    if (!display.empty()) c["display"] = display;
    return c;
}
json::object Concept(json::object coding, const std::string& text = {}) {
    json::object c{{"coding", json::array{std::move(coding)}}};
    if (!text.empty()) c["text"] = text;
    return c;
}
json::object Text(const std::string& text) { return json::object{{"text", text}}; }

/// One entry per section, as the portal writes them (docs/PROFILE.md's table), in the
/// record `pid`; `section` → resource.
std::vector<std::pair<std::string, json::object>> Templates(const std::string& pid) {
    const json::object subject{{"reference", "Patient/" + pid}};
    const std::string obs_cat = "http://terminology.hl7.org/CodeSystem/observation-category";
    auto vital = [&](const std::string& code, double value, const std::string& unit) {
        return json::object{{"resourceType", "Observation"},
                            {"status", "final"},
                            {"category", json::array{Concept(Coding(obs_cat, "vital-signs"))}},
                            {"code", Concept(Coding("http://loinc.org", code))},
                            {"subject", subject},
                            {"effectiveDateTime", "2026-12-01"},
                            {"valueQuantity", json::object{{"value", value},
                                                           {"unit", unit},
                                                           {"system", "http://unitsofmeasure.org"},
                                                           {"code", unit}}}};
    };
    std::vector<std::pair<std::string, json::object>> out;
    out.emplace_back(
        "blood_group",
        json::object{{"resourceType", "Observation"},
                     {"status", "final"},
                     {"code", Concept(Coding("http://loinc.org", "882-1"), "Groupe sanguin")},
                     {"subject", subject},
                     {"valueCodeableConcept", Text("A+")}});
    out.emplace_back(
        "organ_donation",
        json::object{{"resourceType", "Observation"},
                     {"status", "final"},
                     {"code", Concept(Coding("https://carnet.health/fhir/CodeSystem/profile",
                                             "organ-donation"))},
                     {"subject", subject},
                     {"valueCodeableConcept",
                      Concept(Coding("https://carnet.health/fhir/CodeSystem/profile", "donor"))}});
    out.emplace_back(
        "lifestyle",
        json::object{{"resourceType", "Observation"},
                     {"status", "final"},
                     {"category", json::array{Concept(Coding(obs_cat, "social-history"))}},
                     {"code", Text("Tabac")},
                     {"subject", subject},
                     {"valueString", "Non-fumeuse depuis 2020"}});
    out.emplace_back("measurements", vital("29463-7", 70, "kg"));
    out.emplace_back(
        "disability",
        json::object{
            {"resourceType", "Condition"},
            {"category", json::array{Concept(Coding("https://carnet.health/fhir/CodeSystem/profile",
                                                    "disability"))}},
            {"code", Text("Surdité partielle")},
            {"subject", subject}});
    out.emplace_back(
        "conditions",
        json::object{
            {"resourceType", "Condition"},
            {"clinicalStatus",
             Concept(Coding("http://terminology.hl7.org/CodeSystem/condition-clinical", "active"))},
            {"category",
             json::array{Concept(Coding("http://terminology.hl7.org/CodeSystem/condition-category",
                                        "problem-list-item"))}},
            {"code", Text("Asthme <script>alert(1)</script> & co")},
            {"onsetDateTime", "2001-04-01"},
            {"subject", subject}});
    out.emplace_back(
        "family_history",
        json::object{
            {"resourceType", "FamilyMemberHistory"},
            {"status", "completed"},
            {"patient", subject},
            {"relationship",
             Concept(Coding("http://terminology.hl7.org/CodeSystem/v3-RoleCode", "FTH"), "Père")},
            {"condition", json::array{json::object{{"code", Text("Diabète de type 2")}}}}});
    out.emplace_back(
        "allergies",
        json::object{
            {"resourceType", "AllergyIntolerance"},
            {"clinicalStatus",
             Concept(Coding("http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical",
                            "active"))},
            {"code", Text("Pénicilline")},
            {"criticality", "high"},
            {"patient", subject},
            {"reaction",
             json::array{json::object{{"manifestation", json::array{Text("Urticaire")}}}}}});
    out.emplace_back("treatments",
                     json::object{{"resourceType", "MedicationStatement"},
                                  {"status", "active"},
                                  {"medicationCodeableConcept", Text("Ventoline 100 µg")},
                                  {"subject", subject},
                                  {"dosage", json::array{Text("2 bouffées si besoin")}}});
    out.emplace_back(
        "vaccinations",
        json::object{
            {"resourceType", "Immunization"},
            {"status", "completed"},
            {"vaccineCode",
             Concept(Coding("https://carnet.health/fhir/CodeSystem/vaccine", "flu"), "Grippe")},
            {"patient", subject},
            {"occurrenceDateTime", "2026-10-15"}});
    out.emplace_back(
        "stays",
        json::object{{"resourceType", "Encounter"},
                     {"status", "finished"},
                     {"class", Coding("http://terminology.hl7.org/CodeSystem/v3-ActCode", "IMP")},
                     {"subject", subject},
                     {"period", json::object{{"start", "2024-02-01"}, {"end", "2024-02-05"}}},
                     {"serviceProvider", json::object{{"display", "CHU de Nantes"}}},
                     {"reasonCode", json::array{Text("Appendicite")}}});
    out.emplace_back("procedures", json::object{{"resourceType", "Procedure"},
                                                {"status", "completed"},
                                                {"code", Text("Appendicectomie")},
                                                {"subject", subject},
                                                {"performedDateTime", "2024-02-02"}});
    out.emplace_back(
        "advance_directives",
        json::object{
            {"resourceType", "Consent"},
            {"status", "active"},
            {"scope", Concept(Coding("http://terminology.hl7.org/CodeSystem/consentscope", "adr"))},
            {"category", json::array{Concept(Coding("http://loinc.org", "42348-3"))}},
            {"patient", subject},
            {"dateTime", "2026-06-01"},
            {"policyRule", Text("Directives anticipées (CSP art. L1111-11)")},
            {"sourceAttachment",
             json::object{{"contentType", "text/plain"},
                          {"title", "Mes directives"},
                          {"data", crypto::Base64Encode("Pas d'acharnement.")}}}});
    out.emplace_back(
        "contacts",
        json::object{
            {"resourceType", "RelatedPerson"},
            {"patient", subject},
            {"relationship",
             json::array{Concept(
                 Coding("https://carnet.health/fhir/CodeSystem/profile", "trusted-person"))}},
            {"name", json::array{Text("Jeanne Martin")}},
            {"telecom", json::array{json::object{{"system", "phone"}, {"value", "0601020304"}}}}});
    return out;
}

class ProfileRoutesTest : public ::testing::TestWithParam<std::string>, protected PeopleFixture {
  protected:
    void SetUp() override {
        crypto::Init();
        spdlog::set_level(spdlog::level::warn);
        if (GetParam() == "postgres" && !PgDsn()) GTEST_SKIP() << "CARNET_TEST_PG not set";
        ASSERT_NO_FATAL_FAILURE(
            OpenCleanStore(GetParam(), "carnet-profile-", kIdentityAndAccessTables));
        service_ = std::make_unique<FhirService>(*store_, clock_);
        service_->SetWriteGate(auth::CheckRecordWritable);
        service_->SetAccess(AccessConfig{&grids_, kPortal});
        StartAuth(clock_);
        authenticator_ = std::make_unique<Authenticator>(*auth_, AuthRouteOptions{});
        RegisterAuthRoutes(router_, *authenticator_, *store_, clock_, service_.get());
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
        kine_ = NewPro("1000000002", "Karine", "Moreau", "masseur-kinesitherapeute", "",
                       "kine@example.fr");
        pharma_ = NewPro("1000000004", "Luc", "Petit", "pharmacien", "", "pharma@example.fr");
        // Marie authorised her GP and her physiotherapist; the pharmacist has no relation.
        for (const Person* p : {&gp_, &kine_}) Authorise(marie_.patient_id, *p, kT0);
    }

    void TearDown() override {
        if (server_) server_->Stop();
        server_.reset();
        CloseStore();
    }

    Headers As(const Person& who) const { return {{"Authorization", "Bearer " + who.token}}; }
    Reply Create(const Person& who, const json::object& resource) {
        return client_->Post("/fhir/" + std::string(resource.at("resourceType").as_string()),
                             json::serialize(resource), As(who));
    }
    Reply Profile(const Person& who, const std::string& pid) {
        return client_->Get("/records/" + pid + "/profile", As(who));
    }
    /// The entries of one section of the profile `who` sees of Marie's record.
    json::array Section(const Person& who, const std::string& section) {
        Reply r = Profile(who, marie_.patient_id);
        EXPECT_EQ(r.status, 200) << Describe(r);
        if (r.status != 200) return {};
        return r.Json().at("sections").at(section).as_array();
    }
    /// Provenances of `type/id` as the record's holder reads them.
    json::array ProvenancesOf(const std::string& type, const std::string& id) {
        Reply r = client_->Get("/fhir/Provenance?target=" + type + "/" + id, As(marie_));
        EXPECT_EQ(r.status, 200) << Describe(r);
        json::array out;
        const json::value bundle = r.Json();
        if (const auto* e = bundle.as_object().if_contains("entry")) {
            for (auto& x : e->as_array()) out.push_back(x.at("resource"));
        }
        return out;
    }

    FixedClock clock_{kT0};
    std::unique_ptr<FhirService> service_;
    std::unique_ptr<Authenticator> authenticator_;
    access::GridStore grids_;
    http::Router router_;
    std::unique_ptr<http::Server> server_;
    std::unique_ptr<Client> client_;
    Person marie_, paul_, gp_, kine_, pharma_;
};

TEST_P(ProfileRoutesTest, EverySectionRoundTripsThroughTheApiIntoItsSection) {
    std::map<std::string, std::string> ids;  // section → id
    for (auto& [section, resource] : Templates(marie_.patient_id)) {
        Reply r = Create(marie_, resource);
        ASSERT_EQ(r.status, 201) << section << ": " << Describe(r);
        const std::string id(r.Json().at("id").as_string());
        ids[section] = id;
        // Read back: what was sent is what is stored (every element, beside id and meta).
        Reply back = client_->Get(
            "/fhir/" + std::string(resource.at("resourceType").as_string()) + "/" + id, As(marie_));
        ASSERT_EQ(back.status, 200) << Describe(back);
        json::object got = back.Json().as_object();
        got.erase("id");
        got.erase("meta");
        EXPECT_EQ(got, resource) << section;
    }
    Reply r = Profile(marie_, marie_.patient_id);
    ASSERT_EQ(r.status, 200) << Describe(r);
    const json::value parsed = r.Json();
    const auto& view = parsed.as_object();
    EXPECT_EQ(view.at("patient").at("name"), "Marie Martin");
    EXPECT_EQ(view.at("patient").at("age"), 41);
    EXPECT_EQ(view.at("patient").at("minor"), false);
    EXPECT_EQ(view.at("withheld"), false);
    for (const auto& [section, id] : ids) {
        const auto& entries = view.at("sections").at(section).as_array();
        ASSERT_EQ(entries.size(), 1U) << section;
        const auto& e = entries.front().as_object();
        EXPECT_EQ(e.at("id").as_string(), id) << section;
        EXPECT_EQ(e.at("author").at("kind"), "patient") << section;
        EXPECT_EQ(e.at("author").at("name"), "Marie Martin") << section;
        EXPECT_EQ(e.at("own"), true) << section;
        EXPECT_EQ(e.at("editable"), true) << section;
        EXPECT_EQ(view.at("can_add").at(section), true) << section;
    }
    EXPECT_EQ(view.at("can_add").at("dispensations"), false);
    // Text comes back as text: the portal inserts it as such (no server-side "sanitising"
    // that would change what the patient wrote).
    EXPECT_EQ(view.at("sections").at("conditions").at(0).at("resource").at("code").at("text"),
              "Asthme <script>alert(1)</script> & co");

    // The patient edits and deletes her own entry; each version has its Provenance.
    json::object allergy = Templates(marie_.patient_id)[7].second;
    allergy["id"] = ids["allergies"];
    allergy["criticality"] = "low";
    Reply put = client_->Put("/fhir/AllergyIntolerance/" + ids["allergies"],
                             json::serialize(allergy), As(marie_));
    ASSERT_EQ(put.status, 200) << Describe(put);
    Reply del =
        client_->Send("DELETE", "/fhir/MedicationStatement/" + ids["treatments"], As(marie_));
    ASSERT_EQ(del.status, 204) << Describe(del);
    EXPECT_TRUE(Section(marie_, "treatments").empty());
    auto provs = ProvenancesOf("AllergyIntolerance", ids["allergies"]);
    ASSERT_EQ(provs.size(), 2U);
    std::set<std::string> activities;
    for (const auto& p : provs) {
        activities.insert(std::string(p.at("activity").at("coding").at(0).at("code").as_string()));
        EXPECT_EQ(p.at("agent").at(0).at("who").at("display"), "Marie Martin");
        EXPECT_EQ(p.at("agent").at(0).at("who").at("reference").as_string(),
                  "Patient/" + marie_.patient_id);
    }
    EXPECT_EQ(activities, (std::set<std::string>{"CREATE", "UPDATE"}));
    EXPECT_EQ(ProvenancesOf("MedicationStatement", ids["treatments"]).size(), 2U);
}

TEST_P(ProfileRoutesTest, AProfessionalsEntryNamesThemAndOnlyTheyMayChangeIt) {
    auto templates = Templates(marie_.patient_id);
    Reply made = Create(gp_, templates[5].second);  // a condition
    ASSERT_EQ(made.status, 201) << Describe(made);
    const std::string id(made.Json().at("id").as_string());

    auto entries = Section(marie_, "conditions");
    ASSERT_EQ(entries.size(), 1U);
    EXPECT_EQ(entries[0].at("author").at("kind"), "professional");
    EXPECT_EQ(entries[0].at("author").at("name"), "Grégoire Lebon");
    EXPECT_EQ(entries[0].at("own"), false);
    EXPECT_EQ(entries[0].at("editable"), false);

    // The patient may not rewrite or delete it (she may mask it, as any document).
    json::object changed = templates[5].second;
    changed["id"] = id;
    changed["code"] = Text("Rien");
    Reply put = client_->Put("/fhir/Condition/" + id, json::serialize(changed), As(marie_));
    EXPECT_EQ(put.status, 403) << Describe(put);
    Reply del = client_->Send("DELETE", "/fhir/Condition/" + id, As(marie_));
    EXPECT_EQ(del.status, 403) << Describe(del);
    EXPECT_EQ(Section(marie_, "conditions").size(), 1U);

    // The GP sees it as his own, and his update has its Provenance.
    auto his = Section(gp_, "conditions");
    ASSERT_EQ(his.size(), 1U);
    EXPECT_EQ(his[0].at("own"), true);
    EXPECT_EQ(his[0].at("editable"), true);
    Reply gp_put = client_->Put("/fhir/Condition/" + id, json::serialize(changed), As(gp_));
    ASSERT_EQ(gp_put.status, 200) << Describe(gp_put);
    auto provs = ProvenancesOf("Condition", id);
    ASSERT_EQ(provs.size(), 2U);
    for (const auto& p : provs) {
        EXPECT_EQ(p.at("agent").at(0).at("who").at("display"), "Grégoire Lebon");
        EXPECT_EQ(p.at("agent").at(0).at("who").at("type"), "Practitioner");
    }
}

TEST_P(ProfileRoutesTest, WhatTheGridRefusesIsWithheldWithoutSayingWhat) {
    auto templates = Templates(marie_.patient_id);
    json::object shot = templates[9].second;
    shot["lotNumber"] = "LOT-MARKER-42";
    ASSERT_EQ(Create(gp_, shot).status, 201);                 // a vaccination
    ASSERT_EQ(Create(marie_, shot).status, 201);              // her own, too
    ASSERT_EQ(Create(gp_, templates[7].second).status, 201);  // an allergy
    // The physiotherapist's column for immunizations is N: even the patient's own entry.
    Reply r = Profile(kine_, marie_.patient_id);
    ASSERT_EQ(r.status, 200) << Describe(r);
    const json::value parsed = r.Json();
    const auto& view = parsed.as_object();
    EXPECT_TRUE(view.at("sections").at("vaccinations").as_array().empty());
    EXPECT_EQ(view.at("sections").at("allergies").as_array().size(), 1U);
    EXPECT_EQ(view.at("withheld"), true);
    EXPECT_EQ(view.at("can_add").at("vaccinations"), false);
    EXPECT_EQ(view.at("can_add").at("allergies"), true);
    EXPECT_EQ(r.body.find("LOT-MARKER-42"), std::string::npos);
    // Computed from no dose, the booklet would call every vaccine due: it is not given.
    EXPECT_TRUE(view.at("booklet").is_null());
    // Writing one is refused too.
    EXPECT_EQ(Create(kine_, templates[9].second).status, 403);
    // The GP sees both, and nothing is withheld from him.
    Reply gp = Profile(gp_, marie_.patient_id);
    ASSERT_EQ(gp.status, 200);
    EXPECT_EQ(gp.Json().at("sections").at("vaccinations").as_array().size(), 2U);
    EXPECT_EQ(gp.Json().at("withheld"), false);
    EXPECT_TRUE(gp.Json().at("booklet").is_array());
}

TEST_P(ProfileRoutesTest, ThePatientsOwnDeclarationsAreWrittenByTheHolderSideOnly) {
    auto templates = Templates(marie_.patient_id);
    // Advance directives, the trusted person, the organ-donation wish: the GP may read them
    // but not write them for her.
    for (size_t i : {size_t{12}, size_t{13}, size_t{1}}) {
        Reply r = Create(gp_, templates[i].second);
        EXPECT_EQ(r.status, 403) << templates[i].first << ": " << Describe(r);
        EXPECT_TRUE(r.IsOperationOutcome());
    }
    EXPECT_EQ(Count("SELECT COUNT(*) FROM resources WHERE type IN ('Consent', 'RelatedPerson')"),
              0);
    Reply view = Profile(gp_, marie_.patient_id);
    ASSERT_EQ(view.status, 200);
    for (const char* section : {"advance_directives", "contacts", "organ_donation"}) {
        EXPECT_EQ(view.Json().at("can_add").at(section), false) << section;
    }
    EXPECT_EQ(view.Json().at("can_add").at("conditions"), true);
    // Hers are accepted, and the GP reads them.
    ASSERT_EQ(Create(marie_, templates[13].second).status, 201);
    Reply later = Profile(gp_, marie_.patient_id);
    EXPECT_EQ(later.Json().at("sections").at("contacts").as_array().size(), 1U);
}

TEST_P(ProfileRoutesTest, NobodyWithoutABasisLearnsAnythingOfTheProfile) {
    ASSERT_EQ(Create(marie_, Templates(marie_.patient_id)[7].second).status, 201);
    const std::string pid = marie_.patient_id;
    Reply unknown = Profile(pharma_, "no-such-record");
    for (const Person* who : {&pharma_, &paul_}) {
        for (const std::string& path :
             {"/records/" + pid + "/profile", "/fhir/Patient/" + pid + "/$summary"}) {
            Reply r = client_->Get(path, As(*who));
            EXPECT_EQ(r.status, 404) << who->login << " " << path << ": " << Describe(r);
            EXPECT_EQ(r.body.find("Pénicilline"), std::string::npos);
            EXPECT_EQ(r.body.find("Martin"), std::string::npos);
        }
        EXPECT_EQ(client_->Get("/fhir/AllergyIntolerance?patient=" + pid, As(*who))
                      .body.find("Pénicilline"),
                  std::string::npos);
    }
    EXPECT_EQ(unknown.status, 404);
    EXPECT_EQ(client_->Get("/records/" + pid + "/profile").status, 401);
    EXPECT_EQ(client_->Get("/records/..%2F" + pid + "/profile", As(marie_)).status, 404);
    // The refusals are in Marie's log; an unknown record opens no log.
    EXPECT_GE(
        Count("SELECT COUNT(*) FROM audit_log WHERE patient_id = ? AND outcome = 'deny'", {pid}),
        1);
}

TEST_P(ProfileRoutesTest, WhatIsHiddenFromTheHolderSideIsNotEvenSaidToExist) {
    // A diagnosis the GP records hidden from Marie until the announcement consultation, and
    // in a minor's record one hidden from her representative: the holder side must not learn
    // that there is something, so `withheld` stays false for them (professionals only).
    const auto hidden = [](json::object entry, const std::string& label,
                           const std::string& marker) {
        entry["code"] = Text(marker);
        entry["meta"] = json::object{
            {"security",
             json::array{Coding("https://carnet.health/fhir/CodeSystem/access", label)}}};
        return entry;
    };
    auto templates = Templates(marie_.patient_id);
    ASSERT_EQ(Create(gp_, templates[5].second).status, 201);  // a visible condition
    Reply made =
        Create(gp_, hidden(templates[5].second, "hidden-from-patient", "MARKER-ANNOUNCE-17"));
    ASSERT_EQ(made.status, 201) << Describe(made);
    Reply mine = Profile(marie_, marie_.patient_id);
    ASSERT_EQ(mine.status, 200) << Describe(mine);
    EXPECT_EQ(mine.Json().at("sections").at("conditions").as_array().size(), 1U);
    EXPECT_EQ(mine.Json().at("withheld"), false);
    EXPECT_EQ(mine.body.find("MARKER-ANNOUNCE-17"), std::string::npos);
    Reply summary = client_->Get("/fhir/Patient/" + marie_.patient_id + "/$summary", As(marie_));
    ASSERT_EQ(summary.status, 200) << Describe(summary);
    EXPECT_EQ(summary.body.find("MARKER-ANNOUNCE-17"), std::string::npos);
    // The GP, its author, sees it, and nothing is withheld from him.
    Reply gp = Profile(gp_, marie_.patient_id);
    ASSERT_EQ(gp.status, 200);
    EXPECT_EQ(gp.Json().at("sections").at("conditions").as_array().size(), 2U);
    EXPECT_NE(gp.body.find("MARKER-ANNOUNCE-17"), std::string::npos);
    EXPECT_EQ(gp.Json().at("withheld"), false);

    // A minor's entry hidden from her representative.
    Person teen = NewPatient("2120575123457", "Léa", "Martin", "2012-03-04", "lea@example.fr");
    Person mother =
        NewPatient("2800575123458", "Sophie", "Martin", "1980-05-02", "sophie@example.fr");
    Delegate(teen, mother, "representative", kT0);
    Authorise(teen.patient_id, gp_, kT0);
    auto teens = Templates(teen.patient_id);
    ASSERT_EQ(Create(gp_, teens[7].second).status, 201);  // an allergy, visible to all
    ASSERT_EQ(
        Create(gp_, hidden(teens[5].second, "hidden-from-representatives", "MARKER-SECRET-MINOR"))
            .status,
        201);
    Reply rep = Profile(mother, teen.patient_id);
    ASSERT_EQ(rep.status, 200) << Describe(rep);
    EXPECT_EQ(rep.Json().at("sections").at("allergies").as_array().size(), 1U);
    EXPECT_TRUE(rep.Json().at("sections").at("conditions").as_array().empty());
    EXPECT_EQ(rep.Json().at("withheld"), false);
    EXPECT_EQ(rep.body.find("MARKER-SECRET-MINOR"), std::string::npos);
    // Léa herself sees it.
    Reply own = Profile(teen, teen.patient_id);
    ASSERT_EQ(own.status, 200) << Describe(own);
    EXPECT_NE(own.body.find("MARKER-SECRET-MINOR"), std::string::npos);
    EXPECT_EQ(own.Json().at("withheld"), false);
}

TEST_P(ProfileRoutesTest, AdvanceDirectivesStayOutOfAMinorsRecord) {
    Person teen = NewPatient("2120575123457", "Léa", "Martin", "2012-03-04", "lea@example.fr");
    auto templates = Templates(teen.patient_id);
    Reply r = Create(teen, templates[12].second);
    EXPECT_EQ(r.status, 422) << Describe(r);
    EXPECT_TRUE(r.IsOperationOutcome());
    EXPECT_EQ(Count("SELECT COUNT(*) FROM resources WHERE type = 'Consent'"), 0);
    Reply view = Profile(teen, teen.patient_id);
    ASSERT_EQ(view.status, 200) << Describe(view);
    EXPECT_EQ(view.Json().at("patient").at("minor"), true);
    EXPECT_EQ(view.Json().at("can_add").at("advance_directives"), false);
    EXPECT_EQ(view.Json().at("can_add").at("allergies"), true);
    // An adult's are accepted.
    EXPECT_EQ(Create(marie_, Templates(marie_.patient_id)[12].second).status, 201);
}

TEST_P(ProfileRoutesTest, TheBmiAndTheBookletComeFromTheRecord) {
    auto templates = Templates(marie_.patient_id);
    json::object height = templates[3].second;
    height["code"] = Concept(Coding("http://loinc.org", "8302-2"));
    height["valueQuantity"] = json::object{
        {"value", 175}, {"unit", "cm"}, {"system", "http://unitsofmeasure.org"}, {"code", "cm"}};
    height["effectiveDateTime"] = "2026-11-01";
    ASSERT_EQ(Create(marie_, height).status, 201);
    ASSERT_EQ(Create(marie_, templates[3].second).status, 201);  // 70 kg on 2026-12-01
    Reply r = Profile(marie_, marie_.patient_id);
    ASSERT_EQ(r.status, 200) << Describe(r);
    const json::value parsed = r.Json();
    const auto& view = parsed.as_object();
    ASSERT_TRUE(view.at("bmi").is_object()) << Describe(r);
    EXPECT_DOUBLE_EQ(view.at("bmi").at("value").to_number<double>(), 22.9);
    EXPECT_EQ(view.at("series").at("weight").as_array().size(), 1U);

    // The booklet: record a vaccine the schedule expects now, and its line is done.
    const auto& booklet = view.at("booklet").as_array();
    ASSERT_FALSE(booklet.empty());
    const json::object* open = nullptr;
    for (const auto& line : booklet) {
        const auto& s = line.at("status").as_string();
        if (s == "due" || s == "overdue") {
            open = &line.as_object();
            break;
        }
    }
    ASSERT_NE(open, nullptr) << "a 41-year-old with no vaccination has something due";
    const std::string item(open->at("item").as_string());
    json::object shot = templates[9].second;
    shot["vaccineCode"] = Concept(Coding("https://carnet.health/fhir/CodeSystem/vaccine",
                                         std::string(open->at("vaccine").as_string())));
    shot["occurrenceDateTime"] = "2027-01-10";
    ASSERT_EQ(Create(marie_, shot).status, 201);
    Reply after = Profile(marie_, marie_.patient_id);
    const json::value later = after.Json();
    bool done = false;
    for (const auto& line : later.at("booklet").as_array()) {
        if (line.at("item").as_string() == item) done = line.at("status") == "done";
    }
    EXPECT_TRUE(done) << item << " " << after.body.substr(0, 200);
}

TEST_P(ProfileRoutesTest, TheInsurersFeedIsIdempotentReadOnlyAndSigned) {
    const std::string pid = marie_.patient_id;
    auto feed = [&] {
        const json::object subject{{"reference", "Patient/" + pid}};
        auto entry = [](const std::string& type, const std::string& id, json::object r) {
            r["resourceType"] = type;
            r["id"] = id;
            return json::object{{"fullUrl", "urn:uuid:" + id},
                                {"resource", std::move(r)},
                                {"request", json::object{{"method", "POST"}, {"url", type}}}};
        };
        json::array entries{
            entry("MedicationDispense", "ins-md-1",
                  {{"status", "completed"},
                   {"medicationCodeableConcept", Text("Amoxicilline 1 g")},
                   {"subject", subject},
                   {"whenHandedOver", "2026-09-01"}}),
            entry("Immunization", "ins-im-1",
                  {{"status", "completed"},
                   {"vaccineCode", Concept(Coding("http://hl7.org/fhir/sid/cvx", "140"))},
                   {"patient", subject},
                   {"occurrenceDateTime", "2026-10-20"}}),
            entry("Encounter", "ins-en-1",
                  {{"status", "finished"},
                   {"class", Coding("http://terminology.hl7.org/CodeSystem/v3-ActCode", "IMP")},
                   {"subject", subject},
                   {"period", json::object{{"start", "2025-03-01"}, {"end", "2025-03-03"}}}}),
            entry("Procedure", "ins-pr-1",
                  {{"status", "completed"},
                   {"code", Text("Radiographie du thorax")},
                   {"subject", subject},
                   {"performedDateTime", "2025-03-02"}}),
            entry("Condition", "ins-co-1", {{"code", Text("Diagnostic")}, {"subject", subject}})};
        return json::object{{"resourceType", "Bundle"}, {"type", "batch"}, {"entry", entries}};
    };
    BundleOptions bo;
    bo.keep_client_ids = true;
    bo.feed = FeedSource{};
    BundleStats first;
    auto r1 = service_->ProcessBundle(feed(), kBase, bo, &first);
    ASSERT_TRUE(r1.ok()) << r1.error().Summary();
    EXPECT_EQ(first.created, 4);
    EXPECT_EQ(first.failed, 1) << "a feed carries no diagnoses";
    BundleStats second;
    ASSERT_TRUE(service_->ProcessBundle(feed(), kBase, bo, &second).ok());
    EXPECT_EQ(second.created, 0);
    EXPECT_EQ(second.unchanged, 4);
    EXPECT_EQ(Count("SELECT COUNT(*) FROM resources WHERE type = 'Provenance'"), 4)
        << "one Provenance per version, none for a re-run";
    EXPECT_EQ(Count("SELECT COUNT(*) FROM resources WHERE type = 'Condition'"), 0);

    Reply view = Profile(marie_, pid);
    ASSERT_EQ(view.status, 200) << Describe(view);
    const json::value parsed = view.Json();
    for (const char* section : {"dispensations", "vaccinations", "stays", "procedures"}) {
        const auto& entries = parsed.at("sections").at(section).as_array();
        ASSERT_EQ(entries.size(), 1U) << section;
        EXPECT_EQ(entries[0].at("author").at("kind"), "insurer") << section;
        EXPECT_EQ(entries[0].at("author").at("name"), "Assurance Maladie") << section;
        EXPECT_EQ(entries[0].at("editable"), false) << section;
    }
    auto provs = ProvenancesOf("Immunization", "ins-im-1");
    ASSERT_EQ(provs.size(), 1U);
    EXPECT_EQ(provs[0].at("agent").at(0).at("who").at("display"), "Assurance Maladie");
    EXPECT_EQ(provs[0].at("agent").at(0).at("who").at("type"), "Organization");
    // Read-only for the holder and for her doctor.
    Reply got = client_->Get("/fhir/Immunization/ins-im-1", As(marie_));
    ASSERT_EQ(got.status, 200);
    json::object changed = got.Json().as_object();
    changed["occurrenceDateTime"] = "2026-10-21";
    for (const Person* who : {&marie_, &gp_}) {
        EXPECT_EQ(
            client_->Put("/fhir/Immunization/ins-im-1", json::serialize(changed), As(*who)).status,
            403);
        EXPECT_EQ(client_->Send("DELETE", "/fhir/Immunization/ins-im-1", As(*who)).status, 403);
    }
}

TEST_P(ProfileRoutesTest, TheSummaryIsAnIpsDocumentOfWhatTheReaderMaySee) {
    auto templates = Templates(marie_.patient_id);
    ASSERT_EQ(Create(marie_, templates[7].second).status, 201);  // allergy
    ASSERT_EQ(Create(gp_, templates[9].second).status, 201);     // vaccination
    for (const Person* who : {&marie_, &gp_, &kine_}) {
        Reply r = client_->Get("/fhir/Patient/" + marie_.patient_id + "/$summary", As(*who));
        ASSERT_EQ(r.status, 200) << Describe(r);
        const json::value parsed = r.Json();
        const auto& b = parsed.as_object();
        EXPECT_EQ(b.at("resourceType"), "Bundle");
        EXPECT_EQ(b.at("type"), "document");
        const auto& entries = b.at("entry").as_array();
        ASSERT_GE(entries.size(), 3U);
        EXPECT_EQ(entries[0].at("resource").at("resourceType"), "Composition");
        EXPECT_EQ(entries[1].at("resource").at("resourceType"), "Patient");
        std::set<std::string> types;
        for (const auto& e : entries) {
            types.insert(std::string(e.at("resource").at("resourceType").as_string()));
        }
        EXPECT_TRUE(types.count("AllergyIntolerance")) << who->login;
        // The physiotherapist's grid has no vaccinations: they are not in his summary.
        EXPECT_EQ(types.count("Immunization") == 1, who != &kine_) << who->login;
    }
}

INSTANTIATE_TEST_SUITE_P(Engines, ProfileRoutesTest, ::testing::Values("sqlite", "postgres"),
                         [](const auto& p) { return p.param; });

}  // namespace
}  // namespace carnet::api::testing
