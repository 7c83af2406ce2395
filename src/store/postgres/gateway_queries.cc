// The SQL behind the gateway's store operations on PostgreSQL: model deployments and agents' API
// keys (migration 6), twins of store/sqlite/gateway_queries.cc.
#include <fmt/format.h>

#include "store/postgres/queries.h"
#include "store/postgres/row_reader.h"

namespace warden::store::postgres {
namespace {

constexpr std::string_view kModelColumns =
    "id, name, provider, base_url, upstream_model, input_price_micros_per_1k, "
    "output_price_micros_per_1k, currency, key_ref, enabled, created_at, updated_at";
constexpr std::string_view kApiKeyColumns =
    "id, agent_id, key_hash, prefix, name, created_at, revoked_at, last_used_at";

ModelRow read_model(const RowView& st) {
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

ApiKeyRow read_api_key(const RowView& st) {
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
  static const std::string sql = fmt::format("SELECT {} FROM models WHERE id = $1", kModelColumns);
  return first<ModelRow>(c.exec_prepared(sql, {str(id)}), read_model);
}

Result<std::optional<ModelRow>> find_model_by_name(Connection& c, std::string_view name) {
  static const std::string sql =
      fmt::format("SELECT {} FROM models WHERE name = $1", kModelColumns);
  return first<ModelRow>(c.exec_prepared(sql, {str(name)}), read_model);
}

Result<std::vector<ModelRow>> list_models(Connection& c, const Page& page) {
  static const std::string sql =
      fmt::format("SELECT {} FROM models WHERE id > $1 ORDER BY id LIMIT $2", kModelColumns);
  return collect<ModelRow>(
      c.exec_prepared(sql, {page.after_id.value_or(""), limit_param(page.limit)}), read_model);
}

Result<std::optional<ApiKeyRow>> get_api_key(Connection& c, std::string_view id) {
  static const std::string sql =
      fmt::format("SELECT {} FROM api_keys WHERE id = $1", kApiKeyColumns);
  return first<ApiKeyRow>(c.exec_prepared(sql, {str(id)}), read_api_key);
}

Result<std::optional<ApiKeyRow>> find_api_key_by_hash(Connection& c, std::string_view key_hash) {
  static const std::string sql =
      fmt::format("SELECT {} FROM api_keys WHERE key_hash = $1", kApiKeyColumns);
  return first<ApiKeyRow>(c.exec_prepared(sql, {str(key_hash)}), read_api_key);
}

Result<std::vector<ApiKeyRow>> list_api_keys(Connection& c, std::string_view agent_id,
                                             const Page& page) {
  static const std::string sql =
      fmt::format("SELECT {} FROM api_keys WHERE agent_id = $1 AND id > $2 ORDER BY id LIMIT $3",
                  kApiKeyColumns);
  return collect<ApiKeyRow>(
      c.exec_prepared(sql, {str(agent_id), page.after_id.value_or(""), limit_param(page.limit)}),
      read_api_key);
}

Status insert_model(Connection& c, const ModelRow& r) {
  static const std::string sql = fmt::format(
      "INSERT INTO models ({}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
      kModelColumns);
  return c
      .exec_prepared(sql, {r.id, r.name, r.provider, r.base_url, r.upstream_model,
                           r.input_price_micros_per_1k, r.output_price_micros_per_1k, r.currency,
                           r.key_ref, flag(r.enabled), num(r.created_at), num(r.updated_at)})
      .status();
}

Status update_model(Connection& c, const ModelRow& r) {
  static const std::string sql =
      "UPDATE models SET name = $1, provider = $2, base_url = $3, upstream_model = $4, "
      "input_price_micros_per_1k = $5, output_price_micros_per_1k = $6, currency = $7, "
      "key_ref = $8, enabled = $9, updated_at = $10 WHERE id = $11";
  return on_existing(
      c.exec_prepared(sql, {r.name, r.provider, r.base_url, r.upstream_model,
                            r.input_price_micros_per_1k, r.output_price_micros_per_1k, r.currency,
                            r.key_ref, flag(r.enabled), num(r.updated_at), r.id}),
      ErrorCode::INTERNAL_ERROR, r.id);
}

Status delete_model(Connection& c, std::string_view id) {
  static const std::string sql = "DELETE FROM models WHERE id = $1";
  return on_existing(c.exec_prepared(sql, {str(id)}), ErrorCode::INTERNAL_ERROR, id);
}

Status insert_api_key(Connection& c, const ApiKeyRow& r) {
  static const std::string sql = fmt::format(
      "INSERT INTO api_keys ({}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)", kApiKeyColumns);
  return c
      .exec_prepared(sql, {r.id, r.agent_id, r.key_hash, r.prefix, r.name, num(r.created_at),
                           num(r.revoked_at), num(r.last_used_at)})
      .status();
}

Status update_api_key(Connection& c, const ApiKeyRow& r) {
  static const std::string sql =
      "UPDATE api_keys SET name = $1, revoked_at = $2, last_used_at = $3 WHERE id = $4";
  return on_existing(c.exec_prepared(sql, {r.name, num(r.revoked_at), num(r.last_used_at), r.id}),
                     ErrorCode::INTERNAL_ERROR, r.id);
}

Result<std::int64_t> revoke_agent_api_keys(Connection& c, std::string_view agent_id,
                                           std::int64_t now) {
  static const std::string sql =
      "UPDATE api_keys SET revoked_at = $1 WHERE agent_id = $2 AND revoked_at IS NULL";
  WARDEN_ASSIGN_OR_RETURN(Rows rows, c.exec_prepared(sql, {num(now), str(agent_id)}));
  return static_cast<std::int64_t>(rows.affected());
}

}  // namespace warden::store::postgres
