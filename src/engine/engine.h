// The engine module's public API: an in-memory policy index keyed by (agent, action), the
// decision (strictest outcome wins), atomic all-or-nothing reservations on window meters, and
// settlement. No I/O: the server persists what the engine decides and feeds it back at start.
#pragma once

#include <atomic>
#include <boost/json/object.hpp>
#include <functional>
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
  // A CUSTOM `post` reason whose policy has a cooldown: its effect applies to the agent's
  // decisions until then (Engine::post_matched). 0: none.
  std::int64_t until_ms = 0;
};

// What an ALLOW took from one usage key (every window of that key counts it); persisted with
// the transaction so recovery can rebuild it.
struct Charge {
  std::string usage;  // WindowLimit::usage, + "@<model>" for a per-model window
  MeterKind kind = MeterKind::kAmount;
  Amount amount;
  std::int64_t ts_ms = 0;
  // kAmount: the asset it counts (what a per-asset settlement lowers or raises). Charges
  // persisted before it was kept have it empty: asset_of_usage(usage) says it.
  std::string asset;
};

// One window an ALLOW's charge counts in, as the window stood when it was decided: what a store
// shared by several replicas checks the charge against (store::WriteTxn::reserve_window), since
// this engine's meters count only what this replica saw. Made only with shared windows on.
struct WindowCharge {
  std::string meter;  // WindowLimit::meter, + "@<model>" for a per-model window
  std::string usage;  // the Charge it belongs to
  std::string policy_id;
  std::string code;  // the window's refusal code
  std::string window_text;
  Amount amount;
  Amount max;
  std::int64_t bucket_ms = 0;        // the bucket the charge is in
  std::int64_t first_bucket_ms = 0;  // the first bucket inside the window at the decision
};

// A BUDGET step's need: the request's amount in the policy's asset, held on the agent's credit.
struct BudgetNeed {
  std::string asset;
  Amount amount;
  bool partial = false;  // allow_negative: hold what there is, never deny
  std::string policy_id;
};

// A hold a decision took (shown in its answer; settled with the reservation).
struct BudgetHeld {
  std::string hold_id;
  std::string asset;
  Amount requested;
  Amount held;  // less than requested only for a partial need
  std::string policy_id;  // the BUDGET policy that asked for it
};

// The ledger's side of BUDGET steps (ledger::LedgerService implements it). decide() calls it
// under the agent's lock after the window limits passed, so the holds and the window
// reservations are taken all or none.
class Budgets {
 public:
  virtual ~Budgets() = default;
  // Takes every need or none. When one does not fit: LEDGER_BUDGET_EXCEEDED with details
  // {asset, available, shortfall}.
  virtual Result<std::vector<BudgetHeld>> hold_for(const std::string& agent_id,
                                                   const std::vector<BudgetNeed>& needs,
                                                   const std::string& reservation_id,
                                                   std::int64_t now_ms) = 0;
  // What the agent could spend in asset now (dry runs: nothing is held).
  virtual Amount available(const std::string& agent_id, const std::string& asset,
                           std::int64_t now_ms) = 0;
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
  std::vector<WindowCharge> windows;  // where each charge counts (only with shared windows)
  std::vector<BudgetHeld> holds;  // BUDGET holds taken with the reservation
  std::int64_t delay_seconds = 0;
  std::int64_t approval_timeout_seconds = 0;  // the tiers' shortest; 0: none set one
  // A CUSTOM `post` applies to the agent (in the index this decision used): the request is kept
  // for post_checks() at settlement.
  bool post_checks = false;
  std::vector<StepTrace> trace;  // only with explain
};

boost::json::object decision_json(const Decision& d, bool with_trace);

class Evaluation;  // engine.cc: one request's walk over the steps

struct EngineStats {
  std::size_t policies = 0;
  std::size_t reservations = 0;
  std::size_t agents = 0;  // agents with meters or open reservations in memory
  std::size_t meters = 0;
};

// Receives settled usage: the agent, when it was reserved, how much, and the usage key it was
// recorded under.
using UsageSink = std::function<void(const std::string& agent_id, std::int64_t ts_ms,
                                     const Amount& amount, const std::string& usage)>;
// Streams the settled usage recorded under `usage` at or after since_ms, for every agent. A
// `usage` ending in kModelSeparator ("<pid>/llm_tokens@") asks for every key it starts (the
// per-model keys of a TOKEN_LIMIT).
using UsageHistory =
    std::function<Status(const std::string& usage, std::int64_t since_ms, const UsageSink& sink)>;

// Thread-safe. Decisions for different agents never share a lock; decisions for one agent
// serialise on that agent's mutex only while meters are read and reserved. The policy index is
// an immutable snapshot swapped atomically by load_policies().
class Engine {
 public:
  Engine();
  ~Engine();

  // Where BUDGET steps hold (set once, before the first decision). Without it a BUDGET policy
  // denies what it applies to (BUDGET_UNAVAILABLE): it cannot check the credit.
  void set_budgets(Budgets* budgets) { budgets_ = budgets; }
  // Cluster mode: a reserved ALLOW lists the windows its charges count in (Decision::windows),
  // for the store to check them against every replica's usage. Set once, before deciding.
  void set_shared_windows(bool on) { shared_windows_ = on; }
  bool shared_windows() const { return shared_windows_; }

  // Compiles every enabled policy and swaps the index. A policy that does not compile (stored
  // before a stricter check) refuses every request it applies to (POLICY_INVALID).
  // A window the previous index did not count (new, changed, added or re-enabled; at the first
  // load, every one) is built before the swap from the open reservations in memory and,
  // through `history`, the settled usage inside it at now_ms; without `history` it starts from
  // the open reservations only. The caller makes sure no settlement lands between reading the
  // history and the swap. Afterwards meters no policy reads, and agents left with nothing,
  // are freed.
  Status load_policies(const std::vector<PolicyInput>& policies, const UsageHistory& history = {},
                       std::int64_t now_ms = 0);

  // Evaluates; when allowed and `reserve`, takes every window charge atomically under
  // `reservation_id` (all or none).
  Decision decide(const Request& request, const std::string& reservation_id, bool reserve,
                  bool explain);

  // Confirm: amount charges drop to `final_amount` (must be <= each reserved amount; nullopt
  // keeps every charge as reserved), request charges stay; the reservation becomes spent.
  // TX_AMOUNT_EXCEEDS_RESERVED when larger.
  Status settle(const std::string& agent_id, const std::string& reservation_id,
                const std::optional<Amount>& final_amount);
  // Per-asset settlement (a metered request): each held kAmount charge whose asset is in
  // final_amounts drops to that amount, or grows to it (what was used past the reservation
  // happened: it counts, even past a window's max); a charge of another asset stays as
  // reserved, as do request charges. The reservation becomes spent. Unknown ids are a no-op.
  Status settle(const std::string& agent_id, const std::string& reservation_id,
                const std::map<std::string, Amount>& final_amounts);
  // Fail, cancel, reject, expiry: every charge is returned. Unknown ids are a no-op.
  void release(const std::string& agent_id, const std::string& reservation_id);
  // Re-adds persisted charges to every window of their usage keys: at start-up (open
  // reservations with `held`, which keeps them settle/release-able) and for settled usage,
  // including a settlement that arrives after its reservation expired (it happened: it counts
  // even past a window's max).
  void restore(const std::string& agent_id, const std::string& reservation_id,
               const std::vector<Charge>& charges, bool held);

  // The CUSTOM `post` conditions that apply to the request, evaluated with its (final)
  // amounts and the kPostVariables of its attributes: the reasons of those that are true (with
  // until_ms = now + cooldown when the policy has one), or that fail (CUSTOM_EXPRESSION_ERROR).
  std::vector<Reason> post_checks(const Request& request) const;
  // A `post` with a cooldown matched for the agent (after its settlement committed, or at
  // start-up from what is stored): until until_ms the policy's effect applies to each of the
  // agent's decisions, code CUSTOM_POST_CONDITION. A later until for the same pair wins; a
  // policy that is gone or has no cooldown any more applies nothing.
  void post_matched(const std::string& agent_id, const std::string& policy_id,
                    std::int64_t until_ms);
  // The longest cooldown of the loaded `post` conditions (0: none): how far back start-up looks.
  std::int64_t max_post_cooldown_ms() const;

  // The meter's confirmed + reserved total at now_ms (zero for an unknown meter).
  Amount meter_total(const std::string& agent_id, const std::string& meter, std::int64_t now_ms);
  std::vector<boost::json::object> compiled_ir() const;
  EngineStats stats() const;

 private:
  struct Snapshot;
  struct AgentState;
  struct Shard;
  static constexpr std::size_t kShards = 64;

  // The agent's live state, created when missing, with its mutex held.
  std::pair<std::shared_ptr<AgentState>, std::unique_lock<std::mutex>> lock_agent(
      const std::string& agent_id);
  // A failed history read leaves the new windows incomplete: the caller keeps the old index.
  Status build_new_windows(const Snapshot& old_snap, const Snapshot& snap,
                         const UsageHistory& history, std::int64_t now_ms);
  void free_unused(const Snapshot& snap);
  // Checks (and, when allowed, reserves) the window limits under the agent's lock. False when
  // the policy index changed before the lock was taken: the caller decides again.
  bool decide_limits(const Snapshot& snap, const Request& r, const std::string& reservation_id,
                     bool reserve,
                     const std::vector<std::pair<const CompiledPolicy*, const WindowLimit*>>& limits,
                     const std::vector<std::pair<const CompiledPolicy*, const BudgetLimit*>>& budgets,
                     Evaluation& eval, Decision& d);
  // BUDGET steps, after the windows passed: holds (when reserving an ALLOW) or checks.
  void decide_budgets(const Request& r, const std::string& reservation_id, bool reserve,
                      const std::vector<std::pair<const CompiledPolicy*, const BudgetLimit*>>& budgets,
                      Evaluation& eval, Decision& d);

  // Raises the effect of each `post` cooldown still running for the agent.
  bool apply_cooldowns(const Snapshot& snap, const Request& r, Evaluation& eval);

  std::mutex load_mu_;  // one load_policies() at a time
  std::atomic<std::shared_ptr<const Snapshot>> snapshot_;
  std::atomic<std::uint64_t> generation_{0};  // the loaded snapshot's generation
  std::unique_ptr<Shard[]> shards_;
  Budgets* budgets_ = nullptr;
  bool shared_windows_ = false;
  // Running `post` cooldowns: agent -> policy id -> until (ms). Decisions skip the lock while
  // cooldown_agents_ is zero.
  std::mutex cooldown_mu_;
  std::unordered_map<std::string, std::map<std::string, std::int64_t>> cooldowns_;
  std::atomic<std::size_t> cooldown_agents_{0};
};

}  // namespace warden::engine
