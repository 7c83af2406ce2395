// Request helpers that speak Warden's HTTP contract (master header, bodies for agents,
// sessions and policies, paging through lists and the audit log) for integration tests.
#pragma once

#include <boost/json/value.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "support/http_client.h"

namespace warden::testing {

Headers master_headers(Headers extra = {});
Headers bearer_headers(const std::string& token, Headers extra = {});

// Field access that never throws: "" / nullopt when missing or of another type.
std::string str_at(const boost::json::value& v, std::string_view key);
std::optional<std::int64_t> int_at(const boost::json::value& v, std::string_view key);
// Pointer into v (valid while v lives), nullptr when missing.
const boost::json::value* at(const boost::json::value& v, std::string_view key);
// Copy of v[key]; null when missing (safe on temporaries).
boost::json::value field(const boost::json::value& v, std::string_view key);
// Copy of the error envelope's field (`error.<key>`), null when absent.
boost::json::value error_field(const Response& r, std::string_view key);
// error.<key> as a string, "" when absent or not a string.
std::string error_string(const Response& r, std::string_view key);

// A valid SPENDING_LIMIT rules object whose instant_max makes its content unique.
boost::json::object spending_limit_rules(std::uint64_t instant_max = 1000);
// {"type":"SPENDING_LIMIT","rules":...,"priority":priority} with an optional agent_id.
std::string spending_policy_body(std::uint64_t instant_max = 1000, int priority = 0,
                                 const std::optional<std::string>& agent_id = std::nullopt);

Response create_agent(HttpClient& c, const std::string& name,
                      const std::optional<std::string>& public_key = std::nullopt,
                      Headers extra = {});
Response create_session(HttpClient& c, const std::string& agent_id,
                        const std::string& extra_fields = "");
// An ethereum mainnet agent named `name` whose every amount up to window_max is INSTANT, within
// one 24h SPENDING_LIMIT window of window_max on the native asset; its id. Expects (EXPECT_EQ)
// both the agent and the policy to be created.
std::string create_capped_eth_agent(HttpClient& c, const std::string& name,
                                    std::uint64_t window_max);

// Every item of a cursor-paginated list (`items` + `next_cursor`), following cursors for at
// most pages_max pages. nullopt when a page fails.
std::optional<std::vector<boost::json::value>> list_all(HttpClient& c, const std::string& path,
                                                        int limit = 100, int pages_max = 1000);
// Every audit row (`items` + `next_after_id`), nullopt when a page fails.
std::optional<std::vector<boost::json::value>> audit_all(HttpClient& c,
                                                         const std::string& query = "");

}  // namespace warden::testing
