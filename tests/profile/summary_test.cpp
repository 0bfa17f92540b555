#include "profile/summary.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "core/clock.hpp"
#include "fhir/json.hpp"
#include "fhir/validate.hpp"

namespace carnet::profile {
namespace {

namespace json = boost::json;

constexpr int64_t kNow = 1'780'000'000'000'000;  // 2026-05-28T20:26:40Z
constexpr std::string_view kBase = "https://carnet.example/fhir";

json::object Parse(std::string_view text) {
    auto parsed = fhir::ParseJson(text);
    EXPECT_TRUE(parsed.ok() && parsed->is_object()) << "test JSON is malformed: " << text;
    return parsed.ok() && parsed->is_object() ? parsed->as_object() : json::object();
}

constexpr std::string_view kPatient = R"({"resourceType": "Patient", "id": "p1",
    "name": [{"family": "Martin", "given": ["Camille"]}], "gender": "female",
    "birthDate": "1980-05-03"})";

// Valid R4 resources, one or more per IPS section, and some that belong to none.
const char* const kEntries[] = {
    R"({"resourceType": "Condition", "id": "asthma",
        "clinicalStatus": {"coding": [{"system":
            "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}]},
        "category": [{"coding": [{"system":
            "http://terminology.hl7.org/CodeSystem/condition-category",
            "code": "problem-list-item"}]}],
        "code": {"text": "Asthme"}, "subject": {"reference": "Patient/p1"},
        "onsetDateTime": "2001-04-01"})",
    R"({"resourceType": "Condition", "id": "hypertension",
        "code": {"text": "Hypertension"}, "subject": {"reference": "Patient/p1"},
        "onsetDateTime": "2019-02-01"})",
    R"({"resourceType": "Condition", "id": "measles",
        "clinicalStatus": {"coding": [{"system":
            "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "resolved"}]},
        "code": {"text": "Rougeole"}, "subject": {"reference": "Patient/p1"}})",
    R"({"resourceType": "Condition", "id": "deafness",
        "category": [{"coding": [{"system": "https://carnet.health/fhir/CodeSystem/profile",
                                  "code": "disability"}]}],
        "code": {"text": "Surdité partielle"}, "subject": {"reference": "Patient/p1"}})",
    R"({"resourceType": "MedicationStatement", "id": "ventoline", "status": "active",
        "medicationCodeableConcept": {"text": "Ventoline"},
        "subject": {"reference": "Patient/p1"}, "dosage": [{"text": "2 bouffées si besoin"}],
        "effectivePeriod": {"start": "2020-01-01"}})",
    R"({"resourceType": "MedicationDispense", "id": "disp-1", "status": "completed",
        "medicationCodeableConcept": {"text": "Doliprane 1000 mg"},
        "subject": {"reference": "Patient/p1"}, "whenHandedOver": "2026-02-02"})",
    R"({"resourceType": "Immunization", "id": "dtp-2024", "status": "completed",
        "vaccineCode": {"coding": [{"system": "https://carnet.health/fhir/CodeSystem/vaccine",
                                    "code": "dTcaP"}], "text": "dTcaP, rappel"},
        "patient": {"reference": "Patient/p1"}, "occurrenceDateTime": "2024-09-01"})",
    R"({"resourceType": "Procedure", "id": "appendix", "status": "completed",
        "code": {"text": "Appendicectomie"}, "subject": {"reference": "Patient/p1"},
        "performedDateTime": "1995-06-01"})",
    R"({"resourceType": "Observation", "id": "weight-1", "status": "final",
        "category": [{"coding": [{"system":
            "http://terminology.hl7.org/CodeSystem/observation-category",
            "code": "vital-signs"}]}],
        "code": {"coding": [{"system": "http://loinc.org", "code": "29463-7"}],
                 "text": "Poids"},
        "subject": {"reference": "Patient/p1"}, "effectiveDateTime": "2026-03-01",
        "valueQuantity": {"value": 67.8, "unit": "kg", "system": "http://unitsofmeasure.org",
                          "code": "kg"}})",
    R"({"resourceType": "Observation", "id": "bp-1", "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "85354-9"}],
                 "text": "Tension artérielle"},
        "subject": {"reference": "Patient/p1"}, "effectiveDateTime": "2026-03-01",
        "component": [
          {"code": {"coding": [{"system": "http://loinc.org", "code": "8480-6"}]},
           "valueQuantity": {"value": 125, "unit": "mm[Hg]"}},
          {"code": {"coding": [{"system": "http://loinc.org", "code": "8462-4"}]},
           "valueQuantity": {"value": 80, "unit": "mm[Hg]"}}]})",
    R"({"resourceType": "Observation", "id": "abo", "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "882-1"}],
                 "text": "Groupe sanguin"},
        "subject": {"reference": "Patient/p1"}, "valueCodeableConcept": {"text": "A+"}})",
    R"({"resourceType": "Observation", "id": "tobacco", "status": "final",
        "category": [{"coding": [{"system":
            "http://terminology.hl7.org/CodeSystem/observation-category",
            "code": "social-history"}]}],
        "code": {"text": "Tabac"}, "subject": {"reference": "Patient/p1"},
        "valueString": "Non-fumeuse"})",
    R"({"resourceType": "Consent", "id": "dir-1", "status": "active",
        "scope": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope",
                              "code": "adr"}]},
        "category": [{"coding": [{"system": "http://loinc.org", "code": "42348-3"}]}],
        "patient": {"reference": "Patient/p1"}, "dateTime": "2025-12-01",
        "policyRule": {"text": "Directives anticipées"},
        "sourceAttachment": {"contentType": "text/plain", "title": "Mes directives",
                             "data": "UGFzIGQnYWNoYXJuZW1lbnQu"}})",
    // In no IPS section: left out of the document.
    R"({"resourceType": "FamilyMemberHistory", "id": "father", "status": "completed",
        "patient": {"reference": "Patient/p1"},
        "relationship": {"coding": [{"system":
            "http://terminology.hl7.org/CodeSystem/v3-RoleCode", "code": "FTH"}],
            "text": "Père"}})",
    R"({"resourceType": "Encounter", "id": "stay-1", "status": "finished",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                  "code": "IMP"}, "subject": {"reference": "Patient/p1"}})",
    R"({"resourceType": "RelatedPerson", "id": "trusted", "patient": {"reference": "Patient/p1"},
        "name": [{"text": "Alex Martin"}]})",
    R"({"resourceType": "Observation", "id": "glucose", "status": "final",
        "category": [{"coding": [{"system":
            "http://terminology.hl7.org/CodeSystem/observation-category",
            "code": "laboratory"}]}],
        "code": {"coding": [{"system": "http://loinc.org", "code": "2345-7"}]},
        "subject": {"reference": "Patient/p1"}})",
    R"({"resourceType": "DocumentReference", "id": "doc-1", "status": "current",
        "subject": {"reference": "Patient/p1"},
        "content": [{"attachment": {"contentType": "application/pdf"}}]})",
    // Withdrawn by its author.
    R"({"resourceType": "AllergyIntolerance", "id": "wrong", "patient": {"reference":
        "Patient/p1"}, "code": {"text": "Erreur"},
        "verificationStatus": {"coding": [{"system":
            "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification",
            "code": "entered-in-error"}]}})",
};

struct Fixture {
    json::object patient;
    std::vector<json::object> entries;
    SummaryInput input;

    explicit Fixture(std::vector<std::string_view> texts) : patient(Parse(kPatient)) {
        for (auto t : texts) entries.push_back(Parse(t));
        input.patient = &patient;
        for (const auto& e : entries) input.entries.push_back(&e);
        input.base_url = std::string(kBase);
        input.bundle_id = "0f9b1c7e-3a43-4f4e-9b1e-2d7c5a1e8f00";
        input.now_us = kNow;
    }
};

std::vector<std::string_view> AllEntries() {
    return std::vector<std::string_view>(std::begin(kEntries), std::end(kEntries));
}

std::string ValidationIssues(const json::object& resource) {
    auto st = fhir::Validate(resource);
    if (st.ok()) return "";
    std::string out;
    for (const auto& issue : st.error().issues) {
        out += issue.code + "@" + issue.expression + ": " + issue.diagnostics + "\n";
    }
    return out.empty() ? "invalid" : out;
}

const json::object& Composition(const json::object& bundle) {
    return bundle.at("entry").as_array().at(0).at("resource").as_object();
}

/// Section code → its entries' references, in order.
std::map<std::string, std::vector<std::string>> SectionEntries(const json::object& bundle) {
    std::map<std::string, std::vector<std::string>> out;
    for (const auto& s : Composition(bundle).at("section").as_array()) {
        const std::string code(s.at("code").at("coding").as_array().at(0).at("code").as_string());
        auto& refs = out[code];
        if (const auto* entry = s.as_object().if_contains("entry")) {
            for (const auto& e : entry->as_array()) {
                refs.emplace_back(e.at("reference").as_string());
            }
        }
    }
    return out;
}

const json::object* SectionByCode(const json::object& bundle, std::string_view code) {
    for (const auto& s : Composition(bundle).at("section").as_array()) {
        if (s.at("code").at("coding").as_array().at(0).at("code").as_string() == code)
            return &s.as_object();
    }
    return nullptr;
}

/// Well-formed XML (enough for a generated narrative): one root element, tags balanced,
/// attribute values quoted, no bare '<', '>' or '&' in text, only known entities.
bool WellFormed(std::string_view xml, std::string* why) {
    std::vector<std::string> open;
    bool had_root = false;
    size_t i = 0;
    auto fail = [&](std::string reason) {
        *why = reason + " at " + std::to_string(i);
        return false;
    };
    while (i < xml.size()) {
        const char c = xml[i];
        if (c == '<') {
            if (open.empty() && had_root) return fail("content after the root");
            size_t j = i + 1;
            const bool closing = j < xml.size() && xml[j] == '/';
            if (closing) ++j;
            size_t name_start = j;
            while (j < xml.size() && (std::isalnum(static_cast<unsigned char>(xml[j])) != 0)) ++j;
            const std::string name(xml.substr(name_start, j - name_start));
            if (name.empty()) return fail("tag without a name");
            // Attributes: name="value" pairs, values without '<' or raw '"'.
            bool self_closing = false;
            while (j < xml.size() && xml[j] != '>') {
                if (xml[j] == '"') {
                    const size_t end = xml.find('"', j + 1);
                    if (end == std::string_view::npos) return fail("unterminated attribute");
                    if (xml.substr(j, end - j).find('<') != std::string_view::npos)
                        return fail("'<' in an attribute");
                    j = end + 1;
                    continue;
                }
                if (xml[j] == '<') return fail("'<' inside a tag");
                if (xml[j] == '/') self_closing = true;
                ++j;
            }
            if (j >= xml.size()) return fail("unterminated tag");
            if (closing) {
                if (open.empty() || open.back() != name) return fail("unbalanced </" + name + ">");
                open.pop_back();
            } else if (!self_closing) {
                open.push_back(name);
            }
            had_root = true;
            i = j + 1;
            continue;
        }
        if (open.empty()) return fail("text outside the root");
        if (c == '>') return fail("bare '>'");
        if (c == '&') {
            const size_t end = xml.find(';', i);
            if (end == std::string_view::npos) return fail("bare '&'");
            const std::string_view entity = xml.substr(i, end - i + 1);
            static const std::set<std::string_view> kKnown = {"&amp;",  "&lt;",  "&gt;",
                                                              "&quot;", "&#39;", "&apos;"};
            if (!kKnown.count(entity)) return fail("unknown entity");
        }
        ++i;
    }
    if (!open.empty()) return fail("unclosed <" + open.back() + ">");
    if (!had_root) return fail("no root");
    return true;
}

TEST(SummaryTest, DocumentBundleValidates) {
    Fixture f(AllEntries());
    const json::object bundle = BuildSummary(f.input);
    EXPECT_EQ(ValidationIssues(bundle), "") << json::serialize(bundle);

    EXPECT_EQ(bundle.at("resourceType").as_string(), "Bundle");
    EXPECT_EQ(bundle.at("id").as_string(), f.input.bundle_id);
    EXPECT_EQ(bundle.at("type").as_string(), "document");
    EXPECT_EQ(bundle.at("timestamp").as_string(), FormatInstant(kNow));
    EXPECT_EQ(bundle.at("identifier").at("system").as_string(), "urn:ietf:rfc:3986");
    EXPECT_EQ(bundle.at("identifier").at("value").as_string(), "urn:uuid:" + f.input.bundle_id);
}

TEST(SummaryTest, CompositionFirstPatientSecond) {
    Fixture f(AllEntries());
    const json::object bundle = BuildSummary(f.input);
    const auto& entries = bundle.at("entry").as_array();
    ASSERT_GE(entries.size(), 2u);
    const auto& c = Composition(bundle);
    EXPECT_EQ(c.at("resourceType").as_string(), "Composition");
    EXPECT_EQ(entries[0].at("fullUrl").as_string(),
              std::string(kBase) + "/Composition/" + std::string(c.at("id").as_string()));
    EXPECT_EQ(c.at("status").as_string(), "final");
    EXPECT_EQ(c.at("type").at("coding").as_array().at(0).at("system").as_string(),
              "http://loinc.org");
    EXPECT_EQ(c.at("type").at("coding").as_array().at(0).at("code").as_string(), "60591-5");
    EXPECT_EQ(c.at("subject").at("reference").as_string(), "Patient/p1");
    EXPECT_EQ(c.at("date").as_string(), FormatInstant(kNow));
    EXPECT_EQ(c.at("author").as_array().at(0).at("display").as_string(), "Carnet");
    EXPECT_EQ(c.at("title").as_string(), "Résumé patient — International Patient Summary");

    EXPECT_EQ(entries[1].at("fullUrl").as_string(), std::string(kBase) + "/Patient/p1");
    EXPECT_EQ(entries[1].at("resource").as_object(), f.patient);
}

TEST(SummaryTest, EachSectionListsExactlyItsEntries) {
    Fixture f(AllEntries());
    const json::object bundle = BuildSummary(f.input);
    using Refs = std::vector<std::string>;
    const std::map<std::string, Refs> expected = {
        // Newest first: hypertension (2019) before asthma (2001).
        {"11450-4", Refs{"Condition/hypertension", "Condition/asthma"}},
        {"11348-0", Refs{"Condition/measles"}},
        {"48765-2", Refs{}},  // the only allergy was entered in error
        {"10160-0", Refs{"MedicationDispense/disp-1", "MedicationStatement/ventoline"}},
        {"11369-6", Refs{"Immunization/dtp-2024"}},
        {"47519-4", Refs{"Procedure/appendix"}},
        {"8716-3", Refs{"Observation/weight-1", "Observation/bp-1"}},
        {"30954-2", Refs{"Observation/abo"}},
        {"29762-2", Refs{"Observation/tobacco"}},
        {"42348-3", Refs{"Consent/dir-1"}},
        {"47420-5", Refs{"Condition/deafness"}},
    };
    EXPECT_EQ(SectionEntries(bundle), expected);

    // The sections in the document's order, each titled in French with its LOINC display.
    std::vector<std::string> order;
    for (const auto& s : Composition(bundle).at("section").as_array()) {
        order.emplace_back(s.at("code").at("coding").as_array().at(0).at("code").as_string());
        EXPECT_FALSE(s.at("title").as_string().empty());
        EXPECT_FALSE(s.at("code").at("coding").as_array().at(0).at("display").as_string().empty());
        EXPECT_EQ(s.at("text").at("status").as_string(), "generated");
    }
    EXPECT_EQ(order, (std::vector<std::string>{"11450-4", "11348-0", "48765-2", "10160-0",
                                               "11369-6", "47519-4", "8716-3", "30954-2", "29762-2",
                                               "42348-3", "47420-5"}));
}

TEST(SummaryTest, EveryReferencedEntryIsInTheBundleAndNothingElse) {
    Fixture f(AllEntries());
    const json::object bundle = BuildSummary(f.input);
    std::set<std::string> referenced;
    for (const auto& [code, refs] : SectionEntries(bundle)) {
        for (const auto& r : refs) EXPECT_TRUE(referenced.insert(r).second) << "twice: " << r;
    }
    std::set<std::string> present;
    const auto& entries = bundle.at("entry").as_array();
    for (size_t i = 2; i < entries.size(); ++i) {
        const auto& res = entries[i].at("resource").as_object();
        const std::string ref = std::string(res.at("resourceType").as_string()) + "/" +
                                std::string(res.at("id").as_string());
        EXPECT_EQ(entries[i].at("fullUrl").as_string(), std::string(kBase) + "/" + ref);
        EXPECT_TRUE(present.insert(ref).second) << "twice in the bundle: " << ref;
    }
    EXPECT_EQ(present, referenced);
    for (const char* left_out :
         {"FamilyMemberHistory/father", "Encounter/stay-1", "RelatedPerson/trusted",
          "Observation/glucose", "DocumentReference/doc-1", "AllergyIntolerance/wrong"}) {
        EXPECT_FALSE(present.count(left_out)) << left_out;
    }
    // The included resources are the stored ones, references untouched.
    for (size_t i = 2; i < entries.size(); ++i) {
        const auto& res = entries[i].at("resource").as_object();
        bool found = false;
        for (const auto& e : f.entries) found = found || e == res;
        EXPECT_TRUE(found) << json::serialize(res);
    }
}

TEST(SummaryTest, EmptySectionsSaySo) {
    Fixture f({});
    const json::object bundle = BuildSummary(f.input);
    EXPECT_EQ(ValidationIssues(bundle), "") << json::serialize(bundle);
    // The Composition and the Patient only.
    EXPECT_EQ(bundle.at("entry").as_array().size(), 2u);
    const std::set<std::string> nil_known = {"11450-4", "48765-2", "10160-0"};
    const auto& sections = Composition(bundle).at("section").as_array();
    EXPECT_EQ(sections.size(), 11u);
    for (const auto& s : sections) {
        const auto& so = s.as_object();
        const std::string code(so.at("code").at("coding").as_array().at(0).at("code").as_string());
        EXPECT_FALSE(so.contains("entry")) << code;
        ASSERT_TRUE(so.contains("emptyReason")) << code;
        const auto& reason = so.at("emptyReason").at("coding").as_array().at(0);
        EXPECT_EQ(reason.at("system").as_string(),
                  "http://terminology.hl7.org/CodeSystem/list-empty-reason");
        EXPECT_EQ(reason.at("code").as_string(), nil_known.count(code) ? "nilknown" : "unavailable")
            << code;
        const std::string div(so.at("text").at("div").as_string());
        EXPECT_NE(div.find("Aucune information"), std::string::npos) << code;
        std::string why;
        EXPECT_TRUE(WellFormed(div, &why)) << why << ": " << div;
    }

    // A filled section has entries and no emptyReason.
    Fixture g({kEntries[0]});
    const json::object filled = BuildSummary(g.input);
    const json::object* problems = SectionByCode(filled, "11450-4");
    ASSERT_NE(problems, nullptr);
    EXPECT_FALSE(problems->contains("emptyReason"));
    EXPECT_EQ(problems->at("entry").as_array().size(), 1u);
    EXPECT_EQ(SectionByCode(filled, "48765-2")
                  ->at("emptyReason")
                  .at("coding")
                  .as_array()
                  .at(0)
                  .at("code"),
              "nilknown");
}

TEST(SummaryTest, NarrativeEscapesEntryText) {
    Fixture f({R"({"resourceType": "Condition", "id": "x1",
        "code": {"text": "<script>alert('x')</script> Crohn & \"co\""},
        "subject": {"reference": "Patient/p1"}, "onsetDateTime": "2020-01-01"})",
               R"({"resourceType": "AllergyIntolerance", "id": "a1",
        "code": {"text": "Arachide <b>"},
        "reaction": [{"manifestation": [{"text": "Œdème & urticaire"}]}],
        "patient": {"reference": "Patient/p1"}})"});
    const json::object bundle = BuildSummary(f.input);
    EXPECT_EQ(ValidationIssues(bundle), "");
    const std::string div(SectionByCode(bundle, "11450-4")->at("text").at("div").as_string());
    EXPECT_EQ(div.find("<script>"), std::string::npos) << div;
    EXPECT_NE(
        div.find("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; Crohn &amp; &quot;co&quot;"),
        std::string::npos)
        << div;
    EXPECT_NE(div.find("2020-01-01"), std::string::npos) << div;
    EXPECT_EQ(div.rfind("<div xmlns=\"http://www.w3.org/1999/xhtml\">", 0), 0u) << div;
    std::string why;
    EXPECT_TRUE(WellFormed(div, &why)) << why << ": " << div;

    const std::string allergies(SectionByCode(bundle, "48765-2")->at("text").at("div").as_string());
    EXPECT_NE(allergies.find("Arachide &lt;b&gt;"), std::string::npos) << allergies;
    EXPECT_NE(allergies.find("Œdème &amp; urticaire"), std::string::npos) << allergies;
    EXPECT_TRUE(WellFormed(allergies, &why)) << why << ": " << allergies;

    // The checker itself rejects what escaping prevents.
    EXPECT_FALSE(WellFormed("<div><li>a <script> b</li></div>", &why));
    EXPECT_FALSE(WellFormed("<div>Crohn & co</div>", &why));
}

TEST(SummaryTest, NarrativeNamesEachEntry) {
    Fixture f(AllEntries());
    const json::object bundle = BuildSummary(f.input);
    auto div = [&](std::string_view code) {
        return std::string(SectionByCode(bundle, code)->at("text").at("div").as_string());
    };
    EXPECT_NE(div("11450-4").find("Hypertension (2019-02-01)"), std::string::npos);
    EXPECT_NE(div("10160-0").find("Ventoline — 2 bouffées si besoin (2020-01-01)"),
              std::string::npos);
    EXPECT_NE(div("8716-3").find("Poids : 67.8 kg (2026-03-01)"), std::string::npos);
    EXPECT_NE(div("8716-3").find("125 mm[Hg] / 80 mm[Hg]"), std::string::npos);
    EXPECT_NE(div("30954-2").find("Groupe sanguin : A+"), std::string::npos);
    EXPECT_NE(div("42348-3").find("Mes directives (2025-12-01)"), std::string::npos);
    EXPECT_NE(div("47420-5").find("Surdité partielle"), std::string::npos);
    for (const auto& s : Composition(bundle).at("section").as_array()) {
        std::string why;
        const std::string d(s.at("text").at("div").as_string());
        EXPECT_TRUE(WellFormed(d, &why)) << why << ": " << d;
    }
}

TEST(SummaryTest, DuplicatesAndUnnamedEntriesLeftOut) {
    Fixture f({kEntries[0], kEntries[0],
               R"({"resourceType": "Condition", "code": {"text": "Sans id"},
                   "subject": {"reference": "Patient/p1"}})"});
    const json::object bundle = BuildSummary(f.input);
    EXPECT_EQ(ValidationIssues(bundle), "");
    EXPECT_EQ(SectionEntries(bundle).at("11450-4"), std::vector<std::string>{"Condition/asthma"});
    EXPECT_EQ(bundle.at("entry").as_array().size(), 3u);
}

TEST(SummaryTest, LongBundleIdStillGivesAValidCompositionId) {
    Fixture f(AllEntries());
    f.input.bundle_id = std::string(64, 'a');
    f.input.base_url = std::string(kBase) + "/";  // a trailing slash is not doubled
    const json::object bundle = BuildSummary(f.input);
    EXPECT_EQ(ValidationIssues(bundle), "");
    EXPECT_EQ(bundle.at("entry").as_array().at(1).at("fullUrl").as_string(),
              std::string(kBase) + "/Patient/p1");
}

}  // namespace
}  // namespace carnet::profile
