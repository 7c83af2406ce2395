// The change feed replicas share (docs/cluster.md, "Changes reach every replica"): a replica
// that changed a policy or revoked a session publishes it once the change has committed, and
// every replica's subscribers apply it to their in-memory state (the policy snapshot, the
// revocation set).
//
// A change is a hint, not the data: subscribers read the committed rows from the store. A
// feed may lose changes (PostgreSQL's NOTIFY is not durable); it then delivers a `resync`
// change, after which a subscriber reloads everything its topic covers.
#pragma once

#include <cstddef>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace warden::store {

enum class FeedTopic {
  kPolicies,  // a policy was created, changed or deleted: reload the snapshot (payload empty)
  kSessions,  // a session was revoked: the payload is its id
  // An agent changed in a way its sessions feel (suspended, resumed, terminated, every session
  // revoked): the payload is its id; subscribers drop what they cached of its sessions.
  kAgents,
};
inline constexpr FeedTopic kFeedTopics[] = {FeedTopic::kPolicies, FeedTopic::kSessions,
                                            FeedTopic::kAgents};

// "policies", "sessions", "agents".
std::string_view topic_name(FeedTopic topic);

// Ids and the empty string fit easily; the bound keeps every notification far below
// PostgreSQL's 8000-byte NOTIFY limit whatever the feed adds to it.
inline constexpr std::size_t kMaxChangePayloadBytes = 256;

// A payload is at most kMaxChangePayloadBytes of printable ASCII (ids are): anything else is
// refused with VALIDATION_INVALID_VALUE before it reaches a feed.
Status validate_change_payload(std::string_view payload);

struct Change {
  FeedTopic topic = FeedTopic::kPolicies;
  std::string payload;
  // Changes may have been missed (the feed lost its connection): reload everything of the
  // topic. The payload is empty.
  bool resync = false;
  // Published by this process, which applied it itself before publishing: a subscriber may
  // skip it.
  bool own = false;
};

// Runs on the feed's delivery thread (see each feed); it must be short and must not publish.
using ChangeCallback = std::function<void(const Change&)>;

class ChangeFeed {
 public:
  virtual ~ChangeFeed() = default;
  // Announces a committed change to every replica, this one included (as `own`).
  virtual Status publish(FeedTopic topic, std::string_view payload) = 0;
  // Adds a subscriber to a topic; subscribers are never removed and must outlive the feed's
  // deliveries (stop the feed first).
  virtual void subscribe(FeedTopic topic, ChangeCallback callback) = 0;
};

// The callbacks of each topic, shared by the feeds.
class Subscribers {
 public:
  void add(FeedTopic topic, ChangeCallback callback);
  // Calls each subscriber of change.topic in subscription order, without holding the lock (so
  // a callback may subscribe).
  void deliver(const Change& change) const;

 private:
  mutable std::mutex mu_;
  std::vector<std::pair<FeedTopic, ChangeCallback>> callbacks_;  // guarded by mu_
};

// One process, no other replica (the embedded SQLite default): publish calls the subscribers
// synchronously on the publisher's thread before it returns, every change marked `own`. It
// never loses a change, so it never delivers a resync.
class LocalChangeFeed final : public ChangeFeed {
 public:
  Status publish(FeedTopic topic, std::string_view payload) override;
  void subscribe(FeedTopic topic, ChangeCallback callback) override;

 private:
  Subscribers subscribers_;
};

}  // namespace warden::store
