#include "fhir/validate.hpp"

#include <gtest/gtest.h>

#include <string>

#include "fhir/json.hpp"

namespace carnet::fhir {
namespace {

boost::json::object Parse(std::string_view text) {
    auto parsed = ParseJson(text);
    EXPECT_TRUE(parsed.ok()) << "test JSON is malformed";
    return parsed.ok() ? parsed->as_object() : boost::json::object();
}

// The issues of a validation, as "code@expression" strings.
std::vector<std::string> Issues(std::string_view text) {
    std::vector<std::string> out;
    auto st = Validate(Parse(text));
    if (st.ok()) return out;
    EXPECT_EQ(st.error().code, Code::kInvalid);
    for (const auto& issue : st.error().issues) out.push_back(issue.code + "@" + issue.expression);
    return out;
}

/// The expected issues, as "code@expression" strings in report order.
template <typename... T>
std::vector<std::string> IssueList(T... issues) {
    return {std::string(issues)...};
}

constexpr std::string_view kObservation = R"({
  "resourceType": "Observation", "id": "obs-1", "status": "final",
  "code": {"coding": [{"system": "http://loinc.org", "code": "29463-7"}]},
  "subject": {"reference": "Patient/p1"},
  "effectiveDateTime": "2020-05-01T10:00:00+02:00",
  "valueQuantity": {"value": 72.5, "unit": "kg", "system": "http://unitsofmeasure.org", "code": "kg"}
})";

// A JSON string literal (appending, not operator+: g++ 12 -O3 warns falsely on the latter).
std::string Quoted(std::string_view text) {
    std::string out;
    out.reserve(text.size() + 2);
    out.append(1, '"').append(text).append(1, '"');
    return out;
}

std::string WithObservation(std::string_view replace, std::string_view with) {
    std::string text(kObservation);
    const size_t pos = text.find(replace);
    EXPECT_NE(pos, std::string::npos) << replace;
    if (pos != std::string::npos) text.replace(pos, replace.size(), with);
    return text;
}

TEST(ValidateTest, ValidObservation) { EXPECT_EQ(Issues(kObservation), IssueList()); }

TEST(ValidateTest, UnknownElement) {
    EXPECT_EQ(Issues(WithObservation(R"("status": "final",)", R"("status": "final", "foo": 1,)")),
              IssueList("structure@Observation.foo"));
    // A choice base name is not a JSON property.
    EXPECT_EQ(Issues(WithObservation("effectiveDateTime", "effective")),
              IssueList("structure@Observation.effective"));
    // _element only for primitives.
    EXPECT_EQ(Issues(WithObservation(R"("status": "final",)",
                                     R"("status": "final", "_code": {"id": "x"},)")),
              IssueList("structure@Observation._code"));
}

TEST(ValidateTest, UnknownOrMissingResourceType) {
    EXPECT_EQ(Issues(R"({"resourceType": "Observaton", "status": "final"})"),
              IssueList("value@resourceType"));
    EXPECT_EQ(Issues(R"({"resourceType": "Resource"})"), IssueList("value@resourceType"));
    EXPECT_EQ(Issues(R"({"id": "x"})"), IssueList("required@resourceType"));
    EXPECT_EQ(Issues(R"({"resourceType": 3})"), IssueList("structure@resourceType"));
}

TEST(ValidateTest, WrongStatusCode) {
    EXPECT_EQ(Issues(WithObservation(R"("final")", R"("done")")),
              IssueList("code-invalid@Observation.status"));
    // Not a code at all (leading space) is a format problem.
    EXPECT_EQ(Issues(WithObservation(R"("final")", R"(" final")")),
              IssueList("value@Observation.status"));
}

TEST(ValidateTest, StringWhereObjectExpected) {
    EXPECT_EQ(Issues(WithObservation(R"({"reference": "Patient/p1"})", R"("Patient/p1")")),
              IssueList("structure@Observation.subject"));
}

TEST(ValidateTest, ArrayWhereSingleAndSingleWhereArray) {
    EXPECT_EQ(Issues(WithObservation(R"("status": "final")", R"("status": ["final"])")),
              IssueList("structure@Observation.status"));
    EXPECT_EQ(
        Issues(WithObservation(R"("coding": [{"system": "http://loinc.org", "code": "29463-7"}])",
                               R"("coding": {"system": "http://loinc.org", "code": "29463-7"})")),
        IssueList("structure@Observation.code.coding"));
    EXPECT_EQ(
        Issues(WithObservation(R"("status": "final",)", R"("status": "final", "category": [],)")),
        IssueList("structure@Observation.category"));
}

TEST(ValidateTest, MissingRequiredElement) {
    EXPECT_EQ(
        Issues(WithObservation(
            R"("code": {"coding": [{"system": "http://loinc.org", "code": "29463-7"}]},)", "")),
        IssueList("required@Observation.code"));
    EXPECT_EQ(Issues(R"({"resourceType": "Observation"})"),
              IssueList("required@Observation.code", "required@Observation.status"));
    // A required choice (MedicationRequest.medication[x], 1..1).
    EXPECT_EQ(Issues(R"({"resourceType": "MedicationRequest", "status": "active",
                          "intent": "order", "subject": {"reference": "Patient/p"}})"),
              IssueList("required@MedicationRequest.medication"));
}

TEST(ValidateTest, OnlyOneChoiceVariant) {
    EXPECT_EQ(Issues(WithObservation(R"("effectiveDateTime": "2020-05-01T10:00:00+02:00",)",
                                     R"("effectiveDateTime": "2020-05-01T10:00:00+02:00",
                                          "effectiveInstant": "2020-05-01T10:00:00Z",)")),
              IssueList("structure@Observation.effective"));
}

TEST(ValidateTest, BadDates) {
    for (std::string_view bad : {"2020-13-01", "2020-02-30", "20200501", "2020-05-01T10:00",
                                 "2020-05-01T10:00:00", "2020-05-01 10:00:00Z", "0000",
                                 "2020-05-01T25:00:00Z", "2020-05-01T10:00:00+15:00", "2020-5"}) {
        EXPECT_EQ(Issues(WithObservation(R"("2020-05-01T10:00:00+02:00")", Quoted(bad))),
                  IssueList("value@Observation.effectiveDateTime"))
            << bad;
    }
    for (std::string_view good : {"2020", "2020-05", "2020-05-01", "2020-02-29T23:59:60Z",
                                  "2020-05-01T10:00:00.123456-05:00"}) {
        EXPECT_EQ(Issues(WithObservation(R"("2020-05-01T10:00:00+02:00")", Quoted(good))),
                  IssueList())
            << good;
    }
    EXPECT_EQ(Issues(R"({"resourceType": "Patient", "birthDate": "1970-01-01T00:00:00Z"})"),
              IssueList("value@Patient.birthDate"));
    EXPECT_EQ(Issues(WithObservation(R"("status": "final",)",
                                     R"("status": "final", "issued": "2020-05-01",)")),
              IssueList("value@Observation.issued"));
}

TEST(ValidateTest, BadId) {
    EXPECT_EQ(Issues(WithObservation(R"("obs-1")", R"("obs_1")")),
              IssueList("value@Observation.id"));
    EXPECT_EQ(Issues(WithObservation(R"("obs-1")", Quoted(std::string(65, 'a')))),
              IssueList("value@Observation.id"));
    EXPECT_EQ(Issues(WithObservation(R"("obs-1")", "1")), IssueList("structure@Observation.id"));
}

TEST(ValidateTest, PrimitiveKindsAndFormats) {
    EXPECT_EQ(Issues(R"({"resourceType": "Patient", "active": "true"})"),
              IssueList("structure@Patient.active"));
    EXPECT_EQ(Issues(R"({"resourceType": "Patient", "multipleBirthInteger": 1.5})"),
              IssueList("value@Patient.multipleBirthInteger"));
    EXPECT_EQ(Issues(R"({"resourceType": "Patient", "multipleBirthInteger": 3000000000})"),
              IssueList("value@Patient.multipleBirthInteger"));
    EXPECT_EQ(Issues(R"({"resourceType": "Patient", "name": [{"given": ["A", ""]}]})"),
              IssueList("value@Patient.name[0].given[1]"));
    EXPECT_EQ(Issues(R"({"resourceType": "Patient", "photo": [{"data": "abc"}]})"),
              IssueList("value@Patient.photo[0].data"));
    EXPECT_EQ(Issues(R"({"resourceType": "Patient", "photo": [{"data": "YWJj", "size": 0}]})"),
              IssueList());
    EXPECT_EQ(Issues(R"({"resourceType": "Patient", "photo": [{"data": "YWJj", "size": -1}]})"),
              IssueList("value@Patient.photo[0].size"));
    EXPECT_EQ(Issues(R"({"resourceType": "Patient", "implicitRules": "a b"})"),
              IssueList("value@Patient.implicitRules"));
    EXPECT_EQ(
        Issues(R"({"resourceType": "Patient", "text": {"status": "generated", "div": "plain"}})"),
        IssueList("value@Patient.text.div"));
    EXPECT_EQ(Issues(R"({"resourceType": "Observation", "status": "final", "code": {"text": "x"},
                          "valueTime": "25:00:00"})"),
              IssueList("value@Observation.valueTime"));
    EXPECT_EQ(Issues(R"({"resourceType": "Observation", "status": "final", "code": {"text": "x"},
                          "valueQuantity": {"value": "72"}})"),
              IssueList("structure@Observation.valueQuantity.value"));
    EXPECT_EQ(Issues(R"({"resourceType": "Patient", "identifier": [{"system": "urn:oid:1.2.x"}]})"),
              IssueList());  // Identifier.system is a uri, not an oid
    EXPECT_EQ(
        Issues(R"({"resourceType": "Patient", "extension": [
                          {"url": "http://x", "valueOid": "urn:oid:1.02"},
                          {"url": "http://x", "valueUuid": "urn:uuid:ABC"},
                          {"url": "http://x", "valueOid": "urn:oid:1.2.3"},
                          {"url": "http://x", "valueUuid": "urn:uuid:c757873d-ec9a-4326-a141-556f43239520"}]})"),
        IssueList("value@Patient.extension[0].valueOid", "value@Patient.extension[1].valueUuid"));
}

TEST(ValidateTest, NestedContainedBad) {
    EXPECT_EQ(Issues(R"({"resourceType": "Patient", "contained": [
                          {"resourceType": "Organization", "id": "o1", "name": "A"},
                          {"resourceType": "Observation", "id": "o2", "status": "nope",
                           "code": {"text": "x"}, "bogus": true}]})"),
              IssueList("code-invalid@Patient.contained[1].status",
                        "structure@Patient.contained[1].bogus"));
    EXPECT_EQ(Issues(R"({"resourceType": "Patient", "contained": [{"resourceType": "Nope"}]})"),
              IssueList("value@Patient.contained[0].resourceType"));
    // dom-2: contained resources do not nest.
    EXPECT_EQ(Issues(R"({"resourceType": "Patient", "contained": [
                          {"resourceType": "Patient", "contained": [{"resourceType": "Patient"}]}]})"),
              IssueList("invariant@Patient.contained[0].contained"));
    // Bundle entries are validated as resources.
    EXPECT_EQ(Issues(R"({"resourceType": "Bundle", "type": "collection", "entry": [
                          {"resource": {"resourceType": "Patient", "gender": "F"}}]})"),
              IssueList("code-invalid@Bundle.entry[0].resource.gender"));
}

TEST(ValidateTest, ExtensionStructure) {
    EXPECT_EQ(Issues(R"({"resourceType": "Patient", "extension": [{"valueString": "x"}]})"),
              IssueList("required@Patient.extension[0].url"));
    EXPECT_EQ(Issues(R"({"resourceType": "Patient", "modifierExtension": [{"url": "http://x"}]})"),
              IssueList("invariant@Patient.modifierExtension[0]"));
    EXPECT_EQ(Issues(R"({"resourceType": "Patient", "extension": [{"url": "http://x",
                          "valueString": "x", "extension": [{"url": "a", "valueCode": "b"}]}]})"),
              IssueList("invariant@Patient.extension[0]"));
    EXPECT_EQ(
        Issues(R"({"resourceType": "Patient", "extension": [{"url": "http://x",
                          "valueFoo": "x"}]})"),
        IssueList("structure@Patient.extension[0].valueFoo", "invariant@Patient.extension[0]"));
    EXPECT_EQ(
        Issues(
            R"({"resourceType": "Patient", "extension": {"url": "http://x", "valueString": "x"}})"),
        IssueList("structure@Patient.extension"));
}

TEST(ValidateTest, PrimitiveExtensions) {
    // _element with an extension, and null placeholders in repeating primitives.
    EXPECT_EQ(Issues(R"({"resourceType": "Patient", "birthDate": "1970-01-01",
                          "_birthDate": {"extension": [{"url": "http://x", "valueDateTime": "1970-01-01T10:00:00Z"}]},
                          "name": [{"given": ["A", null], "_given": [null, {"id": "g2",
                            "extension": [{"url": "http://y", "valueCode": "z"}]}]}]})"),
              IssueList());
    // A primitive may be present only through its extension (min 1 satisfied).
    EXPECT_EQ(Issues(R"({"resourceType": "Observation", "code": {"text": "x"},
                          "_status": {"extension": [{"url": "http://hl7.org/fhir/StructureDefinition/data-absent-reason", "valueCode": "unknown"}]}})"),
              IssueList());
    EXPECT_EQ(Issues(R"({"resourceType": "Patient", "name": [{"given": ["A", null]}]})"),
              IssueList("structure@Patient.name[0].given[1]"));
    EXPECT_EQ(Issues(R"({"resourceType": "Patient", "_birthDate": "x"})"),
              IssueList("structure@Patient._birthDate"));
    EXPECT_EQ(Issues(R"({"resourceType": "Patient", "_birthDate": {"foo": 1}})"),
              IssueList("structure@Patient._birthDate.foo"));
}

TEST(ValidateTest, CollectsAllIssuesWithoutEchoingValues) {
    const std::string secret = "HIV-positive-secret";
    auto st = Validate(Parse(R"({"resourceType": "Observation", "status": ")" + secret +
                             R"(", "subject": ")" + secret + R"(", "effectiveDateTime": ")" +
                             secret + R"(", ")" + "x" + R"(": 1})"));
    ASSERT_FALSE(st.ok());
    EXPECT_EQ(st.error().issues.size(), 5u);  // status, subject, effective, x, missing code
    for (const auto& issue : st.error().issues) {
        EXPECT_EQ(issue.diagnostics.find(secret), std::string::npos) << issue.diagnostics;
        EXPECT_EQ(issue.expression.find(secret), std::string::npos) << issue.expression;
        EXPECT_FALSE(issue.diagnostics.empty());
    }
}

TEST(ValidateTest, IssueCountIsBounded) {
    std::string text = R"({"resourceType": "Patient", "name": [)";
    for (int i = 0; i < 500; ++i) text += std::string(i ? "," : "") + R"({"given": [1]})";
    text += "]}";
    auto st = Validate(Parse(text));
    ASSERT_FALSE(st.ok());
    EXPECT_EQ(st.error().issues.size(), kMaxValidationIssues);
    EXPECT_EQ(st.error().issues.back().code, "too-costly");
}

TEST(ValidateTest, EmptyObjectsAndStrings) {
    EXPECT_EQ(Issues(R"({"resourceType": "Patient", "maritalStatus": {}})"),
              IssueList("structure@Patient.maritalStatus"));
    EXPECT_EQ(Issues(R"({"resourceType": "Patient", "gender": ""})"),
              IssueList("value@Patient.gender"));
}

}  // namespace
}  // namespace carnet::fhir
