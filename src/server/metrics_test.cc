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

}  // namespace
}  // namespace warden::server
