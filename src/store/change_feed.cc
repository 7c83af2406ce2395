#include "store/change_feed.h"

#include <fmt/format.h>

namespace warden::store {

std::string_view topic_name(FeedTopic topic) {
  switch (topic) {
    case FeedTopic::kPolicies:
      return "policies";
    case FeedTopic::kSessions:
      return "sessions";
    case FeedTopic::kAgents:
      return "agents";
  }
  return "unknown";
}

Status validate_change_payload(std::string_view payload) {
  if (payload.size() > kMaxChangePayloadBytes) {
    return Status(ErrorCode::VALIDATION_INVALID_VALUE,
                  fmt::format("change payload of {} bytes: at most {} bytes", payload.size(),
                              kMaxChangePayloadBytes));
  }
  for (char c : payload) {
    if (c < 0x20 || c > 0x7e) {
      return Status(ErrorCode::VALIDATION_INVALID_VALUE,
                    "change payload: only printable ASCII characters are allowed");
    }
  }
  return Status();
}

void Subscribers::add(FeedTopic topic, ChangeCallback callback) {
  std::lock_guard lock(mu_);
  callbacks_.emplace_back(topic, std::move(callback));
}

void Subscribers::deliver(const Change& change) const {
  std::vector<ChangeCallback> targets;
  {
    std::lock_guard lock(mu_);
    for (const auto& [topic, callback] : callbacks_) {
      if (topic == change.topic) targets.push_back(callback);
    }
  }
  for (const ChangeCallback& callback : targets) callback(change);
}

Status LocalChangeFeed::publish(FeedTopic topic, std::string_view payload) {
  WARDEN_RETURN_IF_ERROR(validate_change_payload(payload));
  subscribers_.deliver(Change{topic, std::string(payload), /*resync=*/false, /*own=*/true});
  return Status();
}

void LocalChangeFeed::subscribe(FeedTopic topic, ChangeCallback callback) {
  subscribers_.add(topic, std::move(callback));
}

}  // namespace warden::store
