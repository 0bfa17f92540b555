#include "fhir/json.hpp"

#include <gtest/gtest.h>

#include <string>

namespace carnet::fhir {
namespace {

std::string Nested(int depth) { return std::string(depth, '[') + std::string(depth, ']'); }

TEST(ParseJsonTest, ParsesObjects) {
    auto v = ParseJson(R"({"resourceType": "Patient", "active": true, "n": [1, 2.5]})");
    ASSERT_TRUE(v.ok());
    EXPECT_EQ(v->as_object().at("resourceType").as_string(), "Patient");
    EXPECT_EQ(v->as_object().at("n").as_array().size(), 2u);
}

TEST(ParseJsonTest, DepthLimit) {
    EXPECT_TRUE(ParseJson(Nested(10), 10).ok());
    auto too_deep = ParseJson(Nested(11), 10);
    ASSERT_FALSE(too_deep.ok());
    EXPECT_EQ(too_deep.error().code, Code::kInvalid);
    EXPECT_NE(too_deep.error().Summary().find("deeper"), std::string::npos);
    // A hostile body far deeper than the stack would allow without the limit.
    EXPECT_FALSE(ParseJson(Nested(100000)).ok());
    EXPECT_TRUE(ParseJson(R"({"a": {"b": {"c": 1}}})", 3).ok());
    EXPECT_FALSE(ParseJson(R"({"a": {"b": {"c": {}}}})", 3).ok());
}

TEST(ParseJsonTest, MalformedInputIsAnErrorNotAnException) {
    const std::string secret = "patient-secret-diagnosis";
    for (const std::string& bad :
         {std::string(""), std::string("{"), std::string(R"({"a": })"), std::string(R"({"a": 1,})"),
          std::string(R"({"a": 1} trailing)"), std::string(R"({"a": 1} {"b": 2})"),
          std::string("{\"a\": \"\xFF\"}"), std::string("// comment\n{}"),
          std::string(R"({"a": NaN})"), std::string("[1, 2"),
          R"({")" + secret + R"(": )" + secret + "}"}) {
        auto v = ParseJson(bad);
        ASSERT_FALSE(v.ok()) << bad;
        EXPECT_EQ(v.error().code, Code::kInvalid);
        ASSERT_EQ(v.error().issues.size(), 1u);
        EXPECT_EQ(v.error().issues[0].diagnostics.find(secret), std::string::npos);
    }
}

}  // namespace
}  // namespace carnet::fhir
