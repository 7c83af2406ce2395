// Prometheus text rendering of the request metrics.
#include "server/metrics.h"

#include <fmt/format.h>

namespace warden::server {

std::atomic<std::uint64_t>& Metrics::counter(const CounterKey& key) {
  std::lock_guard lock(mu_);
  auto& slot = counters_[key];
  if (!slot) slot = std::make_unique<std::atomic<std::uint64_t>>(0);
  return *slot;
}

Metrics::Histogram& Metrics::histogram(const HistogramKey& key) {
  std::lock_guard lock(mu_);
  auto& slot = histograms_[key];
  if (!slot) slot = std::make_unique<Histogram>();
  return *slot;
}

void Metrics::record(const std::string& method, const std::string& route, int status,
                     std::int64_t duration_us) {
  counter({method, route, status}).fetch_add(1, std::memory_order_relaxed);
  Histogram& h = histogram({method, route, status});
  for (std::size_t i = 0; i < kBucketsUs.size(); ++i) {
    if (duration_us <= kBucketsUs[i]) h.buckets[i].fetch_add(1, std::memory_order_relaxed);
  }
  h.count.fetch_add(1, std::memory_order_relaxed);
  h.sum_us.fetch_add(static_cast<std::uint64_t>(duration_us), std::memory_order_relaxed);
}

std::string Metrics::render() const {
  std::string out;
  std::lock_guard lock(mu_);
  out += "# HELP warden_http_requests_total HTTP requests by method, route and status.\n";
  out += "# TYPE warden_http_requests_total counter\n";
  for (const auto& [key, value] : counters_) {
    const auto& [method, route, status] = key;
    out += fmt::format("warden_http_requests_total{{method=\"{}\",route=\"{}\",status=\"{}\"}} {}\n",
                       method, route, status, value->load(std::memory_order_relaxed));
  }
  out += "# HELP warden_http_request_duration_seconds HTTP request latency.\n";
  out += "# TYPE warden_http_request_duration_seconds histogram\n";
  for (const auto& [key, h] : histograms_) {
    const auto& [method, route, status] = key;
    const std::string labels =
        fmt::format("method=\"{}\",route=\"{}\",status=\"{}\"", method, route, status);
    for (std::size_t i = 0; i < kBucketsUs.size(); ++i) {
      out += fmt::format("warden_http_request_duration_seconds_bucket{{{},le=\"{}\"}} {}\n",
                         labels, static_cast<double>(kBucketsUs[i]) / 1e6,
                         h->buckets[i].load(std::memory_order_relaxed));
    }
    const auto count = h->count.load(std::memory_order_relaxed);
    out += fmt::format("warden_http_request_duration_seconds_bucket{{{},le=\"+Inf\"}} {}\n",
                       labels, count);
    out += fmt::format("warden_http_request_duration_seconds_sum{{{}}} {}\n", labels,
                       static_cast<double>(h->sum_us.load(std::memory_order_relaxed)) / 1e6);
    out += fmt::format("warden_http_request_duration_seconds_count{{{}}} {}\n", labels, count);
  }
  return out;
}

}  // namespace warden::server
