// Request metrics in Prometheus text exposition: counts and a latency histogram by method,
// route and status.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <tuple>

namespace warden::server {

// Thread-safe. Series are created on first use under a mutex; updates to an existing series
// are lock-free atomics.
class Metrics {
 public:
  void record(const std::string& method, const std::string& route, int status,
              std::int64_t duration_us);
  std::string render() const;

 private:
  static constexpr std::array<std::int64_t, 12> kBucketsUs = {
      100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 1000000};
  struct Histogram {
    std::array<std::atomic<std::uint64_t>, kBucketsUs.size()> buckets{};
    std::atomic<std::uint64_t> count{0};
    std::atomic<std::uint64_t> sum_us{0};
  };
  using CounterKey = std::tuple<std::string, std::string, int>;
  using HistogramKey = CounterKey;

  std::atomic<std::uint64_t>& counter(const CounterKey& key);
  Histogram& histogram(const HistogramKey& key);

  mutable std::mutex mu_;  // guards the maps' structure, not the atomics inside
  std::map<CounterKey, std::unique_ptr<std::atomic<std::uint64_t>>> counters_;
  std::map<HistogramKey, std::unique_ptr<Histogram>> histograms_;
};

}  // namespace warden::server
