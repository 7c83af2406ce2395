// Sample rows for the store tests of every backend.
#include "store/suite/helpers.h"

#include <fmt/format.h>

namespace warden::store::testing {

AgentRow sample_agent(std::string id, std::optional<std::string> public_key) {
  AgentRow a;
  a.id = std::move(id);
  a.name = "agent " + a.id;
  a.chain = "solana";
  a.network = "devnet";
  a.public_key = std::move(public_key);
  a.status = "ACTIVE";
  a.created_at = 1'767'225'600;
  a.updated_at = 1'767'225'600;
  return a;
}

SessionRow sample_session(std::string id, std::string agent_id, std::string token_hash) {
  SessionRow s;
  s.id = std::move(id);
  s.agent_id = std::move(agent_id);
  s.token_hash = std::move(token_hash);
  s.expires_at = 1'767'229'200;
  s.absolute_expires_at = 1'769'817'600;
  s.created_at = 1'767'225'600;
  return s;
}

PolicyRow sample_policy(std::string id, std::optional<std::string> agent_id, std::string type,
                        std::string hash) {
  PolicyRow p;
  p.id = std::move(id);
  p.agent_id = std::move(agent_id);
  p.type = std::move(type);
  p.rules = R"({"max_amount":"1000"})";
  p.hash = std::move(hash);
  p.created_at = 1'767'225'600;
  p.updated_at = 1'767'225'600;
  return p;
}

AuditEvent sample_event(std::string event_type, std::optional<std::string> agent_id) {
  AuditEvent e;
  e.timestamp = 1'767'225'600;
  e.event_type = std::move(event_type);
  e.actor = "master";
  e.agent_id = std::move(agent_id);
  e.details = R"({"reason":"test"})";
  e.correlation_id = "corr-1";
  return e;
}

ModelRow sample_model(std::string id, std::string name) {
  ModelRow m;
  m.id = std::move(id);
  m.name = std::move(name);
  m.provider = "openai";
  m.base_url = "https://api.openai.com/v1";
  m.upstream_model = "gpt-4o-mini";
  m.input_price_micros_per_1k = "150";
  m.output_price_micros_per_1k = "600";
  m.currency = "USD";
  m.key_ref = "env:OPENAI_API_KEY";
  m.created_at = 1'767'300'000;
  m.updated_at = 1'767'300'000;
  return m;
}

ApiKeyRow sample_key(std::string id, std::string agent_id, std::string hash) {
  ApiKeyRow k;
  k.id = std::move(id);
  k.agent_id = std::move(agent_id);
  k.key_hash = std::move(hash);
  k.prefix = "wk_abcd";
  k.created_at = 1'767'300'100;
  return k;
}

AutomationRow sample_automation(std::string id, std::string hash) {
  AutomationRow a;
  a.id = std::move(id);
  a.name = "suspend on spend spike";
  a.spec = R"({"name":"suspend on spend spike"})";
  a.ir = R"({"id":"x"})";
  a.hash = std::move(hash);
  a.version = 2;
  a.enabled = true;
  a.priority = 7;
  a.last_validation = R"({"issues":[]})";
  a.last_dry_run = R"({"severity":"info"})";
  a.created_at = 1'767'300'000;
  a.updated_at = 1'767'300'001;
  return a;
}

AutomationExecutionRow sample_execution(const std::string& automation_id, int n) {
  AutomationExecutionRow r;
  // Zero-padded so the ids sort like UUID v7 (creation order).
  r.id = fmt::format("0193a4f0-0000-7000-8000-{:012d}", n);
  r.automation_id = automation_id;
  r.event_id = fmt::format("ev-{}", n);
  r.host = "files";
  r.target_id = fmt::format("t{}", n);
  r.capability = "file";
  r.verb = "create";
  r.outcome = "succeeded";
  r.idempotency_key = fmt::format("key-{}", n);
  r.effects = R"([{"created":"a.txt"}])";
  r.reason = "done";
  r.correlation_id = "corr-1";
  r.started_at_ms = 1'767'300'000'000 + n;
  r.finished_at_ms = 1'767'300'000'010 + n;
  return r;
}

OrgRow sample_org(std::string id, std::string name) {
  OrgRow o;
  o.id = std::move(id);
  o.name = std::move(name);
  o.created_at = 1'767'300'000;
  return o;
}

LotRow lot(std::string id, std::string owner, std::string amount, std::string currency) {
  LotRow r;
  r.id = std::move(id);
  r.owner = std::move(owner);
  r.source = "grant";
  r.amount = std::move(amount);
  r.currency = std::move(currency);
  r.created_at = kLedgerNow;
  return r;
}

LedgerOpRow op(std::string id, std::string kind, std::optional<std::string> key,
               std::int64_t created_at) {
  std::string hash = "hash-" + id;
  return LedgerOpRow{std::move(id),   std::move(kind), std::move(key),
                     std::move(hash), "{\"ok\":true}", created_at};
}

LotEntryRow entry(const LotRow& l, std::string type, std::string amount, std::string op_id,
                  std::optional<std::string> hold_id) {
  LotEntryRow r;
  r.lot_id = l.id;
  r.owner = l.owner;
  r.currency = l.currency;
  r.entry_type = std::move(type);
  r.amount = std::move(amount);
  r.op_id = std::move(op_id);
  r.hold_id = std::move(hold_id);
  r.created_at = kLedgerNow;
  return r;
}

HoldRow hold(std::string id, std::string owner, std::string amount) {
  HoldRow r;
  r.id = std::move(id);
  r.owner = std::move(owner);
  r.currency = "USD";
  r.amount = std::move(amount);
  r.expires_at = kLedgerNow + 60;
  r.created_at = kLedgerNow;
  r.updated_at = kLedgerNow;
  return r;
}

PaymentRow payment(std::string id, std::string status) {
  return PaymentRow{std::move(id),     "stripe",     "a1",       "5000",    "USD",
                    std::move(status), std::nullopt, kLedgerNow, kLedgerNow};
}

}  // namespace warden::store::testing
