// The FHIR REST API over real HTTP (http://hl7.org/fhir/R4/http.html): capability, CRUD,
// versioning, conditional create, history, delete, transactions and batches, and the error
// paths (none of which may be a 500). Each test starts from an empty store, on SQLite and on
// PostgreSQL when CARNET_TEST_PG holds a DSN.
#include <gtest/gtest.h>

#include <atomic>
#include <set>
#include <thread>

#include "api/api_harness.hpp"

namespace carnet::api {
namespace {

using testing::ApiServer;
using testing::Client;
using testing::Describe;
using testing::Entries;
using testing::kBase;
using testing::Link;
using testing::MatchKeys;
using testing::Reply;
using testing::Str;
namespace json = boost::json;

// 2030-01-01T00:00:00Z: every write of a test happens at a known instant.
constexpr int64_t kT0 = 1'893'456'000'000'000;
constexpr int64_t kDayUs = 86'400'000'000;

std::string PatientJson(const std::string& family, const std::string& identifier = "",
                        const std::string& extra = "") {
    std::string body = R"({"resourceType":"Patient","name":[{"family":")" + family + R"("}])";
    if (!identifier.empty()) {
        body += R"(,"identifier":[{"system":"urn:test","value":")" + identifier + R"("}])";
    }
    return body + extra + "}";
}

std::string ObservationJson(const std::string& coding, const std::string& subject = "") {
    std::string body =
        R"({"resourceType":"Observation","status":"final","code":{"coding":[)" + coding + "]}";
    if (!subject.empty()) body += R"(,"subject":{"reference":")" + subject + R"("})";
    return body + "}";
}

class FhirRestTest : public ::testing::TestWithParam<std::string> {
  protected:
    void SetUp() override {
        server_ = std::make_unique<ApiServer>(GetParam(), kT0);
        http::ServerOptions options = ApiServer::DefaultServerOptions();
        options.max_body_bytes = 1024 * 1024;
        const std::string error = server_->Start(options);
        if (error == "CARNET_TEST_PG not set") GTEST_SKIP() << error;
        ASSERT_EQ(error, "");
        client_ = std::make_unique<Client>(server_->client());
    }
    void TearDown() override {
        if (server_) server_->Stop();
    }

    /// Creates a resource and returns its server id (fails the test otherwise).
    std::string Create(const std::string& type, const std::string& body) {
        Reply r = client_->Post("/fhir/" + type, body);
        EXPECT_EQ(r.status, 201) << Describe(r);
        return Str(r.Json().at("id"));
    }

    /// Number of matches of a search, read from _summary=count.
    int64_t Count(const std::string& type, const std::string& query) {
        Reply r =
            client_->Get(testing::EncodePipes("/fhir/" + type + "?" + query) + "&_summary=count");
        EXPECT_EQ(r.status, 200) << Describe(r);
        auto v = r.Json();
        if (!v.is_object() || !v.as_object().if_contains("total")) return -1;
        return v.at("total").to_number<int64_t>();
    }

    /// Every match of a search, following the next links.
    std::vector<std::string> AllMatches(const std::string& target) {
        std::vector<std::string> out;
        std::string next = testing::EncodePipes(target);
        for (int page = 0; !next.empty() && page < 1000; ++page) {
            Reply r = client_->Get(next);
            EXPECT_EQ(r.status, 200) << Describe(r);
            if (r.status != 200) break;
            auto bundle = r.Json();
            for (auto& key : MatchKeys(bundle)) out.push_back(key);
            next = Link(bundle, "next");
        }
        return out;
    }

    /// Expects an OperationOutcome error reply with `status`.
    static void ExpectOutcome(const Reply& r, int status) {
        EXPECT_EQ(r.status, status) << Describe(r);
        EXPECT_TRUE(r.IsOperationOutcome()) << Describe(r);
        EXPECT_EQ(r.Header("content-type").rfind("application/fhir+json", 0), 0U);
    }

    /// The expression of every issue of an OperationOutcome.
    static std::vector<std::string> Expressions(const Reply& r) {
        std::vector<std::string> out;
        auto v = r.Json();
        if (!v.is_object() || !v.as_object().if_contains("issue")) return out;
        for (const auto& issue : v.at("issue").as_array()) {
            if (const auto* e = issue.as_object().if_contains("expression"); e && e->is_array()) {
                for (const auto& x : e->as_array()) out.push_back(Str(x));
            }
        }
        return out;
    }

    std::unique_ptr<ApiServer> server_;
    std::unique_ptr<Client> client_;
};

// ---- capability -----------------------------------------------------------------------

TEST_P(FhirRestTest, MetadataIsAnR4CapabilityStatementListingPatientSearch) {
    Reply r = client_->Get("/fhir/metadata");
    ASSERT_EQ(r.status, 200) << Describe(r);
    auto cs = r.Json();
    ASSERT_TRUE(cs.is_object());
    EXPECT_EQ(Str(cs.at("resourceType")), "CapabilityStatement");
    EXPECT_EQ(Str(cs.at("fhirVersion")), "4.0.1");
    EXPECT_EQ(Str(cs.at("kind")), "instance");
    const auto& rest = cs.at("rest").as_array().at(0).as_object();
    EXPECT_EQ(Str(rest.at("mode")), "server");
    const json::object* patient = nullptr;
    for (const auto& res : rest.at("resource").as_array()) {
        if (Str(res.at("type")) == "Patient") patient = &res.as_object();
    }
    ASSERT_NE(patient, nullptr) << "Patient is not listed";
    std::set<std::string> params;
    for (const auto& p : patient->at("searchParam").as_array()) {
        params.insert(Str(p.at("name")) + ":" + Str(p.at("type")));
    }
    for (const char* expected : {"family:string", "name:string", "birthdate:date",
                                 "identifier:token", "_id:token", "_lastUpdated:date"}) {
        EXPECT_TRUE(params.count(expected)) << expected;
    }
    std::set<std::string> interactions;
    for (const auto& i : patient->at("interaction").as_array()) {
        interactions.insert(Str(i.at("code")));
    }
    for (const char* code : {"read", "vread", "update", "delete", "create", "search-type"}) {
        EXPECT_TRUE(interactions.count(code)) << code;
    }
}

// ---- create / read ----------------------------------------------------------------------

TEST_P(FhirRestTest, CreateAssignsTheIdAndReturnsLocationETagAndLastModified) {
    // The client's id is ignored on create (R4 http 3.1.0.8).
    Reply r = client_->Post("/fhir/Patient", R"({"resourceType":"Patient","id":"chosen-by-client",)"
                                             R"("name":[{"family":"Durand"}]})");
    ASSERT_EQ(r.status, 201) << Describe(r);
    auto body = r.Json();
    const std::string id = Str(body.at("id"));
    EXPECT_FALSE(id.empty());
    EXPECT_NE(id, "chosen-by-client");
    EXPECT_EQ(r.Header("location"), kBase + "/Patient/" + id + "/_history/1");
    EXPECT_EQ(r.Header("etag"), "W/\"1\"");
    EXPECT_EQ(r.Header("last-modified"), "Tue, 01 Jan 2030 00:00:00 GMT");
    EXPECT_EQ(Str(body.at("meta").at("versionId")), "1");
    EXPECT_EQ(Str(body.at("meta").at("lastUpdated")).substr(0, 19), "2030-01-01T00:00:00");
    EXPECT_EQ(Str(body.at("name").at(0).at("family")), "Durand");

    EXPECT_EQ(client_->Get("/fhir/Patient/chosen-by-client").status, 404);
}

TEST_P(FhirRestTest, ReadReturnsTheResourceWithETagAndMissesAre404) {
    const std::string id = Create("Patient", PatientJson("Martin"));
    Reply r = client_->Get("/fhir/Patient/" + id);
    ASSERT_EQ(r.status, 200) << Describe(r);
    EXPECT_EQ(r.Header("etag"), "W/\"1\"");
    EXPECT_EQ(r.Header("last-modified"), "Tue, 01 Jan 2030 00:00:00 GMT");
    EXPECT_EQ(Str(r.Json().at("id")), id);
    EXPECT_EQ(Str(r.Json().at("name").at(0).at("family")), "Martin");

    ExpectOutcome(client_->Get("/fhir/Patient/does-not-exist"), 404);
    // The same id under another type is another resource.
    ExpectOutcome(client_->Get("/fhir/Observation/" + id), 404);
    // Ids outside the FHIR id grammar never reach the store.
    ExpectOutcome(client_->Get("/fhir/Patient/" + std::string(80, 'a')), 404);
}

TEST_P(FhirRestTest, UnknownResourceTypeIs400) {
    ExpectOutcome(client_->Get("/fhir/Spaceship/1"), 400);
    ExpectOutcome(client_->Get("/fhir/Spaceship"), 400);
    ExpectOutcome(client_->Post("/fhir/Spaceship", R"({"resourceType":"Spaceship"})"), 400);
    ExpectOutcome(client_->Put("/fhir/Spaceship/1", R"({"resourceType":"Spaceship","id":"1"})"),
                  400);
    ExpectOutcome(client_->Delete("/fhir/Spaceship/1"), 400);
    // Data types are not resource types.
    ExpectOutcome(client_->Get("/fhir/HumanName/1"), 400);
}

TEST_P(FhirRestTest, BadBodiesAre400OperationOutcomesNeverServerErrors) {
    struct Case {
        const char* what;
        std::string body;
    };
    std::string deep = R"({"resourceType":"Patient","extension":)";
    for (int i = 0; i < 100; ++i) deep += "[";
    for (int i = 0; i < 100; ++i) deep += "]";
    deep += "}";
    const std::vector<Case> cases = {
        {"truncated JSON", R"({"resourceType":"Patient","name":[{"family":"X")"},
        {"not JSON at all", "this is not json"},
        {"trailing garbage", R"({"resourceType":"Patient"} xyz)"},
        {"JSON array", R"([{"resourceType":"Patient"}])"},
        {"JSON string", R"("Patient")"},
        {"nesting deeper than 64", deep},
        {"no resourceType", R"({"name":[{"family":"X"}]})"},
        {"resourceType is a number", R"({"resourceType":12})"},
        {"unknown element", R"({"resourceType":"Patient","favouriteColour":"blue"})"},
        {"invalid date", R"({"resourceType":"Patient","birthDate":"1990-13-45"})"},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.what);
        ExpectOutcome(client_->Post("/fhir/Patient", c.body), 400);
    }
    // An empty body.
    ExpectOutcome(client_->Post("/fhir/Patient", ""), 400);
    // Nothing was stored on the way.
    EXPECT_EQ(Count("Patient", "_lastUpdated=ge2000"), 0);
}

TEST_P(FhirRestTest, ResourceTypeMustMatchTheUrl) {
    Reply r = client_->Post("/fhir/Patient", ObservationJson(R"({"code":"x"})"));
    ExpectOutcome(r, 400);
    auto expressions = Expressions(r);
    EXPECT_NE(std::find(expressions.begin(), expressions.end(), "resourceType"), expressions.end())
        << Describe(r);
}

TEST_P(FhirRestTest, InvalidResourcesAre400PointingAtTheElement) {
    // Observation.code is required (1..1).
    Reply no_code =
        client_->Post("/fhir/Observation", R"({"resourceType":"Observation","status":"final"})");
    ExpectOutcome(no_code, 400);
    auto expressions = Expressions(no_code);
    EXPECT_NE(std::find(expressions.begin(), expressions.end(), "Observation.code"),
              expressions.end())
        << Describe(no_code);

    // Observation.status has a required binding.
    Reply bad_status = client_->Post(
        "/fhir/Observation",
        R"({"resourceType":"Observation","status":"sort-of","code":{"text":"weight"}})");
    ExpectOutcome(bad_status, 400);
    expressions = Expressions(bad_status);
    EXPECT_NE(std::find(expressions.begin(), expressions.end(), "Observation.status"),
              expressions.end())
        << Describe(bad_status);

    // A wrongly typed element deep inside.
    Reply bad_value =
        client_->Post("/fhir/Observation",
                      R"({"resourceType":"Observation","status":"final","code":{"text":"w"},)"
                      R"("valueQuantity":{"value":"heavy"}})");
    ExpectOutcome(bad_value, 400);
    expressions = Expressions(bad_value);
    EXPECT_NE(std::find(expressions.begin(), expressions.end(), "Observation.valueQuantity.value"),
              expressions.end())
        << Describe(bad_value);
    EXPECT_EQ(Count("Observation", "_lastUpdated=ge2000"), 0);
}

TEST_P(FhirRestTest, WrongContentTypeIs415) {
    ExpectOutcome(
        client_->Send("POST", "/fhir/Patient", {{"Content-Type", "text/plain"}}, PatientJson("X")),
        415);
    ExpectOutcome(
        client_->Send("POST", "/fhir/Patient", {{"Content-Type", "application/xml"}}, "<Patient/>"),
        415);
    ExpectOutcome(client_->Send("POST", "/fhir/Patient", {}, PatientJson("X")), 415);
    ExpectOutcome(
        client_->Send("PUT", "/fhir/Patient/x", {{"Content-Type", "text/plain"}}, PatientJson("X")),
        415);
    // application/json is accepted as well as application/fhir+json.
    EXPECT_EQ(client_
                  ->Send("POST", "/fhir/Patient",
                         {{"Content-Type", "application/json; charset=utf-8"}}, PatientJson("X"))
                  .status,
              201);
    // Only JSON is served.
    ExpectOutcome(client_->Get("/fhir/Patient?_format=xml"), 415);
}

TEST_P(FhirRestTest, BodyOverTheLimitIs413AndTheServerGoesOn) {
    http::testing::RawClient raw(server_->port());
    // Declares 2 MiB (the limit is 1 MiB) and sends a part: refused from the header alone.
    ASSERT_TRUE(
        raw.Send("POST /fhir/Patient HTTP/1.1\r\nHost: t\r\nContent-Type: application/fhir+json\r\n"
                 "Content-Length: 2097152\r\n\r\n" +
                 std::string(4096, ' ')));
    auto reply = raw.Read();
    ASSERT_TRUE(reply);
    EXPECT_EQ(reply->status, 413);
    EXPECT_EQ(Count("Patient", "_lastUpdated=ge2000"), 0);
    EXPECT_EQ(client_->Get("/fhir/metadata").status, 200);
}

// ---- update -----------------------------------------------------------------------------

TEST_P(FhirRestTest, UpdateMakesVersionsAndHonoursIfMatch) {
    const std::string id = Create("Patient", PatientJson("Petit"));
    const std::string url = "/fhir/Patient/" + id;
    auto with_id = [&](const std::string& family) {
        return R"({"resourceType":"Patient","id":")" + id + R"(","name":[{"family":")" + family +
               R"("}]})";
    };

    server_->clock().AdvanceForTest(kDayUs);
    Reply v2 = client_->Put(url, with_id("Petit-Durand"));
    ASSERT_EQ(v2.status, 200) << Describe(v2);
    EXPECT_EQ(v2.Header("etag"), "W/\"2\"");
    EXPECT_EQ(v2.Header("location"), kBase + "/Patient/" + id + "/_history/2");
    EXPECT_EQ(v2.Header("last-modified"), "Wed, 02 Jan 2030 00:00:00 GMT");
    EXPECT_EQ(Str(v2.Json().at("meta").at("versionId")), "2");

    // The body's id must be the URL's.
    ExpectOutcome(client_->Put(url, R"({"resourceType":"Patient","id":"other"})"), 400);
    ExpectOutcome(client_->Put(url, R"({"resourceType":"Patient"})"), 400);

    // If-Match with a stale version: 412, nothing written.
    ExpectOutcome(client_->Put(url, with_id("Stale"), {{"If-Match", "W/\"1\""}}), 412);
    ExpectOutcome(client_->Put(url, with_id("Garbled"), {{"If-Match", "yesterday"}}), 400);
    EXPECT_EQ(client_->Get(url).Header("etag"), "W/\"2\"");

    Reply v3 = client_->Put(url, with_id("Moreau"), {{"If-Match", "W/\"2\""}});
    ASSERT_EQ(v3.status, 200) << Describe(v3);
    EXPECT_EQ(v3.Header("etag"), "W/\"3\"");

    // The same content again: no new version.
    Reply same = client_->Put(url, with_id("Moreau"));
    ASSERT_EQ(same.status, 200) << Describe(same);
    EXPECT_EQ(same.Header("etag"), "W/\"3\"");
    EXPECT_EQ(Str(same.Json().at("meta").at("versionId")), "3");
    Reply read = client_->Get(url);
    EXPECT_EQ(read.Header("etag"), "W/\"3\"");
    EXPECT_EQ(Str(read.Json().at("name").at(0).at("family")), "Moreau");
    EXPECT_EQ(client_->Get(url + "/_history/4").status, 404);

    // Update as create: a PUT to an id nobody used yet.
    Reply created =
        client_->Put("/fhir/Patient/brand-new-id",
                     R"({"resourceType":"Patient","id":"brand-new-id","name":[{"family":"N"}]})");
    ASSERT_EQ(created.status, 201) << Describe(created);
    EXPECT_EQ(created.Header("etag"), "W/\"1\"");
    EXPECT_EQ(created.Header("location"), kBase + "/Patient/brand-new-id/_history/1");
    EXPECT_EQ(client_->Get("/fhir/Patient/brand-new-id").status, 200);
    // If-Match on a resource that does not exist cannot match.
    ExpectOutcome(client_->Put("/fhir/Patient/never", R"({"resourceType":"Patient","id":"never"})",
                               {{"If-Match", "W/\"1\""}}),
                  412);
    EXPECT_EQ(client_->Get("/fhir/Patient/never").status, 404);
}

TEST_P(FhirRestTest, PreferReturnMinimalAndOperationOutcome) {
    Reply minimal =
        client_->Post("/fhir/Patient", PatientJson("Min"), {{"Prefer", "return=minimal"}});
    EXPECT_EQ(minimal.status, 201);
    EXPECT_TRUE(minimal.body.empty()) << minimal.body;
    EXPECT_FALSE(minimal.Header("location").empty());
    Reply outcome =
        client_->Post("/fhir/Patient", PatientJson("Oc"), {{"Prefer", "return=OperationOutcome"}});
    EXPECT_EQ(outcome.status, 201);
    EXPECT_TRUE(outcome.IsOperationOutcome()) << outcome.body;
}

// ---- vread / history --------------------------------------------------------------------

TEST_P(FhirRestTest, VReadAndHistoryAfterAnUpdate) {
    const std::string id = Create("Patient", PatientJson("Roux"));
    const std::string other = Create("Patient", PatientJson("Blanc"));
    server_->clock().AdvanceForTest(1'000'000);
    ASSERT_EQ(client_
                  ->Put("/fhir/Patient/" + id, R"({"resourceType":"Patient","id":")" + id +
                                                   R"(","name":[{"family":"Roux-Leroy"}]})")
                  .status,
              200);

    Reply v1 = client_->Get("/fhir/Patient/" + id + "/_history/1");
    ASSERT_EQ(v1.status, 200) << Describe(v1);
    EXPECT_EQ(v1.Header("etag"), "W/\"1\"");
    EXPECT_EQ(Str(v1.Json().at("name").at(0).at("family")), "Roux");
    EXPECT_EQ(Str(client_->Get("/fhir/Patient/" + id + "/_history/2")
                      .Json()
                      .at("name")
                      .at(0)
                      .at("family")),
              "Roux-Leroy");
    ExpectOutcome(client_->Get("/fhir/Patient/" + id + "/_history/3"), 404);
    ExpectOutcome(client_->Get("/fhir/Patient/" + id + "/_history/zero"), 404);

    Reply history = client_->Get("/fhir/Patient/" + id + "/_history");
    ASSERT_EQ(history.status, 200) << Describe(history);
    auto bundle = history.Json();
    EXPECT_EQ(Str(bundle.at("type")), "history");
    auto entries = Entries(bundle);
    ASSERT_EQ(entries.size(), 2U) << history.body;
    // Newest first.
    EXPECT_EQ(Str(entries[0].at("resource").at("meta").at("versionId")), "2");
    EXPECT_EQ(Str(entries[1].at("resource").at("meta").at("versionId")), "1");
    EXPECT_EQ(Str(entries[0].at("request").at("method")), "PUT");
    EXPECT_EQ(Str(entries[1].at("request").at("method")), "POST");
    EXPECT_EQ(Str(entries[0].at("fullUrl")), kBase + "/Patient/" + id);

    // Type history: every version of every Patient.
    Reply type_history = client_->Get("/fhir/Patient/_history");
    ASSERT_EQ(type_history.status, 200) << Describe(type_history);
    std::multiset<std::string> versions;
    for (const auto& e : Entries(type_history.Json())) {
        versions.insert(Str(e.at("resource").at("id")) + "@" +
                        Str(e.at("resource").at("meta").at("versionId")));
    }
    EXPECT_EQ(versions, (std::multiset<std::string>{id + "@1", id + "@2", other + "@1"}));
    // History of something that never existed.
    ExpectOutcome(client_->Get("/fhir/Patient/nobody/_history"), 404);
    ExpectOutcome(client_->Get("/fhir/Patient/" + id + "/_history?_since=yesterday"), 400);
    ExpectOutcome(client_->Get("/fhir/Patient/" + id + "/_history?_count=-1"), 400);
}

TEST_P(FhirRestTest, HistoryPagesFollowNextLinks) {
    const std::string id = Create("Patient", PatientJson("V1"));
    for (int v = 2; v <= 4; ++v) {
        server_->clock().AdvanceForTest(1'000'000);
        ASSERT_EQ(client_
                      ->Put("/fhir/Patient/" + id, R"({"resourceType":"Patient","id":")" + id +
                                                       R"(","name":[{"family":"V)" +
                                                       std::to_string(v) + R"("}]})")
                      .status,
                  200);
    }
    std::vector<std::string> seen;
    std::string next = "/fhir/Patient/" + id + "/_history?_count=1";
    int pages = 0;
    while (!next.empty() && pages < 10) {
        Reply r = client_->Get(next);
        ASSERT_EQ(r.status, 200) << Describe(r);
        auto entries = Entries(r.Json());
        ASSERT_LE(entries.size(), 1U);
        for (const auto& e : entries) {
            seen.push_back(Str(e.at("resource").at("meta").at("versionId")));
        }
        next = Link(r.Json(), "next");
        if (!next.empty()) {
            EXPECT_NE(next.find("_count=1"), std::string::npos) << next;
        }
        ++pages;
    }
    EXPECT_EQ(seen, (std::vector<std::string>{"4", "3", "2", "1"}));
}

// ---- delete -----------------------------------------------------------------------------

TEST_P(FhirRestTest, DeleteMakesReadsGoneButKeepsHistory) {
    const std::string id = Create("Patient", PatientJson("Effacé", "del-1"));
    ASSERT_EQ(Count("Patient", "identifier=urn:test|del-1"), 1);

    Reply del = client_->Delete("/fhir/Patient/" + id);
    EXPECT_EQ(del.status, 204) << Describe(del);
    EXPECT_TRUE(del.body.empty());

    ExpectOutcome(client_->Get("/fhir/Patient/" + id), 410);
    Reply v1 = client_->Get("/fhir/Patient/" + id + "/_history/1");
    EXPECT_EQ(v1.status, 200) << Describe(v1);
    EXPECT_EQ(Str(v1.Json().at("id")), id);
    // The deletion is a version of its own.
    ExpectOutcome(client_->Get("/fhir/Patient/" + id + "/_history/2"), 410);
    EXPECT_EQ(Count("Patient", "identifier=urn:test|del-1"), 0);
    EXPECT_EQ(Count("Patient", "_id=" + id), 0);
    auto history = Entries(client_->Get("/fhir/Patient/" + id + "/_history").Json());
    ASSERT_EQ(history.size(), 2U);
    EXPECT_EQ(Str(history[0].at("request").at("method")), "DELETE");

    // Deleting again, or deleting what never existed, succeeds and changes nothing.
    EXPECT_EQ(client_->Delete("/fhir/Patient/" + id).status, 204);
    EXPECT_EQ(client_->Delete("/fhir/Patient/never-was").status, 204);
    EXPECT_EQ(Entries(client_->Get("/fhir/Patient/" + id + "/_history").Json()).size(), 2U);

    // Writing it again revives it with the next version.
    Reply revived =
        client_->Put("/fhir/Patient/" + id, R"({"resourceType":"Patient","id":")" + id + R"("})");
    EXPECT_EQ(revived.status, 201) << Describe(revived);
    EXPECT_EQ(revived.Header("etag"), "W/\"3\"");
}

// ---- conditional create -------------------------------------------------------------------

TEST_P(FhirRestTest, ConditionalCreateMatchingNoneOneOrSeveral) {
    const testing::Headers if_none_exist = {{"If-None-Exist", "identifier=urn:test|cc-1"}};
    Reply first = client_->Post("/fhir/Patient", PatientJson("Cc", "cc-1"), if_none_exist);
    ASSERT_EQ(first.status, 201) << Describe(first);
    const std::string id = Str(first.Json().at("id"));

    // One match: 200 with the existing resource, nothing new.
    Reply again = client_->Post("/fhir/Patient", PatientJson("Different", "cc-1"), if_none_exist);
    ASSERT_EQ(again.status, 200) << Describe(again);
    EXPECT_EQ(Str(again.Json().at("id")), id);
    EXPECT_EQ(Str(again.Json().at("name").at(0).at("family")), "Cc");
    EXPECT_EQ(again.Header("etag"), "W/\"1\"");
    EXPECT_EQ(Count("Patient", "identifier=urn:test|cc-1"), 1);
    EXPECT_EQ(Count("Patient", "family=Different"), 0);

    // Several matches: 412, nothing created.
    Create("Patient", PatientJson("Twin", "cc-2"));
    Create("Patient", PatientJson("Twin", "cc-2"));
    ExpectOutcome(client_->Post("/fhir/Patient", PatientJson("Third", "cc-2"),
                                {{"If-None-Exist", "identifier=urn:test|cc-2"}}),
                  412);
    EXPECT_EQ(Count("Patient", "identifier=urn:test|cc-2"), 2);
    // The full-URL form of the header ("Patient?identifier=...") is read the same.
    EXPECT_EQ(client_
                  ->Post("/fhir/Patient", PatientJson("Cc", "cc-1"),
                         {{"If-None-Exist", "Patient?identifier=urn:test|cc-1"}})
                  .status,
              200);
    // Criteria that cannot parse are the client's error.
    ExpectOutcome(
        client_->Post("/fhir/Patient", PatientJson("Bad"), {{"If-None-Exist", "no-such-param=1"}}),
        400);
    EXPECT_EQ(Count("Patient", "family=Bad"), 0);
}

TEST_P(FhirRestTest, ConcurrentConditionalCreatesStoreOneResource) {
    constexpr int kThreads = 8;
    std::vector<int> statuses(kThreads);
    std::vector<std::string> ids(kThreads);
    std::atomic<int> ready{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
        threads.emplace_back([&, t] {
            Client client(server_->port());
            ++ready;
            while (ready.load() < kThreads) std::this_thread::yield();
            Reply r = client.Post("/fhir/Patient", PatientJson("Race", "race-1"),
                                  {{"If-None-Exist", "identifier=urn:test|race-1"}});
            statuses[t] = r.status;
            auto v = r.Json();
            if (v.is_object() && v.as_object().if_contains("id")) ids[t] = Str(v.at("id"));
        });
    }
    for (auto& th : threads) th.join();
    std::string seen;
    for (int status : statuses) seen += std::to_string(status) + " ";
    SCOPED_TRACE("statuses: " + seen);
    EXPECT_EQ(std::count(statuses.begin(), statuses.end(), 201), 1);
    EXPECT_EQ(std::count(statuses.begin(), statuses.end(), 200), kThreads - 1);
    EXPECT_EQ(std::set<std::string>(ids.begin(), ids.end()).size(), 1U);
    EXPECT_EQ(Count("Patient", "identifier=urn:test|race-1"), 1);
}

TEST_P(FhirRestTest, ConditionalUpdateCreatesUpdatesOrRefuses) {
    const std::string target = "/fhir/Patient?identifier=urn:test%7Ccu-1";
    Reply created = client_->Put(target, PatientJson("Cu", "cu-1"));
    ASSERT_EQ(created.status, 201) << Describe(created);
    const std::string id = Str(created.Json().at("id"));
    Reply updated = client_->Put(target, PatientJson("Cu-Updated", "cu-1"));
    ASSERT_EQ(updated.status, 200) << Describe(updated);
    EXPECT_EQ(Str(updated.Json().at("id")), id);
    EXPECT_EQ(updated.Header("etag"), "W/\"2\"");
    // A body id that is not the matched resource's is refused.
    ExpectOutcome(client_->Put(target, R"({"resourceType":"Patient","id":"someone-else",)"
                                       R"("identifier":[{"system":"urn:test","value":"cu-1"}]})"),
                  400);
    Create("Patient", PatientJson("Cu", "cu-1"));
    ExpectOutcome(client_->Put(target, PatientJson("Cu-Third", "cu-1")), 412);
    EXPECT_EQ(Count("Patient", "family=Cu-Third"), 0);
    // PUT on the type without criteria is not an update.
    ExpectOutcome(client_->Put("/fhir/Patient", PatientJson("Cu")), 400);
}

// ---- search on small data -----------------------------------------------------------------

TEST_P(FhirRestTest, TokenSearchDistinguishesSystemForms) {
    const std::string loinc =
        Create("Observation", ObservationJson(R"({"system":"http://loinc.org","code":"8302-2"})"));
    const std::string no_system = Create("Observation", ObservationJson(R"({"code":"8302-2"})"));
    const std::string other_system =
        Create("Observation", ObservationJson(R"({"system":"urn:other","code":"8302-2"})"));
    const std::string other_code =
        Create("Observation", ObservationJson(R"({"system":"http://loinc.org","code":"29463-7"})"));
    auto ids = [&](const std::string& query) {
        std::set<std::string> out;
        for (auto& key : AllMatches("/fhir/Observation?" + query)) out.insert(key.substr(12));
        return out;
    };
    using Set = std::set<std::string>;
    EXPECT_EQ(ids("code=http://loinc.org|8302-2"), Set({loinc}));
    EXPECT_EQ(ids("code=http%3A%2F%2Floinc.org%7C8302-2"), Set({loinc}));
    EXPECT_EQ(ids("code=8302-2"), Set({loinc, no_system, other_system}));
    EXPECT_EQ(ids("code=|8302-2"), Set({no_system}));
    EXPECT_EQ(ids("code=http://loinc.org|"), Set({loinc, other_code}));
    EXPECT_EQ(ids("code=8302-2,29463-7"), Set({loinc, no_system, other_system, other_code}));
    EXPECT_EQ(ids("code=8302-2&code=http://loinc.org|"), Set({loinc}));
    EXPECT_EQ(ids("code:not=http://loinc.org|8302-2"), Set({no_system, other_system, other_code}));
    EXPECT_EQ(ids("code=8302"), Set());
}

TEST_P(FhirRestTest, LastUpdatedSearch) {
    const std::string early = Create("Patient", PatientJson("Early"));
    server_->clock().AdvanceForTest(2 * kDayUs);
    const std::string late = Create("Patient", PatientJson("Late"));
    auto ids = [&](const std::string& query) {
        std::set<std::string> out;
        for (auto& key : AllMatches("/fhir/Patient?" + query)) out.insert(key.substr(8));
        return out;
    };
    using Set = std::set<std::string>;
    EXPECT_EQ(ids("_lastUpdated=ge2030-01-02"), Set({late}));
    EXPECT_EQ(ids("_lastUpdated=lt2030-01-02"), Set({early}));
    EXPECT_EQ(ids("_lastUpdated=2030-01-01"), Set({early}));
    EXPECT_EQ(ids("_lastUpdated=ge2030-01-01&_lastUpdated=le2030-01-03"), Set({early, late}));
    EXPECT_EQ(ids("_lastUpdated=gt2030-01-03T00:00:00Z"), Set());
    ExpectOutcome(client_->Get("/fhir/Patient?_lastUpdated=ge-last-week"), 400);
    // Sorted by _lastUpdated, newest first.
    EXPECT_EQ(AllMatches("/fhir/Patient?_sort=-_lastUpdated"),
              (std::vector<std::string>{"Patient/" + late, "Patient/" + early}));
}

// ---- transaction / batch --------------------------------------------------------------------

std::string Entry(const std::string& full_url, const std::string& resource,
                  const std::string& method, const std::string& url,
                  const std::string& extra_request = "") {
    std::string e = "{";
    if (!full_url.empty()) e += R"("fullUrl":")" + full_url + R"(",)";
    e += R"("resource":)" + resource + R"(,"request":{"method":")" + method + R"(","url":")" + url +
         "\"" + extra_request + "}}";
    return e;
}

std::string BundleJson(const std::string& type, const std::vector<std::string>& entries) {
    std::string b = R"({"resourceType":"Bundle","type":")" + type + R"(","entry":[)";
    for (size_t i = 0; i < entries.size(); ++i) b += (i ? "," : "") + entries[i];
    return b + "]}";
}

/// "Type/id" from a response location "Type/id/_history/n".
std::string TypeAndId(const std::string& location) {
    auto h = location.find("/_history/");
    return location.substr(0, h);
}

TEST_P(FhirRestTest, TransactionResolvesUrnUuidReferences) {
    const std::string patient_urn = "urn:uuid:7c1a8a5e-6f1b-4a0e-9d4e-1a2b3c4d5e6f";
    const std::string bundle = BundleJson(
        "transaction",
        {// The Observation comes first: references resolve whatever the order.
         Entry("urn:uuid:0d0f3c39-2f39-4d8b-a1a5-8a3c1d0f2e11",
               ObservationJson(R"({"system":"http://loinc.org","code":"8302-2"})", patient_urn),
               "POST", "Observation"),
         Entry(patient_urn, PatientJson("Urn", "tx-1"), "POST", "Patient")});
    Reply r = client_->Post("/fhir", bundle);
    ASSERT_EQ(r.status, 200) << Describe(r);
    auto response = r.Json();
    EXPECT_EQ(Str(response.at("type")), "transaction-response");
    auto entries = Entries(response);
    ASSERT_EQ(entries.size(), 2U);
    for (const auto& e : entries) {
        EXPECT_EQ(Str(e.at("response").at("status")).substr(0, 3), "201") << json::serialize(e);
    }
    const std::string observation = TypeAndId(Str(entries[0].at("response").at("location")));
    const std::string patient = TypeAndId(Str(entries[1].at("response").at("location")));
    EXPECT_EQ(patient.rfind("Patient/", 0), 0U) << patient;
    EXPECT_NE(patient, "Patient/7c1a8a5e-6f1b-4a0e-9d4e-1a2b3c4d5e6f");  // server-assigned

    Reply read = client_->Get("/fhir/" + observation);
    ASSERT_EQ(read.status, 200) << Describe(read);
    EXPECT_EQ(Str(read.Json().at("subject").at("reference")), patient);
    // The reference is indexed under the resolved id.
    EXPECT_EQ(AllMatches("/fhir/Observation?subject=" + patient),
              std::vector<std::string>{observation});
}

TEST_P(FhirRestTest, TransactionWithOneInvalidEntryStoresNothing) {
    const std::string bundle = BundleJson(
        "transaction",
        {Entry("", PatientJson("Atomic", "tx-atomic"), "POST", "Patient"),
         Entry("", R"({"resourceType":"Observation","status":"final"})", "POST", "Observation")});
    Reply r = client_->Post("/fhir", bundle);
    ExpectOutcome(r, 400);
    auto expressions = Expressions(r);
    ASSERT_FALSE(expressions.empty());
    EXPECT_EQ(expressions.front().rfind("Bundle.entry[1]", 0), 0U) << Describe(r);
    EXPECT_EQ(Count("Patient", "identifier=urn:test|tx-atomic"), 0);
    EXPECT_EQ(Count("Observation", "_lastUpdated=ge2000"), 0);

    // A failure found while running (not while checking) also rolls everything back.
    Create("Patient", PatientJson("Dup", "dup"));
    Create("Patient", PatientJson("Dup", "dup"));
    const std::string late_failure =
        BundleJson("transaction", {Entry("", PatientJson("Atomic", "tx-atomic"), "POST", "Patient"),
                                   Entry("", PatientJson("Again", "dup"), "POST", "Patient",
                                         R"(,"ifNoneExist":"identifier=urn:test|dup")")});
    ExpectOutcome(client_->Post("/fhir", late_failure), 412);
    EXPECT_EQ(Count("Patient", "identifier=urn:test|tx-atomic"), 0);
}

TEST_P(FhirRestTest, TransactionResolvesConditionalReferences) {
    Reply org = client_->Post(
        "/fhir/Organization",
        R"({"resourceType":"Organization","identifier":[{"system":"urn:org","value":"o-1"}],)"
        R"("name":"Clinique"})");
    ASSERT_EQ(org.status, 201) << Describe(org);
    const std::string org_id = Str(org.Json().at("id"));

    const std::string bundle = BundleJson(
        "transaction",
        {Entry(
            "urn:uuid:2b1c6a54-0c1f-4c55-8d7c-3f1a0e9b8c7d",
            PatientJson(
                "Ref", "tx-ref",
                R"(,"managingOrganization":{"reference":"Organization?identifier=urn:org|o-1"})"),
            "POST", "Patient")});
    Reply r = client_->Post("/fhir", bundle);
    ASSERT_EQ(r.status, 200) << Describe(r);
    const std::string patient =
        TypeAndId(Str(Entries(r.Json()).at(0).at("response").at("location")));
    Reply read = client_->Get("/fhir/" + patient);
    EXPECT_EQ(Str(read.Json().at("managingOrganization").at("reference")),
              "Organization/" + org_id);
    EXPECT_EQ(AllMatches("/fhir/Patient?organization=" + org_id),
              std::vector<std::string>{patient});
}

TEST_P(FhirRestTest, UnresolvableConditionalReferenceFailsTheTransaction) {
    const std::string bundle = BundleJson(
        "transaction",
        {Entry("", PatientJson("Lost", "tx-lost"), "POST", "Patient"),
         Entry(
             "",
             PatientJson(
                 "Lost", "tx-lost-2",
                 R"(,"managingOrganization":{"reference":"Organization?identifier=urn:org|nowhere"})"),
             "POST", "Patient")});
    Reply r = client_->Post("/fhir", bundle);
    ExpectOutcome(r, 400);
    EXPECT_EQ(Count("Patient", "family=Lost"), 0);

    // Ambiguous (two matches) is refused too.
    for (int i = 0; i < 2; ++i) {
        Create(
            "Organization",
            R"({"resourceType":"Organization","identifier":[{"system":"urn:org","value":"twin"}]})");
    }
    const std::string ambiguous = BundleJson(
        "transaction",
        {Entry(
            "",
            PatientJson(
                "Lost", "tx-lost-3",
                R"(,"managingOrganization":{"reference":"Organization?identifier=urn:org|twin"})"),
            "POST", "Patient")});
    Reply a = client_->Post("/fhir", ambiguous);
    EXPECT_TRUE(a.status == 400 || a.status == 412) << Describe(a);
    EXPECT_TRUE(a.IsOperationOutcome());
    EXPECT_EQ(Count("Patient", "family=Lost"), 0);
}

TEST_P(FhirRestTest, BatchEntriesFailAlone) {
    const std::string existing = Create("Patient", PatientJson("Existing", "b-0"));
    const std::string bundle = BundleJson(
        "batch",
        {Entry("", PatientJson("Batch", "b-1"), "POST", "Patient"),
         Entry("", R"({"resourceType":"Observation","status":"final"})", "POST", "Observation"),
         Entry("", PatientJson("Batch", "b-2"), "POST", "Patient"),
         Entry(
             "",
             PatientJson(
                 "Batch", "b-3",
                 R"(,"managingOrganization":{"reference":"Organization?identifier=urn:org|none"})"),
             "POST", "Patient"),
         R"({"request":{"method":"GET","url":"Patient/)" + existing + R"("}})",
         R"({"request":{"method":"GET","url":"Patient/missing"}})"});
    Reply r = client_->Post("/fhir", bundle);
    ASSERT_EQ(r.status, 200) << Describe(r);
    auto response = r.Json();
    EXPECT_EQ(Str(response.at("type")), "batch-response");
    auto entries = Entries(response);
    ASSERT_EQ(entries.size(), 6U);
    auto status = [&](size_t i) {
        return Str(entries[i].at("response").at("status")).substr(0, 3);
    };
    EXPECT_EQ(status(0), "201");
    EXPECT_EQ(status(1), "400");
    EXPECT_TRUE(entries[1].at("response").as_object().if_contains("outcome"));
    EXPECT_EQ(status(2), "201");
    EXPECT_EQ(status(3), "400");
    EXPECT_EQ(status(4), "200");
    EXPECT_EQ(Str(entries[4].at("resource").at("id")), existing);
    EXPECT_EQ(status(5), "404");
    EXPECT_EQ(Count("Patient", "family=Batch"), 2);
    EXPECT_EQ(Count("Patient", "identifier=urn:test|b-3"), 0);
    EXPECT_EQ(Count("Observation", "_lastUpdated=ge2000"), 0);
}

TEST_P(FhirRestTest, BundleEnvelopeErrorsAre400) {
    ExpectOutcome(client_->Post("/fhir", PatientJson("NotABundle")), 400);
    ExpectOutcome(client_->Post("/fhir", R"({"resourceType":"Bundle","type":"collection"})"), 400);
    ExpectOutcome(client_->Post("/fhir", R"({"resourceType":"Bundle","type":"transaction",)"
                                         R"("entry":{"not":"an array"}})"),
                  400);
    // An entry aimed at an unknown type or a malformed url.
    ExpectOutcome(
        client_->Post(
            "/fhir", BundleJson("transaction", {Entry("", PatientJson("X"), "POST", "Spaceship")})),
        400);
    ExpectOutcome(client_->Post("/fhir", BundleJson("transaction", {Entry("", PatientJson("X"),
                                                                          "PATCH", "Patient/1")})),
                  400);
    EXPECT_EQ(Count("Patient", "_lastUpdated=ge2000"), 0);
    // An empty transaction does nothing and succeeds.
    EXPECT_EQ(client_->Post("/fhir", R"({"resourceType":"Bundle","type":"transaction"})").status,
              200);
}

// ---- operations endpoints --------------------------------------------------------------------

TEST_P(FhirRestTest, HealthReadinessAndMetrics) {
    EXPECT_EQ(client_->Get("/healthz").status, 200);
    EXPECT_EQ(client_->Get("/readyz").status, 200);
    ASSERT_EQ(client_->Get("/fhir/metadata").status, 200);
    Reply metrics = client_->Get("/metrics");
    ASSERT_EQ(metrics.status, 200);
    EXPECT_NE(metrics.body.find("carnet_http_requests_total"), std::string::npos);
    EXPECT_NE(metrics.body.find("/fhir/metadata"), std::string::npos);
}

INSTANTIATE_TEST_SUITE_P(Engines, FhirRestTest, ::testing::Values("sqlite", "postgres"),
                         [](const auto& engine) { return engine.param; });

}  // namespace
}  // namespace carnet::api
