// Request helpers for Warden's HTTP contract, shared by the integration tests.
#include "support/api.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <charconv>

#include "support/warden_process.h"

namespace warden::testing {

namespace json = boost::json;

Headers master_headers(Headers extra) {
  extra.emplace_back("X-Master-Password", kTestMasterPassword);
  return extra;
}

Headers bearer_headers(const std::string& token, Headers extra) {
  extra.emplace_back("Authorization", "Bearer " + token);
  return extra;
}

const json::value* at(const json::value& v, std::string_view key) {
  const auto* obj = v.if_object();
  return obj ? obj->if_contains(key) : nullptr;
}

json::value field(const json::value& v, std::string_view key) {
  const auto* f = at(v, key);
  return f ? *f : json::value();
}

json::value error_field(const Response& r, std::string_view key) {
  return field(field(r.json(), "error"), key);
}

std::string error_string(const Response& r, std::string_view key) {
  json::value v = error_field(r, key);
  return v.is_string() ? std::string(v.as_string()) : std::string();
}

std::string str_at(const json::value& v, std::string_view key) {
  const auto* field = at(v, key);
  return field && field->is_string() ? std::string(field->as_string()) : std::string();
}

std::optional<std::int64_t> int_at(const json::value& v, std::string_view key) {
  const auto* field = at(v, key);
  if (!field) return std::nullopt;
  if (field->is_int64()) return field->as_int64();
  if (field->is_uint64()) return static_cast<std::int64_t>(field->as_uint64());
  return std::nullopt;
}

json::object spending_limit_rules(std::uint64_t instant_max) {
  return json::object{
      {"instant_max", std::to_string(instant_max)},
      {"notify_max", "100000000000"},
      {"delay_max", "200000000000"},
      {"delay_seconds", 300},
      {"approval_timeout_seconds", 3600},
      {"windows", json::array{json::object{{"duration", "24h"}, {"max", "900000000000"}}}},
      {"asset", "native"},
  };
}

std::string spending_policy_body(std::uint64_t instant_max, int priority,
                                 const std::optional<std::string>& agent_id) {
  json::object body{{"type", "SPENDING_LIMIT"},
                    {"rules", spending_limit_rules(instant_max)},
                    {"priority", priority}};
  if (agent_id) body["agent_id"] = *agent_id;
  return json::serialize(body);
}

Response create_agent(HttpClient& c, const std::string& name,
                      const std::optional<std::string>& public_key, Headers extra) {
  json::object body{{"name", name}};
  if (public_key) body["public_key"] = *public_key;
  return c.request("POST", "/v1/agents", json::serialize(body), master_headers(std::move(extra)));
}

Response create_session(HttpClient& c, const std::string& agent_id,
                        const std::string& extra_fields) {
  std::string body = "{\"agent_id\":" + json::serialize(json::value(agent_id));
  if (!extra_fields.empty()) body += "," + extra_fields;
  body += "}";
  return c.request("POST", "/v1/sessions", body, master_headers());
}

std::string create_capped_eth_agent(HttpClient& c, const std::string& name,
                                    std::uint64_t window_max) {
  Response a = c.request(
      "POST", "/v1/agents",
      json::serialize(json::object{{"name", name}, {"chain", "ethereum"}, {"network", "mainnet"}}),
      master_headers());
  EXPECT_EQ(a.status, 201) << a.describe();
  const std::string id = str_at(a.json(), "id");
  const std::string max = std::to_string(window_max);
  json::object rules{{"instant_max", max},
                     {"notify_max", std::to_string(window_max + 1)},
                     {"delay_max", std::to_string(window_max + 2)},
                     {"windows", json::array{json::object{{"duration", "24h"}, {"max", max}}}},
                     {"asset", "native"}};
  Response p = c.request(
      "POST", "/v1/policies",
      json::serialize(json::object{{"type", "SPENDING_LIMIT"}, {"agent_id", id}, {"rules", rules}}),
      master_headers());
  EXPECT_EQ(p.status, 201) << p.describe();
  return id;
}

std::optional<std::vector<json::value>> list_all(HttpClient& c, const std::string& path, int limit,
                                                 int pages_max) {
  std::vector<json::value> items;
  std::string cursor;
  const char sep = path.find('?') == std::string::npos ? '?' : '&';
  for (int page = 0; page < pages_max; ++page) {
    std::string target = path + sep + "limit=" + std::to_string(limit);
    if (!cursor.empty()) target += "&cursor=" + cursor;
    Response r = c.request("GET", target, {}, master_headers());
    if (r.status != 200) return std::nullopt;
    json::value v = r.json();
    const auto* page_items = at(v, "items");
    if (!page_items || !page_items->is_array()) return std::nullopt;
    for (const auto& item : page_items->as_array()) items.push_back(item);
    cursor = str_at(v, "next_cursor");
    if (cursor.empty()) return items;
  }
  return std::nullopt;
}

std::optional<std::vector<json::value>> audit_all(HttpClient& c, const std::string& query) {
  constexpr int kPagesMax = 1000;
  std::vector<json::value> items;
  std::optional<std::int64_t> after_id;
  for (int page = 0; page < kPagesMax; ++page) {
    std::string target = "/v1/audit?limit=100";
    if (after_id) target += "&after_id=" + std::to_string(*after_id);
    if (!query.empty()) target += "&" + query;
    Response r = c.request("GET", target, {}, master_headers());
    if (r.status != 200) return std::nullopt;
    json::value v = r.json();
    const auto* page_items = at(v, "items");
    if (!page_items || !page_items->is_array()) return std::nullopt;
    for (const auto& item : page_items->as_array()) items.push_back(item);
    const auto* next = at(v, "next_after_id");
    if (!next || next->is_null()) return items;
    if (next->is_int64()) {
      after_id = next->as_int64();
    } else if (next->is_string()) {
      std::int64_t id = 0;
      std::string_view text = next->as_string();
      auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), id);
      if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
      after_id = id;
    } else {
      return std::nullopt;
    }
  }
  return std::nullopt;
}

}  // namespace warden::testing
