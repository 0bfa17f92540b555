// ParseSearch: FHIR search parameters to a store query (http://hl7.org/fhir/R4/search.html).
// Pure and fast: no store, no server.
#include "api/search_params.hpp"

#include <gtest/gtest.h>

#include "core/clock.hpp"

namespace carnet::api {
namespace {

using store::Predicate;
using store::Prefix;
using Params = std::vector<std::pair<std::string, std::string>>;

ParsedSearch Parse(const std::string& type, const Params& params, bool lenient = false) {
    auto parsed = ParseSearch(type, params, lenient);
    EXPECT_TRUE(parsed.ok()) << (parsed.ok() ? "" : parsed.error().Summary());
    return parsed.ok() ? std::move(parsed).value() : ParsedSearch{};
}

/// The single predicate of a one-parameter, one-value search.
Predicate One(const std::string& type, const std::string& name, const std::string& value) {
    auto parsed = Parse(type, {{name, value}});
    EXPECT_EQ(parsed.query.all_of.size(), 1U);
    if (parsed.query.all_of.size() != 1 || parsed.query.all_of[0].any_of.size() != 1) return {};
    return parsed.query.all_of[0].any_of[0];
}

bool Fails(const std::string& type, const Params& params, Code code = Code::kInvalid) {
    auto parsed = ParseSearch(type, params, false);
    return !parsed.ok() && parsed.error().code == code && !parsed.error().issues.empty();
}

int64_t Micros(const std::string& date, bool high = false) {
    int64_t low = 0, hi = 0;
    EXPECT_TRUE(ParseFhirDateRange(date, low, hi)) << date;
    return high ? hi : low;
}

TEST(ParseSearchTest, DatePrefixes) {
    const std::pair<const char*, Prefix> cases[] = {
        {"eq", Prefix::kEq}, {"ne", Prefix::kNe}, {"gt", Prefix::kGt},
        {"lt", Prefix::kLt}, {"ge", Prefix::kGe}, {"le", Prefix::kLe},
        {"sa", Prefix::kSa}, {"eb", Prefix::kEb}, {"ap", Prefix::kAp}};
    for (const auto& [text, prefix] : cases) {
        SCOPED_TRACE(text);
        Predicate p = One("Observation", "date", std::string(text) + "2015-03");
        EXPECT_EQ(p.kind, Predicate::Kind::kDate);
        EXPECT_EQ(p.param, "date");
        EXPECT_EQ(p.prefix, prefix);
        EXPECT_EQ(p.low_us, Micros("2015-03-01"));
        EXPECT_EQ(p.high_us, Micros("2015-03-31", true));
    }
    // No prefix: eq over the whole period the value denotes.
    Predicate year = One("Observation", "date", "2015");
    EXPECT_EQ(year.prefix, Prefix::kEq);
    EXPECT_EQ(year.low_us, Micros("2015-01-01"));
    EXPECT_EQ(year.high_us, Micros("2015-12-31", true));
    // A time zone moves the instant.
    Predicate zoned = One("Observation", "date", "ge2015-01-01T10:00:00+02:00");
    EXPECT_EQ(zoned.low_us, Micros("2015-01-01T08:00:00Z"));
    // _lastUpdated is its own kind.
    EXPECT_EQ(One("Patient", "_lastUpdated", "gt2020").kind, Predicate::Kind::kLastUpdated);

    EXPECT_TRUE(Fails("Observation", {{"date", "2015-13"}}));
    EXPECT_TRUE(Fails("Observation", {{"date", "yesterday"}}));
    EXPECT_TRUE(Fails("Observation", {{"date", "xx2015"}}));
    EXPECT_TRUE(Fails("Observation", {{"date", ""}}));
    EXPECT_TRUE(Fails("Observation", {{"date:exact", "2015"}}));
}

TEST(ParseSearchTest, TokenForms) {
    Predicate both = One("Observation", "code", "http://loinc.org|8302-2");
    EXPECT_EQ(both.kind, Predicate::Kind::kToken);
    EXPECT_EQ(both.system, "http://loinc.org");
    EXPECT_EQ(both.code, "8302-2");
    EXPECT_FALSE(both.negate);

    Predicate code_only = One("Observation", "code", "8302-2");
    EXPECT_EQ(code_only.system, std::nullopt);  // any system
    EXPECT_EQ(code_only.code, "8302-2");

    Predicate no_system = One("Observation", "code", "|8302-2");
    EXPECT_EQ(no_system.system, "");  // explicitly without a system
    EXPECT_EQ(no_system.code, "8302-2");

    Predicate system_only = One("Observation", "code", "http://loinc.org|");
    EXPECT_EQ(system_only.system, "http://loinc.org");
    EXPECT_EQ(system_only.code, std::nullopt);

    EXPECT_TRUE(Fails("Observation", {{"code", "|"}}));
    EXPECT_TRUE(Fails("Observation", {{"code", ""}}));
    // _id is a plain id.
    Predicate id = One("Patient", "_id", "abc");
    EXPECT_EQ(id.kind, Predicate::Kind::kId);
    EXPECT_EQ(id.id, "abc");
    EXPECT_TRUE(Fails("Patient", {{"_id:not", "abc"}}));
}

TEST(ParseSearchTest, CommasOrValuesAndEscapes) {
    auto parsed = Parse("Observation", {{"code", "a,b,c"}});
    ASSERT_EQ(parsed.query.all_of.size(), 1U);
    ASSERT_EQ(parsed.query.all_of[0].any_of.size(), 3U);
    EXPECT_EQ(parsed.query.all_of[0].any_of[2].code, "c");

    // "\," is a literal comma, not a separator.
    Predicate comma = One("Patient", "family", "van\\,der");
    EXPECT_EQ(comma.text, "van,der");
    Predicate token_comma = One("Observation", "code", "a\\,b");
    EXPECT_EQ(token_comma.code, "a,b");
    EXPECT_EQ(token_comma.system, std::nullopt);

    // "\|" is a literal pipe inside a token, not the system separator.
    Predicate pipe = One("Observation", "code", "a\\|b");
    EXPECT_EQ(pipe.system, std::nullopt);
    EXPECT_EQ(pipe.code, "a|b");
    Predicate system_pipe = One("Observation", "code", "urn:s|a\\|b");
    EXPECT_EQ(system_pipe.system, "urn:s");
    EXPECT_EQ(system_pipe.code, "a|b");
    // "\\" is a literal backslash: the comma after it separates.
    auto backslash = Parse("Patient", {{"family", "a\\\\,b"}});
    ASSERT_EQ(backslash.query.all_of.size(), 1U);
    ASSERT_EQ(backslash.query.all_of[0].any_of.size(), 2U);
    EXPECT_EQ(backslash.query.all_of[0].any_of[0].text, "a\\");
    EXPECT_EQ(backslash.query.all_of[0].any_of[1].text, "b");
    // "\$" in a string is a dollar.
    EXPECT_EQ(One("Patient", "family", "a\\$b").text, "a$b");

    // Repeated parameters are ANDed.
    auto repeated = Parse("Observation", {{"code", "a"}, {"code", "b"}});
    EXPECT_EQ(repeated.query.all_of.size(), 2U);
}

TEST(ParseSearchTest, NotModifier) {
    Predicate p = One("Observation", "code", "http://loinc.org|8302-2");
    EXPECT_FALSE(p.negate);
    auto parsed = Parse("Observation", {{"code:not", "a,b"}});
    // :not with several values means none of them: one negated clause each.
    ASSERT_EQ(parsed.query.all_of.size(), 2U);
    for (const auto& clause : parsed.query.all_of) {
        ASSERT_EQ(clause.any_of.size(), 1U);
        EXPECT_TRUE(clause.any_of[0].negate);
    }
    EXPECT_EQ(parsed.query.all_of[0].any_of[0].code, "a");
    EXPECT_EQ(parsed.query.all_of[1].any_of[0].code, "b");
    EXPECT_EQ(parsed.echoed, (Params{{"code:not", "a,b"}}));
}

TEST(ParseSearchTest, StringModifiers) {
    Predicate starts = One("Patient", "family", "  Élodie ");
    EXPECT_EQ(starts.kind, Predicate::Kind::kString);
    EXPECT_EQ(starts.match, store::StringMatch::kStartsWith);
    EXPECT_EQ(starts.text, "elodie");  // normalised: case, accents, spaces

    Predicate contains = One("Patient", "name", "LOD");
    auto parsed = Parse("Patient", {{"name:contains", "LOD"}});
    ASSERT_EQ(parsed.query.all_of.size(), 1U);
    EXPECT_EQ(parsed.query.all_of[0].any_of[0].match, store::StringMatch::kContains);
    EXPECT_EQ(parsed.query.all_of[0].any_of[0].text, "lod");
    EXPECT_EQ(contains.match, store::StringMatch::kStartsWith);

    auto exact = Parse("Patient", {{"family:exact", "Élodie"}});
    ASSERT_EQ(exact.query.all_of.size(), 1U);
    EXPECT_EQ(exact.query.all_of[0].any_of[0].match, store::StringMatch::kExact);
    EXPECT_EQ(exact.query.all_of[0].any_of[0].text, "Élodie");  // as given

    EXPECT_TRUE(Fails("Patient", {{"family", ""}}));
    EXPECT_TRUE(Fails("Patient", {{"family:fuzzy", "x"}}));
}

TEST(ParseSearchTest, ReferenceForms) {
    Predicate typed = One("Observation", "subject", "Patient/1");
    EXPECT_EQ(typed.kind, Predicate::Kind::kReference);
    EXPECT_EQ(typed.target_type, "Patient");
    EXPECT_EQ(typed.target_id, "1");

    // A bare id: any target type when the parameter has several...
    Predicate bare = One("Observation", "subject", "1");
    EXPECT_EQ(bare.target_type, "");
    EXPECT_EQ(bare.target_id, "1");
    // ...and the only one when it has one (Observation.patient targets Patient).
    Predicate single_target = One("Observation", "patient", "1");
    EXPECT_EQ(single_target.target_type, "Patient");
    EXPECT_EQ(single_target.target_id, "1");

    // An absolute URL keeps Type/id.
    Predicate absolute = One("Observation", "subject", "https://carnet.example/fhir/Patient/1");
    EXPECT_EQ(absolute.target_type, "Patient");
    EXPECT_EQ(absolute.target_id, "1");

    // A type modifier.
    auto modified = Parse("Observation", {{"subject:Patient", "1"}});
    ASSERT_EQ(modified.query.all_of.size(), 1U);
    EXPECT_EQ(modified.query.all_of[0].any_of[0].target_type, "Patient");
    EXPECT_EQ(modified.query.all_of[0].any_of[0].target_id, "1");
    EXPECT_EQ(modified.query.all_of[0].any_of[0].param, "subject");

    EXPECT_TRUE(Fails("Observation", {{"subject:Patient", "Group/1"}}));  // contradiction
    EXPECT_TRUE(Fails("Observation", {{"subject:Spaceship", "1"}}));
    EXPECT_TRUE(Fails("Observation", {{"subject", "Spaceship/1"}}));
    EXPECT_TRUE(Fails("Observation", {{"subject", ""}}));
    EXPECT_TRUE(Fails("Observation", {{"subject:identifier", "urn:x|1"}}));
}

TEST(ParseSearchTest, NumberPrecisionRanges) {
    // R4 search 3.1.1.4.1: "100" means [99.5, 100.5), "100.00" means [99.995, 100.005).
    Predicate hundred = One("RiskAssessment", "probability", "100");
    EXPECT_EQ(hundred.kind, Predicate::Kind::kQuantity);
    EXPECT_EQ(hundred.prefix, Prefix::kEq);
    EXPECT_DOUBLE_EQ(hundred.number, 100.0);
    EXPECT_DOUBLE_EQ(hundred.number_low, 99.5);
    EXPECT_DOUBLE_EQ(hundred.number_high, 100.5);

    Predicate precise = One("RiskAssessment", "probability", "100.00");
    EXPECT_NEAR(precise.number_low, 99.995, 1e-9);
    EXPECT_NEAR(precise.number_high, 100.005, 1e-9);

    Predicate small = One("RiskAssessment", "probability", "0.8");
    EXPECT_NEAR(small.number_low, 0.75, 1e-12);
    EXPECT_NEAR(small.number_high, 0.85, 1e-12);

    Predicate exponent = One("RiskAssessment", "probability", "1e2");
    EXPECT_DOUBLE_EQ(exponent.number, 100.0);
    EXPECT_DOUBLE_EQ(exponent.number_low, 50.0);
    EXPECT_DOUBLE_EQ(exponent.number_high, 150.0);

    Predicate greater = One("RiskAssessment", "probability", "gt0.5");
    EXPECT_EQ(greater.prefix, Prefix::kGt);
    EXPECT_DOUBLE_EQ(greater.number, 0.5);

    EXPECT_TRUE(Fails("RiskAssessment", {{"probability", "high"}}));
    EXPECT_TRUE(Fails("RiskAssessment", {{"probability", "1.2.3"}}));
    EXPECT_TRUE(Fails("RiskAssessment", {{"probability", "inf"}}));
    EXPECT_TRUE(Fails("RiskAssessment", {{"probability:exact", "1"}}));
}

TEST(ParseSearchTest, QuantityForms) {
    Predicate full = One("Observation", "value-quantity", "le5.4|http://unitsofmeasure.org|mg");
    EXPECT_EQ(full.prefix, Prefix::kLe);
    EXPECT_DOUBLE_EQ(full.number, 5.4);
    EXPECT_EQ(full.system, "http://unitsofmeasure.org");
    EXPECT_EQ(full.code, "mg");
    Predicate unit_only = One("Observation", "value-quantity", "5.4||mg");
    EXPECT_EQ(unit_only.system, std::nullopt);
    EXPECT_EQ(unit_only.code, "mg");
    Predicate number_only = One("Observation", "value-quantity", "5.4");
    EXPECT_EQ(number_only.code, std::nullopt);
    EXPECT_TRUE(Fails("Observation", {{"value-quantity", "5.4|mg"}}));
    EXPECT_TRUE(Fails("Observation", {{"value-quantity", "heavy||kg"}}));
}

TEST(ParseSearchTest, UnknownAndUnsupportedAreErrorsUnlessLenient) {
    EXPECT_TRUE(Fails("Patient", {{"shoe-size", "42"}}));
    for (const char* modifier : {"missing", "text", "in", "below", "above", "not-in", "of-type"}) {
        SCOPED_TRACE(modifier);
        EXPECT_TRUE(Fails("Observation", {{std::string("code:") + modifier, "x"}}));
    }
    EXPECT_TRUE(Fails("Observation", {{"subject.name", "x"}}));  // chaining
    EXPECT_TRUE(Fails("Observation", {{"_sort", "code"}}));      // not a date
    EXPECT_TRUE(Fails("Observation", {{"_summary", "text"}}));
    EXPECT_TRUE(Fails("Observation", {{"_include:iterate", "Observation:subject"}}));

    auto lenient =
        Parse("Patient", {{"shoe-size", "42"}, {"family", "Durand"}, {"name:missing", "true"}},
              /*lenient=*/true);
    ASSERT_EQ(lenient.query.all_of.size(), 1U);
    EXPECT_EQ(lenient.query.all_of[0].any_of[0].param, "family");
    EXPECT_EQ(lenient.echoed, (Params{{"family", "Durand"}}));  // the ignored are not echoed
    ASSERT_EQ(lenient.ignored.size(), 2U);
    for (const auto& issue : lenient.ignored) {
        EXPECT_EQ(issue.severity, "warning");
        EXPECT_FALSE(issue.diagnostics.empty());
    }
    // A bad value of a known parameter is skipped the same way.
    auto bad_value = Parse("Observation", {{"date", "soon"}}, true);
    EXPECT_TRUE(bad_value.query.all_of.empty());
    EXPECT_EQ(bad_value.ignored.size(), 1U);
}

TEST(ParseSearchTest, ResultControls) {
    auto parsed = Parse("Observation", {{"_count", "7"}, {"_sort", "-date"}, {"_cursor", "abc"}});
    EXPECT_EQ(parsed.query.count, 7);
    ASSERT_TRUE(parsed.query.sort);
    EXPECT_EQ(parsed.query.sort->field, store::SortKey::Field::kDateParam);
    EXPECT_EQ(parsed.query.sort->param, "date");
    EXPECT_TRUE(parsed.query.sort->descending);
    EXPECT_EQ(parsed.query.cursor, "abc");
    // The cursor is not echoed: the next link sets its own.
    EXPECT_EQ(parsed.echoed, (Params{{"_count", "7"}, {"_sort", "-date"}}));

    EXPECT_EQ(Parse("Observation", {}).query.count, 20);
    EXPECT_EQ(Parse("Observation", {{"_count", "0"}}).query.count, 0);
    EXPECT_EQ(Parse("Observation", {{"_count", "1000"}}).query.count, 1000);
    EXPECT_TRUE(Fails("Observation", {{"_count", "1001"}}));
    EXPECT_TRUE(Fails("Observation", {{"_count", "-1"}}));
    EXPECT_TRUE(Fails("Observation", {{"_count", "5x"}}));
    // Lenient handling does not relax limits.
    EXPECT_FALSE(ParseSearch("Observation", {{"_count", "1001"}}, true).ok());

    auto ascending = Parse("Patient", {{"_sort", "_lastUpdated"}});
    EXPECT_EQ(ascending.query.sort->field, store::SortKey::Field::kLastUpdated);
    EXPECT_FALSE(ascending.query.sort->descending);

    auto count = Parse("Observation", {{"_summary", "count"}, {"_count", "50"}});
    EXPECT_TRUE(count.summary_count);
    EXPECT_EQ(count.query.count, 0);
    EXPECT_TRUE(count.query.want_total);
    EXPECT_TRUE(Parse("Observation", {{"_total", "accurate"}}).query.want_total);
}

TEST(ParseSearchTest, IncludeAndRevinclude) {
    auto parsed = Parse("Encounter", {{"_include", "Encounter:participant:Practitioner"},
                                      {"_revinclude", "Observation:encounter"}});
    ASSERT_EQ(parsed.includes.size(), 1U);
    EXPECT_EQ(parsed.includes[0].source_type, "Encounter");
    EXPECT_EQ(parsed.includes[0].param, "participant");
    EXPECT_EQ(parsed.includes[0].target_type, "Practitioner");
    ASSERT_EQ(parsed.revincludes.size(), 1U);
    EXPECT_EQ(parsed.revincludes[0].source_type, "Observation");
    EXPECT_EQ(parsed.revincludes[0].param, "encounter");
    EXPECT_EQ(parsed.revincludes[0].target_type, "");

    EXPECT_TRUE(Fails("Encounter", {{"_include", "Observation:subject"}}));  // another type
    EXPECT_TRUE(Fails("Encounter", {{"_include", "Encounter:status"}}));     // not a reference
    EXPECT_TRUE(Fails("Encounter", {{"_include", "Encounter"}}));
    EXPECT_TRUE(Fails("Encounter", {{"_include", "Encounter:participant:Spaceship"}}));
    EXPECT_TRUE(Fails("Encounter", {{"_revinclude", "Spaceship:subject"}}));
}

TEST(ParseSearchTest, LimitsOnSize) {
    Params many;
    for (int i = 0; i < 65; ++i) many.emplace_back("code", "c" + std::to_string(i));
    EXPECT_TRUE(Fails("Observation", many));
    many.pop_back();
    EXPECT_TRUE(ParseSearch("Observation", many, false).ok());

    std::string values;
    for (int i = 0; i < 101; ++i) values += (i ? "," : "") + std::to_string(i);
    EXPECT_TRUE(Fails("Observation", {{"code", values}}));
}

}  // namespace
}  // namespace carnet::api
