#include "access/classify.hpp"

#include <boost/json.hpp>
#include <map>
#include <utility>

#include "fhir/json.hpp"

namespace carnet::access {

namespace embedded {
extern const std::string_view kDocumentClasses;
}  // namespace embedded

namespace json = boost::json;

namespace {

struct TypeEntry {
    Category category;
    bool sensitive;
};

struct Table {
    std::string class_system;
    Category fallback = Category::kC10;
    std::map<std::pair<std::string, std::string>, TypeEntry> types;
};

const Table& DocumentTable() {
    static const Table table = [] {
        Table t;
        auto v = fhir::ParseJson(embedded::kDocumentClasses, 8);
        if (!v.ok() || !v->is_object()) std::abort();  // shipped file, checked by a test
        const auto& o = v->as_object();
        t.class_system = std::string(o.at("class_system").as_string());
        t.fallback = CategoryFromCode(o.at("default_class").as_string()).value_or(Category::kC10);
        for (const auto& e : o.at("types").as_array()) {
            const auto& row = e.as_object();
            auto c = CategoryFromCode(row.at("class").as_string());
            if (!c) std::abort();
            const auto* s = row.if_contains("sensitive");
            t.types[{std::string(row.at("system").as_string()),
                     std::string(row.at("code").as_string())}] =
                TypeEntry{*c, s && s->is_bool() && s->as_bool()};
        }
        return t;
    }();
    return table;
}

std::string_view Str(const json::object& o, std::string_view key) {
    const auto* v = o.if_contains(key);
    return v && v->is_string() ? std::string_view(v->as_string()) : std::string_view();
}

/// Every coding of a CodeableConcept field (or of each element of an array of them).
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

Classification Document(const json::object& resource) {
    const Table& t = DocumentTable();
    Classification out{t.fallback, false};
    bool found_type = false;
    ForCodings(resource, "type", [&](std::string_view system, std::string_view code) {
        if (found_type) return;
        auto it = t.types.find({std::string(system), std::string(code)});
        if (it != t.types.end()) {
            out = {it->second.category, it->second.sensitive};
            found_type = true;
        }
    });
    // An explicit DMP class in the category wins over the type's class (not its sensitivity).
    ForCodings(resource, "category", [&](std::string_view system, std::string_view code) {
        if (system != t.class_system) return;
        if (auto c = CategoryFromCode(code); c && *c != Category::kRecord) out.category = *c;
    });
    return out;
}

bool HasCategory(const json::object& resource, std::string_view wanted) {
    bool found = false;
    ForCodings(resource, "category",
               [&](std::string_view, std::string_view code) { found = found || code == wanted; });
    return found;
}

}  // namespace

bool IsProfileCategory(Category c) {
    return c == Category::kConditions || c == Category::kAllergies || c == Category::kTreatments ||
           c == Category::kImmunizations || c == Category::kMeasurements;
}

Category CategoryOfType(std::string_view type) {
    if (type == "Patient") return Category::kRecord;
    if (type == "Condition" || type == "FamilyMemberHistory") return Category::kConditions;
    if (type == "AllergyIntolerance") return Category::kAllergies;
    if (type == "MedicationStatement") return Category::kTreatments;
    if (type == "Immunization" || type == "ImmunizationRecommendation")
        return Category::kImmunizations;
    if (type == "Observation") return Category::kMeasurements;
    if (type == "ImagingStudy" || type == "Media") return Category::kC31;
    if (type == "MedicationRequest" || type == "ServiceRequest" || type == "DeviceRequest" ||
        type == "VisionPrescription" || type == "NutritionOrder")
        return Category::kC42;
    if (type == "MedicationDispense" || type == "SupplyDelivery") return Category::kC43;
    if (type == "CarePlan" || type == "Goal" || type == "CareTeam") return Category::kC44;
    if (type == "MedicationAdministration") return Category::kC45;
    if (type == "Claim" || type == "ClaimResponse" || type == "ExplanationOfBenefit" ||
        type == "Coverage" || type == "CoverageEligibilityRequest" ||
        type == "CoverageEligibilityResponse" || type == "Invoice" || type == "Account")
        return Category::kC60;
    if (type == "Encounter" || type == "EpisodeOfCare" || type == "Appointment" ||
        type == "AppointmentResponse" || type == "Schedule" || type == "Consent" ||
        type == "Provenance" || type == "Flag" || type == "Task" || type == "RelatedPerson" ||
        type == "Person" || type == "Basic" || type == "List")
        return Category::kC95;
    if (type == "Composition") return Category::kC11;
    // DocumentReference (its own class), DiagnosticReport, Procedure and the rest: reports.
    return Category::kC10;
}

Classification Classify(const json::object& resource, bool deposited_by_patient) {
    const std::string_view type = Str(resource, "resourceType");
    if (type == "Patient") return {Category::kRecord, false};
    if (deposited_by_patient) {
        // A profile entry keeps its own column whoever wrote it: the grid says which
        // professions see allergies or vaccinations, the patient's own as much as a doctor's.
        // What the patient deposits otherwise (documents, notes) is class 90.
        const Classification own = Classify(resource, false);
        if (IsProfileCategory(own.category)) return {own.category, false};
        return {Category::kC90, false};
    }
    if (type == "DocumentReference" || type == "Composition") return Document(resource);
    if (type == "Observation") {
        // Laboratory results are reports (10); vital signs and other measures are the profile's.
        if (HasCategory(resource, "laboratory")) return {Category::kC10, false};
        return {Category::kMeasurements, false};
    }
    if (type == "DiagnosticReport") {
        if (HasCategory(resource, "RAD") || HasCategory(resource, "LP29684-5"))
            return {Category::kC31, false};
        return {Category::kC10, false};
    }
    return {CategoryOfType(type), false};
}

}  // namespace carnet::access
