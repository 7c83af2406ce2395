// The SQL behind organizations and their admin keys (migration 9). Neither is on the decision
// path, so statements are plain.
#include <fmt/format.h>

#include "store/sqlite/queries.h"
#include "store/sqlite/query_util.h"

namespace warden::store::sqlite {
namespace {

constexpr std::string_view kOrgColumns = "id, name, created_at, deleted_at";
constexpr std::string_view kOrgAdminKeyColumns =
    "id, org_id, key_hash, prefix, name, created_at, revoked_at";

OrgRow read_org(const Stmt& st) {
  OrgRow r;
  r.id = st.text(0);
  r.name = st.text(1);
  r.created_at = st.int64(2);
  r.deleted_at = st.opt_int64(3);
  return r;
}

OrgAdminKeyRow read_org_admin_key(const Stmt& st) {
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
  WARDEN_ASSIGN_OR_RETURN(Stmt st,
                          c.prepare(fmt::format("SELECT {} FROM orgs WHERE id = ?", kOrgColumns)));
  st.bind(id);
  return first<OrgRow>(st, read_org);
}

Result<std::vector<OrgRow>> list_orgs(Connection& c, const Page& page) {
  WARDEN_ASSIGN_OR_RETURN(
      Stmt st, c.prepare(fmt::format("SELECT {} FROM orgs WHERE deleted_at IS NULL AND id > ? "
                                     "ORDER BY id LIMIT ?",
                                     kOrgColumns)));
  st.bind(page.after_id.value_or("")).bind(sql_limit(page.limit));
  return collect<OrgRow>(st, read_org);
}

Result<std::optional<OrgAdminKeyRow>> get_org_admin_key(Connection& c, std::string_view id) {
  WARDEN_ASSIGN_OR_RETURN(
      Stmt st,
      c.prepare(fmt::format("SELECT {} FROM org_admin_keys WHERE id = ?", kOrgAdminKeyColumns)));
  st.bind(id);
  return first<OrgAdminKeyRow>(st, read_org_admin_key);
}

Result<std::optional<OrgAdminKeyRow>> find_org_admin_key_by_hash(Connection& c,
                                                                 std::string_view key_hash) {
  WARDEN_ASSIGN_OR_RETURN(Stmt st,
                          c.prepare(fmt::format("SELECT {} FROM org_admin_keys WHERE key_hash = ?",
                                                kOrgAdminKeyColumns)));
  st.bind(key_hash);
  return first<OrgAdminKeyRow>(st, read_org_admin_key);
}

Status insert_org(Connection& c, const OrgRow& r) {
  WARDEN_ASSIGN_OR_RETURN(
      Stmt st, c.prepare(fmt::format("INSERT INTO orgs ({}) VALUES (?, ?, ?, ?)", kOrgColumns)));
  st.bind(r.id).bind(r.name).bind(r.created_at).bind(r.deleted_at);
  return st.run();
}

Status update_org(Connection& c, const OrgRow& r) {
  WARDEN_ASSIGN_OR_RETURN(Stmt st, c.prepare("UPDATE orgs SET deleted_at = ? WHERE id = ?"));
  st.bind(r.deleted_at).bind(r.id);
  return run_on_existing(c, st, ErrorCode::INTERNAL_ERROR, r.id);
}

Status insert_org_admin_key(Connection& c, const OrgAdminKeyRow& r) {
  WARDEN_ASSIGN_OR_RETURN(Stmt st, c.prepare(fmt::format("INSERT INTO org_admin_keys ({}) VALUES "
                                                         "(?, ?, ?, ?, ?, ?, ?)",
                                                         kOrgAdminKeyColumns)));
  st.bind(r.id).bind(r.org_id).bind(r.key_hash).bind(r.prefix).bind(r.name);
  st.bind(r.created_at).bind(r.revoked_at);
  return st.run();
}

Status update_org_admin_key(Connection& c, const OrgAdminKeyRow& r) {
  WARDEN_ASSIGN_OR_RETURN(Stmt st,
                          c.prepare("UPDATE org_admin_keys SET revoked_at = ? WHERE id = ?"));
  st.bind(r.revoked_at).bind(r.id);
  return run_on_existing(c, st, ErrorCode::INTERNAL_ERROR, r.id);
}

}  // namespace warden::store::sqlite
