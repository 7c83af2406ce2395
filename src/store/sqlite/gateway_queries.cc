// The SQL behind the gateway's store operations: model deployments and agents' API keys
// (migration 6). Neither is on the decision path's write side, so statements are plain.
#include <fmt/format.h>

#include "store/sqlite/queries.h"
#include "store/sqlite/query_util.h"

namespace warden::store::sqlite {
namespace {

constexpr std::string_view kModelColumns =
    "id, name, provider, base_url, upstream_model, input_price_micros_per_1k, "
    "output_price_micros_per_1k, currency, key_ref, enabled, created_at, updated_at";
constexpr std::string_view kApiKeyColumns =
    "id, agent_id, key_hash, prefix, name, created_at, revoked_at, last_used_at";

ModelRow read_model(const Stmt& st) {
  ModelRow r;
  r.id = st.text(0);
  r.name = st.text(1);
  r.provider = st.text(2);
  r.base_url = st.text(3);
  r.upstream_model = st.text(4);
  r.input_price_micros_per_1k = st.text(5);
  r.output_price_micros_per_1k = st.text(6);
  r.currency = st.text(7);
  r.key_ref = st.text(8);
  r.enabled = st.boolean(9);
  r.created_at = st.int64(10);
  r.updated_at = st.int64(11);
  return r;
}

ApiKeyRow read_api_key(const Stmt& st) {
  ApiKeyRow r;
  r.id = st.text(0);
  r.agent_id = st.text(1);
  r.key_hash = st.text(2);
  r.prefix = st.text(3);
  r.name = st.opt_text(4);
  r.created_at = st.int64(5);
  r.revoked_at = st.opt_int64(6);
  r.last_used_at = st.opt_int64(7);
  return r;
}

}  // namespace

Result<std::optional<ModelRow>> get_model(Connection& c, std::string_view id) {
  WARDEN_ASSIGN_OR_RETURN(
      Stmt st, c.prepare(fmt::format("SELECT {} FROM models WHERE id = ?", kModelColumns)));
  st.bind(id);
  return first<ModelRow>(st, read_model);
}

Result<std::optional<ModelRow>> find_model_by_name(Connection& c, std::string_view name) {
  WARDEN_ASSIGN_OR_RETURN(
      Stmt st, c.prepare(fmt::format("SELECT {} FROM models WHERE name = ?", kModelColumns)));
  st.bind(name);
  return first<ModelRow>(st, read_model);
}

Result<std::vector<ModelRow>> list_models(Connection& c, const Page& page) {
  WARDEN_ASSIGN_OR_RETURN(
      Stmt st, c.prepare(fmt::format("SELECT {} FROM models WHERE id > ? ORDER BY id LIMIT ?",
                                     kModelColumns)));
  st.bind(page.after_id.value_or("")).bind(sql_limit(page.limit));
  return collect<ModelRow>(st, read_model);
}

Result<std::optional<ApiKeyRow>> get_api_key(Connection& c, std::string_view id) {
  WARDEN_ASSIGN_OR_RETURN(
      Stmt st, c.prepare(fmt::format("SELECT {} FROM api_keys WHERE id = ?", kApiKeyColumns)));
  st.bind(id);
  return first<ApiKeyRow>(st, read_api_key);
}

Result<std::optional<ApiKeyRow>> find_api_key_by_hash(Connection& c, std::string_view key_hash) {
  WARDEN_ASSIGN_OR_RETURN(
      Stmt st,
      c.prepare(fmt::format("SELECT {} FROM api_keys WHERE key_hash = ?", kApiKeyColumns)));
  st.bind(key_hash);
  return first<ApiKeyRow>(st, read_api_key);
}

Result<std::vector<ApiKeyRow>> list_api_keys(Connection& c, std::string_view agent_id,
                                             const Page& page) {
  WARDEN_ASSIGN_OR_RETURN(
      Stmt st, c.prepare(fmt::format("SELECT {} FROM api_keys WHERE agent_id = ? AND id > ? "
                                     "ORDER BY id LIMIT ?",
                                     kApiKeyColumns)));
  st.bind(agent_id).bind(page.after_id.value_or("")).bind(sql_limit(page.limit));
  return collect<ApiKeyRow>(st, read_api_key);
}

Status insert_model(Connection& c, const ModelRow& r) {
  WARDEN_ASSIGN_OR_RETURN(Stmt st, c.prepare(fmt::format("INSERT INTO models ({}) VALUES "
                                                         "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                                                         kModelColumns)));
  st.bind(r.id).bind(r.name).bind(r.provider).bind(r.base_url).bind(r.upstream_model);
  st.bind(r.input_price_micros_per_1k).bind(r.output_price_micros_per_1k).bind(r.currency);
  st.bind(r.key_ref).bind(r.enabled).bind(r.created_at).bind(r.updated_at);
  return st.run();
}

Status update_model(Connection& c, const ModelRow& r) {
  WARDEN_ASSIGN_OR_RETURN(Stmt st,
                          c.prepare("UPDATE models SET name = ?, provider = ?, base_url = ?, "
                                    "upstream_model = ?, input_price_micros_per_1k = ?, "
                                    "output_price_micros_per_1k = ?, currency = ?, key_ref = ?, "
                                    "enabled = ?, updated_at = ? WHERE id = ?"));
  st.bind(r.name).bind(r.provider).bind(r.base_url).bind(r.upstream_model);
  st.bind(r.input_price_micros_per_1k).bind(r.output_price_micros_per_1k).bind(r.currency);
  st.bind(r.key_ref).bind(r.enabled).bind(r.updated_at).bind(r.id);
  return run_on_existing(c, st, ErrorCode::INTERNAL_ERROR, r.id);
}

Status delete_model(Connection& c, std::string_view id) {
  WARDEN_ASSIGN_OR_RETURN(Stmt st, c.prepare("DELETE FROM models WHERE id = ?"));
  st.bind(id);
  return run_on_existing(c, st, ErrorCode::INTERNAL_ERROR, id);
}

Status insert_api_key(Connection& c, const ApiKeyRow& r) {
  WARDEN_ASSIGN_OR_RETURN(Stmt st, c.prepare(fmt::format("INSERT INTO api_keys ({}) VALUES "
                                                         "(?, ?, ?, ?, ?, ?, ?, ?)",
                                                         kApiKeyColumns)));
  st.bind(r.id).bind(r.agent_id).bind(r.key_hash).bind(r.prefix).bind(r.name);
  st.bind(r.created_at).bind(r.revoked_at).bind(r.last_used_at);
  return st.run();
}

Status update_api_key(Connection& c, const ApiKeyRow& r) {
  WARDEN_ASSIGN_OR_RETURN(
      Stmt st, c.prepare("UPDATE api_keys SET name = ?, revoked_at = ?, last_used_at = ? "
                         "WHERE id = ?"));
  st.bind(r.name).bind(r.revoked_at).bind(r.last_used_at).bind(r.id);
  return run_on_existing(c, st, ErrorCode::INTERNAL_ERROR, r.id);
}

Result<std::int64_t> revoke_agent_api_keys(Connection& c, std::string_view agent_id,
                                           std::int64_t now) {
  WARDEN_ASSIGN_OR_RETURN(Stmt st,
                          c.prepare("UPDATE api_keys SET revoked_at = ? WHERE agent_id = ? AND "
                                    "revoked_at IS NULL"));
  st.bind(now).bind(agent_id);
  WARDEN_RETURN_IF_ERROR(st.run());
  return c.changes();
}

}  // namespace warden::store::sqlite
