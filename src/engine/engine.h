// The engine module's public API: an in-memory policy index keyed by (agent, action), the
// decision (strictest outcome wins), atomic all-or-nothing reservations on window meters, and
// settlement. No I/O: the server persists what the engine decides and feeds it back at start.
#pragma once

#include <atomic>
#include <boost/json/object.hpp>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/amount.h"
#include "core/status.h"
#include "engine/ir.h"
#include "engine/meter.h"

namespace warden::engine {

// One request as the engine decides it; engine/request_mapping.h builds it from a request body
// with every name in its canonical form.
struct Request {
  std::string agent_id;
  // Upper case: TRANSFER, TOKEN_TRANSFER, CONTRACT_CALL, APPROVE, BATCH or a generic name.
  std::string action;
  boost::json::object attributes;  // to, token, contract, method, spender, network, chain, ...
  // Canonical asset -> amount in its smallest unit: what tiers read and windows are charged. A
  // BATCH carries the sum of its children's amounts, so it is reserved all or nothing.
  std::map<std::string, Amount> amounts;
  // BATCH: the actions it is made of (no nesting; a child's agent_id and now_ms are unused).
  // The match steps of each child's action run on that child; tiers, windows, time, network and
  // model steps run once on the batch itself; CUSTOM runs on both.
  std::vector<Request> children;
  std::int64_t now_ms = 0;
};

struct Reason {
  std::string policy_id;
  std::string code;
  std::string message;
  Outcome outcome = Outcome::kDeny;
  std::optional<std::size_t> child;  // the BATCH child it is about (index into children)
};

// One meter entry an ALLOW took; persisted with the transaction so recovery can rebuild it.
struct Charge {
  std::string meter;
  MeterKind kind = MeterKind::kAmount;
  Amount amount;
  std::int64_t ts_ms = 0;
};

struct StepTrace {
  std::string policy_id;
  std::string step;  // "match:set(to)", "limit:tiers", "limit:window(1d)", ...
  Outcome outcome = Outcome::kInstant;
  std::string detail;
};

struct Decision {
  Outcome outcome = Outcome::kInstant;  // kDeny, or the ALLOW's tier
  bool allowed() const { return outcome != Outcome::kDeny; }
  std::vector<Reason> reasons;  // policy priority order
  std::vector<Charge> charges;  // what was reserved (only when reserved)
  std::int64_t delay_seconds = 0;
  std::int64_t approval_timeout_seconds = 0;
  std::vector<StepTrace> trace;  // only with explain
};

boost::json::object decision_json(const Decision& d, bool with_trace);

class Evaluation;  // engine.cc: one request's walk over the steps

struct EngineStats {
  std::size_t policies = 0;
  std::size_t reservations = 0;
};

// Thread-safe. Decisions for different agents never share a lock; decisions for one agent
// serialise on that agent's mutex only while meters are read and reserved. The policy index is
// an immutable snapshot swapped atomically by load_policies().
class Engine {
 public:
  Engine();
  ~Engine();

  // Compiles every enabled policy and swaps the index. On a compile error nothing changes.
  Status load_policies(const std::vector<PolicyInput>& policies);

  // Evaluates; when allowed and `reserve`, takes every window charge atomically under
  // `reservation_id` (all or none).
  Decision decide(const Request& request, const std::string& reservation_id, bool reserve,
                  bool explain);

  // Confirm: amount charges drop to `final_amount` (must be <= each reserved amount; nullopt
  // keeps every charge as reserved), request charges stay; the reservation becomes spent.
  // TX_AMOUNT_EXCEEDS_RESERVED when larger.
  Status settle(const std::string& agent_id, const std::string& reservation_id,
                const std::optional<Amount>& final_amount);
  // Fail, cancel, reject, expiry: every charge is returned. Unknown ids are a no-op.
  void release(const std::string& agent_id, const std::string& reservation_id);
  // Start-up: re-adds persisted charges; `held` keeps them settle/release-able.
  void restore(const std::string& agent_id, const std::string& reservation_id,
               const std::vector<Charge>& charges, bool held);

  // The meter's confirmed + reserved total at now_ms (zero for an unknown meter).
  Amount meter_total(const std::string& agent_id, const std::string& meter, std::int64_t now_ms);
  std::vector<boost::json::object> compiled_ir() const;
  EngineStats stats() const;

 private:
  struct Snapshot;
  struct AgentState;
  struct Shard;
  static constexpr std::size_t kShards = 64;

  AgentState& agent_state(const std::string& agent_id);
  // Checks (and, when allowed, reserves) the window limits under the agent's lock.
  void decide_limits(const Snapshot& snap, const Request& r, const std::string& reservation_id,
                     bool reserve,
                     const std::vector<std::pair<const CompiledPolicy*, const WindowLimit*>>& limits,
                     Evaluation& eval, Decision& d);

  std::atomic<std::shared_ptr<const Snapshot>> snapshot_;
  std::unique_ptr<Shard[]> shards_;
};

}  // namespace warden::engine
