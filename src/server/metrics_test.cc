#include "server/metrics.h"

#include <gtest/gtest.h>

namespace warden::server {
namespace {

TEST(Metrics, RendersCountersAndHistogramBuckets) {
  Metrics m;
  m.record("GET", "/healthz", 200, 80);
  m.record("GET", "/healthz", 200, 3000);
  m.record("POST", "/v1/policies", 409, 700);
  const std::string text = m.render();
  EXPECT_NE(text.find("warden_http_requests_total{method=\"GET\",route=\"/healthz\",status=\"200\"} 2\n"),
            std::string::npos);
  EXPECT_NE(text.find("warden_http_requests_total{method=\"POST\",route=\"/v1/policies\",status=\"409\"} 1\n"),
            std::string::npos);
  EXPECT_NE(text.find("warden_http_request_duration_seconds_bucket{method=\"GET\",route=\"/healthz\",status=\"200\",le=\"0.0001\"} 1\n"),
            std::string::npos);
  EXPECT_NE(text.find("warden_http_request_duration_seconds_bucket{method=\"GET\",route=\"/healthz\",status=\"200\",le=\"0.005\"} 2\n"),
            std::string::npos);
  EXPECT_NE(text.find("warden_http_request_duration_seconds_count{method=\"GET\",route=\"/healthz\",status=\"200\"} 2\n"),
            std::string::npos);
}

TEST(Metrics, BucketsAreCumulativeAndTheSlowestCountOnlyInInf) {
  Metrics m;
  m.record("POST", "/v1/transactions", 201, 100);        // on a boundary: le="0.0001"
  m.record("POST", "/v1/transactions", 201, 101);        // next bucket
  m.record("POST", "/v1/transactions", 201, 5'000'000);  // above every bucket
  const std::string text = m.render();
  const std::string labels = R"(method="POST",route="/v1/transactions",status="201")";
  for (const auto& [le, n] : std::vector<std::pair<std::string, int>>{
           {"0.0001", 1}, {"0.00025", 2}, {"1", 2}, {"+Inf", 3}}) {
    EXPECT_NE(text.find("warden_http_request_duration_seconds_bucket{" + labels + ",le=\"" + le +
                        "\"} " + std::to_string(n) + "\n"),
              std::string::npos)
        << le << "\n"
        << text;
  }
  EXPECT_NE(text.find("warden_http_requests_total{" + labels + "} 3\n"), std::string::npos);
  EXPECT_NE(text.find("warden_http_request_duration_seconds_sum{" + labels + "} 5.000201\n"),
            std::string::npos)
      << text;
}

TEST(StorageGauges, RendersEveryGaugeAndLeavesOutAnAgeThatCouldNotBeRead) {
  const std::string text = render_storage_gauges({4096, 8240, 0, 75});
  EXPECT_NE(text.find("# TYPE warden_db_size_bytes gauge\nwarden_db_size_bytes 4096\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("\nwarden_db_wal_size_bytes 8240\n"), std::string::npos) << text;
  EXPECT_NE(text.find("\nwarden_archive_size_bytes 0\n"), std::string::npos) << text;
  EXPECT_NE(text.find("\nwarden_oldest_hot_decision_age_seconds 75\n"), std::string::npos)
      << text;
  const std::string unread = render_storage_gauges({4096, 0, 10, std::nullopt});
  EXPECT_EQ(unread.find("warden_oldest_hot_decision_age_seconds"), std::string::npos) << unread;
  EXPECT_NE(unread.find("\nwarden_archive_size_bytes 10\n"), std::string::npos) << unread;
}

}  // namespace
}  // namespace warden::server
