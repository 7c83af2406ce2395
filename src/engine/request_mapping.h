// Request bodies to engine requests: the one mapping of the wallet shape (POST /v1/transactions)
// and the generic shape (POST /v1/decisions), with all their validation. The daemon's routes and
// the offline tools (`warden eval`, policy test files) both call it, so a body decides alike
// everywhere. Every name a policy matches leaves here canonical (policy::canonical_address,
// canonical_asset, canonical_action); anything that cannot be is an error with a stable code and
// the offending field in details.field.
#pragma once

#include <boost/json/object.hpp>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "core/status.h"
#include "engine/engine.h"

namespace warden::engine {

inline constexpr std::size_t kBatchChildrenMax = 32;
inline constexpr std::size_t kFieldBytesMax = 256;  // addresses, method, model
inline constexpr std::size_t kIdempotencyKeyBytesMax = 128;

// The agent a request is decided for (its stored row, or what an offline test declares).
struct AgentContext {
  std::string chain;    // kChainTypes
  std::string network;  // kNetworkTypes: the network of a request that names none
};

// What a body maps to: the engine request and the fields the server stores with it (the engine
// layer knows no store; the route copies these into its row).
struct MappedRequest {
  Request request;   // agent_id and now_ms are left to the caller
  std::string type;  // TRANSFER, TOKEN_TRANSFER, CONTRACT_CALL, APPROVE, BATCH or DECISION
  std::string chain;
  std::optional<std::string> amount;           // the one amount (an APPROVE's allowance)
  std::optional<std::string> reserved_amount;  // when exactly one asset is spent
  std::optional<std::string> approved_amount;  // APPROVE
  std::optional<std::string> to, token, contract, method, spender;
  boost::json::object metadata;  // network, children; generic: action, attributes, amounts
  std::optional<std::string> idempotency_key;
};

// The top-level keys of each shape, for a strict parse before the mapping.
inline constexpr std::string_view kWalletKeys[] = {
    "type",   "to",      "amount",  "token",    "contract",
    "method", "spender", "network", "children", "idempotency_key"};
inline constexpr std::string_view kGenericKeys[] = {"action", "attributes", "amounts",
                                                    "idempotency_key"};

// {type, network?, idempotency_key?} and, by type:
//   TRANSFER {to, amount}, TOKEN_TRANSFER {to, token, amount}, CONTRACT_CALL {contract, method?,
//   amount} (the native value sent, "0" for none), APPROVE {spender, token?, amount} (the
//   allowance: checked by APPROVE_AMOUNT_LIMIT, spends nothing), BATCH {children: 1 to
//   kBatchChildrenMax objects of the four other shapes without network}.
// A field that does not apply to the type is VALIDATION_UNKNOWN_FIELD. Addresses (to, contract,
// spender) are canonical_address of either chain form, else VALIDATION_INVALID_VALUE; a token is
// canonical_address else VALIDATION_INVALID_ASSET. `network` defaults to the agent's.
Result<MappedRequest> map_wallet_request(const boost::json::object& body,
                                         const AgentContext& agent);

// {action, attributes?, amounts?, idempotency_key?}. The action is canonical_action (else
// VALIDATION_INVALID_VALUE). A wallet action name in any case means exactly what the wallet
// shape means: its fields come from attributes (to, token, contract, method, spender, network,
// and APPROVE's allowance as attributes.amount) and its one amount from amounts under the asset
// the wallet shape would spend; BATCH is only available in the wallet shape. Any other action:
// each amounts key is canonical_asset (else VALIDATION_INVALID_ASSET; two spellings of one asset
// are VALIDATION_DUPLICATE_KEY); attributes to/contract/spender/token are canonicalised like the
// wallet fields, network is checked and defaults to the agent's, chain is the agent's, model is a
// string.
Result<MappedRequest> map_generic_request(const boost::json::object& body,
                                          const AgentContext& agent);

}  // namespace warden::engine
