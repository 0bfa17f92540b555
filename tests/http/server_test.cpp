#include "http/server.hpp"
#include "http/spool.hpp"

#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <future>
#include <sstream>
#include <stdexcept>
#include <thread>

#include <boost/json.hpp>

#include "http/metrics.hpp"
#include "http/ops_routes.hpp"
#include "http/router.hpp"
#include "http/test_client.hpp"

namespace carnet::http {
namespace {

using namespace std::chrono_literals;
using testing::Fetch;
using testing::HttpReply;
using testing::RawClient;

Response Text(std::string body) {
    Response response;
    response.content_type = "text/plain";
    response.body = std::move(body);
    return response;
}

bool IsOperationOutcome(const std::string& body) {
    boost::system::error_code ec;
    const auto json = boost::json::parse(body, ec);
    return !ec && json.is_object() && json.as_object().contains("resourceType") &&
           json.at("resourceType") == "OperationOutcome" && !json.at("issue").as_array().empty();
}

std::string Get(const std::string& target) {
    return "GET " + target + " HTTP/1.1\r\nHost: test\r\n\r\n";
}

class ServerTest : public ::testing::Test {
  protected:
    static ServerOptions TestOptions() {
        ServerOptions options;
        options.port = 0;
        options.threads = 2;
        options.read_timeout = 5s;
        options.idle_timeout = 5s;
        options.shutdown_timeout = 5s;
        return options;
    }

    /// The common routes; tests add theirs before Start().
    void AddDefaultRoutes() {
        router_.Add("GET", "/fhir/metadata", [](Request&) { return Text("metadata"); });
        router_.Add("GET", "/fhir/{type}/{id}", [](Request& request) {
            return Text("read " + request.Param("type") + "/" + request.Param("id") + " " +
                        request.route);
        });
        router_.Add("POST", "/echo", [](Request& request) {
            return Text("echo " + std::to_string(request.body.size()));
        });
        router_.Add(
            "POST", "/upload",
            [](Request& request) { return Text("upload " + std::to_string(request.body.size())); },
            RouteOptions{.max_body_bytes = 64 * 1024});
        router_.Add("GET", "/query", [](Request& request) {
            std::string body;
            for (const auto& [name, value] : request.query) body += name + "=" + value + "|";
            return Text(body);
        });
        router_.Add("GET", "/throw", [](Request&) -> Response {
            throw std::runtime_error("Jane Doe has condition X");
        });
        router_.Add("GET", "/headers", [](Request& request) {
            return Text(request.Header("x-custom").value_or("none") + " " + request.remote_addr +
                        " " + request.request_id);
        });
    }

    void StartServer(ServerOptions options = TestOptions()) {
        server_ = std::make_unique<Server>(options, router_);
        const Status status = server_->Start();
        ASSERT_TRUE(status.ok()) << status.error().Summary();
        port_ = server_->Port();
        ASSERT_NE(port_, 0);
    }

    void TearDown() override {
        if (server_) server_->Stop();
    }

    Router router_;
    std::unique_ptr<Server> server_;
    uint16_t port_ = 0;
};

TEST_F(ServerTest, RoutesLiteralAndParameter) {
    AddDefaultRoutes();
    StartServer();
    auto metadata = Fetch(port_, "GET", "/fhir/metadata");
    ASSERT_TRUE(metadata);
    EXPECT_EQ(metadata->status, 200);
    EXPECT_EQ(metadata->body, "metadata");
    // Parameters are decoded path segments.
    auto read = Fetch(port_, "GET", "/fhir/Patient/p%2D1");
    ASSERT_TRUE(read);
    EXPECT_EQ(read->status, 200);
    EXPECT_EQ(read->body, "read Patient/p-1 /fhir/{type}/{id}");
}

TEST_F(ServerTest, UnknownPathIs404OperationOutcome) {
    AddDefaultRoutes();
    StartServer();
    auto reply = Fetch(port_, "GET", "/nope/at/all");
    ASSERT_TRUE(reply);
    EXPECT_EQ(reply->status, 404);
    EXPECT_EQ(reply->Header("content-type"), "application/fhir+json");
    EXPECT_TRUE(IsOperationOutcome(reply->body)) << reply->body;
}

TEST_F(ServerTest, WrongMethodIs405WithAllow) {
    AddDefaultRoutes();
    StartServer();
    auto reply = Fetch(port_, "DELETE", "/fhir/metadata");
    ASSERT_TRUE(reply);
    EXPECT_EQ(reply->status, 405);
    EXPECT_EQ(reply->Header("allow"), "GET, HEAD");
    EXPECT_TRUE(IsOperationOutcome(reply->body));
}

TEST_F(ServerTest, HeadAnswersGetRoutesWithoutBody) {
    AddDefaultRoutes();
    StartServer();
    RawClient client(port_);
    // HEAD then GET on one connection: a stray body after HEAD would corrupt the second reply.
    ASSERT_TRUE(
        client.Send("HEAD /fhir/metadata HTTP/1.1\r\nHost: t\r\n\r\n"
                    "GET /fhir/metadata HTTP/1.1\r\nHost: t\r\n\r\n"));
    auto head = client.Read(/*head=*/true);
    ASSERT_TRUE(head);
    EXPECT_EQ(head->status, 200);
    EXPECT_EQ(head->Header("content-length"), "8");
    auto get = client.Read();
    ASSERT_TRUE(get);
    EXPECT_EQ(get->status, 200);
    EXPECT_EQ(get->body, "metadata");
}

TEST_F(ServerTest, KeepAliveServesTwoRequestsOnOneConnection) {
    AddDefaultRoutes();
    StartServer();
    RawClient client(port_);
    ASSERT_TRUE(client.Send(Get("/fhir/Patient/a")));
    auto first = client.Read();
    ASSERT_TRUE(first);
    EXPECT_EQ(first->body, "read Patient/a /fhir/{type}/{id}");
    EXPECT_NE(first->Header("connection"), "close");
    ASSERT_TRUE(client.Send(Get("/fhir/Patient/b")));
    auto second = client.Read();
    ASSERT_TRUE(second);
    EXPECT_EQ(second->body, "read Patient/b /fhir/{type}/{id}");
    EXPECT_NE(first->Header("x-request-id"), second->Header("x-request-id"));
}

TEST_F(ServerTest, PipelinedRequestsAnswerInOrder) {
    AddDefaultRoutes();
    StartServer();
    RawClient client(port_);
    std::string batch;
    for (int i = 0; i < 5; ++i) batch += Get("/fhir/Obs/" + std::to_string(i));
    batch += "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc";
    batch += Get("/fhir/metadata");
    ASSERT_TRUE(client.Send(batch));
    for (int i = 0; i < 5; ++i) {
        auto reply = client.Read();
        ASSERT_TRUE(reply) << i;
        EXPECT_EQ(reply->body, "read Obs/" + std::to_string(i) + " /fhir/{type}/{id}");
    }
    auto echo = client.Read();
    ASSERT_TRUE(echo);
    EXPECT_EQ(echo->body, "echo 3");
    auto last = client.Read();
    ASSERT_TRUE(last);
    EXPECT_EQ(last->body, "metadata");
}

TEST_F(ServerTest, DeclaredBodyOverLimitIs413AndServerSurvives) {
    AddDefaultRoutes();
    ServerOptions options = TestOptions();
    options.max_body_bytes = 1024;
    StartServer(options);
    RawClient client(port_);
    // Declares 100 MB and sends only part of it: refused from the header alone.
    ASSERT_TRUE(client.Send("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 100000000\r\n\r\n" +
                            std::string(2048, 'x')));
    auto reply = client.Read();
    ASSERT_TRUE(reply);
    EXPECT_EQ(reply->status, 413);
    EXPECT_EQ(reply->Header("connection"), "close");
    EXPECT_TRUE(IsOperationOutcome(reply->body));
    EXPECT_TRUE(client.WaitClosed());

    auto after = Fetch(port_, "GET", "/fhir/metadata");
    ASSERT_TRUE(after);
    EXPECT_EQ(after->status, 200);
}

TEST_F(ServerTest, ChunkedBodyOverLimitIs413) {
    AddDefaultRoutes();
    ServerOptions options = TestOptions();
    options.max_body_bytes = 1024;
    StartServer(options);
    RawClient client(port_);
    std::string request = "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n";
    for (int i = 0; i < 4; ++i) request += "200\r\n" + std::string(512, 'y') + "\r\n";
    request += "0\r\n\r\n";
    ASSERT_TRUE(client.Send(request));
    auto reply = client.Read();
    ASSERT_TRUE(reply);
    EXPECT_EQ(reply->status, 413);
    EXPECT_TRUE(IsOperationOutcome(reply->body));
}

TEST_F(ServerTest, RouteLimitOverridesDefault) {
    AddDefaultRoutes();
    ServerOptions options = TestOptions();
    options.max_body_bytes = 1024;
    StartServer(options);
    const std::string body(32 * 1024, 'z');
    RawClient client(port_);
    ASSERT_TRUE(client.Send("POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: " +
                            std::to_string(body.size()) + "\r\n\r\n" + body));
    auto reply = client.Read();
    ASSERT_TRUE(reply);
    EXPECT_EQ(reply->status, 200);
    EXPECT_EQ(reply->body, "upload 32768");
    // The same body on a default route is refused.
    RawClient other(port_);
    ASSERT_TRUE(other.Send("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: " +
                           std::to_string(body.size()) + "\r\n\r\n" + body));
    auto refused = other.Read();
    ASSERT_TRUE(refused);
    EXPECT_EQ(refused->status, 413);
}

namespace {
/// Bytes that differ at every offset, so a piece out of place shows.
std::string Pattern(size_t n) {
    std::string s(n, '\0');
    uint32_t x = 2463534242u;
    for (size_t i = 0; i < n; ++i) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        s[i] = static_cast<char>(x & 0xff);
    }
    return s;
}

/// A spooled route: reads the upload back twice (as a handler that sniffs, then stores) and
/// answers its size and whether both reads gave the same bytes as `expected`.
void AddSpoolRoute(Router& router, const std::string* expected, std::string* spool_dir_seen) {
    router.Add(
        "POST", "/spool",
        [expected, spool_dir_seen](Request& request) {
            if (!request.upload) return Text("no spool");
            if (!request.body.empty()) return Text("body in memory");
            std::string first, second;
            for (std::string* out : {&first, &second}) {
                if (!request.upload->Rewind().ok()) return Text("rewind failed");
                for (;;) {
                    auto piece = request.upload->Next();
                    if (!piece.ok()) return Text("read failed");
                    if (!*piece) break;
                    *out += **piece;
                }
            }
            (void)spool_dir_seen;
            const bool same =
                first == second && (expected == nullptr || first.empty() || first == *expected);
            return Text("spooled " + std::to_string(request.upload->size()) +
                        (same ? " same" : " DIFFERENT"));
        },
        RouteOptions{.max_body_bytes = 3 * 1024 * 1024, .spool_body = true});
}
}  // namespace

TEST_F(ServerTest, ASpooledUploadIsReadBackWholeAndNeverInClearOnDisk) {
    AddDefaultRoutes();
    const std::string marker = "SPOOL-MARKER-" + std::to_string(getpid());
    const std::string body = Pattern(200 * 1000) + marker + Pattern(1000 * 1000);
    AddSpoolRoute(router_, &body, nullptr);
    const auto dir =
        std::filesystem::temp_directory_path() / ("carnet-spool-test-" + std::to_string(getpid()));
    std::filesystem::create_directories(dir);
    ServerOptions options = TestOptions();
    options.spool_dir = dir;
    options.max_body_bytes = 1024;  // the route's own limit applies
    StartServer(options);

    // While the body arrives, the spool file holds no clear byte of it: send the marker,
    // hold the rest back, and look at every file the process has open in the spool dir.
    RawClient client(port_);
    const std::string head =
        "POST /spool HTTP/1.1\r\nHost: t\r\nContent-Length: " + std::to_string(body.size()) +
        "\r\n\r\n";
    const size_t first_part = 200 * 1000 + marker.size() + 300 * 1000;
    ASSERT_TRUE(client.Send(head + body.substr(0, first_part)));
    std::this_thread::sleep_for(300ms);
    size_t spool_files = 0;
    for (const auto& fd : std::filesystem::directory_iterator("/proc/self/fd")) {
        std::error_code ec;
        const auto target = std::filesystem::read_symlink(fd.path(), ec);
        if (ec || target.string().rfind(dir.string(), 0) != 0) continue;
        ++spool_files;
        std::ifstream in(fd.path(), std::ios::binary);
        const std::string content((std::istreambuf_iterator<char>(in)), {});
        EXPECT_GT(content.size(), 64u * 1024) << "records are written as they arrive";
        EXPECT_EQ(content.find(marker), std::string::npos) << "the spool is sealed";
        EXPECT_EQ(content.find(body.substr(0, 4096)), std::string::npos);
    }
    EXPECT_EQ(spool_files, 1u) << "one unnamed spool file (O_TMPFILE) while the upload lasts";
    EXPECT_TRUE(std::filesystem::is_empty(dir)) << "the spool has no name in the directory";
    ASSERT_TRUE(client.Send(body.substr(first_part)));
    auto reply = client.Read();
    ASSERT_TRUE(reply);
    EXPECT_EQ(reply->status, 200);
    EXPECT_EQ(reply->body, "spooled " + std::to_string(body.size()) + " same");

    // The same connection goes on; the spool is gone once the response is out.
    ASSERT_TRUE(client.Send("POST /spool HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n"));
    auto empty = client.Read();
    ASSERT_TRUE(empty);
    EXPECT_EQ(empty->body, "spooled 0 same") << "an empty body is a finished empty spool";
    // The server lets go of the request once the response is written, which the client may
    // see a moment before the server's completion handler has run: polled, within 2 s.
    auto spools_open = [&] {
        size_t n = 0;
        for (const auto& fd : std::filesystem::directory_iterator("/proc/self/fd")) {
            std::error_code ec;
            const auto target = std::filesystem::read_symlink(fd.path(), ec);
            if (!ec && target.string().rfind(dir.string(), 0) == 0) ++n;
        }
        return n;
    };
    size_t left = spools_open();
    for (int i = 0; i < 200 && left != 0; ++i) {
        std::this_thread::sleep_for(10ms);
        left = spools_open();
    }
    EXPECT_EQ(left, 0u) << "no spool outlives its request";

    // Over the route's limit, declared or chunked: 413 before the handler.
    RawClient big(port_);
    ASSERT_TRUE(big.Send("POST /spool HTTP/1.1\r\nHost: t\r\nContent-Length: " +
                         std::to_string(3 * 1024 * 1024 + 1) + "\r\n\r\n"));
    auto refused = big.Read();
    ASSERT_TRUE(refused);
    EXPECT_EQ(refused->status, 413);
    RawClient chunked(port_);
    std::string request = "POST /spool HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n";
    const std::string piece(512 * 1024, 'c');
    for (int i = 0; i < 7; ++i) request += "80000\r\n" + piece + "\r\n";
    request += "0\r\n\r\n";
    ASSERT_TRUE(chunked.Send(request));
    auto refused_chunked = chunked.Read();
    ASSERT_TRUE(refused_chunked);
    EXPECT_EQ(refused_chunked->status, 413);
    std::filesystem::remove_all(dir);
}

TEST_F(ServerTest, AStreamedBodyArrivesWholeOrTheConnectionIsCut) {
    AddDefaultRoutes();
    // Shared with the streams: a connection may still pull a piece after the client has seen
    // its end, and the test body's locals are gone by then.
    const auto shared = std::make_shared<const std::string>(Pattern(3 * 1000 * 1000 + 17));
    const std::string& content = *shared;
    // Served in 100 kB pieces.
    router_.Add("GET", "/stream/{how}", [shared](Request& request) {
        const std::string how = request.Param("how");
        auto offset = std::make_shared<size_t>(0);
        Response r;
        r.content_type = "application/pdf";
        r.stream = std::make_shared<BodyStream>();
        r.stream->length = shared->size();
        r.stream->next = [shared, offset, how]() -> Result<std::optional<std::string>> {
            if (how == "fails" && *offset >= 1000 * 1000) return Error::Internal("chunk gone");
            if (how == "short" && *offset >= 2000 * 1000) return std::optional<std::string>();
            if (*offset >= shared->size()) return std::optional<std::string>();
            std::string piece = shared->substr(*offset, 100 * 1000);
            *offset += piece.size();
            return std::optional<std::string>(std::move(piece));
        };
        return r;
    });
    StartServer();
    auto whole = Fetch(port_, "GET", "/stream/ok");
    ASSERT_TRUE(whole);
    EXPECT_EQ(whole->status, 200);
    EXPECT_EQ(whole->Header("content-length"), std::to_string(content.size()));
    EXPECT_EQ(whole->Header("content-type"), "application/pdf");
    EXPECT_TRUE(whole->body == content);
    // HEAD: the length, no body, nothing pulled.
    auto head = Fetch(port_, "HEAD", "/stream/ok");
    ASSERT_TRUE(head);
    EXPECT_EQ(head->Header("content-length"), std::to_string(content.size()));
    EXPECT_TRUE(head->body.empty());
    // A failing or short source: the client gets fewer bytes than announced, then EOF.
    for (const char* how : {"fails", "short"}) {
        RawClient client(port_);
        ASSERT_TRUE(
            client.Send(std::string("GET /stream/") + how + " HTTP/1.1\r\nHost: t\r\n\r\n"));
        auto cut = client.Read();
        EXPECT_FALSE(cut) << how << ": a cut body never parses as complete";
        EXPECT_TRUE(client.WaitClosed()) << how;
    }
    // The server goes on.
    auto after = Fetch(port_, "GET", "/stream/ok");
    ASSERT_TRUE(after);
    EXPECT_TRUE(after->body == content);
}

TEST_F(ServerTest, ExpectContinueIsHonoured) {
    AddDefaultRoutes();
    StartServer();
    RawClient client(port_);
    ASSERT_TRUE(client.Send(
        "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n"));
    auto interim = client.Read();
    ASSERT_TRUE(interim);
    EXPECT_EQ(interim->status, 100);
    ASSERT_TRUE(client.Send("hello"));
    auto reply = client.Read();
    ASSERT_TRUE(reply);
    EXPECT_EQ(reply->body, "echo 5");
}

TEST_F(ServerTest, HeaderOverLimitIs431) {
    AddDefaultRoutes();
    ServerOptions options = TestOptions();
    options.max_header_bytes = 1024;
    StartServer(options);
    RawClient client(port_);
    ASSERT_TRUE(client.Send(
        "GET /fhir/metadata HTTP/1.1\r\nHost: t\r\nX-Big: " + std::string(4096, 'h') + "\r\n\r\n"));
    auto reply = client.Read();
    ASSERT_TRUE(reply);
    EXPECT_EQ(reply->status, 431);
    EXPECT_TRUE(IsOperationOutcome(reply->body));
    EXPECT_TRUE(client.WaitClosed());
}

TEST_F(ServerTest, QueryParametersDecodedInOrder) {
    AddDefaultRoutes();
    StartServer();
    auto reply = Fetch(port_, "GET", "/query?code=a%7Cb&date=ge2020&code=c&name=Jo%20e&flag");
    ASSERT_TRUE(reply);
    EXPECT_EQ(reply->status, 200);
    EXPECT_EQ(reply->body, "code=a|b|date=ge2020|code=c|name=Jo e|flag=|");
}

// '+' is a literal character in a FHIR query (RFC 3986), not a form-encoded space: a date's
// "+02:00" offset must arrive intact. A raw '|' (token system|code, as curl sends it) is
// accepted too.
TEST_F(ServerTest, PlusAndRawPipeInQueryMeanWhatTheClientWrote) {
    AddDefaultRoutes();
    StartServer();
    auto reply =
        Fetch(port_, "GET", "/query?date=ge2020-01-01T10:00:00+02:00&code=http://loinc.org|8302-2");
    ASSERT_TRUE(reply);
    EXPECT_EQ(reply->status, 200);
    EXPECT_EQ(reply->body, "date=ge2020-01-01T10:00:00+02:00|code=http://loinc.org|8302-2|");
}

TEST_F(ServerTest, TooManyQueryParametersIs400) {
    AddDefaultRoutes();
    ServerOptions options = TestOptions();
    options.max_query_params = 8;
    StartServer(options);
    std::string target = "/query?";
    for (int i = 0; i < 8; ++i) {
        target += 'p';
        target += std::to_string(i);
        target += "=1&";
    }
    target.pop_back();
    auto ok = Fetch(port_, "GET", target);
    ASSERT_TRUE(ok);
    EXPECT_EQ(ok->status, 200);
    auto reply = Fetch(port_, "GET", target + "&p9=1");
    ASSERT_TRUE(reply);
    EXPECT_EQ(reply->status, 400);
    EXPECT_TRUE(IsOperationOutcome(reply->body));
    EXPECT_NE(reply->body.find("too many query parameters"), std::string::npos);
}

TEST_F(ServerTest, MalformedRequestLineIs400AndCloses) {
    AddDefaultRoutes();
    StartServer();
    for (const char* garbage : {"GARBAGE\r\n\r\n", "GET /x HTTP/7.3\r\n\r\n",
                                "GET  HTTP/1.1\r\n\r\n", "G\x01T / HTTP/1.1\r\n\r\n"}) {
        RawClient client(port_);
        ASSERT_TRUE(client.Send(garbage));
        auto reply = client.Read();
        ASSERT_TRUE(reply) << garbage;
        EXPECT_EQ(reply->status, 400) << garbage;
        EXPECT_TRUE(IsOperationOutcome(reply->body));
        EXPECT_TRUE(client.WaitClosed()) << garbage;
    }
    auto bad_target = Fetch(port_, "GET", "/fhir/a%00b");
    ASSERT_TRUE(bad_target);
    EXPECT_EQ(bad_target->status, 400);
}

TEST_F(ServerTest, SlowClientIsCutOffAndOthersAreServed) {
    AddDefaultRoutes();
    ServerOptions options = TestOptions();
    options.read_timeout = 1s;
    StartServer(options);
    RawClient slow(port_, 4000ms);
    const auto start = std::chrono::steady_clock::now();
    ASSERT_TRUE(slow.Send("GET /fhir/metadata HTTP/1.1\r\nHost: t\r\n"));  // half the header
    // Meanwhile another client is served.
    auto other = Fetch(port_, "GET", "/fhir/metadata");
    ASSERT_TRUE(other);
    EXPECT_EQ(other->status, 200);
    EXPECT_TRUE(slow.WaitClosed());
    const auto elapsed = std::chrono::steady_clock::now() - start;
    EXPECT_GE(elapsed, 900ms);
    EXPECT_LT(elapsed, 3s);
}

TEST_F(ServerTest, TricklingClientDoesNotExtendTheDeadline) {
    AddDefaultRoutes();
    ServerOptions options = TestOptions();
    options.read_timeout = 1s;
    StartServer(options);
    RawClient slow(port_, 200ms);
    const auto start = std::chrono::steady_clock::now();
    const std::string request = "GET /fhir/metadata HTTP/1.1\r\nHost: t\r\nX-Pad: aaaaaaaaaa";
    bool closed = false;
    for (char c : request) {
        if (!slow.Send(std::string(1, c))) {
            closed = true;
            break;
        }
        std::this_thread::sleep_for(150ms);
        if (std::chrono::steady_clock::now() - start > 4s) break;
    }
    slow.SetTimeout(3000ms);
    EXPECT_TRUE(closed || slow.WaitClosed());
    EXPECT_LT(std::chrono::steady_clock::now() - start, 4s);
}

TEST_F(ServerTest, ThrowingHandlerIsGeneric500) {
    AddDefaultRoutes();
    StartServer();
    RawClient client(port_);
    ASSERT_TRUE(client.Send(Get("/throw")));
    auto reply = client.Read();
    ASSERT_TRUE(reply);
    EXPECT_EQ(reply->status, 500);
    EXPECT_TRUE(IsOperationOutcome(reply->body));
    EXPECT_EQ(reply->body.find("Jane"), std::string::npos);
    EXPECT_EQ(reply->Header("x-request-id").size(), 16U);
    // The connection survives the exception.
    ASSERT_TRUE(client.Send(Get("/fhir/metadata")));
    auto after = client.Read();
    ASSERT_TRUE(after);
    EXPECT_EQ(after->status, 200);
}

TEST_F(ServerTest, RequestIdEchoedOnlyWhenSafe) {
    AddDefaultRoutes();
    StartServer();
    auto echoed = Fetch(port_, "GET", "/headers", "X-Request-Id: trace-42.a_b\r\nX-Custom: v\r\n");
    ASSERT_TRUE(echoed);
    EXPECT_EQ(echoed->Header("x-request-id"), "trace-42.a_b");
    EXPECT_EQ(echoed->body, "v 127.0.0.1 trace-42.a_b");

    for (const std::string& bad :
         {std::string("has space"), std::string(65, 'a'), std::string("semi;colon")}) {
        auto replaced = Fetch(port_, "GET", "/headers", "X-Request-Id: " + bad + "\r\n");
        ASSERT_TRUE(replaced);
        const std::string id = replaced->Header("x-request-id");
        EXPECT_EQ(id.size(), 16U) << bad;
        EXPECT_EQ(id.find_first_not_of("0123456789abcdef"), std::string::npos);
    }
}

TEST_F(ServerTest, SecurityHeadersOnEveryResponse) {
    AddDefaultRoutes();
    StartServer();
    for (const char* target : {"/fhir/metadata", "/nope", "/throw"}) {
        auto reply = Fetch(port_, "GET", target);
        ASSERT_TRUE(reply) << target;
        EXPECT_EQ(reply->Header("x-content-type-options"), "nosniff") << target;
        EXPECT_EQ(reply->Header("referrer-policy"), "no-referrer") << target;
        EXPECT_EQ(reply->Header("cache-control"), "no-store") << target;
        EXPECT_EQ(reply->Header("server"), "carnet") << target;
        EXPECT_TRUE(reply->Has("content-type")) << target;
        EXPECT_TRUE(reply->Has("date")) << target;
        EXPECT_TRUE(reply->Has("x-request-id")) << target;
    }
}

TEST_F(ServerTest, HandlerCannotSplitTheResponseOrFakeFraming) {
    router_.Add("GET", "/evil", [](Request&) {
        Response response = Text("ok");
        response.With("X-Injected", "a\r\nSet-Cookie: pwned=1");
        response.With("Content-Length", "9999");
        response.With("X-Fine", "yes");
        return response;
    });
    StartServer();
    auto reply = Fetch(port_, "GET", "/evil");
    ASSERT_TRUE(reply);
    EXPECT_EQ(reply->status, 200);
    EXPECT_FALSE(reply->Has("set-cookie"));
    EXPECT_FALSE(reply->Has("x-injected"));
    EXPECT_EQ(reply->Header("content-length"), "2");
    EXPECT_EQ(reply->Header("x-fine"), "yes");
}

TEST_F(ServerTest, OpsRoutesAndMetrics) {
    AddDefaultRoutes();
    std::atomic<bool> ready{true};
    RegisterOpsRoutes(router_, [&ready]() -> Status {
        if (ready) return Ok();
        return Error::Make(Code::kUnavailable, "transient", "database at /srv/db unreachable");
    });
    StartServer();

    auto health = Fetch(port_, "GET", "/healthz");
    ASSERT_TRUE(health);
    EXPECT_EQ(health->status, 200);
    EXPECT_EQ(health->body, R"({"status":"ok"})");

    auto ready_reply = Fetch(port_, "GET", "/readyz");
    ASSERT_TRUE(ready_reply);
    EXPECT_EQ(ready_reply->status, 200);
    ready = false;
    auto not_ready = Fetch(port_, "GET", "/readyz");
    ASSERT_TRUE(not_ready);
    EXPECT_EQ(not_ready->status, 503);
    EXPECT_TRUE(IsOperationOutcome(not_ready->body));
    EXPECT_EQ(not_ready->body.find("/srv/db"), std::string::npos);

    ASSERT_TRUE(Fetch(port_, "GET", "/fhir/Patient/secret-id?name=Alice"));
    Metrics::Global().Inc("carnet_store_errors_total", {{"engine", "test"}});
    const int64_t store_errors =
        Metrics::Global().Value("carnet_store_errors_total", {{"engine", "test"}});
    auto metrics = Fetch(port_, "GET", "/metrics");
    ASSERT_TRUE(metrics);
    EXPECT_EQ(metrics->status, 200);
    EXPECT_EQ(metrics->Header("content-type").rfind("text/plain; version=0.0.4", 0), 0U);
    const std::string& text = metrics->body;
    EXPECT_NE(text.find("carnet_http_requests_total{route=\"/healthz\",method=\"GET\","
                        "status=\"200\"}"),
              std::string::npos);
    EXPECT_NE(text.find("carnet_http_requests_total{route=\"/readyz\",method=\"GET\","
                        "status=\"503\"}"),
              std::string::npos);
    EXPECT_NE(text.find("carnet_http_request_duration_seconds_bucket{route=\"/fhir/{type}/{id}\","
                        "le=\"+Inf\"}"),
              std::string::npos);
    EXPECT_NE(text.find("carnet_http_in_flight 1\n"), std::string::npos);  // the /metrics call
    EXPECT_NE(
        text.find("carnet_store_errors_total{engine=\"test\"} " + std::to_string(store_errors)),
        std::string::npos);
    // Raw paths and query values never become labels.
    EXPECT_EQ(text.find("secret-id"), std::string::npos);
    EXPECT_EQ(text.find("Alice"), std::string::npos);
}

TEST_F(ServerTest, AccessLogHasTemplateNotPathOrQuery) {
    AddDefaultRoutes();
    std::ostringstream captured;
    auto previous = spdlog::default_logger();
    auto logger = std::make_shared<spdlog::logger>(
        "capture", std::make_shared<spdlog::sinks::ostream_sink_mt>(captured));
    logger->set_level(spdlog::level::info);
    spdlog::set_default_logger(logger);
    StartServer();
    auto reply = Fetch(port_, "GET", "/fhir/Patient/pat-7?name=Alice",
                       "X-Request-Id: logtest-1\r\nAuthorization: Bearer tok-secret\r\n");
    ASSERT_TRUE(reply);
    server_->Stop();
    spdlog::set_default_logger(previous);
    const std::string log = captured.str();
    EXPECT_NE(log.find("logtest-1 GET /fhir/{type}/{id} 200 "), std::string::npos) << log;
    EXPECT_EQ(log.find("pat-7"), std::string::npos);
    EXPECT_EQ(log.find("Alice"), std::string::npos);
    EXPECT_EQ(log.find("tok-secret"), std::string::npos);
}

TEST_F(ServerTest, GracefulStopLetsInFlightRequestFinish) {
    std::atomic<bool> entered{false};
    router_.Add("GET", "/slow", [&entered](Request&) {
        entered = true;
        std::this_thread::sleep_for(1s);
        return Text("done");
    });
    router_.Add("GET", "/fast", [](Request&) { return Text("fast"); });
    StartServer();

    RawClient idle(port_);  // an idle keep-alive connection must not hold up Stop()
    ASSERT_TRUE(idle.Send(Get("/fast")));
    ASSERT_TRUE(idle.Read());

    RawClient client(port_);
    ASSERT_TRUE(client.Send(Get("/slow")));
    while (!entered) std::this_thread::sleep_for(5ms);
    const auto start = std::chrono::steady_clock::now();
    auto stopped = std::async(std::launch::async, [this] { server_->Stop(); });
    auto reply = client.Read();
    ASSERT_TRUE(reply);
    EXPECT_EQ(reply->status, 200);
    EXPECT_EQ(reply->body, "done");
    EXPECT_EQ(reply->Header("connection"), "close");
    stopped.wait();
    EXPECT_LT(std::chrono::steady_clock::now() - start, 3s);
    EXPECT_TRUE(idle.WaitClosed());
    RawClient late(port_);
    EXPECT_FALSE(late.connected() && late.Send(Get("/fast")) && late.Read());
}

TEST_F(ServerTest, BlockingHandlersRunOnWorkersNotOnTheIoThread) {
    // One I/O thread: if handlers ran on it, four 400 ms handlers would take 1.6 s and the
    // inline route would wait behind them.
    router_.Add("GET", "/block", [](Request&) {
        std::this_thread::sleep_for(400ms);
        return Text("blocked");
    });
    router_.Add(
        "GET", "/inline", [](Request&) { return Text("inline"); },
        RouteOptions{.max_body_bytes = 0, .run_inline = true});
    ServerOptions options = TestOptions();
    options.threads = 1;
    options.workers = 8;
    StartServer(options);

    const auto start = std::chrono::steady_clock::now();
    std::vector<std::future<int>> slow;
    for (int i = 0; i < 4; ++i) {
        slow.push_back(std::async(std::launch::async, [this] {
            RawClient c(port_);
            if (!c.Send(Get("/block"))) return 0;
            auto r = c.Read();
            return r ? r->status : 0;
        }));
    }
    std::this_thread::sleep_for(100ms);  // the four are now inside their handlers
    RawClient quick(port_);
    ASSERT_TRUE(quick.Send(Get("/inline")));
    auto reply = quick.Read();
    ASSERT_TRUE(reply);
    EXPECT_EQ(reply->body, "inline");
    EXPECT_LT(std::chrono::steady_clock::now() - start, 350ms);
    for (auto& f : slow) EXPECT_EQ(f.get(), 200);
    EXPECT_LT(std::chrono::steady_clock::now() - start, 1200ms);
}

TEST_F(ServerTest, PortInUseIsAnError) {
    AddDefaultRoutes();
    StartServer();
    ServerOptions options = TestOptions();
    options.port = port_;
    Server second(options, router_);
    const Status status = second.Start();
    ASSERT_FALSE(status.ok());
    EXPECT_EQ(status.error().code, Code::kUnavailable);

    options.port = 0;
    options.host = "not-an-address";
    Server third(options, router_);
    EXPECT_FALSE(third.Start().ok());
}

TEST_F(ServerTest, ConnectionsBeyondTheLimitAreClosed) {
    AddDefaultRoutes();
    ServerOptions options = TestOptions();
    options.max_connections = 1;
    StartServer(options);
    RawClient first(port_);
    ASSERT_TRUE(first.Send(Get("/fhir/metadata")));
    ASSERT_TRUE(first.Read());
    RawClient second(port_);
    second.Send(Get("/fhir/metadata"));
    EXPECT_FALSE(second.Read());
}

TEST_F(ServerTest, WaitReturnsAfterStop) {
    AddDefaultRoutes();
    StartServer();
    auto waiter = std::async(std::launch::async, [this] { server_->Wait(); });
    EXPECT_EQ(waiter.wait_for(100ms), std::future_status::timeout);
    server_->Stop();
    EXPECT_EQ(waiter.wait_for(2s), std::future_status::ready);
}

}  // namespace
}  // namespace carnet::http
