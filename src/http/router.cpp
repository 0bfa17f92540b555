#include "http/router.hpp"

#include <algorithm>
#include <array>
#include <stdexcept>
#include <utility>

#include "http/metrics.hpp"

namespace carnet::http {

namespace {

/// Deeper paths than this never match a pattern (only prefix routes).
constexpr size_t kMaxSegments = 32;

/// Splits "/a/b//c/" into {"a","b","c"}: empty segments are ignored. Returns false when
/// there are more than kMaxSegments.
bool SplitPath(std::string_view path, std::array<std::string_view, kMaxSegments>& segments,
               size_t& count) {
    count = 0;
    size_t pos = 0;
    while (pos < path.size()) {
        size_t slash = path.find('/', pos);
        if (slash == std::string_view::npos) slash = path.size();
        if (slash > pos) {
            if (count == kMaxSegments) return false;
            segments[count++] = path.substr(pos, slash - pos);
        }
        pos = slash + 1;
    }
    return true;
}

bool IsParamSegment(std::string_view segment) {
    return segment.size() >= 3 && segment.front() == '{' && segment.back() == '}';
}

}  // namespace

struct Router::Entry {
    std::string method;
    Handler handler;
    RouteOptions options;
    std::string route;
    /// (segment index, parameter name) for each `{name}` segment.
    std::vector<std::pair<size_t, std::string>> param_names;
    RouteStats* stats = nullptr;
};

struct Router::Node {
    std::map<std::string, std::unique_ptr<Node>, std::less<>> literals;
    std::unique_ptr<Node> param;
    std::vector<Entry> entries;  // routes ending at this node, one per method

    const Entry* Find(std::string_view method) const {
        for (const Entry& entry : entries) {
            if (entry.method == method) return &entry;
        }
        // RFC 9110 §9.3.2: HEAD is GET without the body; the server drops the body.
        if (method == "HEAD") return Find("GET");
        return nullptr;
    }
};

struct Router::PrefixEntry {
    std::string prefix;
    Entry entry;
};

Router::Router() : root_(std::make_unique<Node>()) {}
Router::~Router() = default;

void Router::Add(std::string_view method, std::string_view pattern, Handler handler,
                 RouteOptions options) {
    if (method.empty() || pattern.empty() || pattern.front() != '/') {
        throw std::logic_error("Router::Add: bad method or pattern");
    }
    std::array<std::string_view, kMaxSegments> segments;
    size_t count = 0;
    if (!SplitPath(pattern, segments, count)) throw std::logic_error("Router::Add: too deep");
    Entry entry;
    entry.method = std::string(method);
    entry.handler = std::move(handler);
    entry.options = options;
    entry.route = std::string(pattern);
    Node* node = root_.get();
    for (size_t i = 0; i < count; ++i) {
        std::string_view segment = segments[i];
        if (IsParamSegment(segment)) {
            entry.param_names.emplace_back(i, std::string(segment.substr(1, segment.size() - 2)));
            if (!node->param) node->param = std::make_unique<Node>();
            node = node->param.get();
        } else {
            if (segment.find_first_of("{}") != std::string_view::npos) {
                throw std::logic_error("Router::Add: malformed segment in " + entry.route);
            }
            auto it = node->literals.find(segment);
            if (it == node->literals.end()) {
                it = node->literals.emplace(std::string(segment), std::make_unique<Node>()).first;
            }
            node = it->second.get();
        }
    }
    for (const Entry& existing : node->entries) {
        if (existing.method == entry.method) {
            throw std::logic_error("Router::Add: duplicate route " + entry.method + " " +
                                   entry.route);
        }
    }
    entry.stats = Metrics::Global().RouteStatsFor(entry.route, entry.method);
    node->entries.push_back(std::move(entry));
}

void Router::AddPrefix(std::string_view method, std::string_view prefix, Handler handler,
                       RouteOptions options) {
    if (method.empty() || prefix.empty() || prefix.front() != '/') {
        throw std::logic_error("Router::AddPrefix: bad method or prefix");
    }
    auto prefix_entry = std::make_unique<PrefixEntry>();
    prefix_entry->prefix = std::string(prefix);
    // "/static/" and "/static" mean the same subtree.
    while (prefix_entry->prefix.size() > 1 && prefix_entry->prefix.back() == '/') {
        prefix_entry->prefix.pop_back();
    }
    for (const auto& existing : prefixes_) {
        if (existing->prefix == prefix_entry->prefix && existing->entry.method == method) {
            throw std::logic_error("Router::AddPrefix: duplicate prefix " + existing->prefix);
        }
    }
    Entry& entry = prefix_entry->entry;
    entry.method = std::string(method);
    entry.handler = std::move(handler);
    entry.options = options;
    entry.route = prefix_entry->prefix == "/" ? "/*" : prefix_entry->prefix + "/*";
    entry.stats = Metrics::Global().RouteStatsFor(entry.route, entry.method);
    prefixes_.push_back(std::move(prefix_entry));
    std::stable_sort(prefixes_.begin(), prefixes_.end(), [](const auto& a, const auto& b) {
        return a->prefix.size() > b->prefix.size();
    });
}

RouteMatch Router::Match(std::string_view method, std::string_view path,
                         std::map<std::string, std::string>* params) const {
    RouteMatch match;
    std::array<std::string_view, kMaxSegments> segments;
    size_t count = 0;
    const Entry* found = nullptr;
    const Node* first_path_node = nullptr;  // for 405: a pattern matched, the method did not

    if (SplitPath(path, segments, count)) {
        // Depth-first, literal child before parameter child; backtracks so that a literal
        // prefix that leads nowhere does not hide a parameter route. The recursion depth is
        // bounded by kMaxSegments.
        auto visit = [&](auto& self, const Node* node, size_t depth) -> bool {
            if (depth == count) {
                if (node->entries.empty()) return false;
                if (first_path_node == nullptr) first_path_node = node;
                found = node->Find(method);
                return found != nullptr;
            }
            auto it = node->literals.find(segments[depth]);
            if (it != node->literals.end() && self(self, it->second.get(), depth + 1)) {
                return true;
            }
            return node->param && self(self, node->param.get(), depth + 1);
        };
        visit(visit, root_.get(), 0);
    }

    if (found != nullptr) {
        match.kind = RouteMatch::Kind::kFound;
        match.handler = &found->handler;
        match.options = &found->options;
        match.route = &found->route;
        match.stats = found->stats;
        if (params != nullptr) {
            for (const auto& [index, name] : found->param_names) {
                (*params)[name] = std::string(segments[index]);
            }
        }
        return match;
    }
    if (first_path_node != nullptr) {
        match.kind = RouteMatch::Kind::kMethodNotAllowed;
        std::vector<std::string_view> methods;
        bool has_get = false;
        bool has_head = false;
        for (const Entry& entry : first_path_node->entries) {
            methods.push_back(entry.method);
            has_get = has_get || entry.method == "GET";
            has_head = has_head || entry.method == "HEAD";
        }
        if (has_get && !has_head) methods.push_back("HEAD");
        std::sort(methods.begin(), methods.end());
        for (std::string_view allowed : methods) {
            if (!match.allow.empty()) match.allow += ", ";
            match.allow += allowed;
        }
        return match;
    }
    for (const auto& prefix_entry : prefixes_) {
        const std::string& prefix = prefix_entry->prefix;
        const bool under =
            prefix == "/" || (path.starts_with(prefix) &&
                              (path.size() == prefix.size() || path[prefix.size()] == '/'));
        if (!under) continue;
        const Entry& entry = prefix_entry->entry;
        if (entry.method == method || (method == "HEAD" && entry.method == "GET")) {
            match.kind = RouteMatch::Kind::kFound;
            match.handler = &entry.handler;
            match.options = &entry.options;
            match.route = &entry.route;
            match.stats = entry.stats;
            return match;
        }
    }
    return match;
}

}  // namespace carnet::http
