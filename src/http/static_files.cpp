#include "http/static_files.hpp"

#include <array>
#include <fstream>
#include <iterator>
#include <system_error>

#include "core/log.hpp"
#include "http/router.hpp"

namespace carnet::http {

namespace {

namespace fs = std::filesystem;

/// Paths the SPA fallback never answers: the API surfaces return their own 404s.
constexpr std::array<std::string_view, 6> kApiPrefixes = {"/fhir",    "/auth",   "/api",
                                                          "/healthz", "/readyz", "/metrics"};

/// https://www.w3.org/TR/CSP3/ — only our own origin; no framing of the portal, no plugins.
/// The documents viewer shows a document's content from an object URL the portal made of
/// bytes it fetched from /fhir/Binary (images, and PDFs in a frame): blob: for img and frame
/// only; a blob is never a script source.
constexpr std::string_view kContentSecurityPolicy =
    "default-src 'self'; base-uri 'self'; object-src 'none'; frame-ancestors 'none'; "
    "form-action 'self'; img-src 'self' blob:; frame-src blob:";

constexpr std::string_view kImmutable = "public, max-age=31536000, immutable";

bool IsUnder(std::string_view path, std::string_view prefix) {
    return path.starts_with(prefix) && (path.size() == prefix.size() || path[prefix.size()] == '/');
}

bool IsApiPath(std::string_view path) {
    for (std::string_view prefix : kApiPrefixes) {
        if (IsUnder(path, prefix)) return true;
    }
    return false;
}

/// True when the decoded path could step outside the served tree or confuse a lookup.
bool IsUnsafePath(std::string_view path) {
    if (path.empty() || path.front() != '/') return true;
    if (path.find_first_of(std::string_view("\\\0", 2)) != std::string_view::npos) return true;
    size_t pos = 0;
    while (pos <= path.size()) {
        size_t slash = path.find('/', pos);
        if (slash == std::string_view::npos) slash = path.size();
        const std::string_view segment = path.substr(pos, slash - pos);
        if (segment == ".." || segment == ".") return true;
        // "//x" (an empty segment before the end) is how absolute paths sneak in.
        if (segment.empty() && pos > 0 && slash < path.size()) return true;
        pos = slash + 1;
    }
    return false;
}

/// FNV-1a 64: stable across runs, good enough to tell versions of a file apart.
std::string ContentTag(std::string_view bytes) {
    uint64_t hash = 1469598103934665603ULL;
    for (unsigned char c : bytes) {
        hash ^= c;
        hash *= 1099511628211ULL;
    }
    static constexpr char kHex[] = "0123456789abcdef";
    std::string tag = "\"";
    for (int shift = 60; shift >= 0; shift -= 4) tag += kHex[(hash >> shift) & 0xF];
    tag += '"';
    return tag;
}

bool EtagMatches(std::string_view if_none_match, std::string_view etag) {
    if (if_none_match == "*") return true;
    // A list of tags, possibly weak (W/"..."); compare weakly (RFC 9110 §13.1.2).
    size_t pos = 0;
    while (pos < if_none_match.size()) {
        size_t comma = if_none_match.find(',', pos);
        if (comma == std::string_view::npos) comma = if_none_match.size();
        std::string_view candidate = if_none_match.substr(pos, comma - pos);
        while (!candidate.empty() && candidate.front() == ' ') candidate.remove_prefix(1);
        while (!candidate.empty() && candidate.back() == ' ') candidate.remove_suffix(1);
        if (candidate.starts_with("W/")) candidate.remove_prefix(2);
        if (candidate == etag) return true;
        pos = comma + 1;
    }
    return false;
}

Response NotFound() { return ErrorResponse(Code::kNotFound, "not-found", "no such file"); }

}  // namespace

std::string_view StaticFiles::MimeTypeFor(std::string_view file_name) {
    const size_t dot = file_name.rfind('.');
    if (dot == std::string_view::npos) return "application/octet-stream";
    std::string ext(file_name.substr(dot + 1));
    for (char& c : ext) {
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
    }
    static const std::unordered_map<std::string, std::string_view> kTypes = {
        {"html", "text/html; charset=utf-8"},
        {"htm", "text/html; charset=utf-8"},
        {"js", "text/javascript; charset=utf-8"},
        {"mjs", "text/javascript; charset=utf-8"},
        {"css", "text/css; charset=utf-8"},
        {"json", "application/json"},
        {"map", "application/json"},
        {"webmanifest", "application/manifest+json"},
        {"txt", "text/plain; charset=utf-8"},
        {"xml", "application/xml"},
        {"svg", "image/svg+xml"},
        {"png", "image/png"},
        {"jpg", "image/jpeg"},
        {"jpeg", "image/jpeg"},
        {"gif", "image/gif"},
        {"webp", "image/webp"},
        {"avif", "image/avif"},
        {"ico", "image/x-icon"},
        {"woff", "font/woff"},
        {"woff2", "font/woff2"},
        {"ttf", "font/ttf"},
        {"otf", "font/otf"},
        {"wasm", "application/wasm"},
        {"pdf", "application/pdf"},
    };
    const auto it = kTypes.find(ext);
    return it == kTypes.end() ? std::string_view("application/octet-stream") : it->second;
}

Result<std::shared_ptr<const StaticFiles>> StaticFiles::Load(const fs::path& dir,
                                                             StaticOptions options) {
    std::error_code ec;
    const fs::path root = fs::canonical(dir, ec);
    if (ec || !fs::is_directory(root, ec)) {
        Error error = Error::Make(Code::kNotFound, "not-found", "static directory not found");
        error.detail = dir.string();
        return error;
    }
    auto files = std::make_shared<StaticFiles>();
    files->options_ = options;
    for (auto it = fs::recursive_directory_iterator(root, ec);
         !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
        const fs::path canonical = fs::canonical(it->path(), ec);
        if (ec) continue;
        // A symlink may point anywhere; keep only files that really live under root.
        const auto relative = canonical.lexically_relative(root);
        if (relative.empty() || *relative.begin() == "..") continue;
        if (!fs::is_regular_file(canonical, ec)) continue;
        const auto size = fs::file_size(canonical, ec);
        if (ec) continue;
        if (size > options.max_file_bytes) {
            spdlog::warn("static: skipped {} ({} bytes, over the limit)", relative.string(), size);
            continue;
        }
        std::ifstream in(canonical, std::ios::binary);
        if (!in) continue;
        File file;
        file.body.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
        const std::string key = "/" + it->path().lexically_relative(root).generic_string();
        file.content_type = std::string(MimeTypeFor(key));
        file.etag = ContentTag(file.body);
        file.immutable = IsUnder(key, "/assets");
        files->files_.emplace(key, std::move(file));
    }
    if (ec) {
        Error error = Error::Make(Code::kUnavailable, "exception", "static directory unreadable");
        error.detail = dir.string() + ": " + ec.message();
        return error;
    }
    return std::shared_ptr<const StaticFiles>(std::move(files));
}

Response StaticFiles::Serve(std::string_view path, const Request& request) const {
    if (IsUnsafePath(path)) return NotFound();
    std::string key(path);
    if (key.back() == '/') key += "index.html";
    auto it = files_.find(key);
    if (it == files_.end() && options_.spa_fallback && !IsApiPath(request.path)) {
        const size_t last_slash = key.rfind('/');
        const bool has_extension = key.find('.', last_slash) != std::string::npos;
        if (!has_extension) it = files_.find("/index.html");
    }
    if (it == files_.end()) return NotFound();

    const File& file = it->second;
    Response response;
    response.content_type = file.content_type;
    response.With("ETag", file.etag);
    response.With("Cache-Control", file.immutable ? std::string(kImmutable) : "no-cache");
    response.With("Content-Security-Policy", std::string(kContentSecurityPolicy));
    response.With("X-Frame-Options", "DENY");
    if (const auto if_none_match = request.Header("if-none-match");
        if_none_match && EtagMatches(*if_none_match, file.etag)) {
        response.status = 304;
        return response;
    }
    response.body = file.body;
    return response;
}

Status AddStatic(Router& router, std::string_view prefix, const std::filesystem::path& dir,
                 StaticOptions options) {
    CARNET_TRY(auto files, StaticFiles::Load(dir, options));
    std::string mount(prefix);
    while (mount.size() > 1 && mount.back() == '/') mount.pop_back();
    router.AddPrefix(
        "GET", mount,
        [files, mount](Request& request) {
            std::string_view relative = request.path;
            if (mount != "/") relative.remove_prefix(mount.size());
            if (relative.empty()) relative = "/";
            return files->Serve(relative, request);
        },
        RouteOptions{.max_body_bytes = 0, .run_inline = true});  // files are in memory
    return Ok();
}

}  // namespace carnet::http
