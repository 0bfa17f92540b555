#include "http/metrics.hpp"

#include <algorithm>
#include <functional>
#include <map>
#include <mutex>
#include <shared_mutex>
#include <unordered_map>

namespace carnet::http {

namespace {

constexpr size_t kShardCount = 16;

bool IsNameChar(char c, bool first) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':') return true;
    return !first && c >= '0' && c <= '9';
}

std::string SanitizeName(std::string_view name) {
    if (name.empty()) return std::string(1, '_');
    std::string out(name);
    for (size_t i = 0; i < out.size(); ++i) {
        if (!IsNameChar(out[i], i == 0)) out[i] = '_';
    }
    return out;
}

/// Label values may hold anything; the exposition format escapes \, " and newline.
void AppendEscaped(std::string& out, std::string_view value) {
    for (char c : value) {
        switch (c) {
            case '\\':
                out += "\\\\";
                break;
            case '"':
                out += "\\\"";
                break;
            case '\n':
                out += "\\n";
                break;
            default:
                out += c;
        }
    }
}

/// `a="x",b="y"` with labels sorted by name, so that {a,b} and {b,a} are one series.
std::string LabelText(const Labels& labels) {
    if (labels.empty()) return {};
    std::vector<const std::pair<std::string, std::string>*> sorted;
    sorted.reserve(labels.size());
    for (const auto& label : labels) sorted.push_back(&label);
    std::sort(sorted.begin(), sorted.end(), [](auto* a, auto* b) { return a->first < b->first; });
    std::string out;
    for (const auto* label : sorted) {
        if (!out.empty()) out += ',';
        out += SanitizeName(label->first);
        out += "=\"";
        AppendEscaped(out, label->second);
        out += '"';
    }
    return out;
}

void AppendDouble(std::string& out, double value) {
    char buf[32];
    int n = std::snprintf(buf, sizeof buf, "%.9g", value);
    out.append(buf, static_cast<size_t>(n));
}

}  // namespace

void RouteStats::Record(int status, std::chrono::nanoseconds elapsed) {
    if (status < kMinStatus || status > kMaxStatus) status = 500;
    by_status_[static_cast<size_t>(status - kMinStatus)].fetch_add(1, std::memory_order_relaxed);
    const double seconds = std::chrono::duration<double>(elapsed).count();
    size_t bucket = 0;
    while (bucket < kBuckets.size() && seconds > kBuckets[bucket]) ++bucket;
    buckets_[bucket].fetch_add(1, std::memory_order_relaxed);
    sum_ns_.fetch_add(static_cast<uint64_t>(std::max<int64_t>(0, elapsed.count())),
                      std::memory_order_relaxed);
}

uint64_t RouteStats::CountForStatus(int status) const {
    if (status < kMinStatus || status > kMaxStatus) return 0;
    return by_status_[static_cast<size_t>(status - kMinStatus)].load(std::memory_order_relaxed);
}

struct Metrics::Impl {
    struct Series {
        std::string name;
        std::string labels;  // rendered label text, without braces
        bool gauge = false;
        std::atomic<uint64_t> counter{0};
        std::atomic<int64_t> gauge_value{0};
    };
    struct Shard {
        mutable std::shared_mutex mu;
        std::unordered_map<std::string, std::unique_ptr<Series>> series;
    };
    std::array<Shard, kShardCount> shards;

    mutable std::mutex routes_mu;
    std::map<std::pair<std::string, std::string>, std::unique_ptr<RouteStats>, std::less<>> routes;

    Series& Find(std::string_view name, const Labels& labels, bool gauge) {
        std::string clean_name = SanitizeName(name);
        std::string label_text = LabelText(labels);
        std::string key = clean_name;
        key += '{';
        key += label_text;
        Shard& shard = shards[std::hash<std::string>{}(key) % kShardCount];
        {
            std::shared_lock lock(shard.mu);
            auto it = shard.series.find(key);
            if (it != shard.series.end()) return *it->second;
        }
        std::unique_lock lock(shard.mu);
        auto& slot = shard.series[key];
        if (!slot) {
            slot = std::make_unique<Series>();
            slot->name = std::move(clean_name);
            slot->labels = std::move(label_text);
            slot->gauge = gauge;
        }
        return *slot;
    }

    const Series* Lookup(std::string_view name, const Labels& labels) const {
        std::string key = SanitizeName(name);
        key += '{';
        key += LabelText(labels);
        const Shard& shard = shards[std::hash<std::string>{}(key) % kShardCount];
        std::shared_lock lock(shard.mu);
        auto it = shard.series.find(key);
        return it == shard.series.end() ? nullptr : it->second.get();
    }
};

Metrics::Metrics() : impl_(std::make_unique<Impl>()) {}
Metrics::~Metrics() = default;

Metrics& Metrics::Global() {
    // Leaked on purpose: counters may be touched by threads still running at exit.
    static Metrics* global = new Metrics();
    return *global;
}

void Metrics::Inc(std::string_view name, const Labels& labels, uint64_t delta) {
    impl_->Find(name, labels, false).counter.fetch_add(delta, std::memory_order_relaxed);
}

void Metrics::SetGauge(std::string_view name, int64_t value, const Labels& labels) {
    impl_->Find(name, labels, true).gauge_value.store(value, std::memory_order_relaxed);
}

std::atomic<uint64_t>& Metrics::CounterFor(std::string_view name, const Labels& labels) {
    return impl_->Find(name, labels, false).counter;
}

int64_t Metrics::Value(std::string_view name, const Labels& labels) const {
    const Impl::Series* series = impl_->Lookup(name, labels);
    if (series == nullptr) return 0;
    return series->gauge ? series->gauge_value.load(std::memory_order_relaxed)
                         : static_cast<int64_t>(series->counter.load(std::memory_order_relaxed));
}

RouteStats* Metrics::RouteStatsFor(std::string_view route, std::string_view method) {
    std::lock_guard lock(impl_->routes_mu);
    auto key = std::make_pair(std::string(route), std::string(method));
    auto& slot = impl_->routes[key];
    if (!slot) slot = std::make_unique<RouteStats>(key.first, key.second);
    return slot.get();
}

std::string Metrics::RenderPrometheus() const {
    std::string out;
    out.reserve(16 * 1024);

    // HTTP request counters and histograms.
    std::vector<const RouteStats*> routes;
    {
        std::lock_guard lock(impl_->routes_mu);
        for (const auto& [key, stats] : impl_->routes) routes.push_back(stats.get());
    }
    out +=
        "# HELP carnet_http_requests_total HTTP requests by route template, method and status.\n"
        "# TYPE carnet_http_requests_total counter\n";
    for (const RouteStats* stats : routes) {
        for (size_t i = 0; i < stats->by_status_.size(); ++i) {
            const uint64_t count = stats->by_status_[i].load(std::memory_order_relaxed);
            if (count == 0) continue;
            out += "carnet_http_requests_total{route=\"";
            AppendEscaped(out, stats->route_);
            out += "\",method=\"";
            AppendEscaped(out, stats->method_);
            out += "\",status=\"";
            out += std::to_string(static_cast<int>(i) + RouteStats::kMinStatus);
            out += "\"} ";
            out += std::to_string(count);
            out += '\n';
        }
    }

    // The histogram is by route only: sum the methods of each route (routes is sorted by
    // (route, method), so one route's entries are adjacent).
    out +=
        "# HELP carnet_http_request_duration_seconds Time from request headers read to "
        "response written.\n"
        "# TYPE carnet_http_request_duration_seconds histogram\n";
    for (size_t begin = 0; begin < routes.size();) {
        size_t end = begin;
        std::array<uint64_t, RouteStats::kBuckets.size() + 1> buckets{};
        uint64_t sum_ns = 0;
        while (end < routes.size() && routes[end]->route_ == routes[begin]->route_) {
            for (size_t b = 0; b < buckets.size(); ++b) {
                buckets[b] += routes[end]->buckets_[b].load(std::memory_order_relaxed);
            }
            sum_ns += routes[end]->sum_ns_.load(std::memory_order_relaxed);
            ++end;
        }
        uint64_t cumulative = 0;
        std::string route_label;
        AppendEscaped(route_label, routes[begin]->route_);
        for (size_t b = 0; b < buckets.size(); ++b) {
            cumulative += buckets[b];
            out += "carnet_http_request_duration_seconds_bucket{route=\"";
            out += route_label;
            out += "\",le=\"";
            if (b < RouteStats::kBuckets.size()) {
                AppendDouble(out, RouteStats::kBuckets[b]);
            } else {
                out += "+Inf";
            }
            out += "\"} ";
            out += std::to_string(cumulative);
            out += '\n';
        }
        out += "carnet_http_request_duration_seconds_sum{route=\"" + route_label + "\"} ";
        AppendDouble(out, static_cast<double>(sum_ns) / 1e9);
        out += "\ncarnet_http_request_duration_seconds_count{route=\"" + route_label + "\"} ";
        out += std::to_string(cumulative);
        out += '\n';
        begin = end;
    }

    out +=
        "# HELP carnet_http_in_flight HTTP requests being processed.\n"
        "# TYPE carnet_http_in_flight gauge\n"
        "carnet_http_in_flight ";
    out += std::to_string(in_flight_.load(std::memory_order_relaxed));
    out += '\n';

    // Counters and gauges registered by other modules, grouped by name.
    struct Row {
        std::string_view name;
        std::string_view labels;
        bool gauge;
        int64_t value;
    };
    std::vector<Row> rows;
    for (const auto& shard : impl_->shards) {
        std::shared_lock lock(shard.mu);
        for (const auto& [key, series] : shard.series) {
            const int64_t value =
                series->gauge
                    ? series->gauge_value.load(std::memory_order_relaxed)
                    : static_cast<int64_t>(series->counter.load(std::memory_order_relaxed));
            // Series are never erased, so the views stay valid after the lock is released.
            rows.push_back(Row{series->name, series->labels, series->gauge, value});
        }
    }
    std::sort(rows.begin(), rows.end(), [](const Row& a, const Row& b) {
        return a.name != b.name ? a.name < b.name : a.labels < b.labels;
    });
    std::string_view previous_name;
    for (const Row& row : rows) {
        if (row.name != previous_name) {
            out += "# TYPE ";
            out += row.name;
            out += row.gauge ? " gauge\n" : " counter\n";
            previous_name = row.name;
        }
        out += row.name;
        if (!row.labels.empty()) {
            out += '{';
            out += row.labels;
            out += '}';
        }
        out += ' ';
        out += std::to_string(row.value);
        out += '\n';
    }
    return out;
}

}  // namespace carnet::http
