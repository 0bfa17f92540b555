// Issue 4, "Tests that must exist": the leak hunt and the revocation races, over real HTTP
// on both engines, with the stack `carnet serve` builds (FhirService with the write gate and
// the access decision, the identity routes, the access routes, the FHIR routes with
// IdentifyContent).
//
// Leak hunt. Three records (two adults and a minor) whose every resource carries a marker
// unique to its record and resource ("MARK-A-04"; Binary contents in base64 too). Every actor
// (each holder, a legal representative, a caregiver, an authorised médecin, a pharmacist
// blocked by one holder and authorised by another, a professional with no relation, an
// insurer the holder "authorised", an advisor, an admin) tries every id-bearing route and FHIR
// parameter against every record: read, vread, instance/type/system history, searches by
// patient/subject/_id, _include, _revinclude, chained and reverse-chained parameters, POST
// _search, batch and transaction Bundles (GET entries, conditional references, ifNoneExist,
// conditional PUT/DELETE), PUT/DELETE on foreign ids, conditional update and create, paging
// links, the access log as AuditEvents, the access routes, the export. Each actor has the
// list of markers it may see; any other marker in any byte of any response (status line
// aside: body, headers, and the files inside the export zip) is a leak. A refused read of an
// existing resource must answer exactly like a read of an id that does not exist (status,
// headers but Date and X-Request-Id, body). And each actor must see every marker it is
// entitled to, so the hunt cannot pass by refusing everything. Nothing any actor sent may
// have changed a seeded resource. Markers of another record are "foreign"; markers of a
// record the actor opens but that are hidden from them (masked, hidden from the patient or
// the representatives, refused by the grid) are counted apart, and must be 0 too.
// Two focused tests repeat what the hunt found wanting: a Binary is refused to whoever is
// refused its document, and nothing is logged for a record that does not exist.
//
// Revocation races. Reader threads read as a professional while the holder (a) blocks them,
// (b) switches the record to emergency-only mode, (c) ends the authorisation an access code
// created (and, before that, revokes codes while the professional redeems them). The log
// tells the order: once a refusal is logged for the professional no later entry is an
// allow, and no allow follows the revocation's own entry; an HTTP read that returned data
// started before the revocation request returned.

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <fstream>
#include <functional>
#include <iostream>
#include <limits>
#include <set>
#include <thread>

#include "access/context.hpp"
#include "access/service.hpp"
#include "api/access_routes.hpp"
#include "api/auth_routes.hpp"
#include "api_harness.hpp"
#include "auth/service.hpp"
#include "people.hpp"

namespace carnet::api::testing {
namespace {

constexpr int64_t kT0 = 1'800'000'000'000'000;  // 2027-01-15
const std::string kIdSystem = "urn:carnet:test:id";
const std::string kAccessLabels = "https://carnet.health/fhir/CodeSystem/access";
constexpr const char* kPortal = "http://portal/";

std::string Base64(std::string_view in) {
    static constexpr const char* kAlphabet =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    size_t i = 0;
    auto byte = [&](size_t k) { return static_cast<uint32_t>(static_cast<uint8_t>(in[k])); };
    for (; i + 2 < in.size(); i += 3) {
        const uint32_t n = (byte(i) << 16) | (byte(i + 1) << 8) | byte(i + 2);
        for (int shift : {18, 12, 6, 0}) out += kAlphabet[(n >> shift) & 63];
    }
    if (i + 1 == in.size()) {
        const uint32_t n = byte(i) << 16;
        out += kAlphabet[(n >> 18) & 63];
        out += kAlphabet[(n >> 12) & 63];
        out += "==";
    } else if (i + 2 == in.size()) {
        const uint32_t n = (byte(i) << 16) | (byte(i + 1) << 8);
        for (int shift : {18, 12, 6}) out += kAlphabet[(n >> shift) & 63];
        out += '=';
    }
    return out;
}

/// "MARK-A-04".
std::string Mark(char record, int n) {
    return std::string("MARK-") + record + "-" + (n < 10 ? "0" : "") + std::to_string(n);
}

/// The markers n of record `record`.
std::set<std::string> Marks(char record, std::initializer_list<int> ns) {
    std::set<std::string> out;
    for (int n : ns) out.insert(Mark(record, n));
    return out;
}

/// A signed-in person: bearer token, CSRF value, account, and (patients) record.
/// One version of a seeded resource: the record it was in and the marker it carries.
struct Version {
    std::string patient;
    std::string marker;
};

/// A seeded resource; `json` is its current stored body (to check nothing changed it).
struct Seeded {
    std::string type, id;
    std::vector<Version> versions;
    std::string json;
    [[nodiscard]] const std::string& record() const { return versions.back().patient; }
    [[nodiscard]] const std::string& marker() const { return versions.back().marker; }
};

/// One actor of the hunt and what it is entitled to.
struct Actor {
    std::string name;
    Person person;
    bool staff = false;             // advisor or admin: 403 on every content route
    std::string home;               // a record it may write into ("": none)
    std::set<std::string> records;  // the records it may open
    std::set<std::string> visible;  // the markers it may see
};

/// What a record of the hunt is: its letter, holder and record-level ids.
struct Record {
    char letter = 'A';
    std::string pid;
    Person holder;
    std::string doc;  // its plain DocumentReference (Binary securityContext target)
};

class AccessLeakTest : public ::testing::TestWithParam<std::string>, protected PeopleFixture {
  protected:
    void SetUp() override {
        crypto::Init();
        spdlog::set_level(spdlog::level::warn);
        if (GetParam() == "postgres" && !PgDsn()) GTEST_SKIP() << "CARNET_TEST_PG not set";
        ASSERT_NO_FATAL_FAILURE(
            OpenCleanStore(GetParam(), "carnet-leak-", kIdentityAndAccessTables));
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
        api.inline_reads = GetParam() == "sqlite";  // as `carnet serve` (identify overrides it)
        api.identify = [this](http::Request& req) { return IdentifyContent(*authenticator_, req); };
        RegisterFhirRoutes(router_, *service_, api);
        server_ = std::make_unique<http::Server>(ApiServer::DefaultServerOptions(), router_);
        ASSERT_TRUE(server_->Start().ok());
        client_ = std::make_unique<Client>(server_->Port());
        ASSERT_NO_FATAL_FAILURE(Seed());
    }

    void TearDown() override {
        if (server_) server_->Stop();
        server_.reset();
        CloseStore();
    }

    // ---- HTTP as a person (seeding and races) ----

    Reply Call(const std::string& method, const std::string& target, const Person& who,
               const std::optional<json::value>& body = std::nullopt, Headers headers = {},
               const std::string& content_type = "application/json") const {
        if (!who.token.empty()) headers.emplace_back("Authorization", "Bearer " + who.token);
        std::string text;
        if (body) {
            headers.emplace_back("Content-Type", content_type);
            text = json::serialize(*body);
        }
        return client_->Send(method, EncodePipes(target), headers, text);
    }
    static std::string Rec(const std::string& pid) { return "/access/records/" + pid; }
    Reply SetRelation(const Person& holder, const std::string& pid, const Person& pro,
                      const json::object& change) const {
        return Call("PUT", Rec(pid) + "/professionals/" + pro.account_id, holder, change);
    }

    // ---- the seed ----

    static json::object Subject(const std::string& pid) {
        return json::object{{"reference", "Patient/" + pid}};
    }
    static json::array Ident(const std::string& value) {
        return json::array{json::object{{"system", kIdSystem}, {"value", value}}};
    }
    static json::array Note(const std::string& text) {
        return json::array{json::object{{"text", text}}};
    }
    static json::object ConsultNote() {
        return json::object{{"coding", json::array{json::object{{"system", "http://loinc.org"},
                                                                {"code", "11488-4"},
                                                                {"display", "Consult note"}}}}};
    }
    static json::object WeightObservation(const std::string& pid, const std::string& note,
                                          const std::string& ident) {
        return json::object{
            {"resourceType", "Observation"},
            {"status", "final"},
            {"category",
             json::array{json::object{
                 {"coding",
                  json::array{json::object{
                      {"system", "http://terminology.hl7.org/CodeSystem/observation-category"},
                      {"code", "vital-signs"}}}}}}},
            {"code",
             json::object{{"coding", json::array{json::object{{"system", "http://loinc.org"},
                                                              {"code", "29463-7"},
                                                              {"display", "Body weight"}}}}}},
            {"subject", Subject(pid)},
            {"effectiveDateTime", "2026-10-01T09:00:00Z"},
            {"valueQuantity", json::object{{"value", 71.5},
                                           {"unit", "kg"},
                                           {"system", "http://unitsofmeasure.org"},
                                           {"code", "kg"}}},
            {"identifier", Ident(ident)},
            {"note", Note(note)}};
    }

    /// Writes `obj` as type/id through the service as the system (import path).
    void SystemPut(const std::string& type, const std::string& id, json::object obj,
                   const std::string& patient, const std::string& marker) {
        obj["resourceType"] = type;
        obj["id"] = id;
        auto w = service_->Update(type, id, std::move(obj), std::nullopt);
        ASSERT_TRUE(w.ok()) << type << "/" << id << ": " << w.error().Summary();
        auto it = std::find_if(seeded_.begin(), seeded_.end(),
                               [&](const Seeded& s) { return s.type == type && s.id == id; });
        if (it == seeded_.end()) {
            seeded_.push_back(Seeded{type, id, {}, {}});
            it = std::prev(seeded_.end());
        }
        it->versions.push_back(Version{patient, marker});
        it->json = w->resource.json;
        ASSERT_EQ(static_cast<size_t>(w->resource.version), it->versions.size());
    }

    /// A document written by the author W over HTTP (meta.security labels as a professional
    /// sends them), with its Binary; returns the document's id.
    std::string AuthorDocument(const Record& r, int doc_mark, int bin_mark,
                               const std::string& label, const std::string& ident) {
        json::object doc{
            {"resourceType", "DocumentReference"},
            {"status", "current"},
            {"type", ConsultNote()},
            {"subject", Subject(r.pid)},
            {"date", "2026-11-02T10:00:00Z"},
            {"identifier", Ident(ident)},
            {"description", Mark(r.letter, doc_mark)},
            {"content",
             json::array{json::object{{"attachment", json::object{{"contentType", "text/plain"},
                                                                  {"title", "compte rendu"}}}}}}};
        if (!label.empty()) {
            doc["meta"] = json::object{
                {"security",
                 json::array{json::object{{"system", kAccessLabels}, {"code", label}}}}};
        }
        Reply d =
            Call("POST", "/fhir/DocumentReference", author_, doc, {}, "application/fhir+json");
        EXPECT_EQ(d.status, 201) << Describe(d);
        const std::string doc_id = Str(d.Json().at("id"));
        json::object bin{
            {"resourceType", "Binary"},
            {"contentType", "text/plain"},
            {"securityContext", json::object{{"reference", "DocumentReference/" + doc_id}}},
            {"data", Base64(Mark(r.letter, bin_mark))}};
        Reply b = Call("POST", "/fhir/Binary", author_, bin, {}, "application/fhir+json");
        EXPECT_EQ(b.status, 201) << Describe(b);
        auto b_json = b.Json().as_object();
        seeded_.push_back(
            Seeded{"DocumentReference", doc_id, {{r.pid, Mark(r.letter, doc_mark)}}, d.body});
        seeded_.push_back(
            Seeded{"Binary", Str(b_json.at("id")), {{r.pid, Mark(r.letter, bin_mark)}}, b.body});
        return doc_id;
    }

    void Seed() {
        a_ = Record{'A', "pat-a", {}, "a-doc"};
        b_ = Record{'B', "pat-b", {}, "b-doc"};
        c_ = Record{'C', "pat-c", {}, "c-doc"};
        a_.holder = NewPatient("2850575123456", "Marie", "Famille-A", "1985-05-12",
                               "marie@example.fr", a_.pid);
        b_.holder = NewPatient("1790175123456", "Paul", "Famille-B", "1979-01-20",
                               "paul@example.fr", b_.pid);
        // A minor (11 at kT0), managed by a legal representative.
        c_.holder =
            NewPatient("2150375123456", "Léa", "Famille-C", "2015-03-10", "lea@example.fr", c_.pid);
        representative_ = NewPatient("1820175123456", "Hugo", "Famille-R", "1982-01-05",
                                     "hugo@example.fr", "pat-r");
        caregiver_ = NewPatient("2900575123456", "Claire", "Famille-G", "1990-05-01",
                                "claire@example.fr", "pat-g");
        for (const auto& [pid, holder, delegate, kind] :
             {std::tuple{c_.pid, c_.holder.account_id, representative_.account_id,
                         "representative"},
              std::tuple{a_.pid, a_.holder.account_id, caregiver_.account_id, "caregiver"}}) {
            Exec(
                "INSERT INTO delegations(patient_id, id, patient_account, delegate_account, kind, "
                "status, invited_by, created_at, accepted_at) VALUES (?, ?, ?, ?, ?, 'active', "
                "?, ?, ?)",
                {pid, NewUuid(), holder, delegate, std::string(kind), holder, kT0, kT0});
        }
        medecin_ = NewPro("1000000001", "Grégoire", "Lebon", "medecin", "", "gp@example.fr");
        pharmacist_ = NewPro("1000000002", "Luc", "Petit", "pharmacien", "", "pharma@example.fr");
        stranger_ = NewPro("1000000003", "Jean", "Dupont", "medecin", "", "doc@example.fr");
        insurer_ = NewPro("1000000004", "Ines", "Assur", "assureur", "", "assur@example.fr");
        author_ = NewPro("1000000005", "Wanda", "Auteur", "medecin", "", "author@example.fr");
        advisor_ = NewStaff("advisor", "conseil");
        admin_ = NewStaff("admin", "root");

        // Relations, set by the holders through the access routes.
        auto relate = [&](const Record& r, const Person& pro, const std::string& status) {
            Reply rel = SetRelation(r.holder, r.pid, pro, {{"status", status}});
            EXPECT_EQ(rel.status, 200) << Describe(rel);
        };
        relate(a_, medecin_, "authorised");
        relate(a_, insurer_, "authorised");  // never any content, whatever the holder says
        relate(a_, pharmacist_, "blocked");
        relate(b_, pharmacist_, "authorised");
        for (const Record* r : {&a_, &b_, &c_}) relate(*r, author_, "authorised");

        // The data: every resource carries its record's marker.
        const std::map<char, char> next{{'A', 'B'}, {'B', 'C'}, {'C', 'A'}};
        const std::map<char, const Record*> by_letter{{'A', &a_}, {'B', &b_}, {'C', &c_}};
        for (const Record* rp : {&a_, &b_, &c_}) {
            const Record& r = *rp;
            const char l = r.letter;
            const std::string p(1, static_cast<char>(std::tolower(l)));
            SystemPut(
                "Patient", r.pid,
                json::object{
                    {"identifier", Ident("ID-" + std::string(1, l) + "-pat")},
                    {"name", json::array{json::object{{"family", "Famille-" + std::string(1, l)},
                                                      {"given", json::array{"Test"}}}}},
                    {"address", json::array{json::object{{"text", Mark(l, 1)}}}}},
                r.pid, Mark(l, 1));
            SystemPut("Observation", p + "-obs",
                      WeightObservation(r.pid, Mark(l, 2), "ID-" + std::string(1, l) + "-obs"),
                      r.pid, Mark(l, 2));
            SystemPut("Condition", p + "-cond",
                      json::object{{"subject", Subject(r.pid)},
                                   {"code", json::object{{"text", "asthme"}}},
                                   {"identifier", Ident("ID-" + std::string(1, l) + "-cond")},
                                   {"note", Note(Mark(l, 3))}},
                      r.pid, Mark(l, 3));
            SystemPut(
                "DocumentReference", r.doc,
                json::object{{"status", "current"},
                             {"type", ConsultNote()},
                             {"subject", Subject(r.pid)},
                             {"date", "2026-10-02T10:00:00Z"},
                             {"identifier", Ident("ID-" + std::string(1, l) + "-doc")},
                             {"description", Mark(l, 4)},
                             {"content",
                              json::array{json::object{
                                  {"attachment", json::object{{"contentType", "text/plain"},
                                                              {"url", "Binary/" + p + "-bin"}}}}}}},
                r.pid, Mark(l, 4));
            SystemPut("Binary", p + "-bin",
                      json::object{{"contentType", "text/plain"},
                                   {"securityContext",
                                    json::object{{"reference", "DocumentReference/" + r.doc}}},
                                   {"data", Base64(Mark(l, 5))}},
                      r.pid, Mark(l, 5));
            SystemPut(
                "Encounter", p + "-enc",
                json::object{
                    {"status", "finished"},
                    {"class",
                     json::object{{"system", "http://terminology.hl7.org/CodeSystem/v3-ActCode"},
                                  {"code", "AMB"}}},
                    {"subject", Subject(r.pid)},
                    {"identifier", Ident("ID-" + std::string(1, l) + "-enc")},
                    {"reasonCode", json::array{json::object{{"text", Mark(l, 6)}}}}},
                r.pid, Mark(l, 6));
            SystemPut(
                "MedicationRequest", p + "-mreq",
                json::object{{"status", "active"},
                             {"intent", "order"},
                             {"medicationCodeableConcept", json::object{{"text", "salbutamol"}}},
                             {"subject", Subject(r.pid)},
                             {"identifier", Ident("ID-" + std::string(1, l) + "-mreq")},
                             {"note", Note(Mark(l, 7))}},
                r.pid, Mark(l, 7));
            // A reimbursement document (DMP class 60: refused to pharmacists by the grid),
            // with its Binary.
            SystemPut(
                "DocumentReference", p + "-bill",
                json::object{
                    {"status", "current"},
                    {"type", ConsultNote()},
                    {"category", json::array{json::object{
                                     {"coding", json::array{json::object{
                                                    {"system", "urn:oid:1.2.250.1.213.1.1.4.1"},
                                                    {"code", "60"}}}}}}},
                    {"subject", Subject(r.pid)},
                    {"date", "2026-10-03T10:00:00Z"},
                    {"identifier", Ident("ID-" + std::string(1, l) + "-bill")},
                    {"description", Mark(l, 17)},
                    {"content",
                     json::array{json::object{
                         {"attachment", json::object{{"contentType", "text/plain"},
                                                     {"url", "Binary/" + p + "-billbin"}}}}}}},
                r.pid, Mark(l, 17));
            SystemPut(
                "Binary", p + "-billbin",
                json::object{{"contentType", "text/plain"},
                             {"securityContext",
                              json::object{{"reference", "DocumentReference/" + p + "-bill"}}},
                             {"data", Base64(Mark(l, 18))}},
                r.pid, Mark(l, 18));
        }
        for (const Record* rp : {&a_, &b_, &c_}) {
            const Record& r = *rp;
            const char l = r.letter;
            const std::string p(1, static_cast<char>(std::tolower(l)));
            const Record& y = *by_letter.at(next.at(l));
            const std::string q(1, static_cast<char>(std::tolower(y.letter)));
            // A resource of this record pointing into the next one (for _include/_revinclude).
            json::object bridge =
                WeightObservation(r.pid, Mark(l, 14), "ID-" + std::string(1, l) + "-bridge");
            bridge["hasMember"] =
                json::array{json::object{{"reference", "Observation/" + q + "-obs"}}};
            bridge["derivedFrom"] =
                json::array{json::object{{"reference", "DocumentReference/" + y.doc}}};
            SystemPut("Observation", p + "-bridge", std::move(bridge), r.pid, Mark(l, 14));
            // A resource that moved into this record from the next one: version 1 is the next
            // record's data, version 2 this one's.
            SystemPut(
                "Observation", p + "-mv",
                WeightObservation(y.pid, Mark(y.letter, 15), "ID-" + std::string(1, l) + "-mv1"),
                y.pid, Mark(y.letter, 15));
            SystemPut("Observation", p + "-mv",
                      WeightObservation(r.pid, Mark(l, 16), "ID-" + std::string(1, l) + "-mv"),
                      r.pid, Mark(l, 16));
        }
        // Documents from a professional: one the holder masks, one hidden from the patient
        // (pending the announcement consultation), and for the minor one hidden from the
        // representatives. Each with its Binary.
        for (const Record* rp : {&a_, &b_, &c_}) {
            const Record& r = *rp;
            const std::string l(1, r.letter);
            const std::string masked = AuthorDocument(r, 8, 9, "", "ID-" + l + "-mdoc");
            Reply m = Call("PUT", Rec(r.pid) + "/documents/DocumentReference/" + masked, r.holder,
                           json::object{{"masked", true}});
            EXPECT_EQ(m.status, 204) << Describe(m);
            AuthorDocument(r, 10, 11, "hidden-from-patient", "ID-" + l + "-hdoc");
        }
        AuthorDocument(c_, 12, 13, "hidden-from-representatives", "ID-C-rdoc");

        // Every marker of the seed.
        for (const auto& s : seeded_) {
            for (const auto& v : s.versions) markers_.insert(v.marker);
        }
        ASSERT_EQ(markers_.size(), 3U * 16 + 2);
        for (const auto& m : markers_) marker_forms_.push_back({m, m, Base64(m)});

        // The actors and what each may see.
        auto all = [](char l) {
            return Marks(l, {1, 2, 3, 4, 5, 6, 7, 8, 9, 14, 15, 16, 17, 18});  // the holder's
        };
        auto plus = [](std::set<std::string> s, const std::set<std::string>& more) {
            s.insert(more.begin(), more.end());
            return s;
        };
        actors_ = {
            {"holder-A", a_.holder, false, a_.pid, {a_.pid}, all('A')},
            {"holder-B", b_.holder, false, b_.pid, {b_.pid}, all('B')},
            {"holder-C(minor)",
             c_.holder,
             false,
             c_.pid,
             {c_.pid},
             plus(all('C'), Marks('C', {12, 13}))},
            {"representative-of-C",
             representative_,
             false,
             representative_.patient_id,
             {representative_.patient_id, c_.pid},
             all('C')},
            {"caregiver-of-A",
             caregiver_,
             false,
             caregiver_.patient_id,
             {caregiver_.patient_id, a_.pid},
             all('A')},
            {"medecin-authorised-A",
             medecin_,
             false,
             a_.pid,
             {a_.pid},
             Marks('A', {1, 2, 3, 4, 5, 6, 7, 10, 11, 14, 15, 16, 17, 18})},
            // Blocked by A, authorised by B: the grid refuses classes 60 (reimbursement) and 95
            // (Encounter) to pharmacists; masked documents are hidden.
            {"pharmacist-blocked-A-authorised-B",
             pharmacist_,
             false,
             b_.pid,
             {b_.pid},
             Marks('B', {1, 2, 3, 4, 5, 7, 10, 11, 14, 15, 16})},
            {"professional-no-relation", stranger_, false, "", {}, {}},
            {"insurer-authorised-A", insurer_, false, "", {}, {}},
            {"advisor", advisor_, true, "", {}, {}},
            {"admin", admin_, true, "", {}, {}},
        };
    }

    // ---- the hunt's probes ----

    struct Form {
        std::string name, raw, b64;
    };

    /// Scans every byte of a reply for markers: the actor's are noted as seen, any other is a
    /// leak.
    void Scan(const Actor& a, const std::string& what, const Reply& r) {
        EXPECT_NE(r.status, 0) << a.name << " " << what << ": no answer";
        EXPECT_LT(r.status, 500) << a.name << " " << what << " " << Describe(r);
        std::string text = r.body;
        for (const auto& [k, v] : r.headers) text += "\n" + k + ": " + v;
        if (r.Header("content-type").find("zip") != std::string::npos) {
            auto files = Unzip(r.body);
            EXPECT_FALSE(files.empty()) << a.name << " " << what << ": unreadable zip";
            for (const auto& [name, content] : files) text += "\n" + name + "\n" + content;
        }
        for (const auto& m : marker_forms_) {
            if (text.find(m.raw) == std::string::npos && text.find(m.b64) == std::string::npos)
                continue;
            const std::string line =
                a.name + ": " + m.name + " in " + what + " (" + std::to_string(r.status) + ")";
            if (a.visible.count(m.name)) {
                seen_[a.name].insert(m.name);
            } else if (a.records.count(RecordOfMarker(m.name))) {
                // Another record's data is a foreign marker; data of a record the actor
                // opens, but hidden from them (masked, hidden from the patient or the
                // representatives, refused by the grid), is an in-record leak.
                ++in_record_;
                in_record_leaks_.push_back(line);
            } else {
                ++foreign_;
                leaks_.push_back(line);
            }
        }
    }

    Reply Probe(const Actor& a, const std::string& method, std::string target,
                const std::string& body = {},
                const std::string& content_type = "application/fhir+json", Headers h = {}) {
        if (target.rfind("http://", 0) == 0) {
            auto slash = target.find('/', 7);
            target = slash == std::string::npos ? "/" : target.substr(slash);
        }
        target = EncodePipes(target);
        if (!a.person.token.empty()) h.emplace_back("Authorization", "Bearer " + a.person.token);
        if (!body.empty() || method == "POST" || method == "PUT")
            h.emplace_back("Content-Type", content_type);
        Reply r = client_->Send(method, target, h, body);
        ++probes_;
        const std::string what = method + " " + target;
        Scan(a, what, r);
        const bool no_route = method == "DELETE" && target.find('?') != std::string::npos;
        if (a.staff && target.rfind("/fhir", 0) == 0 && target.rfind("/fhir/metadata", 0) != 0 &&
            !no_route) {
            EXPECT_EQ(r.status, 403) << a.name << " " << what << ": operators never reach content";
        }
        return r;
    }
    Reply Probe(const Actor& a, const std::string& method, const std::string& target,
                const json::value& body) {
        return Probe(a, method, target, json::serialize(body));
    }

    /// Follows `next` links from a first reply (at most `pages`).
    void FollowNext(const Actor& a, Reply first, int pages = 60) {
        for (int i = 0; i < pages && first.status == 200; ++i) {
            const std::string next = Link(first.Json(), "next");
            if (next.empty()) return;
            first = Probe(a, "GET", next);
        }
    }

    static Headers ConditionalHeaders() {
        return {{"If-None-Match", "W/\"1\""},
                {"If-Modified-Since", "Fri, 15 Jan 2027 08:00:00 GMT"}};
    }

    /// A refused answer must be the answer for something that does not exist.
    void ExpectSameAsMissing(const Actor& a, const std::string& what, const Reply& refused,
                             const Reply& missing) {
        if (a.staff) return;  // 403 everywhere
        ++equivalences_;
        auto strip = [](std::map<std::string, std::string> h) {
            h.erase("date");
            h.erase("x-request-id");
            return h;
        };
        EXPECT_EQ(refused.status, missing.status) << a.name << " " << what;
        EXPECT_EQ(refused.body, missing.body) << a.name << " " << what;
        EXPECT_EQ(strip(refused.headers), strip(missing.headers)) << a.name << " " << what;
    }

    /// The reply to `kind` ("read", "vread", "history", "delete", "head", "conditional") of
    /// an id that does not exist, per actor and type (asked once).
    const Reply& Missing(const Actor& a, const std::string& kind, const std::string& type) {
        const std::string key = a.name + "|" + kind + "|" + type;
        auto it = missing_.find(key);
        if (it != missing_.end()) return it->second;
        const std::string fresh = "/fhir/" + type + "/" + NewUuid();
        Reply r;
        if (kind == "read") r = Probe(a, "GET", fresh);
        if (kind == "vread") r = Probe(a, "GET", fresh + "/_history/1");
        if (kind == "history") r = Probe(a, "GET", fresh + "/_history");
        if (kind == "delete") r = Probe(a, "DELETE", fresh);
        if (kind == "head") r = Probe(a, "HEAD", fresh);
        if (kind == "conditional") r = Probe(a, "GET", fresh, {}, "", ConditionalHeaders());
        return missing_.emplace(key, std::move(r)).first->second;
    }

    /// The record a marker's data belongs to ("MARK-B-15" → B's, whatever resource holds it).
    std::string RecordOfMarker(const std::string& marker) const {
        const char l = marker.size() > 5 ? marker[5] : '?';
        return l == 'A' ? a_.pid : l == 'B' ? b_.pid : l == 'C' ? c_.pid : std::string();
    }

    const Record& RecordOf(const std::string& pid) const {
        if (pid == a_.pid) return a_;
        if (pid == b_.pid) return b_;
        return c_;
    }

    /// A minimal valid body of `type` for `id` in record `pid` (no marker).
    json::object Minimal(const std::string& type, const std::string& id,
                         const std::string& pid) const {
        json::object o{{"resourceType", type}, {"id", id}};
        if (type == "Patient") {
            o["active"] = true;
        } else if (type == "Observation") {
            o["status"] = "final";
            o["code"] = json::object{{"text", "evil"}};
            o["subject"] = Subject(pid);
        } else if (type == "Condition") {
            o["code"] = json::object{{"text", "evil"}};
            o["subject"] = Subject(pid);
        } else if (type == "DocumentReference") {
            o["status"] = "current";
            o["subject"] = Subject(pid);
            o["content"] = json::array{
                json::object{{"attachment", json::object{{"contentType", "text/plain"}}}}};
        } else if (type == "Binary") {
            o["contentType"] = "text/plain";
            o["securityContext"] =
                json::object{{"reference", "DocumentReference/" + RecordOf(pid).doc}};
            o["data"] = Base64("evil");
        } else if (type == "Encounter") {
            o["status"] = "finished";
            o["class"] = json::object{
                {"system", "http://terminology.hl7.org/CodeSystem/v3-ActCode"}, {"code", "AMB"}};
            o["subject"] = Subject(pid);
        } else if (type == "MedicationRequest") {
            o["status"] = "active";
            o["intent"] = "order";
            o["medicationCodeableConcept"] = json::object{{"text", "evil"}};
            o["subject"] = Subject(pid);
        }
        return o;
    }

    /// Every id-bearing probe of one record, by one actor.
    void HuntRecord(const Actor& a, const Record& r) {
        const bool opens = a.records.count(r.pid) > 0;
        const std::string l(1, r.letter);
        std::vector<const Seeded*> mine;
        for (const auto& s : seeded_)
            if (s.record() == r.pid) mine.push_back(&s);

        // Read, vread, instance history, PUT and DELETE of every resource.
        for (const Seeded* s : mine) {
            const std::string path = "/fhir/" + s->type + "/" + s->id;
            const bool visible = a.visible.count(s->marker()) > 0;
            Reply read = Probe(a, "GET", path);
            if (visible) {
                EXPECT_EQ(read.status, 200) << a.name << " GET " << path << " " << Describe(read);
            } else {
                ExpectSameAsMissing(a, "GET " + path, read, Missing(a, "read", s->type));
            }
            for (size_t v = 0; v < s->versions.size(); ++v) {
                const std::string vpath = path + "/_history/" + std::to_string(v + 1);
                Reply vread = Probe(a, "GET", vpath);
                if (a.visible.count(s->versions[v].marker)) {
                    EXPECT_EQ(vread.status, 200) << a.name << " GET " << vpath;
                } else {
                    ExpectSameAsMissing(a, "GET " + vpath, vread, Missing(a, "vread", s->type));
                }
            }
            Reply hist = Probe(a, "GET", path + "/_history");
            if (visible) {
                EXPECT_EQ(hist.status, 200) << a.name << " GET " << path << "/_history";
            } else {
                ExpectSameAsMissing(a, "GET " + path + "/_history", hist,
                                    Missing(a, "history", s->type));
            }
            // HEAD and conditional reads (If-None-Match, If-Modified-Since) tell nothing more.
            Reply head = Probe(a, "HEAD", path);
            Reply cond = Probe(a, "GET", path, {}, "", ConditionalHeaders());
            if (!visible) {
                ExpectSameAsMissing(a, "HEAD " + path, head, Missing(a, "head", s->type));
                ExpectSameAsMissing(a, "GET " + path + " (conditional)", cond,
                                    Missing(a, "conditional", s->type));
            }
            // Writes: refused (nobody but the author changes a resource, and no actor wrote
            // any of these); to a stranger of the record, exactly as if the id were free.
            const std::string body = json::serialize(Minimal(s->type, s->id, r.pid));
            Reply put = Probe(a, "PUT", path, body);
            EXPECT_TRUE(put.status == 403 || put.status == 404)
                << a.name << " PUT " << path << " " << Describe(put);
            Reply del = Probe(a, "DELETE", path);
            if (!opens) {
                const std::string fresh = NewUuid();
                Reply put_free = Probe(a, "PUT", "/fhir/" + s->type + "/" + fresh,
                                       json::serialize(Minimal(s->type, fresh, r.pid)));
                ExpectSameAsMissing(a, "PUT " + path, put, put_free);
                ExpectSameAsMissing(a, "DELETE " + path, del, Missing(a, "delete", s->type));
            } else if (!a.staff) {
                EXPECT_TRUE(del.status == 403 || del.status == 204)
                    << a.name << " DELETE " << path << " " << Describe(del);
            }
        }

        // Searches naming the record, its resources or its identifiers.
        auto ids_of = [&](const std::string& type) {
            std::string out;
            for (const Seeded* s : mine) {
                if (s->type != type) continue;
                out += (out.empty() ? "" : ",") + s->id;
            }
            return out;
        };
        const std::string pid = r.pid;
        std::vector<std::string> searches = {
            "/fhir/Observation?patient=" + pid,
            "/fhir/Observation?subject=Patient/" + pid,
            "/fhir/Observation?subject:Patient=" + pid,
            "/fhir/Observation?subject=" + kBase + "/Patient/" + pid,
            "/fhir/Condition?patient=" + pid,
            "/fhir/Condition?subject=Patient/" + pid,
            "/fhir/Encounter?patient=" + pid,
            "/fhir/Encounter?subject=Patient/" + pid,
            "/fhir/MedicationRequest?patient=" + pid,
            "/fhir/MedicationRequest?subject=Patient/" + pid,
            "/fhir/DocumentReference?patient=" + pid,
            "/fhir/DocumentReference?subject=Patient/" + pid,
            "/fhir/Patient?_id=" + pid,
            "/fhir/Patient?identifier=" + kIdSystem + "|ID-" + l + "-pat",
            "/fhir/Patient?family=Famille-" + l,
            "/fhir/Observation?identifier=" + kIdSystem + "|ID-" + l + "-obs",
            "/fhir/Observation?identifier=" + kIdSystem + "|ID-" + l + "-mv1",
            "/fhir/DocumentReference?identifier=" + kIdSystem + "|ID-" + l + "-mdoc," + kIdSystem +
                "|ID-" + l + "-hdoc," + kIdSystem + "|ID-C-rdoc",
            "/fhir/Observation?_id=" + ids_of("Observation"),
            "/fhir/Condition?_id=" + ids_of("Condition"),
            "/fhir/Encounter?_id=" + ids_of("Encounter"),
            "/fhir/MedicationRequest?_id=" + ids_of("MedicationRequest"),
            "/fhir/DocumentReference?_id=" + ids_of("DocumentReference"),
            "/fhir/Binary?_id=" + ids_of("Binary"),
            "/fhir/Observation?patient=" + pid + "&_summary=count",
            "/fhir/Observation?patient=" + pid + "&_total=accurate",
            "/fhir/Observation?patient=" + pid + "&_sort=-date",
            // _include
            "/fhir/Observation?patient=" + pid + "&_include=Observation:subject",
            "/fhir/Observation?_id=" + ids_of("Observation") +
                "&_include=Observation:has-member&_include=Observation:derived-from"
                "&_include=Observation:subject",
            "/fhir/Observation?_include=Observation:has-member&_include=Observation:derived-from",
            "/fhir/Encounter?patient=" + pid + "&_include=Encounter:patient",
            "/fhir/Encounter?_id=" + ids_of("Encounter") + "&_include=Encounter:subject",
            "/fhir/DocumentReference?patient=" + pid + "&_include=DocumentReference:subject",
            "/fhir/MedicationRequest?patient=" + pid + "&_include=MedicationRequest:subject",
            "/fhir/Condition?_id=" + ids_of("Condition") + "&_include=Condition:patient",
            // _revinclude
            "/fhir/Patient?_id=" + pid +
                "&_revinclude=Observation:subject&_revinclude=Condition:subject"
                "&_revinclude=Encounter:patient&_revinclude=DocumentReference:subject"
                "&_revinclude=MedicationRequest:subject",
            "/fhir/Patient?_id=" + pid + "&_revinclude=Binary:*",
            "/fhir/Patient?_id=" + pid + "&_revinclude=Observation:patient",
            "/fhir/Observation?_id=" + ids_of("Observation") +
                "&_revinclude=Observation:has-member",
            "/fhir/DocumentReference?_id=" + ids_of("DocumentReference") +
                "&_revinclude=Observation:derived-from",
            "/fhir/Patient?identifier=" + kIdSystem + "|ID-" + l +
                "-pat&_revinclude=Observation:subject",
            // Chained and reverse-chained parameters (not supported: 400; lenient: ignored).
            "/fhir/Observation?subject.family=Famille-" + l,
            "/fhir/Observation?patient.identifier=" + kIdSystem + "|ID-" + l + "-pat",
            "/fhir/Observation?subject:Patient.name=Famille-" + l,
            "/fhir/Patient?_has:Observation:patient:identifier=" + kIdSystem + "|ID-" + l + "-obs",
            // Modifiers that would widen a search.
            "/fhir/Observation?patient:missing=false",
            "/fhir/Observation?patient:not=" + pid,
            "/fhir/DocumentReference?description:contains=MARK-" + l,
            "/fhir/Patient?address:contains=MARK-" + l,
            "/fhir/Observation?code=http://loinc.org|29463-7",
        };
        for (const auto& s : searches) {
            Reply reply = Probe(a, "GET", s);
            const bool chained = s.find("?subject.") != std::string::npos ||
                                 s.find("?patient.") != std::string::npos ||
                                 s.find("Patient.name") != std::string::npos ||
                                 s.find("_has:") != std::string::npos;
            if (chained) {
                EXPECT_EQ(reply.status, a.staff ? 403 : 400)
                    << a.name << " chained search is not supported: " << s << " "
                    << Describe(reply);
            }
            if (reply.status == 200) FollowNext(a, reply);
            // Lenient handling ignores what it cannot do: the rest must still be decided.
            Probe(a, "GET", s, {}, "", {{"Prefer", "handling=lenient"}});
        }
        // Paging: one result per page, every next link followed.
        const std::string lower(1, static_cast<char>(std::tolower(r.letter)));
        FollowNext(a, Probe(a, "GET", "/fhir/Observation?patient=" + pid + "&_count=1"));
        FollowNext(a, Probe(a, "GET", "/fhir/DocumentReference?patient=" + pid + "&_count=1"));
        FollowNext(a, Probe(a, "GET", "/fhir/Binary?_id=" + ids_of("Binary") + "&_count=1"));
        FollowNext(a, Probe(a, "GET", "/fhir/Observation/" + lower + "-mv/_history?_count=1"));
        // POST _search (form body).
        Probe(a, "POST", "/fhir/Observation/_search", "patient=" + pid,
              "application/x-www-form-urlencoded");
        Probe(a, "POST", "/fhir/DocumentReference/_search",
              "_id=" + ids_of("DocumentReference") + "&_include=DocumentReference:subject",
              "application/x-www-form-urlencoded");
        Probe(a, "POST", "/fhir/Patient/_search?_id=" + pid, "_revinclude=Observation:subject",
              "application/x-www-form-urlencoded");

        // Bundles: GET entries (each refused one side by side with a free id), in a batch and
        // in a transaction.
        json::array entries;
        auto get_entry = [](const std::string& url) {
            return json::object{{"request", json::object{{"method", "GET"}, {"url", url}}}};
        };
        for (const Seeded* s : mine) {
            entries.push_back(get_entry(s->type + "/" + s->id));
            entries.push_back(get_entry(s->type + "/" + NewUuid()));
            for (size_t v = 0; v < s->versions.size(); ++v) {
                entries.push_back(
                    get_entry(s->type + "/" + s->id + "/_history/" + std::to_string(v + 1)));
                entries.push_back(
                    get_entry(s->type + "/" + NewUuid() + "/_history/" + std::to_string(v + 1)));
            }
        }
        entries.push_back(get_entry("Observation?patient=" + pid +
                                    "&_include=Observation:has-member&_include=Observation:"
                                    "derived-from"));
        entries.push_back(get_entry("Patient?_id=" + pid + "&_revinclude=Observation:subject"));
        entries.push_back(get_entry("DocumentReference?patient=" + pid));
        entries.push_back(get_entry("Binary?_id=" + ids_of("Binary")));
        Reply batch =
            Probe(a, "POST", "/fhir",
                  json::object{{"resourceType", "Bundle"}, {"type", "batch"}, {"entry", entries}});
        if (!a.staff) {
            EXPECT_EQ(batch.status, 200) << a.name << " batch " << Describe(batch);
            auto out = Entries(batch.Json());
            size_t i = 0;
            for (const Seeded* s : mine) {
                for (size_t v = 0; v <= s->versions.size() && i + 1 < out.size(); ++v, i += 2) {
                    const std::string& marker = v == 0 ? s->marker() : s->versions[v - 1].marker;
                    const std::string what = "batch GET " + s->type + "/" + s->id +
                                             (v == 0 ? "" : "/_history/" + std::to_string(v));
                    if (a.visible.count(marker)) {
                        EXPECT_EQ(Str(out[i].at("response").at("status")), "200 OK")
                            << a.name << " " << what;
                    } else {
                        ++equivalences_;
                        EXPECT_EQ(json::serialize(out[i]), json::serialize(out[i + 1]))
                            << a.name << " " << what << ": a refused entry differs from a free id";
                    }
                }
            }
        }
        // Transaction: every GET of the record; refused ones replaced by free ids must give
        // the same answer.
        json::array tx_entries, tx_free;
        for (const Seeded* s : mine) {
            tx_entries.push_back(get_entry(s->type + "/" + s->id));
            tx_free.push_back(
                get_entry(s->type + "/" + (a.visible.count(s->marker()) ? s->id : NewUuid())));
        }
        Reply tx =
            Probe(a, "POST", "/fhir",
                  json::object{
                      {"resourceType", "Bundle"}, {"type", "transaction"}, {"entry", tx_entries}});
        Reply tx_ref = Probe(
            a, "POST", "/fhir",
            json::object{{"resourceType", "Bundle"}, {"type", "transaction"}, {"entry", tx_free}});
        if (!a.staff && tx.status != 200) ExpectSameAsMissing(a, "transaction GET", tx, tx_ref);

        // Conditional references, ifNoneExist, conditional PUT and DELETE with this record's
        // identifiers, in Bundles; the body goes into the actor's own record when it has one.
        const std::string target_pid = a.home.empty() ? pid : a.home;
        auto obs = [&](const std::string& subject_ref) {
            json::object o{{"resourceType", "Observation"},
                           {"status", "final"},
                           {"code", json::object{{"text", "probe"}}},
                           {"subject", json::object{{"reference", subject_ref}}}};
            return o;
        };
        const std::string pat_crit = "Patient?identifier=" + kIdSystem + "|ID-" + l + "-pat";
        const std::string obs_crit = "identifier=" + kIdSystem + "|ID-" + l + "-obs";
        const std::string none_crit = "identifier=" + kIdSystem + "|ID-NONE-" + NewUuid();
        auto tx_cond_ref = [&](const std::string& crit) {
            return json::object{
                {"resourceType", "Bundle"},
                {"type", "transaction"},
                {"entry",
                 json::array{json::object{
                     {"fullUrl", "urn:uuid:" + NewUuid()},
                     {"resource", obs(crit)},
                     {"request", json::object{{"method", "POST"}, {"url", "Observation"}}}}}}};
        };
        Reply cref = Probe(a, "POST", "/fhir", tx_cond_ref(pat_crit));
        Reply cref_none = Probe(a, "POST", "/fhir",
                                tx_cond_ref("Patient?identifier=" + kIdSystem + "|ID-NONE-pat"));
        if (!opens) ExpectSameAsMissing(a, "transaction conditional reference", cref, cref_none);
        const std::string obs_id = lower + "-obs";
        Reply ine = Probe(
            a, "POST", "/fhir",
            json::object{{"resourceType", "Bundle"},
                         {"type", "transaction"},
                         {"entry", json::array{json::object{
                                       {"resource", obs("Patient/" + target_pid)},
                                       {"request", json::object{{"method", "POST"},
                                                                {"url", "Observation"},
                                                                {"ifNoneExist", obs_crit}}}}}}});
        if (!opens && ine.status == 200) {
            EXPECT_EQ(ine.body.find(obs_id), std::string::npos)
                << a.name << ": ifNoneExist matched another record's resource";
        }
        Probe(a, "POST", "/fhir",
              json::object{
                  {"resourceType", "Bundle"},
                  {"type", "batch"},
                  {"entry",
                   json::array{
                       json::object{{"resource", obs("Patient/" + target_pid)},
                                    {"request", json::object{{"method", "PUT"},
                                                             {"url", "Observation?" + obs_crit}}}},
                       json::object{{"request", json::object{{"method", "DELETE"},
                                                             {"url", "Observation?" + obs_crit}}}},
                       json::object{{"request", json::object{{"method", "DELETE"},
                                                             {"url", "Observation/" + obs_id}}}},
                       json::object{{"resource", Minimal("Observation", obs_id, pid)},
                                    {"request", json::object{{"method", "PUT"},
                                                             {"url", "Observation/" + obs_id}}}},
                       json::object{{"resource", obs(pat_crit)},
                                    {"request",
                                     json::object{{"method", "POST"}, {"url", "Observation"}}}}}}});
        // Over plain HTTP: conditional update and create with this record's criteria, and a
        // conditional delete (no such route).
        Reply cu = Probe(a, "PUT", "/fhir/Observation?" + obs_crit,
                         json::serialize(obs("Patient/" + target_pid)));
        Reply cu_none = Probe(a, "PUT", "/fhir/Observation?" + none_crit,
                              json::serialize(obs("Patient/" + target_pid)));
        if (!opens) {
            EXPECT_EQ(cu.status, cu_none.status) << a.name << " conditional update";
            EXPECT_EQ(cu.body.find(obs_id), std::string::npos) << a.name;
            EXPECT_EQ(cu.Header("location").find(obs_id), std::string::npos) << a.name;
        }
        Reply cc =
            Probe(a, "POST", "/fhir/Observation", json::serialize(obs("Patient/" + target_pid)),
                  "application/fhir+json", {{"If-None-Exist", obs_crit}});
        Reply cc_none =
            Probe(a, "POST", "/fhir/Observation", json::serialize(obs("Patient/" + target_pid)),
                  "application/fhir+json", {{"If-None-Exist", none_crit}});
        if (!opens) {
            EXPECT_EQ(cc.status, cc_none.status) << a.name << " conditional create";
            EXPECT_EQ(cc.Header("location").find(obs_id), std::string::npos) << a.name;
        }
        Reply cd = Probe(a, "DELETE", "/fhir/Observation?" + obs_crit);
        EXPECT_EQ(cd.status, 405) << a.name << " conditional DELETE is not a route";

        // The access log and the access routes of this record.
        FollowNext(a, Probe(a, "GET", "/fhir/AuditEvent?patient=" + pid + "&_count=5"));
        Probe(a, "GET", "/fhir/AuditEvent?entity=Patient/" + pid);
        if (!opens) {
            // The log of a record the actor may not read, and of a record that does not exist.
            Reply log = Probe(a, "GET", "/fhir/AuditEvent?patient=" + pid + "&outcome=0");
            Reply none = Probe(a, "GET", "/fhir/AuditEvent?patient=" + NewUuid() + "&outcome=0");
            EXPECT_EQ(log.status, none.status) << a.name << " AuditEvent of " << pid;
        }
        Probe(a, "GET", "/fhir/AuditEvent/" + pid + "-1");
        for (const auto& sub :
             {"/settings", "/professionals", "/codes", "/documents", "/log", "/emergencies"}) {
            Probe(a, "GET", Rec(pid) + sub);
        }
        Probe(a, "GET", "/auth/records/" + pid + "/delegations");
    }

    /// Probes that name no record: type and system history, unfiltered searches, the
    /// actor's own log, the export.
    void HuntGlobal(const Actor& a) {
        for (const auto& type : {"Observation", "DocumentReference", "Binary", "Patient",
                                 "Condition", "Encounter", "MedicationRequest"}) {
            FollowNext(a, Probe(a, "GET", std::string("/fhir/") + type + "/_history?_count=4"));
            FollowNext(a, Probe(a, "GET", std::string("/fhir/") + type + "?_count=1000"));
            Probe(a, "POST", std::string("/fhir/") + type + "/_search", "",
                  "application/x-www-form-urlencoded");
        }
        FollowNext(a, Probe(a, "GET", "/fhir/_history?_count=7"), 200);
        FollowNext(a, Probe(a, "GET", "/fhir/Observation?_count=1"), 200);
        Probe(a, "GET",
              "/fhir/Observation?_include=Observation:subject&_include=Observation:has-member"
              "&_include=Observation:derived-from&_count=1000");
        Probe(a, "GET",
              "/fhir/Patient?_revinclude=Observation:subject&_revinclude=DocumentReference:"
              "subject&_revinclude=Binary:*&_count=1000");
        Probe(a, "GET", "/fhir/DocumentReference?description:contains=MARK");
        Probe(a, "GET", "/fhir/Observation?_summary=count");
        FollowNext(a, Probe(a, "GET", "/fhir/AuditEvent?_count=5"));
        Probe(a, "GET", "/auth/me/export");
        Probe(a, "GET", "/access/patients");
        Probe(a, "GET", "/access/log");
        Probe(a, "GET", "/auth/records");
        Probe(a, "GET", "/auth/session");
        Probe(a, "GET", "/auth/me");
    }

    /// The seeded resource carrying `marker` (its current version).
    const Seeded& ByMarker(const std::string& marker) const {
        for (const auto& s : seeded_)
            if (s.marker() == marker) return s;
        ADD_FAILURE() << "no resource carries " << marker;
        return seeded_.front();
    }

    /// Nothing is logged for a record that does not exist (the probes named many).
    void ExpectNoLogForMissingRecords() {
        auto rows = Query(
            "SELECT action, resource_type, outcome, COUNT(DISTINCT patient_id) FROM audit_log "
            "WHERE patient_id NOT IN (SELECT patient_id FROM accounts WHERE kind = 'patient') "
            "AND patient_id NOT IN (SELECT id FROM resources WHERE type = 'Patient') GROUP BY "
            "action, resource_type, outcome ORDER BY action, resource_type, outcome");
        std::string kinds;
        for (const auto& r : rows) {
            kinds += "\n  " + store::AsText(r[0]) + " " + store::AsText(r[1]) + " " +
                     store::AsText(r[2]) + ": " + std::to_string(store::AsInt(r[3])) + " record(s)";
        }
        EXPECT_TRUE(rows.empty()) << "access-log chains of records that do not exist:" << kinds;
    }

    /// No probe changed a seeded resource.
    void ExpectSeedUntouched() {
        auto reader = store_->OpenReader();
        ASSERT_TRUE(reader.ok());
        for (const auto& s : seeded_) {
            auto cur = (*reader)->ReadCurrent(s.type, s.id);
            ASSERT_TRUE(cur.ok());
            ASSERT_TRUE(cur->has_value()) << s.type << "/" << s.id;
            EXPECT_FALSE((*cur)->deleted) << s.type << "/" << s.id << " was deleted";
            EXPECT_EQ(static_cast<size_t>((*cur)->version), s.versions.size())
                << s.type << "/" << s.id << " got a new version";
            EXPECT_EQ(json::parse((*cur)->json), json::parse(s.json)) << s.type << "/" << s.id;
            EXPECT_EQ((*cur)->patient_id, s.record()) << s.type << "/" << s.id;
        }
    }

    void Report(const std::string& line) {
        std::cout << line << std::endl;
        if (const char* path = std::getenv("CARNET_LEAK_RESULTS"); path && *path) {
            std::ofstream out(path, std::ios::app);
            out << line << "\n";
        }
    }

    FixedClock clock_{kT0};
    std::unique_ptr<FhirService> service_;
    std::unique_ptr<Authenticator> authenticator_;
    access::GridStore grids_;
    std::unique_ptr<access::AccessService> access_;
    http::Router router_;
    std::unique_ptr<http::Server> server_;
    std::unique_ptr<Client> client_;

    Record a_, b_, c_;
    Person representative_, caregiver_;
    Person medecin_, pharmacist_, stranger_, insurer_, author_;
    Person advisor_, admin_;
    std::vector<Seeded> seeded_;
    std::set<std::string> markers_;
    std::vector<Form> marker_forms_;
    std::vector<Actor> actors_;

    int64_t probes_ = 0;
    int64_t foreign_ = 0;
    int64_t in_record_ = 0;
    std::vector<std::string> in_record_leaks_;
    int64_t equivalences_ = 0;
    std::vector<std::string> leaks_;
    std::map<std::string, std::set<std::string>> seen_;
    std::map<std::string, Reply> missing_;
};

// ---- the leak hunt -----------------------------------------------------------------------

TEST_P(AccessLeakTest, EveryActorTriesEveryRouteOnEveryRecordAndSeesOnlyItsOwnMarkers) {
    // Controls: the cross-record paths the hunt relies on do bring another record's data to
    // someone entitled to it (the author W, authorised on the three records), so their
    // silence for the other actors is a refusal, not a path that finds nothing.
    {
        const Actor w{"author-W-control", author_, false, "", {a_.pid, b_.pid, c_.pid}, markers_};
        auto keys = [](const Reply& r, const std::string& mode) {
            std::set<std::string> out;
            for (const auto& e : Entries(r.Json(), mode)) {
                const auto& res = e.at("resource").as_object();
                out.insert(Str(res.at("resourceType")) + "/" + Str(res.at("id")));
            }
            return out;
        };
        Reply inc = Probe(w, "GET",
                          "/fhir/Observation?_id=a-bridge&_include=Observation:has-member"
                          "&_include=Observation:derived-from");
        EXPECT_EQ(keys(inc, "include"),
                  (std::set<std::string>{"Observation/b-obs", "DocumentReference/b-doc"}))
            << Describe(inc);
        Reply rev =
            Probe(w, "GET", "/fhir/Observation?_id=b-obs&_revinclude=Observation:has-member");
        EXPECT_EQ(keys(rev, "include"), (std::set<std::string>{"Observation/a-bridge"}))
            << Describe(rev);
        Reply moved = Probe(w, "GET", "/fhir/Observation/a-mv/_history/1");
        EXPECT_NE(moved.body.find(Mark('B', 15)), std::string::npos) << Describe(moved);
        Reply hist = Probe(w, "GET", "/fhir/Observation/a-mv/_history");
        EXPECT_EQ(Entries(hist.Json()).size(), 2U) << Describe(hist);
        Reply batch = Probe(
            w, "POST", "/fhir",
            json::object{
                {"resourceType", "Bundle"},
                {"type", "batch"},
                {"entry",
                 json::array{json::object{
                     {"request", json::object{{"method", "GET"}, {"url", "Binary/c-bin"}}}}}}});
        EXPECT_NE(batch.body.find(Base64(Mark('C', 5))), std::string::npos) << Describe(batch);
    }
    for (const Actor& a : actors_) {
        SCOPED_TRACE(a.name);
        for (const Record* r : {&a_, &b_, &c_}) HuntRecord(a, *r);
        HuntGlobal(a);
    }
    ExpectSeedUntouched();
    ExpectNoLogForMissingRecords();

    // No marker where it does not belong. The message counts them by actor and marker, with
    // the first route each was seen on.
    auto summary = [](const std::vector<std::string>& lines) {
        std::map<std::string, std::pair<int, std::string>> by_key;
        for (const auto& line : lines) {
            const auto in = line.find(" in ");
            auto& slot = by_key[line.substr(0, in)];
            if (slot.first++ == 0) slot.second = line.substr(in + 4);
        }
        std::string out;
        for (const auto& [key, v] : by_key)
            out += "\n  " + key + " x" + std::to_string(v.first) + ", e.g. " + v.second;
        return out;
    };
    EXPECT_EQ(foreign_, 0) << leaks_.size() << " foreign marker(s):" << summary(leaks_);
    EXPECT_EQ(in_record_, 0) << in_record_leaks_.size()
                             << " marker(s) of a record the actor opens but may not see:"
                             << summary(in_record_leaks_);
    // Every actor saw everything it is entitled to (the hunt does not pass by refusing all).
    for (const Actor& a : actors_) {
        EXPECT_EQ(seen_[a.name], a.visible) << a.name << " did not see all it may see";
    }
    EXPECT_GT(equivalences_, 500);
    Report("leak hunt: " + std::to_string(probes_) + " probes, " + std::to_string(foreign_) +
           " foreign markers (" + GetParam() + "; " + std::to_string(in_record_) +
           " in-record markers hidden from the actor; " + std::to_string(actors_.size()) +
           " actors, " + std::to_string(markers_.size()) + " markers, " +
           std::to_string(equivalences_) + " refused-equals-missing checks)");
}

// The content of a document is its Binary (securityContext → the DocumentReference): whoever
// may not read the document may not read its Binary either. Each case below is refused the
// document; the Binary must then answer exactly like a Binary that does not exist.
TEST_P(AccessLeakTest, ABinaryIsRefusedToWhoeverIsRefusedItsDocument) {
    struct Case {
        const Actor* actor;
        std::string doc_marker, bin_marker, why;
    };
    auto actor = [&](const std::string& name) -> const Actor* {
        for (const auto& a : actors_)
            if (a.name == name) return &a;
        return nullptr;
    };
    const std::vector<Case> cases = {
        {actor("medecin-authorised-A"), Mark('A', 8), Mark('A', 9), "masked by the holder"},
        {actor("pharmacist-blocked-A-authorised-B"), Mark('B', 8), Mark('B', 9),
         "masked by the holder"},
        {actor("pharmacist-blocked-A-authorised-B"), Mark('B', 17), Mark('B', 18),
         "class 60, refused to pharmacists by the grid"},
        {actor("holder-A"), Mark('A', 10), Mark('A', 11), "hidden from the patient"},
        {actor("caregiver-of-A"), Mark('A', 10), Mark('A', 11), "hidden from the patient"},
        {actor("representative-of-C"), Mark('C', 12), Mark('C', 13),
         "hidden from the representatives"},
    };
    for (const auto& c : cases) {
        ASSERT_NE(c.actor, nullptr);
        const Actor& a = *c.actor;
        const Seeded& doc = ByMarker(c.doc_marker);
        const Seeded& bin = ByMarker(c.bin_marker);
        Reply d = Probe(a, "GET", "/fhir/DocumentReference/" + doc.id);
        EXPECT_EQ(d.status, 404) << a.name << ": the document is " << c.why;
        Reply b = Probe(a, "GET", "/fhir/Binary/" + bin.id);
        EXPECT_EQ(b.status, 404) << a.name << " reads the Binary of a document " << c.why << ": "
                                 << Describe(b);
        ExpectSameAsMissing(a, "GET /fhir/Binary/" + bin.id, b, Missing(a, "read", "Binary"));
    }
    EXPECT_EQ(in_record_, 0) << "content of refused documents was returned";
}

// A refused write into, or a log query about, a record that does not exist writes nothing:
// there is nobody's log to write to (as the access routes and record searches already do).
TEST_P(AccessLeakTest, NothingIsLoggedForARecordThatDoesNotExist) {
    for (const auto& a : actors_) {
        if (a.staff) continue;
        const std::string fresh = NewUuid();
        Reply put =
            Probe(a, "PUT", "/fhir/Patient/" + fresh,
                  json::serialize(json::object{{"resourceType", "Patient"}, {"id", fresh}}));
        EXPECT_EQ(put.status, 404) << a.name << " " << Describe(put);
        Reply obs = Probe(a, "POST", "/fhir/Observation",
                          json::serialize(json::object{
                              {"resourceType", "Observation"},
                              {"status", "final"},
                              {"code", json::object{{"text", "x"}}},
                              {"subject", json::object{{"reference", "Patient/" + NewUuid()}}}}));
        EXPECT_EQ(obs.status, 404) << a.name << " " << Describe(obs);
        Reply log = Probe(a, "GET", "/fhir/AuditEvent?patient=" + NewUuid());
        EXPECT_EQ(log.status, 200) << a.name << " " << Describe(log);
        Probe(a, "GET", "/fhir/Observation?patient=" + NewUuid());
    }
    ExpectNoLogForMissingRecords();
}

// ---- revocation races --------------------------------------------------------------------

struct TimedRead {
    int64_t start_ns = 0, end_ns = 0;
    int status = 0;
    bool data = false;
    std::string request_id;
};

struct RaceCounts {
    int64_t reads = 0, after = 0, allowed_after = 0, data_reads = 0;
    int64_t in_flight = 0;  // started before the revocation returned, ended after it began
};

int64_t NowNs() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

class RevocationRace : public AccessLeakTest {
  protected:
    /// Each revocation race is run this many times.
    static constexpr int kRounds = 3;

    /// Readers read A's record as `pro` while `revoke` runs; checks the order and returns
    /// the counts.
    RaceCounts Race(const std::string& name, const Person& pro,
                    const std::function<Reply(const Headers&)>& revoke) {
        RaceCounts counts;
        const std::string pid = a_.pid;
        auto max_seq =
            Query("SELECT COALESCE(MAX(seq), 0) FROM audit_log WHERE patient_id = ?", {pid});
        const int64_t first_seq = max_seq.empty() ? 0 : store::AsInt(max_seq[0][0]);
        const std::string marker = Mark('A', 2);  // a-obs, read and searched
        constexpr int kReaders = 4;
        std::atomic<bool> stop{false};
        std::atomic<int64_t> revoke_end{std::numeric_limits<int64_t>::max()};
        std::atomic<int> total{0}, after{0};
        std::vector<std::vector<TimedRead>> reads(kReaders);
        std::vector<std::thread> threads;
        for (int t = 0; t < kReaders; ++t) {
            threads.emplace_back([&, t] {
                for (int i = 0; !stop.load() && i < 5000; ++i) {
                    TimedRead tr;
                    tr.request_id =
                        "race-" + name + "-" + std::to_string(t) + "-" + std::to_string(i);
                    const std::string target =
                        i % 3 == 0   ? "/fhir/Observation/a-obs"
                        : i % 3 == 1 ? "/fhir/Observation?patient=" + pid + "&_count=5"
                                     : "/fhir/Observation/a-obs/_history/1";
                    Headers h{{"Authorization", "Bearer " + pro.token},
                              {"X-Request-Id", tr.request_id}};
                    tr.start_ns = NowNs();
                    Reply r = client_->Send("GET", target, h);
                    tr.end_ns = NowNs();
                    tr.status = r.status;
                    tr.data = r.body.find(marker) != std::string::npos;
                    reads[t].push_back(tr);
                    ++total;
                    if (tr.start_ns > revoke_end.load()) ++after;
                }
            });
        }
        auto wait_for = [&](const std::function<bool()>& done) {
            const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
            while (!done() && std::chrono::steady_clock::now() < deadline)
                std::this_thread::sleep_for(std::chrono::milliseconds(1));
        };
        wait_for([&] { return total.load() >= 40; });
        const std::string revoke_id = "revoke-" + name;
        const int64_t t0 = NowNs();
        Reply rv = revoke({{"X-Request-Id", revoke_id}});
        const int64_t t1 = NowNs();
        revoke_end = t1;
        wait_for([&] { return after.load() >= 40; });
        stop = true;
        for (auto& th : threads) th.join();
        EXPECT_TRUE(rv.status == 200 || rv.status == 204) << name << " " << Describe(rv);

        // HTTP order: a read that returned data started before the revocation returned.
        std::map<std::string, const TimedRead*> by_id;
        int64_t late_data = 0, data_before = 0;
        for (const auto& list : reads) {
            for (const auto& tr : list) {
                by_id[tr.request_id] = &tr;
                ++counts.reads;
                EXPECT_TRUE(tr.status == 200 || tr.status == 404) << name << " " << tr.status;
                if (tr.data) ++counts.data_reads;
                if (tr.start_ns > t1) {
                    ++counts.after;
                    if (tr.data) ++late_data;
                }
                if (tr.data && tr.end_ns < t0) ++data_before;
                if (tr.start_ns < t1 && tr.end_ns > t0) ++counts.in_flight;
            }
        }
        EXPECT_EQ(late_data, 0) << name << ": reads started after the revocation returned data";
        EXPECT_GT(data_before, 0) << name << ": the reader saw nothing before the revocation";
        EXPECT_GE(counts.after, 40) << name;

        // Log order.
        auto rows = Query(
            "SELECT seq, actor_account, outcome, request_id, reason FROM audit_log WHERE "
            "patient_id = ? AND seq > ? ORDER BY seq",
            {pid, first_seq});
        int64_t revoke_seq = 0, first_deny = 0, allow_after_deny = 0;
        for (const auto& row : rows) {
            if (store::AsText(row[3]) == revoke_id && revoke_seq == 0) {
                revoke_seq = store::AsInt(row[0]);
            }
        }
        EXPECT_GT(revoke_seq, 0) << name << ": the revocation left no log entry";
        for (const auto& row : rows) {
            if (store::AsText(row[1]) != pro.account_id) continue;
            const int64_t seq = store::AsInt(row[0]);
            const std::string outcome = store::AsText(row[2]);
            const std::string rid = store::AsText(row[3]);
            if (outcome == "deny" && first_deny == 0 && seq > revoke_seq) first_deny = seq;
            if (outcome == "allow" && first_deny != 0) ++allow_after_deny;
            if (outcome == "allow" && seq > revoke_seq) {
                ++counts.allowed_after;
                ADD_FAILURE() << name << ": allowed entry seq " << seq << " (" << rid
                              << ") after the revocation's entry seq " << revoke_seq;
            }
            auto it = by_id.find(rid);
            if (it != by_id.end() && outcome == "allow") {
                EXPECT_LT(it->second->start_ns, t1)
                    << name << ": " << rid << " was allowed but started after the revocation";
            }
            if (it != by_id.end() && it->second->start_ns > t1) {
                EXPECT_EQ(outcome, "deny") << name << ": " << rid;
            }
        }
        EXPECT_GT(first_deny, 0) << name << ": no refusal logged after the revocation";
        EXPECT_EQ(allow_after_deny, 0) << name << ": an allow was logged after a refusal";
        // Every read that returned data has its allowed entry before the revocation's.
        for (const auto& row : rows) {
            auto it = by_id.find(store::AsText(row[3]));
            if (it == by_id.end() || !it->second->data) continue;
            EXPECT_EQ(store::AsText(row[2]), "allow") << name;
            EXPECT_LT(store::AsInt(row[0]), revoke_seq) << name;
        }
        std::cout << "  race " << name << " (" << GetParam() << "): " << counts.reads << " reads, "
                  << counts.data_reads << " with data, " << counts.in_flight << " in flight, "
                  << counts.after << " started after the revocation returned, "
                  << counts.allowed_after << " allowed after\n";
        return counts;
    }

    Reply Authorise(const Person& pro) const {
        return SetRelation(a_.holder, a_.pid, pro, {{"status", "authorised"}});
    }
    /// A new access code of A: (code, id).
    std::pair<std::string, std::string> NewCode() const {
        Reply r = Call("POST", Rec(a_.pid) + "/codes", a_.holder, json::object{});
        EXPECT_EQ(r.status, 201) << Describe(r);
        if (r.status != 201) return {};
        return {Str(r.Json().at("code")), Str(r.Json().at("id"))};
    }
    std::string CodeStatus(const std::string& id) const {
        Reply r = Call("GET", Rec(a_.pid) + "/codes", a_.holder);
        const json::value list = r.Json();
        if (!list.is_array()) return {};
        for (const auto& c : list.as_array())
            if (Str(c.at("id")) == id) return Str(c.at("status"));
        return {};
    }
    Reply Redeem(const Person& pro, const std::string& code, Headers h = {}) const {
        return Call("POST", "/access/codes/redeem", pro,
                    json::object{{"ins", a_.holder.ins}, {"code", code}}, std::move(h));
    }
    int ReadStatus(const Person& pro) const {
        return Call("GET", "/fhir/Observation/a-obs", pro).status;
    }
};

TEST_P(RevocationRace, BlockModeSwitchAndCodeRevocationAgainstReadsInFlight) {
    const Person& pro = stranger_;  // a médecin with no relation to A yet
    RaceCounts total;
    auto add = [&](const RaceCounts& c) {
        total.reads += c.reads;
        total.after += c.after;
        total.allowed_after += c.allowed_after;
        total.in_flight += c.in_flight;
    };

    for (int round = 0; round < kRounds; ++round) {
        const std::string n = "-" + std::to_string(round);
        // (a) The holder blocks the professional.
        ASSERT_EQ(Authorise(pro).status, 200);
        ASSERT_EQ(ReadStatus(pro), 200);
        add(Race("block" + n, pro, [&](const Headers& h) {
            return Call("PUT", Rec(a_.pid) + "/professionals/" + pro.account_id, a_.holder,
                        json::object{{"status", "blocked"}}, h);
        }));
        EXPECT_EQ(ReadStatus(pro), 404);

        // (b) The holder switches the record to emergency-only mode.
        ASSERT_EQ(Authorise(pro).status, 200);
        ASSERT_EQ(ReadStatus(pro), 200);
        add(Race("emergency-only" + n, pro, [&](const Headers& h) {
            return Call("PUT", Rec(a_.pid) + "/settings", a_.holder,
                        json::object{{"emergency_only", true}}, h);
        }));
        EXPECT_EQ(ReadStatus(pro), 404);
        ASSERT_EQ(Call("PUT", Rec(a_.pid) + "/settings", a_.holder,
                       json::object{{"emergency_only", false}})
                      .status,
                  200);
        ASSERT_EQ(
            Call("DELETE", Rec(a_.pid) + "/professionals/" + pro.account_id, a_.holder).status,
            204);
        ASSERT_EQ(ReadStatus(pro), 404);
    }

    // (c1) A code revoked before it is redeemed opens nothing.
    {
        const auto fresh_code = NewCode();
        const std::string code = fresh_code.first, id = fresh_code.second;
        ASSERT_EQ(Call("DELETE", Rec(a_.pid) + "/codes/" + id, a_.holder).status, 204);
        EXPECT_EQ(Redeem(pro, code).status, 404);
        EXPECT_EQ(ReadStatus(pro), 404);
        EXPECT_EQ(CodeStatus(id), "revoked");
    }
    // Revocation and redemption at the same moment: one wins, never both; a redemption that
    // starts after the revocation returned fails.
    int redeemed = 0, refused = 0;
    for (int i = 0; i < 16; ++i) {
        const auto fresh_code = NewCode();
        const std::string code = fresh_code.first, id = fresh_code.second;
        std::atomic<int> ready{0};
        // Each side gets a head start in turn: 0, 1, 2 or 4 ms.
        const auto stagger = std::chrono::milliseconds((i / 2) % 4 == 3 ? 4 : (i / 2) % 4);
        Reply redeem_reply, revoke_reply;
        int64_t revoke_done = 0, redeem_start = 0;
        std::thread redeemer([&] {
            ++ready;
            while (ready.load() < 2) {
            }
            if (i % 2 == 1) std::this_thread::sleep_for(stagger);
            redeem_start = NowNs();
            redeem_reply = Redeem(pro, code);
        });
        std::thread revoker([&] {
            ++ready;
            while (ready.load() < 2) {
            }
            if (i % 2 == 0) std::this_thread::sleep_for(stagger);
            revoke_reply = Call("DELETE", Rec(a_.pid) + "/codes/" + id, a_.holder);
            revoke_done = NowNs();
        });
        redeemer.join();
        revoker.join();
        EXPECT_EQ(revoke_reply.status, 204) << Describe(revoke_reply);
        const std::string status = CodeStatus(id);
        if (redeem_reply.status == 200) {
            ++redeemed;
            EXPECT_EQ(status, "used") << "redeemed, so the revocation came after";
            EXPECT_LT(redeem_start, revoke_done);
            EXPECT_EQ(ReadStatus(pro), 200);
            ASSERT_EQ(
                Call("DELETE", Rec(a_.pid) + "/professionals/" + pro.account_id, a_.holder).status,
                204);
        } else {
            ++refused;
            EXPECT_EQ(redeem_reply.status, 404) << Describe(redeem_reply);
            EXPECT_EQ(status, "revoked");
        }
        EXPECT_EQ(ReadStatus(pro), 404) << "iteration " << i;
    }
    std::cout << "  code revocation vs redemption (" << GetParam() << "): " << redeemed
              << " redeemed first, " << refused << " revoked first\n";

    // (c2) The holder ends the authorisation a code created.
    for (int round = 0; round < kRounds; ++round) {
        const std::string code = NewCode().first;
        Reply r = Redeem(pro, code);
        ASSERT_EQ(r.status, 200) << Describe(r);
        ASSERT_EQ(ReadStatus(pro), 200);
        add(Race("end-code-authorisation-" + std::to_string(round), pro, [&](const Headers& h) {
            return Call("DELETE", Rec(a_.pid) + "/professionals/" + pro.account_id, a_.holder,
                        std::nullopt, h);
        }));
        EXPECT_EQ(ReadStatus(pro), 404);
    }
    EXPECT_EQ(total.allowed_after, 0);
    Report("revocation races: " + std::to_string(total.reads) + " reads, " +
           std::to_string(total.after) + " after revocation, " +
           std::to_string(total.allowed_after) + " allowed after (" + GetParam() + "; " +
           std::to_string(total.in_flight) + " reads in flight during a revocation, " +
           std::to_string(3 * kRounds) + " races)");
}

INSTANTIATE_TEST_SUITE_P(Engines, AccessLeakTest, ::testing::Values("sqlite", "postgres"),
                         [](const auto& param_info) { return param_info.param; });
INSTANTIATE_TEST_SUITE_P(Engines, RevocationRace, ::testing::Values("sqlite", "postgres"),
                         [](const auto& param_info) { return param_info.param; });

}  // namespace
}  // namespace carnet::api::testing
