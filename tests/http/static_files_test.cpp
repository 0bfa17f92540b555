#include "http/static_files.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "http/ops_routes.hpp"
#include "http/router.hpp"
#include "http/server.hpp"
#include "http/test_client.hpp"

namespace carnet::http {
namespace {

namespace fs = std::filesystem;
using testing::Fetch;

void WriteFile(const fs::path& path, const std::string& content) {
    fs::create_directories(path.parent_path());
    std::ofstream(path, std::ios::binary) << content;
}

class StaticFilesTest : public ::testing::Test {
  protected:
    void SetUp() override {
        base_ = fs::temp_directory_path() /
                ("carnet_static_" + std::to_string(::getpid()) + "_" +
                 ::testing::UnitTest::GetInstance()->current_test_info()->name());
        fs::remove_all(base_);
        root_ = base_ / "dist";
        WriteFile(root_ / "index.html", "<!doctype html><title>portal</title>");
        WriteFile(root_ / "app.js", "console.log(1)");
        WriteFile(root_ / "style.css", "body{}");
        WriteFile(root_ / "logo.svg", "<svg/>");
        WriteFile(root_ / "assets" / "index-4f3a2b.js", "export{}");
        WriteFile(root_ / "docs" / "index.html", "docs index");
        WriteFile(base_ / "secret.txt", "TOP-SECRET");
        fs::create_symlink(base_ / "secret.txt", root_ / "link-out.txt");

        RegisterOpsRoutes(router_, nullptr);
        router_.Add("GET", "/fhir/{type}/{id}", [](Request&) {
            Response response;
            response.body = "{}";
            return response;
        });
        const Status added = AddStatic(router_, "/", root_);
        ASSERT_TRUE(added.ok()) << added.error().Summary();
        ServerOptions options;
        options.port = 0;
        options.threads = 1;
        server_ = std::make_unique<Server>(options, router_);
        ASSERT_TRUE(server_->Start().ok());
        port_ = server_->Port();
    }

    void TearDown() override {
        server_->Stop();
        fs::remove_all(base_);
    }

    fs::path base_;
    fs::path root_;
    Router router_;
    std::unique_ptr<Server> server_;
    uint16_t port_ = 0;
};

TEST_F(StaticFilesTest, ServesFilesWithMimeTypesAndSecurityHeaders) {
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"/", "text/html; charset=utf-8"},
        {"/index.html", "text/html; charset=utf-8"},
        {"/app.js", "text/javascript; charset=utf-8"},
        {"/style.css", "text/css; charset=utf-8"},
        {"/logo.svg", "image/svg+xml"},
        {"/docs/", "text/html; charset=utf-8"},
    };
    for (const auto& [target, type] : cases) {
        auto reply = Fetch(port_, "GET", target);
        ASSERT_TRUE(reply) << target;
        EXPECT_EQ(reply->status, 200) << target;
        EXPECT_EQ(reply->Header("content-type"), type) << target;
        EXPECT_EQ(reply->Header("x-frame-options"), "DENY") << target;
        EXPECT_EQ(reply->Header("content-security-policy").rfind("default-src 'self'", 0), 0U);
        EXPECT_EQ(reply->Header("x-content-type-options"), "nosniff");
        EXPECT_EQ(reply->Header("cache-control"), "no-cache") << target;
        EXPECT_FALSE(reply->Header("etag").empty());
    }
    EXPECT_EQ(Fetch(port_, "GET", "/docs/")->body, "docs index");
}

TEST_F(StaticFilesTest, HashedAssetsAreImmutable) {
    auto reply = Fetch(port_, "GET", "/assets/index-4f3a2b.js");
    ASSERT_TRUE(reply);
    EXPECT_EQ(reply->status, 200);
    EXPECT_EQ(reply->Header("cache-control"), "public, max-age=31536000, immutable");
}

TEST_F(StaticFilesTest, EtagRevalidation) {
    auto first = Fetch(port_, "GET", "/app.js");
    ASSERT_TRUE(first);
    const std::string etag = first->Header("etag");
    auto second = Fetch(port_, "GET", "/app.js", "If-None-Match: W/" + etag + "\r\n");
    ASSERT_TRUE(second);
    EXPECT_EQ(second->status, 304);
    EXPECT_TRUE(second->body.empty());
    EXPECT_EQ(second->Header("etag"), etag);
    auto other = Fetch(port_, "GET", "/app.js", "If-None-Match: \"other\"\r\n");
    ASSERT_TRUE(other);
    EXPECT_EQ(other->status, 200);
}

TEST_F(StaticFilesTest, SpaFallbackOnlyForAppRoutes) {
    auto spa = Fetch(port_, "GET", "/patients/123/records");
    ASSERT_TRUE(spa);
    EXPECT_EQ(spa->status, 200);
    EXPECT_EQ(spa->body, "<!doctype html><title>portal</title>");
    // A missing file with an extension is a real 404.
    auto missing = Fetch(port_, "GET", "/missing.png");
    ASSERT_TRUE(missing);
    EXPECT_EQ(missing->status, 404);
    // API prefixes never get the portal.
    for (const char* target : {"/fhir/a/b/c/d", "/fhir", "/auth/nope", "/api/x", "/metrics/x"}) {
        auto api = Fetch(port_, "GET", target);
        ASSERT_TRUE(api) << target;
        EXPECT_EQ(api->status, 404) << target;
        EXPECT_EQ(api->Header("content-type"), "application/fhir+json") << target;
    }
    // Other methods on the fallback are 404, not 405.
    auto post = Fetch(port_, "POST", "/patients", "Content-Length: 0\r\n");
    ASSERT_TRUE(post);
    EXPECT_EQ(post->status, 404);
}

TEST_F(StaticFilesTest, PathTraversalIsRefused) {
    for (const char* target :
         {"/../secret.txt", "/%2e%2e/secret.txt", "/%2E%2E/secret.txt", "/assets/../../secret.txt",
          "/assets/%2e%2e/%2e%2e/secret.txt", "/..%2fsecret.txt", "/..%5csecret.txt",
          "//etc/passwd", "/%2fetc%2fpasswd", "/link-out.txt", "/./index.html",
          "/index.html%00.js"}) {
        auto reply = Fetch(port_, "GET", target);
        ASSERT_TRUE(reply) << target;
        EXPECT_NE(reply->status, 200) << target;
        EXPECT_EQ(reply->body.find("TOP-SECRET"), std::string::npos) << target;
        EXPECT_EQ(reply->body.find("root:"), std::string::npos) << target;
    }
}

TEST_F(StaticFilesTest, HeadHasNoBody) {
    testing::RawClient client(port_);
    ASSERT_TRUE(
        client.Send("HEAD /app.js HTTP/1.1\r\nHost: t\r\n\r\n"
                    "GET /style.css HTTP/1.1\r\nHost: t\r\n\r\n"));
    auto head = client.Read(/*head=*/true);
    ASSERT_TRUE(head);
    EXPECT_EQ(head->Header("content-length"), "14");
    auto get = client.Read();
    ASSERT_TRUE(get);
    EXPECT_EQ(get->body, "body{}");
}

TEST(StaticFilesLoadTest, MissingDirectoryIsAnError) {
    Router router;
    const Status status = AddStatic(router, "/", "/nonexistent/carnet/dist");
    ASSERT_FALSE(status.ok());
    EXPECT_EQ(status.error().code, Code::kNotFound);
}

TEST(StaticFilesLoadTest, MimeTypes) {
    EXPECT_EQ(StaticFiles::MimeTypeFor("a.WOFF2"), "font/woff2");
    EXPECT_EQ(StaticFiles::MimeTypeFor("a.mjs"), "text/javascript; charset=utf-8");
    EXPECT_EQ(StaticFiles::MimeTypeFor("noext"), "application/octet-stream");
    EXPECT_EQ(StaticFiles::MimeTypeFor("x.exe"), "application/octet-stream");
}

}  // namespace
}  // namespace carnet::http
