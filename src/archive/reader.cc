// Reading the whole history across segments and the hot tables: verify and export. Both may
// run beside the daemon: a move that commits meanwhile shows up as a hot table that starts later
// than the segments listed so far, and they read the list again.
#include <fmt/format.h>

#include <filesystem>
#include <set>

#include "archive/archive.h"
#include "archive/segment.h"
#include "core/errors.h"

namespace warden::archive {
namespace fs = std::filesystem;

namespace {

// How often verify and export read the segment list again because rows moved under them.
constexpr int kListPassesMax = 8;
constexpr std::size_t kHotPageRows = 1000;

std::string path_of(const std::string& dir, const store::ArchiveSegmentRow& s) {
  return (fs::path(dir) / s.file).string();
}

bool header_matches(const store::ArchiveSegmentRow& h, const store::ArchiveSegmentRow& rec) {
  return h.kind == rec.kind && h.id == rec.id && h.rows == rec.rows &&
         h.first_audit_id == rec.first_audit_id && h.last_audit_id == rec.last_audit_id &&
         h.prev_hash == rec.prev_hash && h.last_hash == rec.last_hash &&
         h.time_min == rec.time_min && h.time_max == rec.time_max;
}

class Verifier {
 public:
  Verifier(const std::string& dir, VerifyReport& report) : dir_(dir), report_(report) {}

  // False once something is broken (the report says what).
  bool check(const store::ArchiveSegmentRow& seg) {
    ++report_.segments_checked;
    if (seg.kind == store::kArchiveKindAudit &&
        (seg.first_audit_id != prev_id_ + 1 || seg.prev_hash != prev_hash_)) {
      return fail(seg, fmt::format("it does not continue the chain: it starts at row {} after "
                                   "hash {}, the archive so far ends at row {} with hash {}",
                                   seg.first_audit_id, seg.prev_hash, prev_id_, prev_hash_));
    }
    auto parsed = read_segment(path_of(dir_, seg));
    if (!parsed.ok()) return fail(seg, parsed.status().message());
    if (!header_matches(parsed->header, seg)) {
      return fail(seg, "its header does not match its record in archive_segments");
    }
    for (std::size_t i = 0; i < parsed->lines.size(); ++i) {
      if (!check_line(seg, parsed->lines[i], i)) return false;
    }
    if (seg.kind == store::kArchiveKindAudit &&
        (prev_id_ != seg.last_audit_id || prev_hash_ != seg.last_hash)) {
      return fail(seg, "its last row is not the one its record names");
    }
    if (parsed->rows_sha256 != parsed->header.checksum || parsed->rows_sha256 != seg.checksum) {
      return fail(seg, fmt::format("checksum mismatch: the rows hash to {}, the footer says {} "
                                   "and the record {}",
                                   parsed->rows_sha256, parsed->header.checksum, seg.checksum));
    }
    return true;
  }

  std::int64_t prev_id() const { return prev_id_; }
  const std::string& prev_hash() const { return prev_hash_; }

 private:
  bool check_line(const store::ArchiveSegmentRow& seg, const std::string& line, std::size_t i) {
    if (seg.kind != store::kArchiveKindAudit) {
      if (auto d = parse_decision_line(line); !d.ok()) {
        return fail(seg, fmt::format("row {}: {}", i + 1, d.status().message()));
      }
      ++report_.rows_checked;
      return true;
    }
    auto row = parse_audit_row_line(line);
    if (!row.ok()) return fail(seg, fmt::format("row {}: {}", i + 1, row.status().message()));
    ++report_.rows_checked;
    if (std::string problem = store::audit_chain_problem(*row, prev_id_, prev_hash_);
        !problem.empty()) {
      report_.broken_row = row->id;
      return fail(seg, problem);
    }
    prev_id_ = row->id;
    prev_hash_ = row->hash;
    return true;
  }

  bool fail(const store::ArchiveSegmentRow& seg, std::string problem) {
    report_.ok = false;
    report_.broken_segment = seg.file;
    report_.problem = std::move(problem);
    return false;
  }

  const std::string& dir_;
  VerifyReport& report_;
  std::int64_t prev_id_ = 0;
  std::string prev_hash_ = std::string(store::kAuditGenesisHash);
};

}  // namespace

Result<VerifyReport> verify_archive(store::Store& store, const std::string& dir) {
  VerifyReport report;
  Verifier verifier(dir, report);
  std::set<std::int64_t> checked;
  for (int pass = 0; pass < kListPassesMax; ++pass) {
    WARDEN_ASSIGN_OR_RETURN(auto segments, store.list_archive_segments());
    for (const auto& seg : segments) {
      if (!checked.insert(seg.id).second) continue;
      if (!verifier.check(seg)) return report;
    }
    WARDEN_ASSIGN_OR_RETURN(auto hot, store.verify_audit());
    if (hot.started_after_id > verifier.prev_id()) continue;  // moved meanwhile: list again
    if (hot.started_after_id != verifier.prev_id() ||
        hot.started_after_hash != verifier.prev_hash()) {
      report.ok = false;
      report.problem = fmt::format(
          "the hot table continues from row {} but the segments end at "
          "row {}",
          hot.started_after_id, verifier.prev_id());
      return report;
    }
    report.rows_checked += hot.rows_checked;
    if (hot.first_broken_id) {
      report.ok = false;
      report.broken_row = hot.first_broken_id;
      report.problem = hot.problem;
    }
    return report;
  }
  return Status(ErrorCode::INTERNAL_ERROR,
                "rows kept moving into new segments while they were verified; run it again");
}

namespace {

bool matches(const store::AuditRow& row, const ExportFilter& f) {
  if (row.event.timestamp < f.from || row.event.timestamp >= f.to) return false;
  return !f.agent_id || row.event.agent_id == f.agent_id;
}

}  // namespace

Result<std::int64_t> export_audit(store::Store& store, const std::string& dir,
                                  const ExportFilter& filter, std::ostream& out) {
  std::int64_t written = 0;
  std::int64_t through = 0;  // every row up to this id has been considered
  std::set<std::int64_t> read_segments;
  for (int pass = 0; pass < kListPassesMax; ++pass) {
    WARDEN_ASSIGN_OR_RETURN(auto segments, store.list_archive_segments());
    for (const auto& seg : segments) {
      if (seg.kind != store::kArchiveKindAudit || !read_segments.insert(seg.id).second) continue;
      if (seg.last_audit_id <= through) continue;
      // A segment wholly outside the time range needs no reading (its record says its span).
      const bool in_range = seg.time_max >= filter.from && seg.time_min < filter.to;
      if (in_range) {
        WARDEN_ASSIGN_OR_RETURN(ParsedSegment parsed, read_segment(path_of(dir, seg)));
        for (const std::string& line : parsed.lines) {
          WARDEN_ASSIGN_OR_RETURN(store::AuditRow row, parse_audit_row_line(line));
          if (row.id <= through || !matches(row, filter)) continue;
          out << line << '\n';
          ++written;
        }
      }
      through = seg.last_audit_id;
    }
    // The hot table, a page at a time after what the segments held.
    bool moved_meanwhile = false;
    for (;;) {
      store::AuditFilter page;
      page.after_id = through;
      page.limit = kHotPageRows;
      WARDEN_ASSIGN_OR_RETURN(auto rows, store.list_audit(page));
      if (rows.empty()) break;
      if (rows.front().id > through + 1 && pass + 1 < kListPassesMax) {
        moved_meanwhile = true;  // the rows in between are in a segment written since
        break;
      }
      for (const auto& row : rows) {
        if (matches(row, filter)) {
          out << audit_row_line(row) << '\n';
          ++written;
        }
        through = row.id;
      }
      if (rows.size() < page.limit) break;
    }
    if (!moved_meanwhile) {
      out.flush();
      if (!out) return Status(ErrorCode::INTERNAL_ERROR, "writing the export failed");
      return written;
    }
  }
  return Status(ErrorCode::INTERNAL_ERROR,
                "rows kept moving into new segments while they were exported; run it again");
}

Status scan_archived_decisions(store::Store& store, const std::string& dir,
                               const std::function<Status(const store::ArchivedDecision&)>& each) {
  WARDEN_ASSIGN_OR_RETURN(auto segments, store.list_archive_segments());
  for (const auto& seg : segments) {
    if (seg.kind != store::kArchiveKindDecisions) continue;
    WARDEN_ASSIGN_OR_RETURN(ParsedSegment parsed, read_segment(path_of(dir, seg)));
    for (const std::string& line : parsed.lines) {
      WARDEN_ASSIGN_OR_RETURN(store::ArchivedDecision d, parse_decision_line(line));
      WARDEN_RETURN_IF_ERROR(each(d));
    }
  }
  return Status();
}

}  // namespace warden::archive
