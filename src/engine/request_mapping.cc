// The wallet and generic request shapes mapped to engine requests, with their validation.
#include "engine/request_mapping.h"

#include <algorithm>
#include <array>
#include <boost/json/array.hpp>
#include <span>

#include "core/amount.h"
#include "core/enums.h"
#include "policy/policy.h"

namespace warden::engine {
namespace json = boost::json;

namespace {

constexpr std::string_view kBatch = "BATCH";
constexpr std::string_view kTokenTransfer = "TOKEN_TRANSFER";
constexpr std::string_view kApprove = "APPROVE";
// What a BATCH may contain: every wallet action but BATCH itself.
constexpr std::array<std::string_view, 4> kChildTypes = {"TRANSFER", "TOKEN_TRANSFER",
                                                         "CONTRACT_CALL", "APPROVE"};
constexpr std::string_view kAddressForms = "0x + 40 hex digits, or 32-44 base58 characters";

Status field_error(ErrorCode code, const std::string& field, std::string message) {
  json::object details;
  details["field"] = field;
  return Status(code, std::move(message), std::move(details));
}

bool contains(std::span<const std::string_view> list, std::string_view v) {
  return std::find(list.begin(), list.end(), v) != list.end();
}

// The fields of one wallet action by type; all are required but CONTRACT_CALL's method and
// APPROVE's token.
std::span<const std::string_view> fields_of(std::string_view type) {
  static constexpr std::string_view kTransfer[] = {"to", "amount"};
  static constexpr std::string_view kToken[] = {"to", "token", "amount"};
  static constexpr std::string_view kCall[] = {"contract", "method", "amount"};
  static constexpr std::string_view kApproval[] = {"spender", "token", "amount"};
  if (type == "TRANSFER") return kTransfer;
  if (type == kTokenTransfer) return kToken;
  if (type == "CONTRACT_CALL") return kCall;
  return kApproval;
}

bool optional_field(std::string_view type, std::string_view field) {
  return (type == "CONTRACT_CALL" && field == "method") || (type == kApprove && field == "token");
}

// A JSON object being read. `prefix` names its fields in errors: "" at the top, "children[2]."
// inside a batch, "attributes." for the generic shape.
class Reader {
 public:
  Reader(const json::object& o, std::string prefix) : o_(o), prefix_(std::move(prefix)) {}

  const json::object& object() const { return o_; }
  std::string name(std::string_view key) const { return prefix_ + std::string(key); }

  // Present and not null.
  const json::value* find(std::string_view key) const {
    const json::value* v = o_.if_contains(key);
    return v == nullptr || v->is_null() ? nullptr : v;
  }

  // Every key must be in `allowed`; `where` says what it does not apply to.
  Status only(std::span<const std::string_view> allowed, std::string_view where) const {
    for (const auto& kv : o_) {
      if (contains(allowed, kv.key())) continue;
      return field_error(
          ErrorCode::VALIDATION_UNKNOWN_FIELD, name(kv.key()),
          where.empty() ? "unknown field '" + name(kv.key()) + "'"
                        : "field '" + name(kv.key()) + "' does not apply to " + std::string(where));
    }
    return Status();
  }

  Result<std::optional<std::string>> string(std::string_view key, std::size_t bytes_max) const {
    const json::value* v = find(key);
    if (v == nullptr) return std::optional<std::string>();
    if (!v->is_string()) {
      return field_error(ErrorCode::VALIDATION_WRONG_TYPE, name(key),
                         "field '" + name(key) + "' must be a string");
    }
    const json::string& s = v->as_string();
    if (s.empty() || s.size() > bytes_max) {
      return field_error(
          ErrorCode::VALIDATION_INVALID_VALUE, name(key),
          "field '" + name(key) + "' must be 1.." + std::to_string(bytes_max) + " bytes");
    }
    return std::optional<std::string>(std::string(s));
  }

  Result<std::string> required_string(std::string_view key, std::size_t bytes_max,
                                      std::string_view what) const {
    WARDEN_ASSIGN_OR_RETURN(auto s, string(key, bytes_max));
    if (s) return std::move(*s);
    return field_error(ErrorCode::VALIDATION_MISSING_FIELD, name(key),
                       "field '" + name(key) + "' is required" +
                           (what.empty() ? "" : " for " + std::string(what)));
  }

  // An address in its canonical form; a token is an asset and says so with its own code.
  Result<std::optional<std::string>> address(std::string_view key) const {
    WARDEN_ASSIGN_OR_RETURN(auto text, string(key, kFieldBytesMax));
    if (!text) return text;
    if (auto canonical = policy::canonical_address(*text)) return canonical;
    const bool token = key == "token";
    return field_error(
        token ? ErrorCode::VALIDATION_INVALID_ASSET : ErrorCode::VALIDATION_INVALID_VALUE,
        name(key),
        "field '" + name(key) + "' is not " + (token ? "a token address" : "an address") + " (" +
            std::string(kAddressForms) + ")");
  }

  Result<std::optional<Amount>> amount(std::string_view key) const {
    const json::value* v = find(key);
    if (v == nullptr) return std::optional<Amount>();
    if (!v->is_string()) {
      return field_error(ErrorCode::VALIDATION_WRONG_TYPE, name(key),
                         "field '" + name(key) + "' must be a decimal string");
    }
    auto a = Amount::parse(v->as_string());
    if (!a.ok()) {
      return field_error(ErrorCode::VALIDATION_INVALID_AMOUNT, name(key),
                         "field '" + name(key) + "': " + a.status().message());
    }
    return std::optional<Amount>(*a);
  }

  Result<std::string> network(std::string_view key, const AgentContext& agent) const {
    WARDEN_ASSIGN_OR_RETURN(auto net, string(key, kFieldBytesMax));
    if (!net) return agent.network;
    if (!is_one_of(kNetworkTypes, *net)) {
      return field_error(ErrorCode::VALIDATION_INVALID_VALUE, name(key),
                         "unknown network '" + *net + "' (mainnet, devnet or testnet)");
    }
    return std::move(*net);
  }

 private:
  const json::object& o_;
  std::string prefix_;
};

// One TRANSFER, TOKEN_TRANSFER, CONTRACT_CALL or APPROVE, canonical.
struct Action {
  std::string type;
  std::optional<std::string> to, token, contract, method, spender;
  Amount amount;

  std::string asset() const {
    return type == kTokenTransfer ? *token : std::string(policy::kNativeAsset);
  }
  bool spends() const { return type != kApprove; }  // an allowance is not a spend
};

// Reads the fields of `type` from `in`; `outer` are the keys its container reads itself.
Result<Action> read_action(const Reader& in, std::string type,
                           std::span<const std::string_view> outer) {
  const auto fields = fields_of(type);
  for (const auto& kv : in.object()) {
    if (contains(fields, kv.key()) || contains(outer, kv.key())) continue;
    return field_error(ErrorCode::VALIDATION_UNKNOWN_FIELD, in.name(kv.key()),
                       "field '" + in.name(kv.key()) + "' does not apply to " + type);
  }
  Action a;
  a.type = std::move(type);
  WARDEN_ASSIGN_OR_RETURN(a.to, in.address("to"));
  WARDEN_ASSIGN_OR_RETURN(a.token, in.address("token"));
  WARDEN_ASSIGN_OR_RETURN(a.contract, in.address("contract"));
  WARDEN_ASSIGN_OR_RETURN(a.spender, in.address("spender"));
  WARDEN_ASSIGN_OR_RETURN(a.method, in.string("method", kFieldBytesMax));
  WARDEN_ASSIGN_OR_RETURN(auto amount, in.amount("amount"));
  for (std::string_view field : fields) {
    if (in.find(field) != nullptr || optional_field(a.type, field)) continue;
    return field_error(ErrorCode::VALIDATION_MISSING_FIELD, in.name(field),
                       "field '" + in.name(field) + "' is required for " + a.type);
  }
  a.amount = *amount;
  return a;
}

Request request_of(const Action& a, const std::string& network, const std::string& chain) {
  Request r;
  r.action = a.type;
  for (auto [key, v] : {std::pair{"to", &a.to},
                        {"token", &a.token},
                        {"contract", &a.contract},
                        {"method", &a.method},
                        {"spender", &a.spender}}) {
    if (*v) r.attributes[key] = **v;
  }
  r.attributes["network"] = network;
  r.attributes["chain"] = chain;
  r.attributes["amount"] = a.amount.to_string();
  if (a.spends()) r.amounts[a.asset()] = a.amount;
  return r;
}

json::object action_json(const Action& a) {
  json::object o;
  o["type"] = a.type;
  for (auto [key, v] : {std::pair{"to", &a.to},
                        {"token", &a.token},
                        {"contract", &a.contract},
                        {"method", &a.method},
                        {"spender", &a.spender}}) {
    if (*v) o[key] = **v;
  }
  o["amount"] = a.amount.to_string();
  return o;
}

void set_row_amounts(MappedRequest& m) {
  if (m.request.amounts.size() != 1) return;
  m.amount = m.reserved_amount = m.request.amounts.begin()->second.to_string();
}

Status map_batch(const Reader& in, const std::string& network, MappedRequest& m) {
  static constexpr std::string_view kBatchKeys[] = {"type", "children", "network",
                                                    "idempotency_key"};
  WARDEN_RETURN_IF_ERROR(in.only(kBatchKeys, "BATCH (each child carries its own fields)"));
  const json::value* children = in.find("children");
  if (children == nullptr) {
    return field_error(ErrorCode::VALIDATION_MISSING_FIELD, "children",
                       "field 'children' is required for BATCH");
  }
  if (!children->is_array()) {
    return field_error(ErrorCode::VALIDATION_WRONG_TYPE, "children",
                       "field 'children' must be an array");
  }
  const json::array& list = children->as_array();
  if (list.empty() || list.size() > kBatchChildrenMax) {
    return field_error(ErrorCode::VALIDATION_INVALID_VALUE, "children",
                       "a BATCH has 1.." + std::to_string(kBatchChildrenMax) + " children");
  }
  Request& batch = m.request;
  batch.action = std::string(kBatch);
  batch.attributes["network"] = network;
  batch.attributes["chain"] = m.chain;
  json::array children_json;
  static constexpr std::string_view kChildOuter[] = {"type"};
  for (std::size_t i = 0; i < list.size(); ++i) {
    const std::string prefix = "children[" + std::to_string(i) + "]";
    if (!list[i].is_object()) {
      return field_error(ErrorCode::VALIDATION_WRONG_TYPE, prefix, prefix + " must be an object");
    }
    const Reader child(list[i].as_object(), prefix + ".");
    WARDEN_ASSIGN_OR_RETURN(std::string type, child.required_string("type", kFieldBytesMax, ""));
    if (!is_one_of(kChildTypes, type)) {
      return field_error(ErrorCode::VALIDATION_INVALID_VALUE, child.name("type"),
                         type == kBatch ? "a BATCH cannot contain a BATCH"
                                        : "a child's type must be TRANSFER, TOKEN_TRANSFER, "
                                          "CONTRACT_CALL or APPROVE");
    }
    WARDEN_ASSIGN_OR_RETURN(Action a, read_action(child, std::move(type), kChildOuter));
    if (a.spends()) {
      Amount& sum = batch.amounts[a.asset()];
      auto added = sum.checked_add(a.amount);
      if (!added.ok()) {
        return field_error(ErrorCode::VALIDATION_INVALID_AMOUNT, "children",
                           "the children's " + a.asset() + " amounts add up to 2^256 or more");
      }
      sum = *added;
    }
    batch.children.push_back(request_of(a, network, m.chain));
    children_json.push_back(action_json(a));
  }
  set_row_amounts(m);
  m.metadata["children"] = std::move(children_json);
  return Status();
}

// The generic shape of a wallet action: the same fields, read from attributes and amounts.
Result<MappedRequest> map_generic_wallet(const std::string& action, const json::object& attributes,
                                         const json::object& amounts, const AgentContext& agent) {
  if (action == kBatch) {
    return field_error(ErrorCode::VALIDATION_INVALID_VALUE, "action",
                       "a BATCH is decided from its children: use POST /v1/transactions");
  }
  json::object wallet{{"type", action}};
  static constexpr std::string_view kCopied[] = {"to",     "token",   "contract",
                                                 "method", "spender", "network"};
  for (const auto& kv : attributes) {
    const std::string field = "attributes." + std::string(kv.key());
    if (contains(kCopied, kv.key())) {
      wallet[kv.key()] = kv.value();
    } else if (kv.key() == "chain") {
      if (!kv.value().is_string() || kv.value().as_string() != agent.chain) {
        return field_error(ErrorCode::VALIDATION_INVALID_VALUE, field,
                           "field '" + field + "' must be the agent's chain, " + agent.chain);
      }
    } else if (kv.key() == "amount" && action == kApprove) {
      wallet["amount"] = kv.value();  // the allowance
    } else {
      return field_error(ErrorCode::VALIDATION_UNKNOWN_FIELD, field,
                         "field '" + field + "' does not apply to " + action +
                             (kv.key() == "amount" ? " (its amount is in amounts)" : ""));
    }
  }
  std::string amount_field = "attributes.amount";
  std::optional<std::string> asset;
  if (action == kApprove) {
    if (!amounts.empty()) {
      return field_error(ErrorCode::VALIDATION_INVALID_VALUE, "amounts",
                         "an APPROVE spends nothing: its allowance is attributes.amount");
    }
  } else {
    if (amounts.size() != 1) {
      return field_error(amounts.empty() ? ErrorCode::VALIDATION_MISSING_FIELD
                                         : ErrorCode::VALIDATION_INVALID_VALUE,
                         "amounts", "a " + action + " spends exactly one asset, in amounts");
    }
    const auto& kv = *amounts.begin();
    amount_field = "amounts." + std::string(kv.key());
    asset = policy::canonical_asset(kv.key());
    if (!asset) {
      return field_error(ErrorCode::VALIDATION_INVALID_ASSET, amount_field,
                         "'" + std::string(kv.key()) + "' is not \"native\" or a token address");
    }
    wallet["amount"] = kv.value();
  }
  auto mapped = map_wallet_request(wallet, agent);
  if (!mapped.ok()) {
    // Name the field as the generic body spelled it.
    Status s = mapped.take_status();
    json::object details = s.details();
    if (const auto* f = details.if_contains("field"); f && f->is_string()) {
      const std::string name(f->as_string());
      details["field"] = name == "amount" ? amount_field
                         : name == "type" ? std::string("action")
                                          : "attributes." + name;
    }
    return Status(s.code(), s.message(), std::move(details));
  }
  if (asset && mapped->request.amounts.begin()->first != *asset) {
    return field_error(
        ErrorCode::VALIDATION_INVALID_ASSET, amount_field,
        "a " + action + " spends " + mapped->request.amounts.begin()->first + ", not " + *asset);
  }
  return mapped;
}

// Canonicalises the attributes a policy or a CUSTOM expression reads by name.
Result<json::object> generic_attributes(json::object attributes, const AgentContext& agent) {
  const Reader in(attributes, "attributes.");
  for (const char* key : {"to", "token", "contract", "spender"}) {
    WARDEN_ASSIGN_OR_RETURN(auto address, in.address(key));
    if (address) attributes[key] = std::move(*address);
  }
  for (const char* key : {"method", "model", "org_id"}) {
    WARDEN_RETURN_IF_ERROR(in.string(key, kFieldBytesMax).take_status());
  }
  // What REQUEST_SIZE and CUSTOM read as integers: whole, non-negative.
  for (const char* key : {"request_size_bytes", "estimated_tokens"}) {
    const json::value* v = in.find(key);
    if (v == nullptr) continue;
    const std::string field = std::string("attributes.") + key;
    if (v->is_uint64()) {  // above 2^63 - 1
      return field_error(ErrorCode::VALIDATION_INVALID_VALUE, field,
                         "field '" + field + "' is too large");
    }
    if (!v->is_int64()) {
      return field_error(ErrorCode::VALIDATION_WRONG_TYPE, field,
                         "field '" + field + "' must be a whole number");
    }
    if (v->as_int64() < 0) {
      return field_error(ErrorCode::VALIDATION_INVALID_VALUE, field,
                         "field '" + field + "' must not be negative");
    }
  }
  WARDEN_ASSIGN_OR_RETURN(std::string network, in.network("network", agent));
  if (const json::value* chain = in.find("chain");
      chain != nullptr && (!chain->is_string() || chain->as_string() != agent.chain)) {
    return field_error(ErrorCode::VALIDATION_INVALID_VALUE, "attributes.chain",
                       "field 'attributes.chain' must be the agent's chain, " + agent.chain);
  }
  attributes["network"] = network;
  attributes["chain"] = agent.chain;
  return attributes;
}

Result<std::map<std::string, Amount>> generic_amounts(const json::object& amounts) {
  std::map<std::string, Amount> out;
  for (const auto& kv : amounts) {
    const std::string field = "amounts." + std::string(kv.key());
    auto asset = policy::canonical_asset(kv.key());
    if (!asset) {
      return field_error(ErrorCode::VALIDATION_INVALID_ASSET, field,
                         "'" + std::string(kv.key()) + "' is not \"native\" or a token address (" +
                             std::string(kAddressForms) + ")");
    }
    if (!kv.value().is_string()) {
      return field_error(ErrorCode::VALIDATION_WRONG_TYPE, field, "amounts are decimal strings");
    }
    auto a = Amount::parse(kv.value().as_string());
    if (!a.ok())
      return field_error(ErrorCode::VALIDATION_INVALID_AMOUNT, field, a.status().message());
    if (!out.emplace(*asset, *a).second) {
      return field_error(
          ErrorCode::VALIDATION_DUPLICATE_KEY, field,
          "'" + std::string(kv.key()) + "' names the asset " + *asset + " a second time");
    }
  }
  return out;
}

Result<std::optional<json::object>> optional_object(const Reader& in, std::string_view key) {
  const json::value* v = in.find(key);
  if (v == nullptr) return std::optional<json::object>();
  if (!v->is_object()) {
    return field_error(ErrorCode::VALIDATION_WRONG_TYPE, in.name(key),
                       "field '" + in.name(key) + "' must be an object");
  }
  return std::optional<json::object>(v->as_object());
}

}  // namespace

Result<MappedRequest> map_wallet_request(const json::object& body, const AgentContext& agent) {
  const Reader in(body, "");
  WARDEN_RETURN_IF_ERROR(in.only(kWalletKeys, ""));
  WARDEN_ASSIGN_OR_RETURN(std::string type, in.required_string("type", kFieldBytesMax, ""));
  if (type != kBatch && !is_one_of(kChildTypes, type)) {
    return field_error(ErrorCode::VALIDATION_INVALID_VALUE, "type",
                       "type must be TRANSFER, TOKEN_TRANSFER, CONTRACT_CALL, APPROVE or BATCH");
  }
  WARDEN_ASSIGN_OR_RETURN(std::string network, in.network("network", agent));
  MappedRequest m;
  WARDEN_ASSIGN_OR_RETURN(m.idempotency_key, in.string("idempotency_key", kIdempotencyKeyBytesMax));
  m.type = type;
  m.chain = agent.chain;
  m.metadata["network"] = network;
  if (type == kBatch) {
    WARDEN_RETURN_IF_ERROR(map_batch(in, network, m));
    return m;
  }
  static constexpr std::string_view kOuter[] = {"type", "network", "idempotency_key"};
  WARDEN_ASSIGN_OR_RETURN(Action a, read_action(in, std::move(type), kOuter));
  m.request = request_of(a, network, agent.chain);
  m.to = a.to;
  m.token = a.token;
  m.contract = a.contract;
  m.method = a.method;
  m.spender = a.spender;
  m.amount = a.amount.to_string();
  if (a.spends()) {
    m.reserved_amount = m.amount;
  } else {
    m.approved_amount = m.amount;
  }
  return m;
}

Result<MappedRequest> map_generic_request(const json::object& body, const AgentContext& agent) {
  const Reader in(body, "");
  WARDEN_RETURN_IF_ERROR(in.only(kGenericKeys, ""));
  WARDEN_ASSIGN_OR_RETURN(std::string text,
                          in.required_string("action", 4 * policy::kActionBytesMax, ""));
  auto action = policy::canonical_action(text);
  if (!action) {
    return field_error(ErrorCode::VALIDATION_INVALID_VALUE, "action",
                       "field 'action' must be 1.." + std::to_string(policy::kActionBytesMax) +
                           " characters of A-Z a-z 0-9 _ . : -");
  }
  WARDEN_ASSIGN_OR_RETURN(auto attributes, optional_object(in, "attributes"));
  WARDEN_ASSIGN_OR_RETURN(auto amounts, optional_object(in, "amounts"));
  WARDEN_ASSIGN_OR_RETURN(auto idempotency_key,
                          in.string("idempotency_key", kIdempotencyKeyBytesMax));
  if (!attributes) attributes.emplace();
  if (!amounts) amounts.emplace();

  MappedRequest m;
  if (*action == kBatch || is_one_of(kChildTypes, *action)) {
    WARDEN_ASSIGN_OR_RETURN(m, map_generic_wallet(*action, *attributes, *amounts, agent));
  } else {
    m.request.action = *action;
    WARDEN_ASSIGN_OR_RETURN(m.request.attributes,
                            generic_attributes(std::move(*attributes), agent));
    WARDEN_ASSIGN_OR_RETURN(m.request.amounts, generic_amounts(*amounts));
    set_row_amounts(m);
  }
  m.type = "DECISION";
  m.chain = agent.chain;
  m.idempotency_key = std::move(idempotency_key);
  json::object amounts_json;
  for (const auto& [asset, amount] : m.request.amounts) amounts_json[asset] = amount.to_string();
  m.metadata = json::object{{"action", m.request.action},
                            {"attributes", m.request.attributes},
                            {"amounts", std::move(amounts_json)}};
  return m;
}

}  // namespace warden::engine
