#include "profile/sections.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <string>

#include "fhir/json.hpp"

namespace carnet::profile {
namespace {

boost::json::object Parse(std::string_view text) {
    auto parsed = fhir::ParseJson(text);
    EXPECT_TRUE(parsed.ok() && parsed->is_object()) << "test JSON is malformed: " << text;
    return parsed.ok() && parsed->is_object() ? parsed->as_object() : boost::json::object();
}

std::string Section(std::string_view text) { return std::string(SectionOf(Parse(text))); }
std::string Date(std::string_view text) { return ClinicalDate(Parse(text)); }

// One example per row of docs/PROFILE.md's table, written as the portal writes it.
struct Row {
    const char* section;
    const char* resource;
};

const Row kRows[] = {
    {"blood_group", R"({"resourceType": "Observation", "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "882-1"}]},
        "valueCodeableConcept": {"text": "A+"}})"},
    {"organ_donation", R"({"resourceType": "Observation", "status": "final",
        "code": {"coding": [{"system": "https://carnet.health/fhir/CodeSystem/profile",
                             "code": "organ-donation"}]},
        "valueCodeableConcept": {"coding": [{"code": "donor"}]}})"},
    {"lifestyle", R"({"resourceType": "Observation", "status": "final",
        "category": [{"coding": [{"system":
            "http://terminology.hl7.org/CodeSystem/observation-category",
            "code": "social-history"}]}],
        "code": {"text": "Tabac"}, "valueString": "Non-fumeur"})"},
    {"measurements", R"({"resourceType": "Observation", "status": "final",
        "category": [{"coding": [{"system":
            "http://terminology.hl7.org/CodeSystem/observation-category",
            "code": "vital-signs"}]}],
        "code": {"coding": [{"system": "http://loinc.org", "code": "29463-7"}]},
        "effectiveDateTime": "2026-03-01",
        "valueQuantity": {"value": 67.8, "unit": "kg", "code": "kg"}})"},
    {"disability", R"({"resourceType": "Condition",
        "category": [{"coding": [{"system": "https://carnet.health/fhir/CodeSystem/profile",
                                  "code": "disability"}]}],
        "code": {"text": "Surdité"}, "subject": {"reference": "Patient/p1"}})"},
    {"conditions", R"({"resourceType": "Condition",
        "category": [{"coding": [{"system":
            "http://terminology.hl7.org/CodeSystem/condition-category",
            "code": "problem-list-item"}]}],
        "code": {"text": "Asthme"}, "subject": {"reference": "Patient/p1"}})"},
    {"family_history", R"({"resourceType": "FamilyMemberHistory", "status": "completed",
        "patient": {"reference": "Patient/p1"},
        "relationship": {"coding": [{"system":
            "http://terminology.hl7.org/CodeSystem/v3-RoleCode", "code": "FTH"}]}})"},
    {"allergies", R"({"resourceType": "AllergyIntolerance", "code": {"text": "Pénicilline"},
        "patient": {"reference": "Patient/p1"}})"},
    {"treatments", R"({"resourceType": "MedicationStatement", "status": "active",
        "medicationCodeableConcept": {"text": "Ventoline"},
        "subject": {"reference": "Patient/p1"}})"},
    {"dispensations", R"({"resourceType": "MedicationDispense", "status": "completed",
        "medicationCodeableConcept": {"text": "Doliprane"}})"},
    {"vaccinations", R"({"resourceType": "Immunization", "status": "completed",
        "vaccineCode": {"coding": [{"system": "https://carnet.health/fhir/CodeSystem/vaccine",
                                    "code": "hexavalent"}]},
        "patient": {"reference": "Patient/p1"}, "occurrenceDateTime": "2016-07-05"})"},
    {"stays", R"({"resourceType": "Encounter", "status": "finished",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                  "code": "IMP"}})"},
    {"procedures", R"({"resourceType": "Procedure", "status": "completed",
        "code": {"text": "Appendicectomie"}, "subject": {"reference": "Patient/p1"}})"},
    {"advance_directives", R"({"resourceType": "Consent", "status": "active",
        "scope": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope",
                              "code": "adr"}]},
        "category": [{"coding": [{"system": "http://loinc.org", "code": "42348-3"}]}]})"},
    {"contacts", R"({"resourceType": "RelatedPerson", "patient": {"reference": "Patient/p1"},
        "relationship": [{"coding": [{"system":
            "https://carnet.health/fhir/CodeSystem/profile", "code": "trusted-person"}]}]})"},
};

TEST(SectionsTest, KeysInDisplayOrder) {
    std::vector<std::string> keys(SectionKeys().begin(), SectionKeys().end());
    EXPECT_EQ(keys, (std::vector<std::string>{
                        "blood_group", "organ_donation", "lifestyle", "measurements", "disability",
                        "conditions", "family_history", "allergies", "treatments", "dispensations",
                        "vaccinations", "stays", "procedures", "advance_directives", "contacts"}));
}

TEST(SectionsTest, ProfileTypes) {
    EXPECT_EQ(ProfileTypes(),
              (std::vector<std::string>{"Observation", "Condition", "FamilyMemberHistory",
                                        "AllergyIntolerance", "MedicationStatement",
                                        "MedicationDispense", "Immunization", "Encounter",
                                        "Procedure", "Consent", "RelatedPerson"}));
}

TEST(SectionsTest, EveryRowOfTheTable) {
    std::set<std::string> covered;
    for (const Row& row : kRows) {
        EXPECT_EQ(Section(row.resource), row.section) << row.resource;
        // The type a new entry of the section is written with is the example's type.
        const auto resource = Parse(row.resource);
        EXPECT_EQ(TypeOfSection(row.section),
                  std::string_view(resource.at("resourceType").as_string()))
            << row.section;
        covered.insert(row.section);
    }
    EXPECT_EQ(covered.size(), SectionKeys().size());
    for (auto key : SectionKeys()) {
        EXPECT_TRUE(covered.count(std::string(key))) << key;
        const std::string type(TypeOfSection(key));
        EXPECT_NE(std::find(ProfileTypes().begin(), ProfileTypes().end(), type),
                  ProfileTypes().end())
            << key;
    }
    EXPECT_EQ(TypeOfSection("documents"), "");
    EXPECT_EQ(TypeOfSection(""), "");
}

TEST(SectionsTest, ObservationsByFirstMatchingRow) {
    // Other vital signs and Observations with no category are measurements.
    EXPECT_EQ(Section(R"({"resourceType": "Observation", "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]}})"),
              "measurements");
    // The blood group row comes before the laboratory rule: a typed blood group from the
    // laboratory is still the record's blood group.
    EXPECT_EQ(Section(R"({"resourceType": "Observation", "status": "final",
        "category": [{"coding": [{"system":
            "http://terminology.hl7.org/CodeSystem/observation-category", "code": "laboratory"}]}],
        "code": {"coding": [{"system": "http://loinc.org", "code": "882-1"}]}})"),
              "blood_group");
    // Codes match on system and code: 882-1 in another system is not the blood group, and a
    // "social-history" category of another system is not the lifestyle one.
    EXPECT_EQ(Section(R"({"resourceType": "Observation", "status": "final",
        "code": {"coding": [{"system": "http://example.org/codes", "code": "882-1"}]}})"),
              "measurements");
    EXPECT_EQ(Section(R"({"resourceType": "Observation", "status": "final",
        "category": [{"coding": [{"system": "http://example.org/cat", "code": "social-history"}]}],
        "code": {"text": "Sport"}})"),
              "measurements");
    EXPECT_EQ(Section(R"({"resourceType": "Observation", "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "organ-donation"}]}})"),
              "measurements");
}

TEST(SectionsTest, OnlyHospitalStaysAndPersonalMeasures) {
    EXPECT_EQ(Section(R"({"resourceType": "Encounter", "status": "finished",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"}})"),
              "");
    EXPECT_EQ(Section(R"({"resourceType": "Encounter", "status": "finished"})"), "");
    EXPECT_EQ(Section(R"({"resourceType": "Encounter", "status": "finished",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "EMER"}})"),
              "stays");
    EXPECT_EQ(Section(R"({"resourceType": "Observation", "status": "final",
        "category": [{"coding": [{"system":
            "http://terminology.hl7.org/CodeSystem/observation-category", "code": "survey"}]}],
        "code": {"coding": [{"system": "http://loinc.org", "code": "44261-6"}]}})"),
              "");
}

TEST(SectionsTest, NotProfileEntries) {
    // A laboratory result is a report, whatever the category's system (as access::Classify).
    EXPECT_EQ(Section(R"({"resourceType": "Observation", "status": "final",
        "category": [{"coding": [{"system":
            "http://terminology.hl7.org/CodeSystem/observation-category", "code": "laboratory"}]}],
        "code": {"coding": [{"system": "http://loinc.org", "code": "2345-7"}]},
        "valueQuantity": {"value": 5.4, "unit": "mmol/L"}})"),
              "");
    EXPECT_EQ(Section(R"({"resourceType": "Observation", "status": "final",
        "category": [{"coding": [{"code": "laboratory"}]}],
        "code": {"text": "Glycémie"}})"),
              "");
    EXPECT_EQ(Section(R"({"resourceType": "DocumentReference", "status": "current",
        "content": [{"attachment": {"contentType": "application/pdf"}}]})"),
              "");
    // A Consent of another scope (privacy, treatment) is not an advance directive.
    EXPECT_EQ(Section(R"({"resourceType": "Consent", "status": "active",
        "scope": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope",
                              "code": "patient-privacy"}]},
        "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0"}]}]})"),
              "");
    EXPECT_EQ(Section(R"({"resourceType": "Patient", "id": "p1"})"), "");
    EXPECT_EQ(Section(R"({"resourceType": "MedicationRequest", "status": "active"})"), "");
    EXPECT_EQ(Section(R"({"id": "x"})"), "");
    EXPECT_EQ(Section(R"({"resourceType": 3})"), "");
}

TEST(SectionsTest, DisabilityNeedsCarnetSystem) {
    EXPECT_EQ(Section(R"({"resourceType": "Condition",
        "category": [{"coding": [{"system": "http://example.org", "code": "disability"}]}],
        "code": {"text": "Surdité"}})"),
              "conditions");
    // A malformed category is ignored, not an error.
    EXPECT_EQ(Section(R"({"resourceType": "Condition", "category": "disability"})"), "conditions");
}

TEST(SectionsTest, IsAdvanceDirective) {
    // Either the consentscope "adr" or the LOINC category is enough.
    EXPECT_TRUE(IsAdvanceDirective(Parse(R"({"resourceType": "Consent",
        "scope": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope",
                              "code": "adr"}]}})")));
    EXPECT_TRUE(IsAdvanceDirective(Parse(R"({"resourceType": "Consent",
        "scope": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope",
                              "code": "treatment"}]},
        "category": [{"coding": [{"system": "http://loinc.org", "code": "42348-3"}]}]})")));
    EXPECT_FALSE(IsAdvanceDirective(Parse(R"({"resourceType": "Consent",
        "scope": {"coding": [{"system": "http://example.org", "code": "adr"}]},
        "category": [{"coding": [{"system": "http://loinc.org", "code": "64292-6"}]}]})")));
    // Only a Consent.
    EXPECT_FALSE(IsAdvanceDirective(Parse(R"({"resourceType": "DocumentReference",
        "category": [{"coding": [{"system": "http://loinc.org", "code": "42348-3"}]}]})")));
}

TEST(SectionsTest, ClinicalDatePerType) {
    // Condition: onset, then onset period, then when it was recorded.
    EXPECT_EQ(Date(R"({"resourceType": "Condition", "onsetDateTime": "2019-04",
        "onsetPeriod": {"start": "2018"}, "recordedDate": "2020-01-01"})"),
              "2019-04");
    EXPECT_EQ(Date(R"({"resourceType": "Condition", "onsetPeriod": {"start": "2018-02-03"},
        "recordedDate": "2020-01-01"})"),
              "2018-02-03");
    EXPECT_EQ(Date(R"({"resourceType": "Condition", "onsetString": "enfance",
        "recordedDate": "2020-01-01T10:00:00Z"})"),
              "2020-01-01T10:00:00Z");
    // Observation: effective[x] in order, then issued.
    EXPECT_EQ(Date(R"({"resourceType": "Observation", "effectiveDateTime": "2026-03-01",
        "issued": "2026-03-02T10:00:00Z"})"),
              "2026-03-01");
    EXPECT_EQ(Date(R"({"resourceType": "Observation", "effectivePeriod": {"end": "2026-01-01"},
        "issued": "2026-03-02T10:00:00Z"})"),
              "2026-03-02T10:00:00Z");
    EXPECT_EQ(Date(R"({"resourceType": "Observation",
        "effectivePeriod": {"start": "2025-12-31"}})"),
              "2025-12-31");
    EXPECT_EQ(Date(R"({"resourceType": "Observation",
        "effectiveInstant": "2026-03-01T08:00:00.5Z"})"),
              "2026-03-01T08:00:00.5Z");
    EXPECT_EQ(Date(R"({"resourceType": "Immunization", "occurrenceDateTime": "2016-07-05"})"),
              "2016-07-05");
    EXPECT_EQ(Date(R"({"resourceType": "Immunization", "occurrenceString": "vers 2001"})"),
              "vers 2001");
    EXPECT_EQ(Date(R"({"resourceType": "Encounter",
        "period": {"start": "2024-02-10T08:00:00+01:00", "end": "2024-02-14"}})"),
              "2024-02-10T08:00:00+01:00");
    EXPECT_EQ(Date(R"({"resourceType": "Procedure", "performedDateTime": "2012-06-01"})"),
              "2012-06-01");
    EXPECT_EQ(Date(R"({"resourceType": "Procedure",
        "performedPeriod": {"start": "2012-06-02"}})"),
              "2012-06-02");
    EXPECT_EQ(Date(R"({"resourceType": "MedicationStatement", "effectiveDateTime": "2025-01-01",
        "dateAsserted": "2025-02-01"})"),
              "2025-01-01");
    EXPECT_EQ(Date(R"({"resourceType": "MedicationStatement",
        "effectivePeriod": {"start": "2024-09-01"}, "dateAsserted": "2025-02-01"})"),
              "2024-09-01");
    EXPECT_EQ(Date(R"({"resourceType": "MedicationStatement", "dateAsserted": "2025-02-01"})"),
              "2025-02-01");
    EXPECT_EQ(Date(R"({"resourceType": "MedicationDispense",
        "whenPrepared": "2025-03-01", "whenHandedOver": "2025-03-02"})"),
              "2025-03-02");
    EXPECT_EQ(Date(R"({"resourceType": "MedicationDispense", "whenPrepared": "2025-03-01"})"),
              "2025-03-01");
    EXPECT_EQ(Date(R"({"resourceType": "AllergyIntolerance", "onsetDateTime": "2010",
        "recordedDate": "2020-05-05"})"),
              "2010");
    EXPECT_EQ(Date(R"({"resourceType": "AllergyIntolerance", "recordedDate": "2020-05-05"})"),
              "2020-05-05");
    EXPECT_EQ(Date(R"({"resourceType": "FamilyMemberHistory", "date": "2021-11-11"})"),
              "2021-11-11");
    EXPECT_EQ(Date(R"({"resourceType": "Consent", "dateTime": "2026-01-15T09:30:00+01:00"})"),
              "2026-01-15T09:30:00+01:00");
    EXPECT_EQ(Date(R"({"resourceType": "RelatedPerson", "period": {"start": "2023-05-01"}})"),
              "2023-05-01");
}

TEST(SectionsTest, ClinicalDateAbsent) {
    EXPECT_EQ(Date(R"({"resourceType": "Condition", "code": {"text": "Asthme"}})"), "");
    // Another type's element does not count, nor does a malformed one.
    EXPECT_EQ(Date(R"({"resourceType": "Procedure", "effectiveDateTime": "2020-01-01"})"), "");
    EXPECT_EQ(Date(R"({"resourceType": "Encounter", "period": "2020-01-01"})"), "");
    EXPECT_EQ(Date(R"({"resourceType": "Observation", "effectiveDateTime": 2020})"), "");
    EXPECT_EQ(Date(R"({"resourceType": "DocumentReference", "date": "2020-01-01"})"), "");
}

}  // namespace
}  // namespace carnet::profile
