// The idempotency keys a service answers from memory: the decisions' replay table and the
// ledger's key table are both this. A key is claimed by the first request that carries it; an
// identical request (same hash) waits for that claim's commit or replays it, another one
// conflicts. Memory holds the keys of a recent period, at most keys_max of them; an older
// repeat is for the store's unique index to refuse and the service to answer from the stored
// row, so memory does not grow with history.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace warden {

// Thread-safe. `Payload` is what a claim answers with (set when claimed, replaced at commit if
// the caller wants); `Waiter` a callback of an identical request that arrived while the claim
// committed.
template <class Payload, class Waiter>
class RecentKeys {
 public:
  enum class Outcome { kClaimed, kWaiting, kReplay, kConflict };
  struct Entry {
    std::string request_hash;
    bool committed = false;
    Payload payload{};
    std::vector<Waiter> waiting;
    std::int64_t first_seen_s = 0;
  };

  explicit RecentKeys(std::size_t keys_max) : keys_max_(keys_max) {}

  // A new key is claimed (kClaimed) holding `payload`. Otherwise the key's entry answers: another
  // hash is kConflict, a claim not yet committed kWaiting (it takes `waiter`, to run with the
  // claim's outcome), a committed one kReplay; for these three the entry's payload is copied to
  // `*held` when given.
  Outcome claim(const std::string& key, const std::string& hash, std::int64_t now_s,
                Payload payload, Waiter& waiter, Payload* held = nullptr) {
    std::lock_guard lock(mu_);
    auto [it, inserted] = entries_.try_emplace(key);
    Entry& e = it->second;
    if (inserted) {
      e.request_hash = hash;
      e.payload = std::move(payload);
      e.first_seen_s = now_s;
      order_.emplace_back(now_s, key);
      trim_locked();
      return Outcome::kClaimed;
    }
    if (held != nullptr) *held = e.payload;
    if (e.request_hash != hash) return Outcome::kConflict;
    if (!e.committed) {
      e.waiting.push_back(std::move(waiter));
      return Outcome::kWaiting;
    }
    return Outcome::kReplay;
  }

  // The entry of a key this caller claimed. It stays where it is until its claim commits or is
  // released (nothing else erases an entry that has not committed, and rehashing moves no
  // element), so a commit can reach it without hashing the key again.
  Entry* slot(const std::string& key) {
    std::lock_guard lock(mu_);
    auto it = entries_.find(key);
    return it == entries_.end() ? nullptr : &it->second;
  }

  // The claim committed: replays answer with `payload` from now on. Returns the identical
  // requests that waited, to answer outside the lock.
  std::vector<Waiter> commit(Entry& e, Payload payload) {
    std::lock_guard lock(mu_);
    e.committed = true;
    e.payload = std::move(payload);
    return std::move(e.waiting);
  }
  // The claim of `key` committed, answering with the payload it was claimed with.
  std::vector<Waiter> commit(const std::string& key) {
    std::lock_guard lock(mu_);
    auto it = entries_.find(key);
    if (it == entries_.end()) return {};
    it->second.committed = true;
    return std::move(it->second.waiting);
  }
  // The claim of `key` failed: the key is free again. Returns the requests that waited.
  std::vector<Waiter> release(const std::string& key) {
    std::lock_guard lock(mu_);
    auto it = entries_.find(key);
    if (it == entries_.end()) return {};
    std::vector<Waiter> waiting = std::move(it->second.waiting);
    entries_.erase(it);
    return waiting;
  }

  // A committed key as the store has it.
  void restore(const std::string& key, const std::string& hash, Payload payload,
               std::int64_t created_s) {
    std::lock_guard lock(mu_);
    entries_[key] = Entry{hash, true, std::move(payload), {}, created_s};
    order_.emplace_back(created_s, key);
    trim_locked();
  }

  // The request hash a key was claimed with, when it is known.
  std::optional<std::string> hash_of(const std::string& key) {
    std::lock_guard lock(mu_);
    auto it = entries_.find(key);
    if (it == entries_.end()) return std::nullopt;
    return it->second.request_hash;
  }

  // Forgets the committed keys first seen before oldest_s.
  void forget_before(std::int64_t oldest_s) {
    std::lock_guard lock(mu_);
    while (!order_.empty() && order_.front().first < oldest_s) {
      auto it = entries_.find(order_.front().second);
      // A claim in flight is never that old; a key claimed again after a failure is newer.
      if (it != entries_.end() && it->second.committed && it->second.first_seen_s < oldest_s) {
        entries_.erase(it);
      }
      order_.pop_front();
    }
  }

  std::size_t size() {
    std::lock_guard lock(mu_);
    return entries_.size();
  }

 private:
  // Forgets the oldest committed keys past keys_max_. A claim still in flight is never
  // forgotten (its waiters need it): the first one stops the trim until it commits.
  void trim_locked() {
    while (order_.size() > keys_max_) {
      const auto& [first_seen_s, key] = order_.front();
      auto it = entries_.find(key);
      // The front names the entry only while it is the same claim (a key released and claimed
      // again is further back).
      if (it != entries_.end() && it->second.first_seen_s == first_seen_s) {
        if (!it->second.committed) return;
        entries_.erase(it);
      }
      order_.pop_front();
    }
  }

  const std::size_t keys_max_;
  std::mutex mu_;
  std::unordered_map<std::string, Entry> entries_;  // guarded by mu_
  // Keys in the order they were first seen, with that time; guarded by mu_.
  std::deque<std::pair<std::int64_t, std::string>> order_;
};

}  // namespace warden
