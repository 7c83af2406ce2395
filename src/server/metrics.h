// Request metrics in Prometheus text exposition: counts and a latency histogram by method,
// route and status.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string_view>
#include <string>
#include <tuple>
#include <vector>

namespace warden::server {

// Thread-safe. A series (method, route, status) is created once under an exclusive lock; after
// that a request takes a shared lock to find it and updates two atomics (sum, one bucket).
// Buckets are kept per range and summed when rendered; the count is their sum.
class Metrics {
 public:
  void record(std::string_view method, std::string_view route, int status,
              std::int64_t duration_us);
  std::string render() const;
  // Adds series rendered by another module (the gateway's), appended to render()'s text.
  void add_source(std::function<std::string()> render);

 private:
  static constexpr std::array<std::int64_t, 12> kBucketsUs = {
      100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 1000000};
  struct Series {
    std::atomic<std::uint64_t> sum_us{0};
    // buckets[i]: requests in (kBucketsUs[i-1], kBucketsUs[i]]; the last one above them all.
    std::array<std::atomic<std::uint64_t>, kBucketsUs.size() + 1> buckets{};
    std::uint64_t total() const;  // requests recorded: the sum of the buckets
  };
  using Key = std::tuple<std::string, std::string, int>;

  Series& series(std::string_view method, std::string_view route, int status);

  mutable std::shared_mutex mu_;  // guards the map's structure, not the atomics inside
  std::map<Key, std::unique_ptr<Series>, std::less<>> series_;
  std::vector<std::function<std::string()>> sources_;  // guarded by mu_
};

// The storage gauges of a SQLite data directory (docs/operations.md), sampled at a scrape.
struct StorageGaugeValues {
  std::int64_t database_bytes = 0;
  std::int64_t wal_bytes = 0;
  std::int64_t archive_bytes = 0;  // 0 when the data directory has no archive
  // Left out of the text when the database could not be read.
  std::optional<std::int64_t> oldest_hot_decision_age_seconds;
};
std::string render_storage_gauges(const StorageGaugeValues& v);

}  // namespace warden::server
