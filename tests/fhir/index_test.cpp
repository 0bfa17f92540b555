#include "fhir/index.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <limits>

#include "fhir/json.hpp"
#include "fhir/synthea.hpp"

namespace carnet::store {
// Readable gtest failure output.
void PrintTo(const TokenValue& v, std::ostream* os) {
    *os << "{" << v.param << ", " << v.system << ", " << v.code << "}";
}
void PrintTo(const StringValue& v, std::ostream* os) {
    *os << "{" << v.param << ", " << v.normalized << ", " << v.exact << "}";
}
void PrintTo(const DateValue& v, std::ostream* os) {
    *os << "{" << v.param << ", " << v.low_us << ", " << v.high_us << "}";
}
void PrintTo(const ReferenceValue& v, std::ostream* os) {
    *os << "{" << v.param << ", " << v.target_type << ", " << v.target_id << "}";
}
void PrintTo(const QuantityValue& v, std::ostream* os) {
    *os << "{" << v.param << ", " << v.value << ", " << v.system << ", " << v.code << "}";
}
}  // namespace carnet::store

namespace carnet::fhir {
namespace {

using store::DateValue;
using store::QuantityValue;
using store::ReferenceValue;
using store::StringValue;
using store::TokenValue;

constexpr int64_t kSecond = 1'000'000;
constexpr int64_t kDay = 86'400 * kSecond;

// The Synthea bundle the concrete cases come from.
constexpr std::string_view kAssunta = "Assunta351_Dickens475_3d195286";
constexpr std::string_view kAssuntaId = "3d195286-ce77-f5b3-b64f-3eacfb9c273e";

template <typename T>
std::vector<T> Of(const std::vector<T>& values, std::string_view param) {
    std::vector<T> out;
    std::copy_if(values.begin(), values.end(), std::back_inserter(out),
                 [&](const T& v) { return v.param == param; });
    return out;
}

boost::json::object Parse(std::string_view text) {
    auto parsed = ParseJson(text);
    EXPECT_TRUE(parsed.ok());
    return parsed.ok() ? parsed->as_object() : boost::json::object();
}

boost::json::object Synthea(std::string_view type, size_t skip = 0) {
    auto resource = testing::FirstResource(kAssunta, type, skip);
    EXPECT_TRUE(resource.is_object())
        << "no " << type << " in " << kAssunta << " under " << testing::SyntheaDir();
    return resource.is_object() ? resource.as_object() : boost::json::object();
}

TEST(IndexTest, SyntheaObservation) {
    const auto obs = Synthea("Observation");
    ASSERT_EQ(obs.at("id").as_string(), "35ff140d-f84d-4d99-a94c-1653b9b73c68");
    const auto index = ExtractIndex(obs);
    EXPECT_EQ(Of(index.tokens, "code"),
              (std::vector<TokenValue>{
                  {"code", "http://loinc.org", "5089AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}}));
    EXPECT_EQ(
        Of(index.tokens, "category"),
        (std::vector<TokenValue>{
            {"category", "http://terminology.hl7.org/CodeSystem/observation-category", "survey"}}));
    EXPECT_EQ(Of(index.tokens, "status"), (std::vector<TokenValue>{{"status", "", "final"}}));
    EXPECT_EQ(Of(index.tokens, "_id"),
              (std::vector<TokenValue>{{"_id", "", "35ff140d-f84d-4d99-a94c-1653b9b73c68"}}));
    EXPECT_EQ(Of(index.references, "subject"),
              (std::vector<ReferenceValue>{{"subject", "Patient", std::string(kAssuntaId)}}));
    EXPECT_EQ(Of(index.references, "patient"),
              (std::vector<ReferenceValue>{{"patient", "Patient", std::string(kAssuntaId)}}));
    EXPECT_EQ(Of(index.references, "encounter"),
              (std::vector<ReferenceValue>{
                  {"encounter", "Encounter", "91824e53-f7bc-f812-8880-cd40f8ec7602"}}));
    // 2017-02-17T16:52:12+00:00, to the second.
    const int64_t effective = 1487350332 * kSecond;
    EXPECT_EQ(Of(index.dates, "date"),
              (std::vector<DateValue>{{"date", effective, effective + kSecond - 1}}));
    EXPECT_EQ(Of(index.quantities, "value-quantity"),
              (std::vector<QuantityValue>{
                  {"value-quantity", 63.877, "http://unitsofmeasure.org", "kg"}}));
    EXPECT_EQ(Of(index.quantities, "combo-value-quantity").size(), 1u);
    // Composite parameters are not indexed.
    EXPECT_TRUE(Of(index.tokens, "code-value-quantity").empty());
    EXPECT_TRUE(Of(index.quantities, "code-value-quantity").empty());
}

TEST(IndexTest, SyntheaPatient) {
    const auto patient = Synthea("Patient");
    const auto index = ExtractIndex(patient);
    EXPECT_EQ(Of(index.strings, "family"),
              (std::vector<StringValue>{{"family", "dickens475", "Dickens475"},
                                        {"family", "reinger292", "Reinger292"}}));
    EXPECT_EQ(Of(index.strings, "given"),
              (std::vector<StringValue>{{"given", "assunta351", "Assunta351"}}));
    // `name` gets every part of every name, deduplicated.
    EXPECT_EQ(Of(index.strings, "name"),
              (std::vector<StringValue>{{"name", "dickens475", "Dickens475"},
                                        {"name", "assunta351", "Assunta351"},
                                        {"name", "mrs.", "Mrs."},
                                        {"name", "reinger292", "Reinger292"}}));
    EXPECT_EQ(Of(index.strings, "address-city"),
              (std::vector<StringValue>{{"address-city", "plymouth", "Plymouth"}}));
    EXPECT_EQ(Of(index.strings, "address"),
              (std::vector<StringValue>{{"address", "611 gibson pathway", "611 Gibson Pathway"},
                                        {"address", "plymouth", "Plymouth"},
                                        {"address", "ma", "MA"},
                                        {"address", "02360", "02360"},
                                        {"address", "us", "US"}}));
    const int64_t birth = 736300800 * kSecond;  // 1993-05-02T00:00:00Z
    EXPECT_EQ(Of(index.dates, "birthdate"),
              (std::vector<DateValue>{{"birthdate", birth, birth + kDay - 1}}));
    EXPECT_EQ(Of(index.tokens, "gender"), (std::vector<TokenValue>{{"gender", "", "female"}}));
    const auto identifiers = Of(index.tokens, "identifier");
    ASSERT_EQ(identifiers.size(), 5u);
    EXPECT_EQ(identifiers[0],
              (TokenValue{"identifier", "https://github.com/synthetichealth/synthea",
                          std::string(kAssuntaId)}));
    EXPECT_EQ(identifiers[2],
              (TokenValue{"identifier", "http://hl7.org/fhir/sid/us-ssn", "999-35-4067"}));
    EXPECT_EQ(Of(index.tokens, "telecom"),
              (std::vector<TokenValue>{{"telecom", "phone", "555-523-6967"}}));
    EXPECT_EQ(Of(index.tokens, "phone"),
              (std::vector<TokenValue>{{"phone", "phone", "555-523-6967"}}));
    EXPECT_TRUE(Of(index.tokens, "email").empty());
    EXPECT_EQ(Of(index.tokens, "language"),
              (std::vector<TokenValue>{{"language", "urn:ietf:bcp:47", "en-US"}}));
    EXPECT_EQ(
        Of(index.tokens, "_profile"),
        (std::vector<TokenValue>{
            {"_profile", "", "http://hl7.org/fhir/us/core/StructureDefinition/us-core-patient"}}));
}

TEST(IndexTest, SyntheaEncounter) {
    const auto encounter = Synthea("Encounter");
    ASSERT_EQ(encounter.at("id").as_string(), "d171e621-6ec7-7f42-4944-4d5b07572f02");
    const auto index = ExtractIndex(encounter);
    EXPECT_EQ(
        Of(index.dates, "date"),
        (std::vector<DateValue>{{"date", 736361532 * kSecond, 736362432 * kSecond + kSecond - 1}}));
    EXPECT_EQ(Of(index.tokens, "class"),
              (std::vector<TokenValue>{
                  {"class", "http://terminology.hl7.org/CodeSystem/v3-ActCode", "AMB"}}));
    EXPECT_EQ(Of(index.tokens, "type"),
              (std::vector<TokenValue>{{"type", "http://snomed.info/sct", "410620009"}}));
    EXPECT_EQ(Of(index.references, "patient"),
              (std::vector<ReferenceValue>{{"patient", "Patient", std::string(kAssuntaId)}}));
    // Conditional references ("Practitioner?identifier=...") are not literal: kept whole
    // with no type, so the typed `practitioner` parameter cannot claim them.
    EXPECT_EQ(Of(index.references, "participant"),
              (std::vector<ReferenceValue>{
                  {"participant", "",
                   "Practitioner?identifier=http://hl7.org/fhir/sid/us-npi|9999941999"}}));
    EXPECT_TRUE(Of(index.references, "practitioner").empty());
}

TEST(IndexTest, SyntheaImmunization) {
    const auto immunization = Synthea("Immunization");
    const auto index = ExtractIndex(immunization);
    EXPECT_EQ(Of(index.tokens, "vaccine-code"),
              (std::vector<TokenValue>{{"vaccine-code", "http://hl7.org/fhir/sid/cvx", "08"}}));
    EXPECT_EQ(Of(index.references, "patient"),
              (std::vector<ReferenceValue>{{"patient", "Patient", std::string(kAssuntaId)}}));
    EXPECT_EQ(
        Of(index.dates, "date"),
        (std::vector<DateValue>{{"date", 736361532 * kSecond, 736361532 * kSecond + kSecond - 1}}));
}

TEST(IndexTest, PeriodsTimingAndOpenEnds) {
    const auto index = ExtractIndex(Parse(R"({"resourceType": "Encounter", "status": "in-progress",
        "class": {"code": "AMB"}, "period": {"start": "2020-05"}})"));
    const int64_t may = 1588291200 * kSecond;  // 2020-05-01T00:00:00Z
    EXPECT_EQ(Of(index.dates, "date"),
              (std::vector<DateValue>{{"date", may, std::numeric_limits<int64_t>::max()}}));
    const auto ended = ExtractIndex(Parse(R"({"resourceType": "Encounter", "status": "finished",
        "class": {"code": "AMB"}, "period": {"end": "2020"}})"));
    EXPECT_EQ(Of(ended.dates, "date"),
              (std::vector<DateValue>{
                  {"date", std::numeric_limits<int64_t>::min(), 1609459200 * kSecond - 1}}));
    const auto timing = ExtractIndex(Parse(R"({"resourceType": "Observation", "status": "final",
        "code": {"text": "x"}, "effectiveTiming": {"event": ["2020-05-01", "2020-05-01", "2020-05-02"]}})"));
    EXPECT_EQ(Of(timing.dates, "date"),
              (std::vector<DateValue>{{"date", may, may + kDay - 1},
                                      {"date", may + kDay, may + 2 * kDay - 1}}));
}

TEST(IndexTest, ReferenceForms) {
    const auto index = ExtractIndex(Parse(R"({"resourceType": "Observation", "status": "final",
        "code": {"text": "x"},
        "subject": {"reference": "https://example.org/fhir/Patient/p7/_history/3"},
        "performer": [{"reference": "urn:uuid:c757873d-ec9a-4326-a141-556f43239520"},
                      {"reference": "Practitioner/dr1"}, {"reference": "#c1"},
                      {"reference": "Practitioner/dr1"}, {"display": "no reference"}]})"));
    EXPECT_EQ(Of(index.references, "subject"),
              (std::vector<ReferenceValue>{{"subject", "Patient", "p7"}}));
    EXPECT_EQ(Of(index.references, "patient"),
              (std::vector<ReferenceValue>{{"patient", "Patient", "p7"}}));
    EXPECT_EQ(Of(index.references, "performer"),
              (std::vector<ReferenceValue>{
                  {"performer", "", "urn:uuid:c757873d-ec9a-4326-a141-556f43239520"},
                  {"performer", "Practitioner", "dr1"},
                  {"performer", "", "#c1"}}));
    // subject pointing elsewhere: `patient` (subject.where(resolve() is Patient)) stays empty.
    const auto group = ExtractIndex(Parse(R"({"resourceType": "Observation", "status": "final",
        "code": {"text": "x"}, "subject": {"reference": "Group/g1"}})"));
    EXPECT_TRUE(Of(group.references, "patient").empty());
    EXPECT_EQ(Of(group.references, "subject").size(), 1u);
}

TEST(IndexTest, QuantityNumberBooleanUri) {
    const auto money = ExtractIndex(Parse(R"({"resourceType": "Claim", "status": "active",
        "total": {"value": 12.5, "currency": "EUR"}})"));
    (void)money;  // Claim has no quantity parameter on total; checked via ChargeItem below.
    const auto charge = ExtractIndex(Parse(R"({"resourceType": "ChargeItem", "status": "billable",
        "code": {"text": "x"}, "subject": {"reference": "Patient/p"},
        "priceOverride": {"value": 12.5, "currency": "EUR"}, "factorOverride": 0.5})"));
    EXPECT_EQ(
        Of(charge.quantities, "price-override"),
        (std::vector<QuantityValue>{{"price-override", 12.5, "urn:iso:std:iso:4217", "EUR"}}));
    EXPECT_EQ(Of(charge.quantities, "factor-override"),
              (std::vector<QuantityValue>{{"factor-override", 0.5, "", ""}}));
    const auto patient = ExtractIndex(Parse(R"({"resourceType": "Patient", "active": false,
        "meta": {"tag": [{"system": "http://t", "code": "x"}], "lastUpdated": "2020-05-01T00:00:00.5Z"}})"));
    EXPECT_EQ(Of(patient.tokens, "active"), (std::vector<TokenValue>{{"active", "", "false"}}));
    EXPECT_EQ(Of(patient.tokens, "_tag"), (std::vector<TokenValue>{{"_tag", "http://t", "x"}}));
    const int64_t updated = 1588291200 * kSecond + 500'000;
    EXPECT_EQ(Of(patient.dates, "_lastUpdated"),
              (std::vector<DateValue>{{"_lastUpdated", updated, updated}}));
    const auto risk = ExtractIndex(Parse(R"({"resourceType": "RiskAssessment", "status": "final",
        "subject": {"reference": "Patient/p"}, "prediction": [{"probabilityDecimal": 0.25}]})"));
    EXPECT_EQ(Of(risk.quantities, "probability"),
              (std::vector<QuantityValue>{{"probability", 0.25, "", ""}}));
}

TEST(IndexTest, AccentsAndExactStrings) {
    const auto index = ExtractIndex(Parse(R"({"resourceType": "Patient",
        "name": [{"family": "  Ducœur-Bérénice ", "given": ["Zoë"]}]})"));
    EXPECT_EQ(Of(index.strings, "family"),
              (std::vector<StringValue>{{"family", "ducoeur-berenice", "  Ducœur-Bérénice "}}));
    EXPECT_EQ(Of(index.strings, "given"), (std::vector<StringValue>{{"given", "zoe", "Zoë"}}));
}

TEST(IndexTest, UnknownTypeYieldsNothing) {
    const auto index = ExtractIndex(Parse(R"({"resourceType": "Nope", "id": "x"})"));
    EXPECT_TRUE(index.tokens.empty());
    EXPECT_TRUE(index.strings.empty());
    EXPECT_TRUE(ExtractIndex(Parse(R"({"id": "x"})")).tokens.empty());
}

TEST(OwnerPatientTest, SyntheaResources) {
    EXPECT_EQ(OwnerPatient(Synthea("Patient")), kAssuntaId);
    EXPECT_EQ(OwnerPatient(Synthea("Observation")), kAssuntaId);
    EXPECT_EQ(OwnerPatient(Synthea("Encounter")), kAssuntaId);
    EXPECT_EQ(OwnerPatient(Synthea("Immunization")), kAssuntaId);  // the `patient` param
    EXPECT_EQ(OwnerPatient(Synthea("Claim")), kAssuntaId);
    EXPECT_EQ(OwnerPatient(Synthea("DocumentReference")), kAssuntaId);
}

TEST(OwnerPatientTest, Rules) {
    EXPECT_EQ(OwnerPatient(Parse(R"({"resourceType": "Practitioner", "id": "dr"})")), "");
    EXPECT_EQ(OwnerPatient(Parse(R"({"resourceType": "Organization", "id": "o"})")), "");
    // Unresolved urn:uuid references do not name a patient.
    EXPECT_EQ(OwnerPatient(Parse(R"({"resourceType": "Immunization", "status": "completed",
        "vaccineCode": {"text": "x"}, "occurrenceString": "x",
        "patient": {"reference": "urn:uuid:c757873d-ec9a-4326-a141-556f43239520"}})")),
              "");
    // `patient` wins over `performer` even when performer comes first in the definition.
    EXPECT_EQ(OwnerPatient(Parse(R"({"resourceType": "Observation", "status": "final",
        "code": {"text": "x"}, "performer": [{"reference": "Patient/other"}],
        "subject": {"reference": "Patient/p1"}})")),
              "p1");
    // Observation about a group, performed by a patient: falls back to performer.
    EXPECT_EQ(OwnerPatient(Parse(R"({"resourceType": "Observation", "status": "final",
        "code": {"text": "x"}, "performer": [{"reference": "Patient/p2"}],
        "subject": {"reference": "Group/g"}})")),
              "p2");
    EXPECT_EQ(OwnerPatient(Parse(R"({"resourceType": "Patient"})")), "");
}

}  // namespace
}  // namespace carnet::fhir
