#include "profile/summary.hpp"

#include <algorithm>
#include <array>
#include <boost/json.hpp>
#include <charconv>
#include <set>
#include <string_view>
#include <utility>

#include "core/clock.hpp"
#include "core/ids.hpp"
#include "profile/sections.hpp"

namespace carnet::profile {

namespace json = boost::json;

namespace {

constexpr std::string_view kLoinc = "http://loinc.org";
constexpr std::string_view kEmptyReasonSystem =
    "http://terminology.hl7.org/CodeSystem/list-empty-reason";
constexpr std::string_view kXhtmlOpen = "<div xmlns=\"http://www.w3.org/1999/xhtml\">";

/// The IPS sections (http://hl7.org/fhir/uv/ips/, Composition-uv-ips), in the order the
/// document shows them. Problems, allergies and medications are the IPS's required sections:
/// when empty they assert "nothing known"; the others only say the record holds nothing.
enum Ips : size_t {
    kProblems,
    kPastIllness,
    kAllergies,
    kMedications,
    kImmunizations,
    kProcedures,
    kVitalSigns,
    kResults,
    kSocialHistory,
    kAdvanceDirectives,
    kFunctionalStatus,
    kIpsCount
};

struct SectionDef {
    std::string_view title;  // French: the document is read by the patient's caregivers here
    std::string_view code, display;  // LOINC
    std::string_view empty_reason, empty_display;
};

constexpr std::array<SectionDef, kIpsCount> kSections = {{
    {"Problèmes de santé actifs", "11450-4", "Problem list - Reported", "nilknown", "Nil Known"},
    {"Antécédents médicaux", "11348-0", "History of Past illness Note", "unavailable",
     "Unavailable"},
    {"Allergies et intolérances", "48765-2", "Allergies and adverse reactions Document", "nilknown",
     "Nil Known"},
    {"Traitements", "10160-0", "History of Medication use Narrative", "nilknown", "Nil Known"},
    {"Vaccinations", "11369-6", "History of Immunization Narrative", "unavailable", "Unavailable"},
    {"Actes", "47519-4", "History of Procedures Document", "unavailable", "Unavailable"},
    {"Mesures", "8716-3", "Vital signs", "unavailable", "Unavailable"},
    {"Résultats (groupe sanguin)", "30954-2", "Relevant diagnostic tests/laboratory data Narrative",
     "unavailable", "Unavailable"},
    {"Mode de vie", "29762-2", "Social history Narrative", "unavailable", "Unavailable"},
    {"Directives anticipées", "42348-3", "Advance directives", "unavailable", "Unavailable"},
    {"Handicap", "47420-5", "Functional status assessment note", "unavailable", "Unavailable"},
}};

std::string_view Str(const json::object& o, std::string_view key) {
    const auto* v = o.if_contains(key);
    return v && v->is_string() ? std::string_view(v->as_string()) : std::string_view();
}

const json::object* Obj(const json::object& o, std::string_view key) {
    const auto* v = o.if_contains(key);
    return v && v->is_object() ? &v->as_object() : nullptr;
}

const json::object* FirstObj(const json::object& o, std::string_view key) {
    const auto* v = o.if_contains(key);
    if (!v || !v->is_array() || v->as_array().empty()) return nullptr;
    const auto& first = v->as_array().front();
    return first.is_object() ? &first.as_object() : nullptr;
}

/// What a person reads for a CodeableConcept: its text, else a coding's display, else code.
std::string ConceptText(const json::object* cc) {
    if (cc == nullptr) return {};
    if (auto t = Str(*cc, "text"); !t.empty()) return std::string(t);
    const auto* codings = cc->if_contains("coding");
    if (!codings || !codings->is_array()) return {};
    for (const auto& c : codings->as_array()) {
        if (!c.is_object()) continue;
        if (auto d = Str(c.as_object(), "display"); !d.empty()) return std::string(d);
    }
    for (const auto& c : codings->as_array()) {
        if (!c.is_object()) continue;
        if (auto d = Str(c.as_object(), "code"); !d.empty()) return std::string(d);
    }
    return {};
}

std::string Number(const json::value& v) {
    if (v.is_int64()) return std::to_string(v.as_int64());
    if (v.is_uint64()) return std::to_string(v.as_uint64());
    if (!v.is_double()) return {};
    char buf[32];
    auto r = std::to_chars(buf, buf + sizeof buf, v.as_double());
    return r.ec == std::errc() ? std::string(buf, r.ptr) : std::string();
}

std::string QuantityText(const json::object* q) {
    if (q == nullptr) return {};
    const auto* value = q->if_contains("value");
    if (!value || !value->is_number()) return {};
    std::string out = Number(*value);
    std::string_view unit = Str(*q, "unit");
    if (unit.empty()) unit = Str(*q, "code");
    if (!unit.empty()) out.append(" ").append(unit);
    return out;
}

std::string ObservationValue(const json::object& o) {
    if (auto q = QuantityText(Obj(o, "valueQuantity")); !q.empty()) return q;
    if (auto s = Str(o, "valueString"); !s.empty()) return std::string(s);
    if (auto c = ConceptText(Obj(o, "valueCodeableConcept")); !c.empty()) return c;
    // A blood pressure panel carries its values in components: "125 mm[Hg] / 80 mm[Hg]".
    std::string parts;
    if (const auto* components = o.if_contains("component"); components && components->is_array()) {
        for (const auto& c : components->as_array()) {
            if (!c.is_object()) continue;
            auto q = QuantityText(Obj(c.as_object(), "valueQuantity"));
            if (q.empty()) continue;
            if (!parts.empty()) parts += " / ";
            parts += q;
        }
    }
    return parts;
}

std::string Joined(std::string head, std::string_view tail, std::string_view separator) {
    if (tail.empty()) return head;
    if (head.empty()) return std::string(tail);
    return head.append(separator).append(tail);
}

/// The line a reader sees for an entry (before escaping).
std::string DisplayText(const json::object& r, std::string_view type) {
    std::string text;
    if (type == "Observation") {
        text = Joined(ConceptText(Obj(r, "code")), ObservationValue(r), " : ");
    } else if (type == "Condition" || type == "AllergyIntolerance" || type == "Procedure") {
        text = ConceptText(Obj(r, "code"));
        if (type == "AllergyIntolerance") {
            const json::object* reaction = FirstObj(r, "reaction");
            const json::object* manifestation =
                reaction ? FirstObj(*reaction, "manifestation") : nullptr;
            text = Joined(std::move(text), ConceptText(manifestation), " — réaction : ");
        }
    } else if (type == "MedicationStatement" || type == "MedicationDispense") {
        text = ConceptText(Obj(r, "medicationCodeableConcept"));
        if (text.empty()) {
            if (const json::object* ref = Obj(r, "medicationReference"))
                text = std::string(Str(*ref, "display"));
        }
        const json::object* dosage =
            FirstObj(r, type == "MedicationStatement" ? "dosage" : "dosageInstruction");
        if (dosage) text = Joined(std::move(text), Str(*dosage, "text"), " — ");
    } else if (type == "Immunization") {
        text = ConceptText(Obj(r, "vaccineCode"));
    } else if (type == "Consent") {
        if (const json::object* a = Obj(r, "sourceAttachment"))
            text = std::string(Str(*a, "title"));
        if (text.empty()) {
            if (const json::object* rule = Obj(r, "policyRule")) text = ConceptText(rule);
        }
        if (text.empty()) text = "Directives anticipées";
    }
    return text.empty() ? std::string(type) : text;
}

/// XML escaping of text and attribute values: entries hold what patients typed, and a
/// narrative is XHTML that viewers render.
void AppendEscaped(std::string& out, std::string_view text) {
    for (char c : text) {
        switch (c) {
            case '&':
                out += "&amp;";
                break;
            case '<':
                out += "&lt;";
                break;
            case '>':
                out += "&gt;";
                break;
            case '"':
                out += "&quot;";
                break;
            case '\'':
                out += "&#39;";
                break;
            default:
                out += c;
        }
    }
}

bool HasCodeIn(const json::object& r, std::string_view field,
               std::initializer_list<std::string_view> codes) {
    const json::object* cc = Obj(r, field);
    const auto* codings = cc ? cc->if_contains("coding") : nullptr;
    if (!codings || !codings->is_array()) return false;
    for (const auto& c : codings->as_array()) {
        if (!c.is_object()) continue;
        const std::string_view code = Str(c.as_object(), "code");
        if (std::find(codes.begin(), codes.end(), code) != codes.end()) return true;
    }
    return false;
}

/// Entries withdrawn by their author are not part of the patient's summary.
bool EnteredInError(const json::object& r) {
    return Str(r, "status") == "entered-in-error" ||
           HasCodeIn(r, "verificationStatus", {"entered-in-error"});
}

/// The IPS section of a profile entry, kIpsCount for none (family history, stays, contacts,
/// organ donation: the IPS has no section for them, and a summary is not the whole record).
size_t IpsSectionOf(const json::object& r) {
    const std::string_view section = SectionOf(r);
    if (section == "conditions") {
        // A condition that is over is history, not a current problem; no status: current.
        return HasCodeIn(r, "clinicalStatus", {"inactive", "remission", "resolved"}) ? kPastIllness
                                                                                     : kProblems;
    }
    if (section == "disability") return kFunctionalStatus;
    if (section == "allergies") return kAllergies;
    if (section == "treatments" || section == "dispensations") return kMedications;
    if (section == "vaccinations") return kImmunizations;
    if (section == "procedures") return kProcedures;
    if (section == "measurements") return kVitalSigns;
    if (section == "blood_group") return kResults;
    if (section == "lifestyle") return kSocialHistory;
    if (section == "advance_directives") return kAdvanceDirectives;
    return kIpsCount;
}

struct Item {
    const json::object* resource;
    std::string type, id, date;
};

json::object Coding(std::string_view system, std::string_view code, std::string_view display) {
    return json::object{{"system", system}, {"code", code}, {"display", display}};
}

json::object Section(const SectionDef& def, const std::vector<Item>& items) {
    std::string div(kXhtmlOpen);
    json::object section{
        {"title", def.title},
        {"code", json::object{{"coding", json::array{Coding(kLoinc, def.code, def.display)}}}}};
    if (items.empty()) {
        div += "<p>Aucune information</p></div>";
        section["text"] = json::object{{"status", "generated"}, {"div", div}};
        section["emptyReason"] = json::object{
            {"coding",
             json::array{Coding(kEmptyReasonSystem, def.empty_reason, def.empty_display)}}};
        return section;
    }
    json::array entry;
    div += "<ul>";
    for (const Item& item : items) {
        div += "<li>";
        AppendEscaped(div, DisplayText(*item.resource, item.type));
        if (!item.date.empty()) {
            div += " (";
            AppendEscaped(div, item.date.substr(0, 10));
            div += ')';
        }
        div += "</li>";
        entry.push_back(json::object{{"reference", item.type + "/" + item.id}});
    }
    div += "</ul></div>";
    section["text"] = json::object{{"status", "generated"}, {"div", div}};
    section["entry"] = std::move(entry);
    return section;
}

}  // namespace

json::object BuildSummary(const SummaryInput& input) {
    std::string base = input.base_url;
    while (!base.empty() && base.back() == '/') base.pop_back();
    auto full_url = [&](std::string_view type, std::string_view id) {
        std::string url = base;
        url.append("/").append(type).append("/").append(id);
        return url;
    };

    std::array<std::vector<Item>, kIpsCount> by_section;
    std::set<std::pair<std::string, std::string>> seen;
    for (const json::object* r : input.entries) {
        if (r == nullptr || EnteredInError(*r)) continue;
        std::string type(Str(*r, "resourceType"));
        std::string id(Str(*r, "id"));
        // A section can only point at an entry it can name.
        if (!LooksLikeResourceType(type) || !IsValidFhirId(id)) continue;
        const size_t s = IpsSectionOf(*r);
        if (s == kIpsCount || !seen.insert({type, id}).second) continue;
        by_section[s].push_back(Item{r, std::move(type), std::move(id), ClinicalDate(*r)});
    }
    // Newest first, as the profile shows them; undated entries last. Dates are compared on
    // their day (YYYY-MM-DD): time zones make a longer string comparison wrong.
    for (auto& items : by_section) {
        std::stable_sort(items.begin(), items.end(), [](const Item& a, const Item& b) {
            if (a.date.empty() != b.date.empty()) return b.date.empty();
            return a.date.substr(0, 10) > b.date.substr(0, 10);
        });
    }

    const std::string timestamp = FormatInstant(input.now_us);
    // Ids are per type, so the Composition may share the Bundle's; the suffix only helps a
    // reader tell them apart. 62 characters keep it within FHIR's 64.
    const std::string composition_id = input.bundle_id.substr(0, 62) + "-c";
    const std::string patient_id =
        input.patient != nullptr ? std::string(Str(*input.patient, "id")) : std::string();

    json::array sections;
    for (size_t s = 0; s < kIpsCount; ++s) sections.push_back(Section(kSections[s], by_section[s]));
    json::object composition{
        {"resourceType", "Composition"},
        {"id", composition_id},
        {"status", "final"},
        {"type", json::object{{"coding", json::array{Coding(kLoinc, "60591-5",
                                                            "Patient summary Document")}}}}};
    if (!patient_id.empty()) {
        composition["subject"] = json::object{{"reference", "Patient/" + patient_id}};
    }
    composition["date"] = timestamp;
    composition["author"] = json::array{json::object{{"display", input.author_display}}};
    composition["title"] = "Résumé patient — International Patient Summary";
    composition["section"] = std::move(sections);

    json::array entries;
    entries.push_back(json::object{{"fullUrl", full_url("Composition", composition_id)},
                                   {"resource", std::move(composition)}});
    if (!patient_id.empty()) {
        entries.push_back(json::object{{"fullUrl", full_url("Patient", patient_id)},
                                       {"resource", *input.patient}});
    }
    for (const auto& items : by_section) {
        for (const Item& item : items) {
            entries.push_back(json::object{{"fullUrl", full_url(item.type, item.id)},
                                           {"resource", *item.resource}});
        }
    }
    return json::object{{"resourceType", "Bundle"},
                        {"id", input.bundle_id},
                        {"identifier", json::object{{"system", "urn:ietf:rfc:3986"},
                                                    {"value", "urn:uuid:" + input.bundle_id}}},
                        {"type", "document"},
                        {"timestamp", timestamp},
                        {"entry", std::move(entries)}};
}

}  // namespace carnet::profile
