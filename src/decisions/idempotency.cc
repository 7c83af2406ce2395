// The idempotency table: claim, wait, replay, conflict, and forgetting the keys past its memory
// (period and count).
#include "decisions/internal.h"

namespace warden::decisions {

IdempotencyTable::Claim IdempotencyTable::claim(const std::string& key,
                                                const std::string& request_hash,
                                                const std::string& tx_id, std::int64_t now_s,
                                                Done& done) {
  std::lock_guard lock(mu_);
  auto [it, inserted] = entries_.try_emplace(key);
  Entry& e = it->second;
  if (inserted) {
    e.request_hash = request_hash;
    e.tx_id = tx_id;
    e.first_seen_s = now_s;
    order_.emplace_back(now_s, key);
    trim_locked();
    return {Outcome::kClaimed, {}};
  }
  if (e.request_hash != request_hash) return {Outcome::kConflict, e.tx_id};
  if (!e.committed) {
    e.waiting.push_back(std::move(done));
    return {Outcome::kWaiting, e.tx_id};
  }
  return {Outcome::kReplay, e.tx_id};
}

std::vector<IdempotencyTable::Done> IdempotencyTable::finish(const std::string& key, bool ok) {
  std::lock_guard lock(mu_);
  auto it = entries_.find(key);
  if (it == entries_.end()) return {};
  std::vector<Done> waiting = std::move(it->second.waiting);
  if (ok) {
    it->second.committed = true;
  } else {
    entries_.erase(it);
  }
  return waiting;
}

void IdempotencyTable::forget_before(std::int64_t oldest_s) {
  std::lock_guard lock(mu_);
  while (!order_.empty() && order_.front().first < oldest_s) {
    auto it = entries_.find(order_.front().second);
    // An in-flight claim is never that old; a key re-claimed after a failure is newer.
    if (it != entries_.end() && it->second.committed && it->second.first_seen_s < oldest_s) {
      entries_.erase(it);
    }
    order_.pop_front();
  }
}

void IdempotencyTable::trim_locked() {
  while (order_.size() > keys_max_) {
    const auto& [first_seen_s, key] = order_.front();
    auto it = entries_.find(key);
    // The front names the entry only while it is the same claim (a key freed by a failed commit
    // and claimed again is further back).
    if (it != entries_.end() && it->second.first_seen_s == first_seen_s) {
      if (!it->second.committed) return;
      entries_.erase(it);
    }
    order_.pop_front();
  }
}

std::size_t IdempotencyTable::size() {
  std::lock_guard lock(mu_);
  return entries_.size();
}

}  // namespace warden::decisions
