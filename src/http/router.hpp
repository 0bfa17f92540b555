#pragma once
/// Maps (method, decoded path) to a handler. Patterns are '/'-separated segments, each a
/// literal or a `{name}` parameter: "/fhir/{type}/{id}/_history/{vid}". Matching walks a
/// segment trie (no regex): literal children are tried before the parameter child, so
/// "/fhir/metadata" beats "/fhir/{type}" for the same method.
///
/// Build the router fully before Server::Start(); Match() is then read-only and thread-safe.
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "http/types.hpp"

namespace carnet::http {

class RouteStats;

/// Outcome of Router::Match.
struct RouteMatch {
    enum class Kind { kFound, kNotFound, kMethodNotAllowed };
    Kind kind = Kind::kNotFound;
    const Handler* handler = nullptr;       // kFound only
    const RouteOptions* options = nullptr;  // kFound only
    const std::string* route = nullptr;     // the matched template; kFound only
    RouteStats* stats = nullptr;            // metrics for (template, method); kFound only
    std::string allow;                      // kMethodNotAllowed: "GET, HEAD, POST"
};

class Router {
  public:
    Router();
    ~Router();
    Router(const Router&) = delete;
    Router& operator=(const Router&) = delete;

    /// Registers `handler` for `method` ("GET", "POST", …) on `pattern` (must start with '/').
    /// GET routes also answer HEAD unless a HEAD route exists. Registering the same
    /// (method, pattern) twice, or a malformed pattern, is a programming error: throws
    /// std::logic_error.
    void Add(std::string_view method, std::string_view pattern, Handler handler,
             RouteOptions options = {});

    /// Registers a fallback for every path under `prefix` ("/" for everything) that no
    /// pattern matches. The longest prefix wins. Prefix routes never produce a 405: a
    /// wrong method on them is a 404. Its template (for logs/metrics) is `prefix` + "*".
    void AddPrefix(std::string_view method, std::string_view prefix, Handler handler,
                   RouteOptions options = {});

    /// Finds the route for `method` and decoded `path`; fills `params` with the values of
    /// the `{name}` segments when found. A path matching a pattern under another method
    /// yields kMethodNotAllowed with the Allow list.
    [[nodiscard]] RouteMatch Match(std::string_view method, std::string_view path,
                                   std::map<std::string, std::string>* params) const;

  private:
    struct Node;
    struct Entry;
    struct PrefixEntry;
    std::unique_ptr<Node> root_;
    std::vector<std::unique_ptr<PrefixEntry>> prefixes_;  // longest prefix first
};

}  // namespace carnet::http
