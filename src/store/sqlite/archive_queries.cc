// The SQL behind archival (migration 10): the segment records, which settled decisions may
// leave the hot tables, and deleting what a segment now holds. Rows are read back through the
// ordinary getters, so this file knows only the columns it selects and deletes by.
#include <fmt/format.h>

#include "store/sqlite/compact.h"
#include "store/sqlite/queries.h"
#include "store/sqlite/query_util.h"

namespace warden::store::sqlite {
namespace {

constexpr std::string_view kSegmentColumns =
    "id, kind, file, rows, first_audit_id, last_audit_id, prev_hash, last_hash, time_min, "
    "time_max, checksum, bytes, created_at";

ArchiveSegmentRow read_segment(const Stmt& st) {
  ArchiveSegmentRow r;
  r.id = st.int64(0);
  r.kind = st.text(1);
  r.file = st.text(2);
  r.rows = st.int64(3);
  r.first_audit_id = st.int64(4);
  r.last_audit_id = st.int64(5);
  r.prev_hash = st.text(6);
  r.last_hash = st.text(7);
  r.time_min = st.int64(8);
  r.time_max = st.int64(9);
  r.checksum = st.text(10);
  r.bytes = st.int64(11);
  r.created_at = st.int64(12);
  return r;
}

// The archivable statuses as stored: their codes (compact.h, Coded::kTransactionStatus).
std::string archivable_status_list() {
  std::string out;
  for (std::string_view s : kArchivableTransactionStatuses) {
    const std::optional<std::int64_t> code = code_of(Coded::kTransactionStatus, s);
    if (!out.empty()) out += ", ";
    out += code ? std::to_string(*code) : "'" + std::string(s) + "'";
  }
  return out;
}

// A file opened read-only is not migrated: one from before migration 10 has archived nothing.
Result<bool> has_segment_table(Connection& c) {
  WARDEN_ASSIGN_OR_RETURN(Stmt st, c.prepare("SELECT count(*) FROM sqlite_schema WHERE "
                                             "type = 'table' AND name = 'archive_segments'"));
  WARDEN_ASSIGN_OR_RETURN(bool row, st.step());
  return row && st.int64(0) > 0;
}

}  // namespace

Result<std::vector<ArchiveSegmentRow>> list_archive_segments(Connection& c) {
  WARDEN_ASSIGN_OR_RETURN(bool has_table, has_segment_table(c));
  if (!has_table) return std::vector<ArchiveSegmentRow>();
  WARDEN_ASSIGN_OR_RETURN(
      Stmt st,
      c.prepare(fmt::format("SELECT {} FROM archive_segments ORDER BY id", kSegmentColumns)));
  return collect<ArchiveSegmentRow>(st, read_segment);
}

Result<std::optional<ArchiveSegmentRow>> last_audit_segment(Connection& c) {
  WARDEN_ASSIGN_OR_RETURN(bool has_table, has_segment_table(c));
  if (!has_table) return std::optional<ArchiveSegmentRow>();
  WARDEN_ASSIGN_OR_RETURN(
      Stmt st, c.prepare(fmt::format("SELECT {} FROM archive_segments WHERE kind = 'audit' "
                                     "ORDER BY id DESC LIMIT 1",
                                     kSegmentColumns)));
  return first<ArchiveSegmentRow>(st, read_segment);
}

Result<ArchiveSummary> archive_summary(Connection& c) {
  ArchiveSummary out;
  WARDEN_ASSIGN_OR_RETURN(bool has_table, has_segment_table(c));
  if (!has_table) return out;
  WARDEN_ASSIGN_OR_RETURN(Stmt st, c.prepare("SELECT coalesce(max(id), 0) FROM archive_segments"));
  WARDEN_ASSIGN_OR_RETURN(bool row, st.step());
  if (row) out.last_segment_id = st.int64(0);
  WARDEN_ASSIGN_OR_RETURN(out.last_audit_segment, last_audit_segment(c));
  return out;
}

Result<std::vector<ArchivedDecision>> list_archivable_decisions(Connection& c, std::int64_t before,
                                                                std::size_t limit) {
  // Oldest first through the created_at index. A parent goes only after its children (deleting
  // it would cascade to them); a decision whose hold is still pending is the ledger's. Stored
  // forms (schema.cc, migrations 10 and 13): the id compacted (ledger_holds keeps the text),
  // the status as its code, updated_at NULL while it is created_at.
  static const std::string sql = fmt::format(
      "SELECT t.id FROM transactions t WHERE t.created_at < ?1 "
      "AND coalesce(t.updated_at, t.created_at) < ?1 AND t.status IN ({}) "
      "AND NOT EXISTS (SELECT 1 FROM transactions c WHERE c.parent_id = t.id) "
      "AND NOT EXISTS (SELECT 1 FROM ledger_holds h WHERE h.tx_id = expand_text(t.id) AND "
      "h.status = 'pending') "
      "ORDER BY t.created_at LIMIT ?2",
      archivable_status_list());
  std::vector<std::string> ids;
  {
    WARDEN_ASSIGN_OR_RETURN(Stmt st, c.prepare(sql));
    st.bind(before).bind(sql_limit(limit));
    WARDEN_ASSIGN_OR_RETURN(ids,
                            collect<std::string>(st, [](const Stmt& s) { return s.expanded(0); }));
  }
  std::vector<ArchivedDecision> out;
  out.reserve(ids.size());
  for (const std::string& id : ids) {
    WARDEN_ASSIGN_OR_RETURN(auto tx, get_transaction(c, id));
    if (!tx) continue;
    ArchivedDecision d{std::move(*tx), {}};
    std::vector<std::string> approval_ids;
    {
      WARDEN_ASSIGN_OR_RETURN(
          Stmt st, c.prepare("SELECT id FROM pending_approvals WHERE tx_id = ? ORDER BY id"));
      st.bind_compact_id(id);
      WARDEN_ASSIGN_OR_RETURN(approval_ids,
                              collect<std::string>(st, [](const Stmt& s) { return s.text(0); }));
    }
    for (const std::string& approval_id : approval_ids) {
      WARDEN_ASSIGN_OR_RETURN(auto approval, get_approval(c, approval_id));
      if (approval) d.approvals.push_back(std::move(*approval));
    }
    out.push_back(std::move(d));
  }
  return out;
}

Status insert_archive_segment(Connection& c, const ArchiveSegmentRow& r) {
  WARDEN_ASSIGN_OR_RETURN(
      Stmt st, c.prepare(fmt::format("INSERT INTO archive_segments ({}) VALUES (?, ?, ?, ?, ?, ?, "
                                     "?, ?, ?, ?, ?, ?, ?)",
                                     kSegmentColumns)));
  st.bind(r.id).bind(r.kind).bind(r.file).bind(r.rows).bind(r.first_audit_id);
  st.bind(r.last_audit_id).bind(r.prev_hash).bind(r.last_hash).bind(r.time_min);
  st.bind(r.time_max).bind(r.checksum).bind(r.bytes).bind(r.created_at);
  return st.run();
}

Result<std::int64_t> delete_audit_range(Connection& c, std::int64_t first_id,
                                        std::int64_t last_id) {
  WARDEN_ASSIGN_OR_RETURN(Stmt st, c.prepare("DELETE FROM audit_log WHERE id BETWEEN ? AND ?"));
  st.bind(first_id).bind(last_id);
  WARDEN_RETURN_IF_ERROR(st.run());
  return c.changes();
}

Result<bool> delete_archived_transaction(Connection& c, const TransactionRow& row) {
  // Approvals go with their transaction (ON DELETE CASCADE).
  WARDEN_ASSIGN_OR_RETURN(Stmt st,
                          c.prepare("DELETE FROM transactions WHERE id = ?1 AND status = ?2 AND "
                                    "coalesce(updated_at, created_at) = ?3 AND NOT EXISTS "
                                    "(SELECT 1 FROM transactions c WHERE c.parent_id = ?1)"));
  st.bind_compact_id(row.id).bind_coded(Coded::kTransactionStatus, row.status);
  st.bind(row.updated_at);
  WARDEN_RETURN_IF_ERROR(st.run());
  return c.changes() == 1;
}

}  // namespace warden::store::sqlite
