// Domain enumerations, each a single list that both the code and the database CHECK
// constraints are generated from (one source of truth).
#pragma once

#include <algorithm>
#include <array>
#include <string_view>

namespace warden {

inline constexpr std::array<std::string_view, 2> kChainTypes = {"solana", "ethereum"};
inline constexpr std::array<std::string_view, 3> kNetworkTypes = {"mainnet", "devnet", "testnet"};
inline constexpr std::array<std::string_view, 4> kAgentStatuses = {"CREATING", "ACTIVE",
                                                                   "SUSPENDED", "TERMINATED"};
// DECISION: a generic (non-wallet) request from POST /v1/decisions.
inline constexpr std::array<std::string_view, 6> kTransactionTypes = {
    "TRANSFER", "TOKEN_TRANSFER", "CONTRACT_CALL", "APPROVE", "BATCH", "DECISION"};
inline constexpr std::array<std::string_view, 10> kTransactionStatuses = {
    "PENDING",   "QUEUED",    "EXECUTING", "SUBMITTED",       "CONFIRMED",
    "FAILED",    "CANCELLED", "EXPIRED",   "PARTIAL_FAILURE", "DENIED"};
inline constexpr std::array<std::string_view, 4> kPolicyTiers = {"INSTANT", "NOTIFY", "DELAY",
                                                                 "APPROVAL"};
inline constexpr std::array<std::string_view, 15> kPolicyTypes = {
    "SPENDING_LIMIT",     "WHITELIST",        "TIME_RESTRICTION",     "RATE_LIMIT",
    "ALLOWED_TOKENS",     "CONTRACT_WHITELIST", "METHOD_WHITELIST",   "APPROVED_SPENDERS",
    "APPROVE_AMOUNT_LIMIT", "ALLOWED_NETWORKS", "CUSTOM",             "TOKEN_LIMIT",
    "MODEL_ALLOWLIST",    "REQUEST_SIZE",     "BUDGET"};
inline constexpr std::array<std::string_view, 3> kAuditSeverities = {"info", "warning",
                                                                     "critical"};
inline constexpr std::array<std::string_view, 2> kSessionRoles = {"agent", "settlement"};

// The credit ledger (src/ledger, docs/ledger.md).
inline constexpr std::array<std::string_view, 3> kLotSources = {"payment", "grant", "seed"};
// A lot moves only active -> expired | depleted.
inline constexpr std::array<std::string_view, 3> kLotStatuses = {"active", "expired", "depleted"};
inline constexpr std::array<std::string_view, 5> kLotEntryTypes = {"credit", "debit", "expire",
                                                                   "hold", "release"};
// A hold moves only pending -> posted | voided | expired.
inline constexpr std::array<std::string_view, 4> kHoldStatuses = {"pending", "posted", "voided",
                                                                  "expired"};
inline constexpr std::array<std::string_view, 6> kLedgerOpKinds = {"mint", "debit", "hold",
                                                                   "post", "void", "expire"};
// Payments move forward only: pending -> confirmed -> finished, and failed or refunded end it
// (ledger::payment_status_rank orders them).
inline constexpr std::array<std::string_view, 5> kPaymentStatuses = {
    "pending", "confirmed", "finished", "failed", "refunded"};

template <std::size_t N>
constexpr bool is_one_of(const std::array<std::string_view, N>& list, std::string_view v) {
  return std::find(list.begin(), list.end(), v) != list.end();
}

}  // namespace warden
