#pragma once
/// Serves the built web portal (web/dist) from memory: files are read once at start.
/// - MIME type from the extension; unknown types are application/octet-stream.
/// - SPA routes: a GET for a path without a dot in its last segment, outside the API
///   prefixes (/fhir, /auth, /api, /healthz, /readyz, /metrics), gets index.html.
/// - No path traversal: only files found under the directory at load time exist, and a
///   path with a ".." or "." segment, a backslash or a NUL is refused.
/// - Strong ETag (content hash) with If-None-Match -> 304. Files under /assets/ are
///   content-hashed by the build: "Cache-Control: public, max-age=31536000, immutable";
///   everything else "no-cache" (revalidate with the ETag).
/// - Content-Security-Policy (default-src 'self') and X-Frame-Options: DENY.
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

#include "core/result.hpp"
#include "http/types.hpp"

namespace carnet::http {

class Router;

struct StaticOptions {
    /// Files larger than this are skipped (with a warning) at load time.
    uint64_t max_file_bytes = 64ULL * 1024 * 1024;
    /// Serve index.html for unknown extension-less paths (single-page app routing).
    bool spa_fallback = true;
};

class StaticFiles {
  public:
    /// Reads every regular file under `dir` (symlinks leading outside it are skipped).
    /// Fails when `dir` is not a readable directory.
    [[nodiscard]] static Result<std::shared_ptr<const StaticFiles>> Load(
        const std::filesystem::path& dir, StaticOptions options = {});

    /// Answers a GET/HEAD for `path`, relative to the mount point ("/app.js").
    [[nodiscard]] Response Serve(std::string_view path, const Request& request) const;

    [[nodiscard]] size_t FileCount() const { return files_.size(); }

    /// The MIME type for a file name ("index.html" -> "text/html; charset=utf-8").
    [[nodiscard]] static std::string_view MimeTypeFor(std::string_view file_name);

  private:
    struct File {
        std::string body;
        std::string content_type;
        std::string etag;
        bool immutable = false;
    };
    StaticOptions options_;
    std::unordered_map<std::string, File> files_;  // key: "/assets/app-1a2b.js"
};

/// Loads `dir` and mounts it under `prefix` ("/" for the portal) as a GET fallback route.
/// Fails when the directory cannot be read.
[[nodiscard]] Status AddStatic(Router& router, std::string_view prefix,
                               const std::filesystem::path& dir, StaticOptions options = {});

}  // namespace carnet::http
