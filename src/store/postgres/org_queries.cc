// The SQL behind organizations and their admin keys on PostgreSQL (migration 9), twins of
// store/sqlite/org_queries.cc. An org's agents are listed with the agents (queries.cc).
#include <fmt/format.h>

#include "store/postgres/queries.h"
#include "store/postgres/row_reader.h"

namespace warden::store::postgres {
namespace {

constexpr std::string_view kOrgColumns = "id, name, created_at, deleted_at";
constexpr std::string_view kOrgAdminKeyColumns =
    "id, org_id, key_hash, prefix, name, created_at, revoked_at";

OrgRow read_org(const RowView& st) {
  OrgRow r;
  r.id = st.text(0);
  r.name = st.text(1);
  r.created_at = st.int64(2);
  r.deleted_at = st.opt_int64(3);
  return r;
}

OrgAdminKeyRow read_org_admin_key(const RowView& st) {
  OrgAdminKeyRow r;
  r.id = st.text(0);
  r.org_id = st.text(1);
  r.key_hash = st.text(2);
  r.prefix = st.text(3);
  r.name = st.opt_text(4);
  r.created_at = st.int64(5);
  r.revoked_at = st.opt_int64(6);
  return r;
}

}  // namespace

Result<std::optional<OrgRow>> get_org(Connection& c, std::string_view id) {
  static const std::string sql = fmt::format("SELECT {} FROM orgs WHERE id = $1", kOrgColumns);
  return first<OrgRow>(c.exec_prepared(sql, {str(id)}), read_org);
}

Result<std::vector<OrgRow>> list_orgs(Connection& c, const Page& page) {
  static const std::string sql = fmt::format(
      "SELECT {} FROM orgs WHERE deleted_at IS NULL AND id > $1 ORDER BY id LIMIT $2", kOrgColumns);
  return collect<OrgRow>(
      c.exec_prepared(sql, {page.after_id.value_or(""), limit_param(page.limit)}), read_org);
}

Result<std::optional<OrgAdminKeyRow>> get_org_admin_key(Connection& c, std::string_view id) {
  static const std::string sql =
      fmt::format("SELECT {} FROM org_admin_keys WHERE id = $1", kOrgAdminKeyColumns);
  return first<OrgAdminKeyRow>(c.exec_prepared(sql, {str(id)}), read_org_admin_key);
}

Result<std::optional<OrgAdminKeyRow>> find_org_admin_key_by_hash(Connection& c,
                                                                 std::string_view key_hash) {
  static const std::string sql =
      fmt::format("SELECT {} FROM org_admin_keys WHERE key_hash = $1", kOrgAdminKeyColumns);
  return first<OrgAdminKeyRow>(c.exec_prepared(sql, {str(key_hash)}), read_org_admin_key);
}

Status insert_org(Connection& c, const OrgRow& r) {
  static const std::string sql =
      fmt::format("INSERT INTO orgs ({}) VALUES ($1, $2, $3, $4)", kOrgColumns);
  return c.exec_prepared(sql, {r.id, r.name, num(r.created_at), num(r.deleted_at)}).status();
}

Status update_org(Connection& c, const OrgRow& r) {
  static const std::string sql = "UPDATE orgs SET deleted_at = $1 WHERE id = $2";
  return on_existing(c.exec_prepared(sql, {num(r.deleted_at), r.id}), ErrorCode::INTERNAL_ERROR,
                     r.id);
}

Status insert_org_admin_key(Connection& c, const OrgAdminKeyRow& r) {
  static const std::string sql = fmt::format(
      "INSERT INTO org_admin_keys ({}) VALUES ($1, $2, $3, $4, $5, $6, $7)", kOrgAdminKeyColumns);
  return c
      .exec_prepared(
          sql, {r.id, r.org_id, r.key_hash, r.prefix, r.name, num(r.created_at), num(r.revoked_at)})
      .status();
}

Status update_org_admin_key(Connection& c, const OrgAdminKeyRow& r) {
  static const std::string sql = "UPDATE org_admin_keys SET revoked_at = $1 WHERE id = $2";
  return on_existing(c.exec_prepared(sql, {num(r.revoked_at), r.id}), ErrorCode::INTERNAL_ERROR,
                     r.id);
}

}  // namespace warden::store::postgres
