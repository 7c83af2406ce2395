// Prometheus text rendering of the request metrics.
#include "server/metrics.h"

#include <fmt/format.h>

#include <algorithm>

namespace warden::server {

Metrics::Series& Metrics::series(std::string_view method, std::string_view route, int status) {
  const auto probe = std::make_tuple(method, route, status);
  {
    std::shared_lock lock(mu_);
    if (auto it = series_.find(probe); it != series_.end()) return *it->second;
  }
  std::unique_lock lock(mu_);
  auto& slot = series_[Key(method, route, status)];
  if (!slot) slot = std::make_unique<Series>();
  return *slot;
}

void Metrics::record(std::string_view method, std::string_view route, int status,
                     std::int64_t duration_us) {
  Series& s = series(method, route, status);
  const auto bucket = static_cast<std::size_t>(
      std::lower_bound(kBucketsUs.begin(), kBucketsUs.end(), duration_us) - kBucketsUs.begin());
  s.buckets[bucket].fetch_add(1, std::memory_order_relaxed);
  s.sum_us.fetch_add(static_cast<std::uint64_t>(std::max<std::int64_t>(duration_us, 0)),
                     std::memory_order_relaxed);
}

std::uint64_t Metrics::Series::total() const {
  std::uint64_t n = 0;
  for (const auto& b : buckets) n += b.load(std::memory_order_relaxed);
  return n;
}

std::string Metrics::render() const {
  std::string out;
  std::shared_lock lock(mu_);
  out += "# HELP warden_http_requests_total HTTP requests by method, route and status.\n";
  out += "# TYPE warden_http_requests_total counter\n";
  for (const auto& [key, s] : series_) {
    const auto& [method, route, status] = key;
    out += fmt::format("warden_http_requests_total{{method=\"{}\",route=\"{}\",status=\"{}\"}} {}\n",
                       method, route, status, s->total());
  }
  out += "# HELP warden_http_request_duration_seconds HTTP request latency.\n";
  out += "# TYPE warden_http_request_duration_seconds histogram\n";
  for (const auto& [key, s] : series_) {
    const auto& [method, route, status] = key;
    const std::string labels =
        fmt::format("method=\"{}\",route=\"{}\",status=\"{}\"", method, route, status);
    std::uint64_t cumulative = 0;
    for (std::size_t i = 0; i < kBucketsUs.size(); ++i) {
      cumulative += s->buckets[i].load(std::memory_order_relaxed);
      out += fmt::format("warden_http_request_duration_seconds_bucket{{{},le=\"{}\"}} {}\n",
                         labels, static_cast<double>(kBucketsUs[i]) / 1e6, cumulative);
    }
    // From the same reads as the buckets above, so +Inf is never below the last of them.
    const auto count = cumulative + s->buckets.back().load(std::memory_order_relaxed);
    out += fmt::format("warden_http_request_duration_seconds_bucket{{{},le=\"+Inf\"}} {}\n",
                       labels, count);
    out += fmt::format("warden_http_request_duration_seconds_sum{{{}}} {}\n", labels,
                       static_cast<double>(s->sum_us.load(std::memory_order_relaxed)) / 1e6);
    out += fmt::format("warden_http_request_duration_seconds_count{{{}}} {}\n", labels, count);
  }
  for (const auto& source : sources_) out += source();
  return out;
}

void Metrics::add_source(std::function<std::string()> render) {
  std::unique_lock lock(mu_);
  sources_.push_back(std::move(render));
}

std::string render_storage_gauges(const StorageGaugeValues& v) {
  std::string out = fmt::format(
      "# HELP warden_db_size_bytes Size of the database file.\n"
      "# TYPE warden_db_size_bytes gauge\n"
      "warden_db_size_bytes {}\n"
      "# HELP warden_db_wal_size_bytes Size of the database's write-ahead log file.\n"
      "# TYPE warden_db_wal_size_bytes gauge\n"
      "warden_db_wal_size_bytes {}\n"
      "# HELP warden_archive_size_bytes Total size of the archive segment files.\n"
      "# TYPE warden_archive_size_bytes gauge\n"
      "warden_archive_size_bytes {}\n",
      v.database_bytes, v.wal_bytes, v.archive_bytes);
  if (v.oldest_hot_decision_age_seconds) {
    out += fmt::format(
        "# HELP warden_oldest_hot_decision_age_seconds Age of the oldest decision in the "
        "database (0 when there is none).\n"
        "# TYPE warden_oldest_hot_decision_age_seconds gauge\n"
        "warden_oldest_hot_decision_age_seconds {}\n",
        *v.oldest_hot_decision_age_seconds);
  }
  return out;
}

}  // namespace warden::server
