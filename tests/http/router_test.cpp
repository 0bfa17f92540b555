#include "http/router.hpp"

#include <gtest/gtest.h>

#include <stdexcept>

namespace carnet::http {
namespace {

Handler Named(std::string name) {
    return [name](Request&) {
        Response response;
        response.body = name;
        return response;
    };
}

std::string Call(const RouteMatch& match) {
    Request request;
    return (*match.handler)(request).body;
}

class RouterTest : public ::testing::Test {
  protected:
    void SetUp() override {
        router_.Add("GET", "/fhir/metadata", Named("metadata"));
        router_.Add("GET", "/fhir/{type}", Named("search"));
        router_.Add("POST", "/fhir/{type}", Named("create"));
        router_.Add("GET", "/fhir/{type}/{id}", Named("read"));
        router_.Add("PUT", "/fhir/{type}/{id}", Named("update"));
        router_.Add("GET", "/fhir/{type}/{id}/_history/{vid}", Named("vread"));
        router_.Add("GET", "/fhir/Patient/{id}/$everything", Named("everything"));
        router_.Add("DELETE", "/admin/cache", Named("flush"));
        router_.AddPrefix("GET", "/", Named("static"));
        router_.AddPrefix("GET", "/docs", Named("docs"));
    }
    Router router_;
};

TEST_F(RouterTest, LiteralBeatsParameter) {
    std::map<std::string, std::string> params;
    const RouteMatch match = router_.Match("GET", "/fhir/metadata", &params);
    ASSERT_EQ(match.kind, RouteMatch::Kind::kFound);
    EXPECT_EQ(Call(match), "metadata");
    EXPECT_EQ(*match.route, "/fhir/metadata");
    EXPECT_TRUE(params.empty());
}

TEST_F(RouterTest, ParametersAreCaptured) {
    std::map<std::string, std::string> params;
    const RouteMatch match = router_.Match("GET", "/fhir/Observation/o1/_history/3", &params);
    ASSERT_EQ(match.kind, RouteMatch::Kind::kFound);
    EXPECT_EQ(Call(match), "vread");
    EXPECT_EQ(*match.route, "/fhir/{type}/{id}/_history/{vid}");
    EXPECT_EQ(params["type"], "Observation");
    EXPECT_EQ(params["id"], "o1");
    EXPECT_EQ(params["vid"], "3");
}

TEST_F(RouterTest, BacktracksFromADeadEndLiteral) {
    // "Patient" is a literal under /fhir only on the $everything route; a plain read must
    // still reach /fhir/{type}/{id}.
    std::map<std::string, std::string> params;
    const RouteMatch match = router_.Match("GET", "/fhir/Patient/p1", &params);
    ASSERT_EQ(match.kind, RouteMatch::Kind::kFound);
    EXPECT_EQ(Call(match), "read");
    EXPECT_EQ(params["type"], "Patient");
    EXPECT_EQ(Call(router_.Match("GET", "/fhir/Patient/p1/$everything", nullptr)), "everything");
}

TEST_F(RouterTest, MethodSelectsTheRouteAndFallsBackToAParameter) {
    EXPECT_EQ(Call(router_.Match("POST", "/fhir/Patient", nullptr)), "create");
    // No POST on the literal: the parameter route with a POST wins over a 405.
    EXPECT_EQ(Call(router_.Match("POST", "/fhir/metadata", nullptr)), "create");
}

TEST_F(RouterTest, WrongMethodIs405WithAllow) {
    const RouteMatch match = router_.Match("DELETE", "/fhir/Patient/p1", nullptr);
    ASSERT_EQ(match.kind, RouteMatch::Kind::kMethodNotAllowed);
    EXPECT_EQ(match.allow, "GET, HEAD, PUT");
    const RouteMatch admin = router_.Match("GET", "/admin/cache", nullptr);
    ASSERT_EQ(admin.kind, RouteMatch::Kind::kMethodNotAllowed);
    EXPECT_EQ(admin.allow, "DELETE");
}

TEST_F(RouterTest, HeadUsesGet) {
    const RouteMatch match = router_.Match("HEAD", "/fhir/Patient/p1", nullptr);
    ASSERT_EQ(match.kind, RouteMatch::Kind::kFound);
    EXPECT_EQ(Call(match), "read");
}

TEST_F(RouterTest, PrefixFallbackLongestFirst) {
    EXPECT_EQ(Call(router_.Match("GET", "/docs/intro", nullptr)), "docs");
    EXPECT_EQ(Call(router_.Match("GET", "/docs", nullptr)), "docs");
    EXPECT_EQ(Call(router_.Match("GET", "/docsx", nullptr)), "static");
    EXPECT_EQ(Call(router_.Match("GET", "/fhir/a/b/c/d/e", nullptr)), "static");
    EXPECT_EQ(*router_.Match("GET", "/app/x", nullptr).route, "/*");
    // Prefix routes never answer 405: a wrong method is a 404.
    EXPECT_EQ(router_.Match("POST", "/app/x", nullptr).kind, RouteMatch::Kind::kNotFound);
}

TEST(RouterEdgeTest, NoRouteIsNotFound) {
    Router router;
    router.Add("GET", "/a/{b}", Named("ab"));
    EXPECT_EQ(router.Match("GET", "/a", nullptr).kind, RouteMatch::Kind::kNotFound);
    EXPECT_EQ(router.Match("GET", "/a/b/c", nullptr).kind, RouteMatch::Kind::kNotFound);
    EXPECT_EQ(router.Match("GET", "/", nullptr).kind, RouteMatch::Kind::kNotFound);
    std::string deep;
    for (int i = 0; i < 100; ++i) deep += "/x";
    EXPECT_EQ(router.Match("GET", deep, nullptr).kind, RouteMatch::Kind::kNotFound);
}

TEST(RouterEdgeTest, RootAndEmptySegments) {
    Router router;
    router.Add("GET", "/", Named("root"));
    router.Add("GET", "/a/b", Named("ab"));
    EXPECT_EQ(Call(router.Match("GET", "/", nullptr)), "root");
    EXPECT_EQ(Call(router.Match("GET", "/a//b/", nullptr)), "ab");
}

TEST(RouterEdgeTest, ProgrammingErrorsThrow) {
    Router router;
    router.Add("GET", "/a", Named("a"));
    EXPECT_THROW(router.Add("GET", "/a", Named("again")), std::logic_error);
    EXPECT_THROW(router.Add("GET", "no-slash", Named("x")), std::logic_error);
    EXPECT_THROW(router.Add("GET", "/a{b}", Named("x")), std::logic_error);
    EXPECT_NO_THROW(router.Add("POST", "/a", Named("post")));
}

}  // namespace
}  // namespace carnet::http
