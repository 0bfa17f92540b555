#pragma once
/// Process-wide metrics in the Prometheus text exposition format (version 0.0.4):
/// https://prometheus.io/docs/instrumenting/exposition_formats/
/// Counters and gauges are atomics found through a sharded map; hot paths should keep the
/// reference returned by CounterFor() instead of calling Inc() with a name every time.
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace carnet::http {

/// Label pairs, e.g. {{"engine", "sqlite"}}. Order does not matter.
using Labels = std::vector<std::pair<std::string, std::string>>;

/// Request counts by status and a latency histogram for one (route template, method).
/// Lock-free: every field is a relaxed atomic.
class RouteStats {
  public:
    /// Upper bounds of the duration histogram, in seconds.
    static constexpr std::array<double, 13> kBuckets = {
        0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0};
    static constexpr int kMinStatus = 100;
    static constexpr int kMaxStatus = 599;

    RouteStats(std::string route, std::string method)
        : route_(std::move(route)), method_(std::move(method)) {}

    /// Counts one finished request. Statuses outside 100..599 are counted as 500.
    void Record(int status, std::chrono::nanoseconds elapsed);

    [[nodiscard]] const std::string& route() const { return route_; }
    [[nodiscard]] const std::string& method() const { return method_; }
    [[nodiscard]] uint64_t CountForStatus(int status) const;

  private:
    friend class Metrics;
    std::string route_;
    std::string method_;
    std::array<std::atomic<uint64_t>, kMaxStatus - kMinStatus + 1> by_status_{};
    /// Non-cumulative counts; the last slot is +Inf.
    std::array<std::atomic<uint64_t>, kBuckets.size() + 1> buckets_{};
    std::atomic<uint64_t> sum_ns_{0};
};

/// The registry. One per process (Global()); separate instances exist for tests only.
class Metrics {
  public:
    Metrics();
    ~Metrics();
    Metrics(const Metrics&) = delete;
    Metrics& operator=(const Metrics&) = delete;

    /// The process-wide registry.
    static Metrics& Global();

    /// Adds `delta` to the counter `name{labels}` (created at 0 on first use).
    /// Names that are not valid Prometheus names have their bad characters replaced by '_'.
    void Inc(std::string_view name, const Labels& labels = {}, uint64_t delta = 1);
    /// Sets the gauge `name{labels}`.
    void SetGauge(std::string_view name, int64_t value, const Labels& labels = {});
    /// A stable reference to the counter `name{labels}`, valid for the registry's lifetime.
    std::atomic<uint64_t>& CounterFor(std::string_view name, const Labels& labels = {});
    /// Current value of a counter or gauge; 0 when it does not exist.
    [[nodiscard]] int64_t Value(std::string_view name, const Labels& labels = {}) const;

    /// Stats for one route template and method, created on first use and never freed
    /// (route templates are a small fixed set; never pass a raw request path here).
    RouteStats* RouteStatsFor(std::string_view route, std::string_view method);
    /// Requests currently being processed by any Server.
    std::atomic<int64_t>& InFlight() { return in_flight_; }

    /// All metrics in the Prometheus text format.
    [[nodiscard]] std::string RenderPrometheus() const;

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
    std::atomic<int64_t> in_flight_{0};
};

}  // namespace carnet::http
