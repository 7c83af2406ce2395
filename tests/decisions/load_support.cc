// The decision tests' load generator (see load_support.h).
#include "load_support.h"

#include <boost/json.hpp>
#include <chrono>
#include <mutex>
#include <random>
#include <thread>

#include "decision_support.h"
#include "support/api.h"
#include "support/http_client.h"

namespace warden::testing {

namespace {

namespace json = boost::json;

constexpr std::size_t kFailuresKept = 20;

enum class Settle { kNone, kConfirm, kFail, kCancel };

Settle pick_settle(std::mt19937_64& rng) {
  switch (rng() % 6) {
    case 0:
    case 1:
      return Settle::kConfirm;
    case 2:
      return Settle::kFail;
    case 3:
      return Settle::kCancel;
    default:
      return Settle::kNone;
  }
}

bool has_reason(const json::value& body, std::string_view code) {
  const auto* reasons = at(body, "reasons");
  if (!reasons || !reasons->is_array()) return false;
  for (const auto& r : reasons->as_array()) {
    if (str_at(r, "code") == code) return true;
  }
  return false;
}

// Everything one thread saw (its `seconds` unused); merged into the report at the end.
struct ThreadLog : LoadReport {
  void fail(std::string what) {
    if (failures.size() < kFailuresKept) failures.push_back(std::move(what));
  }
};

// Checks a 201 decision for `amount`; returns false (after logging) when it is inconsistent.
bool check_decision(const Response& r, std::uint64_t amount, ThreadLog& log, TxAck& ack) {
  const json::value body = r.json();
  ack.id = str_at(body, "id");
  ack.amount = amount;
  const std::string effect = str_at(body, "effect");
  ack.status = str_at(body, "status");
  ack.allowed = effect == "ALLOW";
  const std::string context = " for amount " + std::to_string(amount) + ": " + r.body;
  if (ack.id.empty()) return log.fail("no id" + context), false;
  if (ack.allowed) {
    if (ack.status != "PENDING" || str_at(body, "tier") != "INSTANT" ||
        str_at(body, "reserved_amount") != std::to_string(amount)) {
      return log.fail("inconsistent ALLOW" + context), false;
    }
  } else if (effect == "DENY") {
    const auto* reserved = at(body, "reserved_amount");
    if (ack.status != "DENIED" || !has_reason(body, "LIMIT_WINDOW_EXCEEDED") ||
        (reserved && !reserved->is_null())) {
      return log.fail("inconsistent DENY" + context), false;
    }
  } else {
    return log.fail("unknown effect" + context), false;
  }
  return true;
}

void settle(HttpClient& c, const std::string& token, const std::string& settlement_token,
            std::mt19937_64& rng, TxAck& ack, ThreadLog& log, bool expect_transport_errors) {
  const Settle how = pick_settle(rng);
  if (how == Settle::kNone) return;
  std::string target = "/v1/transactions/" + ack.id;
  std::string body;
  std::string expected;
  std::uint64_t final_amount = 0;
  if (how == Settle::kConfirm) {
    final_amount = std::uniform_int_distribution<std::uint64_t>(0, ack.amount)(rng);
    target += "/confirm";
    body = json::serialize(json::object{{"final_amount", std::to_string(final_amount)}});
    expected = "CONFIRMED";
  } else if (how == Settle::kFail) {
    target += "/fail";
    body = R"({"error":"load test"})";
    expected = "FAILED";
  } else {
    target += "/cancel";
    expected = "CANCELLED";
  }
  ++log.settle_requests;
  const bool executor = how == Settle::kConfirm && !settlement_token.empty();
  Response r = agent_request(c, executor ? settlement_token : token, "POST", target, body);
  if (r.status == 0 && expect_transport_errors) {
    ack.unacked_status = expected;
    ++log.transport_errors;
    return;
  }
  const json::value v = r.json();
  if (r.status != 200 || str_at(v, "status") != expected ||
      (how == Settle::kConfirm && str_at(v, "final_amount") != std::to_string(final_amount))) {
    log.fail(target + " " + body + " -> " + r.describe());
    return;
  }
  ack.status = expected;
  ack.final_amount = final_amount;
}

void run_thread(std::uint16_t port, const std::string& token, const LoadOptions& o, int index,
                std::chrono::steady_clock::time_point deadline, const std::atomic<bool>* stop,
                ThreadLog& log) {
  HttpClient c(port);
  std::mt19937_64 rng(o.seed + static_cast<std::uint64_t>(index) * 7919);
  std::uniform_int_distribution<std::uint64_t> amounts(o.amount_min, o.amount_max);
  for (int i = 0; i < o.requests_per_thread; ++i) {
    if (stop && stop->load()) return;
    if (std::chrono::steady_clock::now() > deadline) {
      log.deadline_hit = true;
      return;
    }
    const std::uint64_t amount = amounts(rng);
    Response r = post_transfer(c, token, std::to_string(amount));
    if (r.status == 0 && o.expect_transport_errors) {
      ++log.transport_errors;
      return;
    }
    if (r.status != 201) {
      log.fail("POST /v1/transactions amount " + std::to_string(amount) + " -> " + r.describe());
      continue;
    }
    TxAck ack;
    if (!check_decision(r, amount, log, ack)) continue;
    ack.allowed ? ++log.allows : ++log.denies;
    log.acks.push_back(ack);
    if (o.settle && ack.allowed) {
      settle(c, token, o.settlement_token, rng, log.acks.back(), log, o.expect_transport_errors);
      if (!log.acks.back().unacked_status.empty()) return;  // the daemon is gone
    }
  }
}

}  // namespace

LoadReport run_load(std::uint16_t port, const std::string& token, const LoadOptions& o,
                    const std::atomic<bool>* stop) {
  const auto start = std::chrono::steady_clock::now();
  const auto deadline = start + std::chrono::milliseconds(o.deadline_ms);
  std::vector<ThreadLog> logs(static_cast<std::size_t>(o.threads));
  std::vector<std::thread> threads;
  for (int t = 0; t < o.threads; ++t) {
    threads.emplace_back(run_thread, port, std::cref(token), std::cref(o), t, deadline, stop,
                         std::ref(logs[static_cast<std::size_t>(t)]));
  }
  for (auto& t : threads) t.join();
  LoadReport report;
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  for (auto& log : logs) {
    report.acks.insert(report.acks.end(), log.acks.begin(), log.acks.end());
    report.allows += log.allows;
    report.denies += log.denies;
    report.settle_requests += log.settle_requests;
    report.transport_errors += log.transport_errors;
    report.deadline_hit = report.deadline_hit || log.deadline_hit;
    for (auto& f : log.failures) {
      if (report.failures.size() < kFailuresKept) report.failures.push_back(std::move(f));
    }
  }
  return report;
}

}  // namespace warden::testing
