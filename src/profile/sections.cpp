#include "profile/sections.hpp"

#include <boost/json.hpp>
#include <initializer_list>
#include <utility>

namespace carnet::profile {

namespace json = boost::json;

namespace {

constexpr std::string_view kLoinc = "http://loinc.org";
constexpr std::string_view kObservationCategory =
    "http://terminology.hl7.org/CodeSystem/observation-category";
constexpr std::string_view kConsentScope = "http://terminology.hl7.org/CodeSystem/consentscope";

std::string_view Str(const json::object& o, std::string_view key) {
    const auto* v = o.if_contains(key);
    return v && v->is_string() ? std::string_view(v->as_string()) : std::string_view();
}

const json::object* Obj(const json::object& o, std::string_view key) {
    const auto* v = o.if_contains(key);
    return v && v->is_object() ? &v->as_object() : nullptr;
}

/// Every coding of a CodeableConcept field (or of each element of an array of them), as
/// access/classify.cpp reads them: malformed parts are skipped, not errors, because clinical
/// software may send resources the portal never wrote.
template <typename Fn>
void ForCodings(const json::object& resource, std::string_view field, Fn&& fn) {
    const auto* v = resource.if_contains(field);
    if (!v) return;
    auto concept_codings = [&](const json::value& cc) {
        if (!cc.is_object()) return;
        const auto* codings = cc.as_object().if_contains("coding");
        if (!codings || !codings->is_array()) return;
        for (const auto& c : codings->as_array()) {
            if (c.is_object()) fn(Str(c.as_object(), "system"), Str(c.as_object(), "code"));
        }
    };
    if (v->is_array()) {
        for (const auto& cc : v->as_array()) concept_codings(cc);
    } else {
        concept_codings(*v);
    }
}

bool HasCoding(const json::object& resource, std::string_view field, std::string_view system,
               std::string_view code) {
    bool found = false;
    ForCodings(resource, field, [&](std::string_view s, std::string_view c) {
        found = found || (s == system && c == code);
    });
    return found;
}

/// Laboratory results are reports, not profile measures. Matched on the code alone, as
/// access::Classify does: if the two disagreed, an Observation the access grid files under
/// reports (class 10) would show in the profile's measurements.
bool IsLaboratory(const json::object& observation) {
    bool found = false;
    ForCodings(observation, "category",
               [&](std::string_view, std::string_view c) { found = found || c == "laboratory"; });
    return found;
}

std::string_view ObservationSection(const json::object& o) {
    if (HasCoding(o, "code", kLoinc, "882-1")) return "blood_group";
    if (HasCoding(o, "code", kProfileSystem, "organ-donation")) return "organ_donation";
    if (HasCoding(o, "category", kObservationCategory, "social-history")) return "lifestyle";
    if (IsLaboratory(o)) return "";
    // Questionnaire scores, examination findings, imaging and therapy notes are not the
    // person's measures (a Synthea record holds hundreds of survey answers): left out.
    for (std::string_view other :
         {"survey", "exam", "imaging", "procedure", "therapy", "activity"}) {
        if (HasCoding(o, "category", kObservationCategory, other)) return "";
    }
    return "measurements";
}

/// A hospital stay: an inpatient, acute, non-acute, short-stay or emergency encounter
/// (v3-ActCode). Consultations and home visits are not stays: a long life has thousands.
bool IsStay(const json::object& encounter) {
    const auto* cls = Obj(encounter, "class");
    if (cls == nullptr) return false;
    const std::string_view code = Str(*cls, "code");
    return code == "IMP" || code == "ACUTE" || code == "NONAC" || code == "SS" || code == "EMER";
}

/// The first non-empty string among `paths`, each a chain of object keys.
std::string FirstOf(const json::object& o,
                    std::initializer_list<std::initializer_list<std::string_view>> paths) {
    for (const auto& path : paths) {
        const json::object* at = &o;
        std::string_view leaf;
        size_t i = 0;
        for (std::string_view key : path) {
            if (++i == path.size()) {
                leaf = Str(*at, key);
            } else {
                at = Obj(*at, key);
                if (at == nullptr) break;
            }
        }
        if (at != nullptr && !leaf.empty()) return std::string(leaf);
    }
    return {};
}

}  // namespace

const std::vector<std::string_view>& SectionKeys() {
    static const std::vector<std::string_view> keys = {
        "blood_group",  "organ_donation", "lifestyle",  "measurements",       "disability",
        "conditions",   "family_history", "allergies",  "treatments",         "dispensations",
        "vaccinations", "stays",          "procedures", "advance_directives", "contacts"};
    return keys;
}

const std::vector<std::string>& ProfileTypes() {
    static const std::vector<std::string> types = {"Observation",         "Condition",
                                                   "FamilyMemberHistory", "AllergyIntolerance",
                                                   "MedicationStatement", "MedicationDispense",
                                                   "Immunization",        "Encounter",
                                                   "Procedure",           "Consent",
                                                   "RelatedPerson"};
    return types;
}

std::string_view SectionOf(const json::object& resource) {
    const std::string_view type = Str(resource, "resourceType");
    if (type == "Observation") return ObservationSection(resource);
    if (type == "Condition") {
        return HasCoding(resource, "category", kProfileSystem, "disability") ? "disability"
                                                                             : "conditions";
    }
    if (type == "FamilyMemberHistory") return "family_history";
    if (type == "AllergyIntolerance") return "allergies";
    if (type == "MedicationStatement") return "treatments";
    if (type == "MedicationDispense") return "dispensations";
    if (type == "Immunization") return "vaccinations";
    if (type == "Encounter") return IsStay(resource) ? "stays" : "";
    if (type == "Procedure") return "procedures";
    // Other consents (privacy, research, treatment) are not part of the profile.
    if (type == "Consent") return IsAdvanceDirective(resource) ? "advance_directives" : "";
    if (type == "RelatedPerson") return "contacts";
    return "";
}

std::string_view TypeOfSection(std::string_view section) {
    static const std::pair<std::string_view, std::string_view> kTypes[] = {
        {"blood_group", "Observation"},
        {"organ_donation", "Observation"},
        {"lifestyle", "Observation"},
        {"measurements", "Observation"},
        {"disability", "Condition"},
        {"conditions", "Condition"},
        {"family_history", "FamilyMemberHistory"},
        {"allergies", "AllergyIntolerance"},
        {"treatments", "MedicationStatement"},
        {"dispensations", "MedicationDispense"},
        {"vaccinations", "Immunization"},
        {"stays", "Encounter"},
        {"procedures", "Procedure"},
        {"advance_directives", "Consent"},
        {"contacts", "RelatedPerson"}};
    for (const auto& [key, type] : kTypes) {
        if (key == section) return type;
    }
    return "";
}

std::string ClinicalDate(const json::object& r) {
    const std::string_view type = Str(r, "resourceType");
    // Per type, the element that says when the thing happened comes first; when it was
    // recorded is the fallback (a condition with no known onset is still dated).
    if (type == "Condition")
        return FirstOf(r, {{"onsetDateTime"}, {"onsetPeriod", "start"}, {"recordedDate"}});
    if (type == "Observation") {
        return FirstOf(r, {{"effectiveDateTime"},
                           {"effectivePeriod", "start"},
                           {"effectiveInstant"},
                           {"issued"}});
    }
    if (type == "Immunization") return FirstOf(r, {{"occurrenceDateTime"}, {"occurrenceString"}});
    if (type == "Encounter") return FirstOf(r, {{"period", "start"}});
    if (type == "Procedure")
        return FirstOf(r, {{"performedDateTime"}, {"performedPeriod", "start"}});
    if (type == "MedicationStatement")
        return FirstOf(r, {{"effectiveDateTime"}, {"effectivePeriod", "start"}, {"dateAsserted"}});
    if (type == "MedicationDispense") return FirstOf(r, {{"whenHandedOver"}, {"whenPrepared"}});
    if (type == "AllergyIntolerance") return FirstOf(r, {{"onsetDateTime"}, {"recordedDate"}});
    if (type == "FamilyMemberHistory") return FirstOf(r, {{"date"}});
    if (type == "Consent") return FirstOf(r, {{"dateTime"}});
    if (type == "RelatedPerson") return FirstOf(r, {{"period", "start"}});
    return {};
}

bool IsAdvanceDirective(const json::object& resource) {
    if (Str(resource, "resourceType") != "Consent") return false;
    return HasCoding(resource, "scope", kConsentScope, "adr") ||
           HasCoding(resource, "category", kLoinc, "42348-3");
}

bool HolderOnly(std::string_view section) {
    return section == "advance_directives" || section == "contacts" || section == "organ_donation";
}

}  // namespace carnet::profile
