#include "admin/admin.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <fstream>
#include <map>
#include <sstream>

#include "auth/primitives.hpp"
#include "core/ids.hpp"
#include "core/log.hpp"
#include "fhir/json.hpp"
#include "messaging/service.hpp"

namespace carnet::admin {

namespace json = boost::json;
namespace fs = std::filesystem;

namespace {

constexpr const char* kInsSystem = "urn:oid:1.2.250.1.213.1.4.8";
constexpr const char* kRppsSystem = "urn:oid:1.2.250.1.71.4.2.1";

Result<std::string> ReadAll(const fs::path& file) {
    std::ifstream in(file, std::ios::binary);
    if (!in) return Error::Invalid("cannot read " + file.string());
    std::ostringstream ss;
    ss << in.rdbuf();
    if (ss.str().size() > 256ULL * 1024 * 1024) return Error::Invalid("file too large");
    return ss.str();
}

std::string Lower(std::string s) {
    for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

bool LooksLikeJson(const std::string& text) {
    for (char c : text) {
        if (c == ' ' || c == '\n' || c == '\r' || c == '\t') continue;
        return c == '{';
    }
    return false;
}

std::string Str(const json::object& o, const char* key) {
    const json::value* v = o.if_contains(key);
    return v && v->is_string() ? std::string(v->as_string()) : std::string();
}

/// The resources of a JSON file: itself, or the entries of a Bundle.
std::vector<json::object> Resources(json::value v) {
    std::vector<json::object> out;
    if (!v.is_object()) return out;
    auto& o = v.as_object();
    if (Str(o, "resourceType") == "Bundle") {
        if (auto* entries = o.if_contains("entry"); entries && entries->is_array()) {
            for (auto& e : entries->as_array()) {
                if (!e.is_object()) continue;
                if (auto* r = e.as_object().if_contains("resource"); r && r->is_object())
                    out.push_back(r->as_object());
            }
        }
    } else {
        out.push_back(std::move(o));
    }
    return out;
}

std::string IdentifierValue(const json::object& r, const char* system) {
    const json::value* ids = r.if_contains("identifier");
    if (!ids || !ids->is_array()) return {};
    for (const auto& id : ids->as_array()) {
        if (id.is_object() && Str(id.as_object(), "system") == system)
            return Str(id.as_object(), "value");
    }
    return {};
}

void NameOf(const json::object& r, std::string& given, std::string& family) {
    const json::value* names = r.if_contains("name");
    if (!names || !names->is_array() || names->as_array().empty()) return;
    const json::object* pick = nullptr;
    for (const auto& n : names->as_array()) {
        if (!n.is_object()) continue;
        if (!pick || Str(n.as_object(), "use") == "official") pick = &n.as_object();
    }
    if (!pick) return;
    family = Str(*pick, "family");
    if (auto* g = pick->if_contains("given");
        g && g->is_array() && !g->as_array().empty() && g->as_array()[0].is_string())
        given = std::string(g->as_array()[0].as_string());
}

std::string Telecom(const json::object& r, const char* system) {
    const json::value* t = r.if_contains("telecom");
    if (!t || !t->is_array()) return {};
    for (const auto& c : t->as_array()) {
        if (c.is_object() && Str(c.as_object(), "system") == system)
            return Str(c.as_object(), "value");
    }
    return {};
}

/// The Patient record created for an imported person: identity only.
json::object PatientResource(const auth::NewPatient& p, const std::string& ins) {
    json::object r{
        {"resourceType", "Patient"},
        {"identifier", json::array{json::object{{"system", kInsSystem}, {"value", ins}}}},
        {"name", json::array{json::object{{"use", "official"},
                                          {"family", p.family},
                                          {"given", json::array{json::value(p.given)}}}}},
        {"birthDate", p.birth_date}};
    return r;
}

}  // namespace

namespace {

/// A CSV file with a header row: cells by column name (case-insensitive).
struct CsvTable {
    std::vector<std::vector<std::string>> rows;  // rows[0] is the header
    std::map<std::string, size_t> columns;

    static Result<CsvTable> Parse(std::string_view text,
                                  std::initializer_list<const char*> required) {
        CsvTable t;
        t.rows = ParseCsv(text);
        if (t.rows.empty()) return Error::Invalid("empty file");
        for (size_t i = 0; i < t.rows[0].size(); ++i) t.columns[Lower(t.rows[0][i])] = i;
        for (const char* needed : required) {
            if (!t.columns.count(needed))
                return Error::Invalid(std::string("CSV header lacks the column ") + needed);
        }
        return t;
    }
    [[nodiscard]] std::string Cell(const std::vector<std::string>& row, const char* name) const {
        auto it = columns.find(name);
        return it == columns.end() || it->second >= row.size() ? std::string() : row[it->second];
    }
};

}  // namespace

std::vector<std::vector<std::string>> ParseCsv(std::string_view text) {
    std::vector<std::vector<std::string>> rows;
    std::vector<std::string> row;
    std::string field;
    bool quoted = false, any = false;
    for (size_t i = 0; i < text.size(); ++i) {
        char c = text[i];
        if (quoted) {
            if (c == '"') {
                if (i + 1 < text.size() && text[i + 1] == '"') {
                    field.push_back('"');
                    ++i;
                } else {
                    quoted = false;
                }
            } else {
                field.push_back(c);
            }
            continue;
        }
        if (c == '"') {
            quoted = true;
            any = true;
        } else if (c == ',' || c == ';') {
            row.push_back(std::move(field));
            field.clear();
            any = true;
        } else if (c == '\n' || c == '\r') {
            if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') ++i;
            if (any || !field.empty()) {
                row.push_back(std::move(field));
                rows.push_back(std::move(row));
            }
            row.clear();
            field.clear();
            any = false;
        } else {
            field.push_back(c);
            any = true;
        }
    }
    if (any || !field.empty()) {
        row.push_back(std::move(field));
        rows.push_back(std::move(row));
    }
    // A UTF-8 byte-order mark (spreadsheet exports) is not part of the first header.
    if (!rows.empty() && !rows[0].empty() && rows[0][0].rfind("\xEF\xBB\xBF", 0) == 0)
        rows[0][0] = rows[0][0].substr(3);
    return rows;
}

std::string ProfessionCode(std::string_view text) {
    std::string t = Lower(std::string(text));
    static const std::map<std::string, std::string> kNational = {
        {"10", "medecin"},
        {"21", "pharmacien"},
        {"40", "chirurgien-dentiste"},
        {"50", "sage-femme"},
        {"60", "infirmier"},
        {"70", "masseur-kinesitherapeute"},
        {"80", "pedicure-podologue"},
        {"91", "orthophoniste"},
        {"92", "orthoptiste"},
        {"médecin", "medecin"},
        {"infirmière", "infirmier"},
        {"masseur-kinésithérapeute", "masseur-kinesitherapeute"},
        {"kinésithérapeute", "masseur-kinesitherapeute"},
        {"pédicure-podologue", "pedicure-podologue"},
    };
    if (auto it = kNational.find(t); it != kNational.end()) return it->second;
    for (const auto& [code, label] : auth::Professions()) {
        if (t == code || t == Lower(label)) return code;
    }
    return {};
}

Result<ImportSummary> ImportPatients(auth::AuthService& auth, api::FhirService& fhir,
                                     const fs::path& file) {
    CARNET_TRY(std::string text, ReadAll(file));
    ImportSummary summary;
    auto one = [&](const std::string& where, auth::NewPatient p, json::object resource) {
        auto created = auth.CreatePatient(p, "import");
        if (!created.ok()) {
            ++summary.failed;
            summary.errors.push_back(where + ": " + created.error().Summary());
            return;
        }
        if (created->existed) {
            ++summary.existed;
            return;
        }
        // The record exists from the start (deposits may arrive before activation).
        resource["id"] = created->account.patient_id;
        auto w =
            fhir.Update("Patient", created->account.patient_id, std::move(resource), std::nullopt);
        if (!w.ok()) {
            ++summary.failed;
            summary.errors.push_back(where + ": " + w.error().Summary());
            return;
        }
        ++summary.created;
        summary.codes.emplace_back(created->account.ins, created->activation_code);
    };
    if (LooksLikeJson(text)) {
        CARNET_TRY(json::value v, fhir::ParseJson(text, 64));
        int n = 0;
        for (auto& r : Resources(std::move(v))) {
            ++n;
            std::string where = "resource " + std::to_string(n);
            if (Str(r, "resourceType") != "Patient") {
                ++summary.failed;
                summary.errors.push_back(where + ": not a Patient");
                continue;
            }
            auth::NewPatient p;
            p.ins = IdentifierValue(r, kInsSystem);
            NameOf(r, p.given, p.family);
            p.birth_date = Str(r, "birthDate");
            p.email = Telecom(r, "email");
            p.phone = Telecom(r, "phone");
            // The registry's own Patient (with its INS identifier) becomes the record.
            json::object resource = r;
            resource.erase("id");
            resource.erase("meta");
            one(where, p, std::move(resource));
        }
        return summary;
    }
    CARNET_TRY(CsvTable table, CsvTable::Parse(text, {"ins", "family", "birth_date"}));
    const auto& rows = table.rows;
    auto cell = [&](const std::vector<std::string>& row, const char* name) {
        return table.Cell(row, name);
    };
    for (size_t i = 1; i < rows.size(); ++i) {
        auth::NewPatient p;
        p.ins = cell(rows[i], "ins");
        p.given = cell(rows[i], "given");
        p.family = cell(rows[i], "family");
        p.birth_date = cell(rows[i], "birth_date");
        p.email = cell(rows[i], "email");
        p.phone = cell(rows[i], "phone");
        auto ins = auth::NormalizeIns(p.ins);
        one("line " + std::to_string(i + 1), p, PatientResource(p, ins ? *ins : p.ins));
    }
    return summary;
}

Result<ImportSummary> ImportProfessionals(auth::AuthService& auth, const fs::path& file) {
    CARNET_TRY(std::string text, ReadAll(file));
    ImportSummary summary;
    auto one = [&](const std::string& where, const auth::NewProfessional& p) {
        auto created = auth.CreateProfessional(p, "import");
        if (!created.ok()) {
            ++summary.failed;
            summary.errors.push_back(where + ": " + created.error().Summary());
        } else if (created->existed) {
            ++summary.existed;
        } else {
            ++summary.created;
            summary.codes.emplace_back(created->account.rpps, created->activation_code);
        }
    };
    if (LooksLikeJson(text)) {
        CARNET_TRY(json::value v, fhir::ParseJson(text, 64));
        auto resources = Resources(std::move(v));
        // Practitioners first, then their roles (by reference Practitioner/{id}).
        std::map<std::string, auth::NewProfessional> by_id;
        std::vector<std::string> order;
        for (const auto& r : resources) {
            if (Str(r, "resourceType") != "Practitioner") continue;
            auth::NewProfessional p;
            p.rpps = IdentifierValue(r, kRppsSystem);
            NameOf(r, p.given, p.family);
            p.email = Telecom(r, "email");
            p.phone = Telecom(r, "phone");
            std::string id = Str(r, "id");
            if (id.empty()) id = "#" + std::to_string(order.size());
            order.push_back(id);
            by_id[id] = p;
        }
        for (const auto& r : resources) {
            if (Str(r, "resourceType") != "PractitionerRole") continue;
            const json::value* ref = r.if_contains("practitioner");
            if (!ref || !ref->is_object()) continue;
            std::string target = Str(ref->as_object(), "reference");
            if (target.rfind("Practitioner/", 0) == 0) target = target.substr(13);
            auto it = by_id.find(target);
            if (it == by_id.end()) continue;
            // The first coding whose code or display names a known profession; the
            // specialty and organisation as their display text.
            auto codings = [&](const char* key) {
                std::vector<std::pair<std::string, std::string>> out;  // (code, display/text)
                const json::value* list_of = r.if_contains(key);
                if (!list_of || !list_of->is_array()) return out;
                for (const auto& cc : list_of->as_array()) {
                    if (!cc.is_object()) continue;
                    const json::value* list = cc.as_object().if_contains("coding");
                    if (list && list->is_array()) {
                        for (const auto& c : list->as_array()) {
                            if (c.is_object())
                                out.emplace_back(Str(c.as_object(), "code"),
                                                 Str(c.as_object(), "display"));
                        }
                    }
                    out.emplace_back("", Str(cc.as_object(), "text"));
                }
                return out;
            };
            for (const auto& [code, display] : codings("code")) {
                std::string mapped = ProfessionCode(code);
                if (mapped.empty()) mapped = ProfessionCode(display);
                if (!mapped.empty()) {
                    it->second.profession = mapped;
                    break;
                }
            }
            for (const auto& [code, display] : codings("specialty")) {
                if (!display.empty()) {
                    it->second.specialty = display;
                    break;
                }
            }
            if (auto* org = r.if_contains("organization"); org && org->is_object())
                it->second.organisation = Str(org->as_object(), "display");
        }
        for (const auto& id : order) one("Practitioner " + id.substr(0, 64), by_id[id]);
        return summary;
    }
    CARNET_TRY(CsvTable table, CsvTable::Parse(text, {"rpps", "family", "profession"}));
    const auto& rows = table.rows;
    auto cell = [&](const std::vector<std::string>& row, const char* name) {
        return table.Cell(row, name);
    };
    for (size_t i = 1; i < rows.size(); ++i) {
        auth::NewProfessional p;
        p.rpps = cell(rows[i], "rpps");
        p.given = cell(rows[i], "given");
        p.family = cell(rows[i], "family");
        std::string raw = cell(rows[i], "profession");
        p.profession = ProfessionCode(raw);
        if (p.profession.empty()) p.profession = raw;  // refused below with its name
        p.specialty = cell(rows[i], "specialty");
        p.organisation = cell(rows[i], "organisation");
        p.email = cell(rows[i], "email");
        p.phone = cell(rows[i], "phone");
        one("line " + std::to_string(i + 1), p);
    }
    return summary;
}

// ---- demo ---------------------------------------------------------------------------------

namespace {

/// A few profile entries the demo patient's record would have in real life, written the way
/// they really arrive: an allergy recorded by the médecin traitant and a blood pressure by a
/// nurse (through the access decision, so they carry their author's name and a Provenance),
/// and what the insurer's feed knows (a dispensation, a vaccination, an act). Fixed
/// identifiers: a restart adds nothing.
/// `nurse`: another record (the parent's) and the nurse who measures there.
/// A message from the médecin in the demo patient's space, so that a newcomer finds the
/// messaging page with a thread in it. Once: a record that has threads is left alone.
Status SeedDemoMessage(store::Store& store, const Clock& clock, const std::string& pid,
                       const std::string& medecin_account) {
    CARNET_TRY(auto reader, store.OpenReader());
    CARNET_TRY(auto rows,
               reader->Query("SELECT COUNT(*) FROM message_threads WHERE patient_id = ?", {pid}));
    if (!rows.empty() && store::AsInt(rows[0][0]) > 0) return Ok();
    access::GridStore grids;
    messaging::MessageService messages(store, clock, grids, "");
    access::Actor medecin;
    medecin.kind = access::ActorKind::kProfessional;
    medecin.account_id = medecin_account;
    medecin.profession = "medecin";
    messaging::NewMessage m;
    m.text =
        "Bonjour,\n\nJe vous écris depuis la messagerie sécurisée de Carnet : vos réponses "
        "restent dans votre espace, chiffrées, et je suis seul avec vous à les lire.\n\n"
        "Pensez à me dire si la toux persiste.\n\nBien cordialement.";
    CARNET_TRY(auto thread,
               messages.StartThread(medecin, "demo", pid, "Suite de la consultation", m));
    (void)thread;
    return Ok();
}

Status SeedDemoProfile(api::FhirService& service, const std::string& pid,
                       const std::string& medecin_account,
                       const std::pair<std::string, std::string>& nurse) {
    const json::object subject{{"reference", "Patient/" + pid}};
    const std::string demo = "https://carnet.health/fhir/demo";
    api::Caller medecin;
    medecin.actor.kind = access::ActorKind::kProfessional;
    medecin.actor.account_id = medecin_account;
    medecin.actor.profession = "medecin";
    medecin.request_id = "demo";
    json::object allergy{
        {"resourceType", "AllergyIntolerance"},
        {"identifier", json::array{json::object{{"system", demo}, {"value", "allergie-1"}}}},
        {"clinicalStatus",
         json::object{
             {"coding",
              json::array{json::object{
                  {"system", "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical"},
                  {"code", "active"}}}}}},
        {"code", json::object{{"text", "Pénicilline"}}},
        {"criticality", "high"},
        {"patient", subject},
        {"recordedDate", "2024-03-12"},
        {"reaction",
         json::array{json::object{
             {"manifestation", json::array{json::object{{"text", "Urticaire géante"}}}}}}}};
    CARNET_CHECK(service.Create("AllergyIntolerance", allergy, "identifier=" + demo + "|allergie-1",
                                medecin));
    if (!nurse.second.empty()) {
        // The parent's record: a blood pressure the home-care nurse measured.
        api::Caller infirmier;
        infirmier.actor.kind = access::ActorKind::kProfessional;
        infirmier.actor.account_id = nurse.second;
        infirmier.actor.profession = "infirmier";
        infirmier.request_id = "demo";
        auto loinc = [](const char* code, const char* display) {
            return json::object{{"coding", json::array{json::object{{"system", "http://loinc.org"},
                                                                    {"code", code},
                                                                    {"display", display}}}}};
        };
        auto mmhg = [](int v) {
            return json::object{{"value", v},
                                {"unit", "mm[Hg]"},
                                {"system", "http://unitsofmeasure.org"},
                                {"code", "mm[Hg]"}};
        };
        json::object bp{
            {"resourceType", "Observation"},
            {"identifier", json::array{json::object{{"system", demo}, {"value", "tension-1"}}}},
            {"status", "final"},
            {"category",
             json::array{json::object{
                 {"coding",
                  json::array{json::object{
                      {"system", "http://terminology.hl7.org/CodeSystem/observation-category"},
                      {"code", "vital-signs"}}}}}}},
            {"code", loinc("85354-9", "Blood pressure panel")},
            {"subject", json::object{{"reference", "Patient/" + nurse.first}}},
            {"effectiveDateTime", "2026-10-05"},
            {"component",
             json::array{json::object{{"code", loinc("8480-6", "Systolic blood pressure")},
                                      {"valueQuantity", mmhg(132)}},
                         json::object{{"code", loinc("8462-4", "Diastolic blood pressure")},
                                      {"valueQuantity", mmhg(84)}}}}};
        CARNET_CHECK(
            service.Create("Observation", bp, "identifier=" + demo + "|tension-1", infirmier));
    }

    auto entry = [&](const std::string& type, const std::string& id, json::object r) {
        r["resourceType"] = type;
        r["id"] = id;
        return json::object{{"fullUrl", "urn:uuid:" + id},
                            {"resource", std::move(r)},
                            {"request", json::object{{"method", "POST"}, {"url", type}}}};
    };
    json::array entries{
        entry("MedicationDispense", "demo-feed-dispense-1",
              {{"status", "completed"},
               {"medicationCodeableConcept",
                json::object{{"text", "Amoxicilline 1 g, 12 comprimés"}}},
               {"subject", subject},
               {"whenHandedOver", "2026-09-02"}}),
        entry("Immunization", "demo-feed-vaccine-1",
              {{"status", "completed"},
               {"vaccineCode",
                json::object{
                    {"coding", json::array{json::object{{"system", "http://hl7.org/fhir/sid/cvx"},
                                                        {"code", "140"}}}},
                    {"text", "Vaccin contre la grippe saisonnière"}}},
               {"patient", subject},
               {"occurrenceDateTime", "2025-10-21"}}),
        entry("Procedure", "demo-feed-procedure-1",
              {{"status", "completed"},
               {"code", json::object{{"text", "Radiographie du thorax"}}},
               {"subject", subject},
               {"performedDateTime", "2025-02-14"}})};
    api::BundleOptions bo;
    bo.keep_client_ids = true;
    bo.feed = api::FeedSource{};
    api::BundleStats stats;
    CARNET_TRY(auto answer, service.ProcessBundle(json::object{{"resourceType", "Bundle"},
                                                               {"type", "batch"},
                                                               {"entry", std::move(entries)}},
                                                  "http://localhost/fhir", bo, &stats));
    (void)answer;
    if (stats.failed > 0) return Error::Invalid("the demo insurer feed was refused");
    return Ok();
}

}  // namespace

Result<std::vector<DemoAccount>> EnsureDemoAccounts(auth::AuthService& auth, store::Store& store,
                                                    api::FhirService& fhir) {
    std::vector<DemoAccount> out;
    // Demo records: adults and a minor among the loaded patients.
    CARNET_TRY(auto reader, store.OpenReader());
    store::SearchQuery q;
    q.type = "Patient";
    q.count = 200;
    CARNET_TRY(auto page, reader->Search(q));
    reader.reset();
    struct Candidate {
        std::string id, given, family, birth_date;
        int age = -1;
    };
    std::vector<Candidate> adults, minors;
    const int64_t now_us = std::chrono::duration_cast<std::chrono::microseconds>(
                               std::chrono::system_clock::now().time_since_epoch())
                               .count();
    for (const auto& rv : page.resources) {
        auto v = fhir::ParseJson(rv.json, 64);
        if (!v.ok() || !v->is_object()) continue;
        const auto& o = v->as_object();
        if (o.if_contains("deceasedDateTime") || o.if_contains("deceasedBoolean")) continue;
        Candidate c;
        c.id = rv.id;
        NameOf(o, c.given, c.family);
        c.birth_date = Str(o, "birthDate");
        c.age = auth::AgeInYears(c.birth_date, now_us);
        if (c.age < 0 || c.family.empty()) continue;
        if (c.age >= 18 && c.age < 85) adults.push_back(c);
        if (c.age < 18) minors.push_back(c);
    }
    auto patient = [&](const Candidate& c, const std::string& base13, const std::string& email,
                       const std::string& role, bool activate, const std::string& note) -> Status {
        auth::NewPatient p;
        p.ins = auth::InsWithKey(base13);
        p.given = c.given;
        p.family = c.family;
        p.birth_date = c.birth_date;
        p.patient_id = c.id;
        if (!activate) p.email = email;
        CARNET_TRY(auto created, auth.CreatePatient(p, "demo"));
        if (activate && !created.existed) {
            CARNET_CHECK(auth.SetPasswordForSetup(created.account.id, kDemoPassword, email, ""));
        }
        out.push_back(DemoAccount{role, activate ? email : p.ins, activate ? kDemoPassword : "",
                                  note.empty() ? c.given + " " + c.family : note});
        return Ok();
    };
    if (adults.size() >= 3) {
        CARNET_CHECK(
            patient(adults[0], "2800175056001", "patient@carnet.localhost", "Patient·e", true, ""));
        CARNET_CHECK(
            patient(adults[1], "1780275056002", "parent@carnet.localhost", "Parent", true, ""));
        CARNET_CHECK(patient(adults[2], "2900375056003", "activation@carnet.localhost", "À activer",
                             false,
                             "code d'activation dans l'outbox (activation@carnet.localhost)"));
    }
    if (adults.size() >= 5) {
        CARNET_CHECK(patient(adults[4], "2950675056006", "fermeture@carnet.localhost",
                             "Pour essayer la fermeture", true, ""));
    }
    if (adults.size() >= 4) {
        CARNET_CHECK(patient(adults[3], "1880575056005", "opposition@carnet.localhost",
                             "Pour essayer l'opposition", false,
                             "code d'activation dans l'outbox (opposition@carnet.localhost)"));
    }
    if (minors.empty() && adults.size() >= 2) {
        // Synthea's sample has no living child: the demo gets one, child of the "Parent".
        Candidate child;
        child.id = "demo-enfant";
        child.given = "Léa";
        child.family = adults[1].family;
        child.birth_date = "2016-03-14";
        auto existing = fhir.Read("Patient", child.id);
        if (!existing.ok()) {
            json::object r{{"resourceType", "Patient"},
                           {"id", child.id},
                           {"name", json::array{json::object{
                                        {"use", "official"},
                                        {"family", child.family},
                                        {"given", json::array{json::value(child.given)}}}}},
                           {"gender", "female"},
                           {"birthDate", child.birth_date}};
            CARNET_CHECK(fhir.Update("Patient", child.id, std::move(r), std::nullopt));
        }
        minors.push_back(child);
    }
    if (!minors.empty() && adults.size() >= 2) {
        CARNET_CHECK(patient(minors[0], "2160475056004", "", "Mineure (gérée par Parent)", false,
                             minors[0].given + " " + minors[0].family));
        out.back().login = "(pas de connexion : via le compte Parent)";
        CARNET_TRY(auto parent, auth.FindByLogin("parent@carnet.localhost"));
        if (parent) CARNET_CHECK(auth.AddRepresentative(minors[0].id, parent->id, "demo"));
    }
    struct Pro {
        const char* base10;
        const char* given;
        const char* family;
        const char* profession;
        const char* specialty;
        const char* email;
        const char* role;
    };
    const Pro pros[] = {
        {"1000000011", "Claire", "Bernard", "medecin", "Médecine générale",
         "medecin@carnet.localhost", "Médecin"},
        {"1000000022", "Karim", "Haddad", "pharmacien", "", "pharmacien@carnet.localhost",
         "Pharmacien"},
        {"1000000033", "Sophie", "Leroy", "infirmier", "", "infirmier@carnet.localhost",
         "Infirmière"},
        {"1000000044", "Lucas", "Moreau", "masseur-kinesitherapeute", "", "kine@carnet.localhost",
         "Kinésithérapeute"},
        {"1000000055", "Nadia", "Benali", "medecin", "regulation-samu", "urgences@carnet.localhost",
         "Médecin régulateur SAMU"},
    };
    std::map<std::string, std::string> pro_accounts;  // e-mail → account id
    for (const auto& p : pros) {
        auth::NewProfessional n;
        n.rpps = auth::RppsWithCheckDigit(p.base10);
        n.given = p.given;
        n.family = p.family;
        n.profession = p.profession;
        n.specialty = p.specialty;
        n.organisation = "Maison de santé de démonstration";
        CARNET_TRY(auto created, auth.CreateProfessional(n, "demo"));
        if (!created.existed) {
            CARNET_CHECK(auth.SetPasswordForSetup(created.account.id, kDemoPassword, p.email, ""));
        }
        pro_accounts[p.email] = created.account.id;
        out.push_back(DemoAccount{p.role, p.email, kDemoPassword, "RPPS " + n.rpps});
    }
    // Who may open what in the demo: the médecin is the GP of the demo patient and of the
    // child, the pharmacist and the nurse are authorised by the patient (the nurse by the
    // parent too); the physiotherapist
    // has no access until the patient hands over a code.
    std::vector<std::tuple<std::string, std::string, std::string>> relations;
    if (!adults.empty()) {
        relations.emplace_back(adults[0].id, pro_accounts["medecin@carnet.localhost"],
                               "medecin-traitant");
        relations.emplace_back(adults[0].id, pro_accounts["pharmacien@carnet.localhost"],
                               "pharmacien-correspondant");
        relations.emplace_back(adults[0].id, pro_accounts["infirmier@carnet.localhost"], "");
    }
    if (adults.size() >= 2) {
        // The parent has a home-care nurse too (she wrote a measure in the record).
        relations.emplace_back(adults[1].id, pro_accounts["infirmier@carnet.localhost"], "");
    }
    if (!minors.empty()) {
        relations.emplace_back(minors[0].id, pro_accounts["medecin@carnet.localhost"],
                               "medecin-traitant");
    }
    CARNET_CHECK(store.Write([&](store::WriteTxn& txn) -> Status {
        for (const auto& [pid, account, roles] : relations) {
            if (account.empty()) continue;
            CARNET_CHECK(txn.Exec(
                "INSERT INTO access_relations(patient_id, professional_account, status, via_code, "
                "roles, created_at, updated_at, updated_by) VALUES (?, ?, 'authorised', 0, ?, ?, "
                "?, 'demo') ON CONFLICT(patient_id, professional_account) DO NOTHING",
                {pid, account, roles, now_us, now_us}));
        }
        return Ok();
    }));
    if (!adults.empty() && !pro_accounts["medecin@carnet.localhost"].empty()) {
        // Not fatal: on a restart the patient may have blocked the médecin since.
        std::pair<std::string, std::string> nurse;
        if (adults.size() >= 2) nurse = {adults[1].id, pro_accounts["infirmier@carnet.localhost"]};
        Status seeded =
            SeedDemoProfile(fhir, adults[0].id, pro_accounts["medecin@carnet.localhost"], nurse);
        if (!seeded.ok()) {
            spdlog::warn("demo profile entries not written: {}", seeded.error().Summary());
        }
        Status message = SeedDemoMessage(store, fhir.clock(), adults[0].id,
                                         pro_accounts["medecin@carnet.localhost"]);
        if (!message.ok()) {
            spdlog::warn("demo message not written: {}", message.error().Summary());
        }
    }
    for (const auto& [kind, login, role] : {std::tuple{"advisor", "conseiller", "Conseiller"},
                                            std::tuple{"admin", "admin", "Admin"}}) {
        auth::NewStaff s;
        s.kind = kind;
        s.login = login;
        s.given = role;
        s.family = "Démo";
        CARNET_TRY(auto created, auth.CreateStaff(s, "demo"));
        if (!created.existed) {
            CARNET_CHECK(auth.SetPasswordForSetup(created.account.id, kDemoPassword,
                                                  std::string(login) + "@carnet.localhost", ""));
        }
        out.push_back(DemoAccount{role, login, kDemoPassword, "console opérateur"});
    }
    return out;
}

}  // namespace carnet::admin
