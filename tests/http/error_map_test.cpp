#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "http/types.hpp"

namespace carnet::http {
namespace {

TEST(ErrorMapTest, EveryCodeHasItsStatus) {
    const std::vector<std::pair<Code, int>> expected = {
        {Code::kOk, 200},
        {Code::kInvalid, 400},
        {Code::kNotFound, 404},
        {Code::kGone, 410},
        {Code::kConflict, 409},
        {Code::kPreconditionFailed, 412},
        {Code::kUnprocessable, 422},
        {Code::kTooLarge, 413},
        {Code::kUnsupportedMedia, 415},
        {Code::kUnauthenticated, 401},
        {Code::kForbidden, 403},
        {Code::kTooManyRequests, 429},
        {Code::kTimeout, 408},
        {Code::kUnavailable, 503},
        {Code::kInternal, 500},
        {Code::kNotImplemented, 501},
        {Code::kMethodNotAllowed, 405},
    };
    for (const auto& [code, status] : expected) {
        EXPECT_EQ(StatusFor(code), status) << static_cast<int>(code);
    }
}

TEST(ErrorMapTest, ErrorResponseIsAnOperationOutcome) {
    const Response response =
        ErrorResponse(Error::Invalid("birthDate must be a date", "Patient.birthDate"));
    EXPECT_EQ(response.status, 400);
    EXPECT_EQ(response.content_type, "application/fhir+json");
    const auto json = boost::json::parse(response.body).as_object();
    EXPECT_EQ(json.at("resourceType").as_string(), "OperationOutcome");
    const auto& issue = json.at("issue").as_array().at(0).as_object();
    EXPECT_EQ(issue.at("severity").as_string(), "error");
    EXPECT_EQ(issue.at("code").as_string(), "invalid");
    EXPECT_EQ(issue.at("diagnostics").as_string(), "birthDate must be a date");
    EXPECT_EQ(issue.at("expression").as_array().at(0).as_string(), "Patient.birthDate");
}

TEST(ErrorMapTest, DetailIsNeverSent) {
    const Response response = ErrorResponse(Error::Internal("sqlite: disk I/O at /var/secret"));
    EXPECT_EQ(response.status, 500);
    EXPECT_EQ(response.body.find("secret"), std::string::npos);
    EXPECT_NE(response.body.find("\"exception\""), std::string::npos);
}

TEST(ErrorMapTest, EscapesDiagnostics) {
    const Response response = ErrorResponse(Error::Invalid("bad \"quote\" \\ and\nnewline <x>"));
    const auto json = boost::json::parse(response.body);  // throws if the escaping is wrong
    EXPECT_EQ(json.at("issue").at(0).at("diagnostics").as_string(),
              "bad \"quote\" \\ and\nnewline <x>");
}

TEST(ErrorMapTest, ErrorWithoutIssuesStillHasOne) {
    Error error;
    error.code = Code::kForbidden;
    error.detail = "internal";
    const Response response = ErrorResponse(error);
    EXPECT_EQ(response.status, 403);
    const auto json = boost::json::parse(response.body);
    EXPECT_EQ(json.at("issue").as_array().size(), 1U);
    EXPECT_EQ(json.at("issue").at(0).at("code").as_string(), "forbidden");
    EXPECT_EQ(response.body.find("internal"), std::string::npos);
}

TEST(ErrorMapTest, OperationOutcomeJsonKeepsAllIssues) {
    const std::string body = OperationOutcomeJson(
        {Issue{"warning", "informational", "first", ""}, Issue{"error", "required", "", "a.b"}});
    const auto json = boost::json::parse(body);
    ASSERT_EQ(json.at("issue").as_array().size(), 2U);
    EXPECT_EQ(json.at("issue").at(0).at("severity").as_string(), "warning");
    EXPECT_FALSE(json.at("issue").at(0).as_object().contains("expression"));
    EXPECT_FALSE(json.at("issue").at(1).as_object().contains("diagnostics"));
}

}  // namespace
}  // namespace carnet::http
