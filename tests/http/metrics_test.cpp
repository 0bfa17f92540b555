#include "http/metrics.hpp"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

namespace carnet::http {
namespace {

TEST(MetricsTest, CountersByNameAndLabels) {
    Metrics metrics;
    metrics.Inc("carnet_store_errors_total");
    metrics.Inc("carnet_store_errors_total", {}, 2);
    metrics.Inc("carnet_store_errors_total", {{"engine", "sqlite"}, {"op", "read"}});
    metrics.Inc("carnet_store_errors_total", {{"op", "read"}, {"engine", "sqlite"}});
    EXPECT_EQ(metrics.Value("carnet_store_errors_total"), 3);
    EXPECT_EQ(metrics.Value("carnet_store_errors_total", {{"engine", "sqlite"}, {"op", "read"}}),
              2);
    EXPECT_EQ(metrics.Value("absent_total"), 0);
    const std::string text = metrics.RenderPrometheus();
    EXPECT_NE(text.find("# TYPE carnet_store_errors_total counter\n"), std::string::npos);
    EXPECT_NE(text.find("carnet_store_errors_total 3\n"), std::string::npos);
    EXPECT_NE(text.find("carnet_store_errors_total{engine=\"sqlite\",op=\"read\"} 2\n"),
              std::string::npos);
}

TEST(MetricsTest, GaugesAndEscaping) {
    Metrics metrics;
    metrics.SetGauge("carnet_queue_depth", 7);
    metrics.SetGauge("carnet_queue_depth", -2);
    metrics.Inc("bad name-total", {{"v", "a\"b\\c\nd"}});
    EXPECT_EQ(metrics.Value("carnet_queue_depth"), -2);
    const std::string text = metrics.RenderPrometheus();
    EXPECT_NE(text.find("# TYPE carnet_queue_depth gauge\ncarnet_queue_depth -2\n"),
              std::string::npos);
    EXPECT_NE(text.find("bad_name_total{v=\"a\\\"b\\\\c\\nd\"} 1\n"), std::string::npos);
}

TEST(MetricsTest, RouteHistogramIsCumulativeAndSummedOverMethods) {
    Metrics metrics;
    RouteStats* get = metrics.RouteStatsFor("/fhir/{type}/{id}", "GET");
    RouteStats* put = metrics.RouteStatsFor("/fhir/{type}/{id}", "PUT");
    EXPECT_EQ(get, metrics.RouteStatsFor("/fhir/{type}/{id}", "GET"));
    get->Record(200, std::chrono::microseconds(100));
    get->Record(404, std::chrono::milliseconds(3));
    put->Record(200, std::chrono::seconds(10));
    const std::string text = metrics.RenderPrometheus();
    EXPECT_NE(text.find("carnet_http_requests_total{route=\"/fhir/{type}/{id}\",method=\"GET\","
                        "status=\"200\"} 1\n"),
              std::string::npos);
    EXPECT_NE(text.find("carnet_http_requests_total{route=\"/fhir/{type}/{id}\",method=\"GET\","
                        "status=\"404\"} 1\n"),
              std::string::npos);
    EXPECT_NE(text.find("carnet_http_request_duration_seconds_bucket{route=\"/fhir/{type}/{id}\","
                        "le=\"0.0005\"} 1\n"),
              std::string::npos);
    EXPECT_NE(text.find("carnet_http_request_duration_seconds_bucket{route=\"/fhir/{type}/{id}\","
                        "le=\"0.005\"} 2\n"),
              std::string::npos);
    EXPECT_NE(text.find("carnet_http_request_duration_seconds_bucket{route=\"/fhir/{type}/{id}\","
                        "le=\"5\"} 2\n"),
              std::string::npos);
    EXPECT_NE(text.find("carnet_http_request_duration_seconds_bucket{route=\"/fhir/{type}/{id}\","
                        "le=\"+Inf\"} 3\n"),
              std::string::npos);
    EXPECT_NE(
        text.find("carnet_http_request_duration_seconds_count{route=\"/fhir/{type}/{id}\"} 3"),
        std::string::npos);
    EXPECT_NE(text.find("carnet_http_in_flight 0\n"), std::string::npos);
}

TEST(MetricsTest, ConcurrentIncrementsAreNotLost) {
    Metrics metrics;
    auto& hot = metrics.CounterFor("hot_total");
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&] {
            for (int i = 0; i < 10000; ++i) {
                hot.fetch_add(1, std::memory_order_relaxed);
                metrics.Inc("by_name_total", {{"shard", std::to_string(i % 8)}});
            }
        });
    }
    for (auto& thread : threads) thread.join();
    EXPECT_EQ(metrics.Value("hot_total"), 40000);
    int64_t total = 0;
    for (int s = 0; s < 8; ++s)
        total += metrics.Value("by_name_total", {{"shard", std::to_string(s)}});
    EXPECT_EQ(total, 40000);
}

}  // namespace
}  // namespace carnet::http
