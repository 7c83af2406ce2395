// The background mover: rows past their retention horizon go into segment files, and leave the
// hot tables in one short transaction on the group-commit writer once their file is durable.
#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <filesystem>

#include "archive/archive.h"
#include "archive/segment.h"
#include "core/errors.h"
#include "core/thread_name.h"

namespace warden::archive {
namespace fs = std::filesystem;

Result<std::int64_t> parse_retention(std::string_view key, std::string_view text) {
  if (text == "0" || text == "off") return std::int64_t{0};
  const auto invalid = [&](std::string_view why) {
    return Status(ErrorCode::CONFIG_INVALID,
                  fmt::format("{} must be a number of days or hours (\"30d\", \"36h\") or \"off\", "
                              "got '{}'{}",
                              key, text, why));
  };
  if (text.size() < 2) return invalid("");
  const char unit = text.back();
  std::int64_t count = 0;
  const std::string_view digits = text.substr(0, text.size() - 1);
  const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), count);
  if (ec != std::errc() || end != digits.data() + digits.size() || count < 0) return invalid("");
  const std::int64_t unit_seconds = unit == 'd' ? kSecondsPerDay : unit == 'h' ? 3600 : 0;
  if (unit_seconds == 0) return invalid("");
  if (count > kRetentionSecondsMax / unit_seconds) return invalid(" (too long)");
  const std::int64_t seconds = count * unit_seconds;
  if (seconds < kRetentionSecondsMin) {
    return invalid(" (at least 1d: retried requests replay decisions of the last day)");
  }
  return seconds;
}

std::string archive_dir(const std::string& data_dir) {
  return (fs::path(data_dir) / kArchiveDirName).string();
}

Result<std::int64_t> recover(store::Store& store, const std::string& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return Status(ErrorCode::INTERNAL_ERROR, "create " + dir + ": " + ec.message());
  // Like the data directory: the history is nobody else's to read.
  fs::permissions(dir, fs::perms::owner_all, fs::perm_options::replace, ec);
  if (ec) return Status(ErrorCode::INTERNAL_ERROR, "chmod " + dir + ": " + ec.message());
  WARDEN_ASSIGN_OR_RETURN(store::ArchiveSummary summary, store.archive_summary());
  // Moves run one at a time and number their segment one past the last recorded, so a move that
  // did not commit can only have left that number's file or temp file (of either kind). Looking
  // for those rather than listing the directory keeps start-up independent of the history.
  const std::int64_t next = summary.last_segment_id + 1;
  std::int64_t deleted = 0;
  for (std::string_view kind : {store::kArchiveKindAudit, store::kArchiveKindDecisions}) {
    for (const std::string& suffix : {std::string(), std::string(kTempSuffix)}) {
      const fs::path path = fs::path(dir) / (segment_file_name(next, kind) + suffix);
      if (!fs::exists(path, ec)) continue;
      if (!fs::remove(path, ec) || ec) {
        return Status(ErrorCode::INTERNAL_ERROR, "remove " + path.string() + ": " + ec.message());
      }
      ++deleted;
    }
  }
  if (deleted > 0) WARDEN_RETURN_IF_ERROR(fsync_directory(dir));
  return deleted;
}

Mover::Mover(store::Store& store, store::BatchWriter& writer, const Clock& clock,
             RetentionOptions options)
    : store_(store), writer_(writer), clock_(clock), options_(std::move(options)) {}

Mover::~Mover() { stop(); }

Status Mover::start() {
  WARDEN_ASSIGN_OR_RETURN(files_removed_at_start_, recover(store_, options_.archive_dir));
  WARDEN_RETURN_IF_ERROR(load_state());
  thread_ = std::thread([this] { loop(); });
  return Status();
}

void Mover::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Mover::loop() {
  name_this_thread("warden-archive");
  for (;;) {
    if (Result<RoundResult> r = run_round(); !r.ok()) {
      ++failures_;
      // Reloaded from the store next round: a failed commit may or may not have recorded.
      state_loaded_ = false;
      if (options_.on_error) options_.on_error("archive round failed", r.status());
    }
    std::unique_lock lock(mu_);
    if (cv_.wait_for(lock, std::chrono::seconds(options_.interval_seconds),
                     [this] { return stopping_; })) {
      return;
    }
  }
}

Status Mover::load_state() {
  WARDEN_ASSIGN_OR_RETURN(store::ArchiveSummary summary, store_.archive_summary());
  next_segment_id_ = summary.last_segment_id + 1;
  audit_last_id_ = 0;
  audit_last_hash_ = std::string(store::kAuditGenesisHash);
  if (summary.last_audit_segment) {
    audit_last_id_ = summary.last_audit_segment->last_audit_id;
    audit_last_hash_ = summary.last_audit_segment->last_hash;
  }
  state_loaded_ = true;
  return Status();
}

Result<Mover::RoundResult> Mover::run_round() {
  if (!state_loaded_) WARDEN_RETURN_IF_ERROR(load_state());
  RoundResult result;
  const std::int64_t now = clock_.now_seconds() + options_.test_clock_skew_seconds;
  for (int batch = 0; batch < kBatchesPerRoundMax; ++batch) {
    {
      std::lock_guard lock(mu_);
      if (stopping_) return result;
    }
    std::int64_t moved = 0;
    if (options_.audit_seconds > 0) {
      WARDEN_ASSIGN_OR_RETURN(moved, move_audit_batch(now));
      result.audit_rows += moved;
    }
    std::int64_t decisions = 0;
    if (options_.decisions_seconds > 0) {
      WARDEN_ASSIGN_OR_RETURN(decisions, move_decision_batch(now));
      result.decision_rows += decisions;
    }
    result.segments += (moved > 0) + (decisions > 0);
    const auto full = static_cast<std::int64_t>(options_.batch_rows);
    if (moved < full && decisions < full) break;
  }
  return result;
}

// The oldest audit rows, a prefix of the chain: those before the horizon, never the newest row
// (the next append links to it).
Result<std::int64_t> Mover::move_audit_batch(std::int64_t now) {
  const std::int64_t before = now - options_.audit_seconds;
  store::AuditFilter filter;
  filter.after_id = 0;
  // Most rounds find the oldest row still young: one row read says so.
  filter.limit = 1;
  WARDEN_ASSIGN_OR_RETURN(auto oldest, store_.list_audit(filter));
  if (oldest.empty() || oldest.front().event.timestamp >= before) return std::int64_t{0};
  filter.limit = options_.batch_rows + 1;
  WARDEN_ASSIGN_OR_RETURN(auto rows, store_.list_audit(filter));
  const std::size_t fetched = rows.size();
  std::size_t take = 0;
  while (take < fetched && take < options_.batch_rows && rows[take].event.timestamp < before) {
    ++take;
  }
  if (take == fetched && take > 0) --take;  // the table's newest row stays
  if (take == 0) return std::int64_t{0};
  rows.resize(take);
  // Archive only a chain that links: to what is already archived, and row to row. A broken
  // link is left in the hot table where `warden audit verify` names it.
  std::int64_t prev_id = audit_last_id_;
  std::string prev_hash = audit_last_hash_;
  for (const auto& row : rows) {
    if (!store::audit_chain_problem(row, prev_id, prev_hash).empty()) {
      return Status(ErrorCode::AUDIT_CHAIN_BROKEN,
                    fmt::format("audit row {} does not link to the chain; not archived", row.id));
    }
    prev_id = row.id;
    prev_hash = row.hash;
  }
  store::ArchiveSegmentRow meta;
  meta.kind = std::string(store::kArchiveKindAudit);
  meta.first_audit_id = rows.front().id;
  meta.last_audit_id = rows.back().id;
  meta.prev_hash = rows.front().prev_hash;
  meta.last_hash = rows.back().hash;
  meta.time_min = rows.front().event.timestamp;
  meta.time_max = rows.front().event.timestamp;
  std::vector<std::string> lines;
  lines.reserve(rows.size());
  for (const auto& row : rows) {
    meta.time_min = std::min(meta.time_min, row.event.timestamp);
    meta.time_max = std::max(meta.time_max, row.event.timestamp);
    lines.push_back(audit_row_line(row));
  }
  const std::int64_t first_id = meta.first_audit_id;
  const std::int64_t last_id = meta.last_audit_id;
  const auto count = static_cast<std::int64_t>(rows.size());
  WARDEN_RETURN_IF_ERROR(commit_segment(meta, lines, [=](store::WriteTxn& tx) -> Status {
    WARDEN_ASSIGN_OR_RETURN(std::int64_t deleted, tx.delete_audit_range(first_id, last_id));
    if (deleted != count) {
      return Status(ErrorCode::INTERNAL_STORE_ERROR,
                    fmt::format("audit rows {}..{}: {} of {} were still hot", first_id, last_id,
                                deleted, count));
    }
    return Status();
  }));
  audit_last_id_ = last_id;
  audit_last_hash_ = meta.last_hash;
  audit_rows_moved_ += static_cast<std::uint64_t>(count);
  return count;
}

Result<std::int64_t> Mover::move_decision_batch(std::int64_t now) {
  const std::int64_t before = now - options_.decisions_seconds;
  WARDEN_ASSIGN_OR_RETURN(auto decisions,
                          store_.list_archivable_decisions(before, options_.batch_rows));
  if (decisions.empty()) return std::int64_t{0};
  store::ArchiveSegmentRow meta;
  meta.kind = std::string(store::kArchiveKindDecisions);
  meta.time_min = decisions.front().tx.created_at;
  meta.time_max = decisions.front().tx.created_at;
  std::vector<std::string> lines;
  lines.reserve(decisions.size());
  std::vector<store::TransactionRow> txs;
  txs.reserve(decisions.size());
  for (const auto& d : decisions) {
    meta.time_min = std::min(meta.time_min, d.tx.created_at);
    meta.time_max = std::max(meta.time_max, d.tx.created_at);
    lines.push_back(decision_line(d));
    txs.push_back(d.tx);
  }
  const auto count = static_cast<std::int64_t>(decisions.size());
  // All or nothing: a decision that changed since it was read (a late confirmation) fails the
  // whole move, whose file is then removed; the next round reads it again.
  WARDEN_RETURN_IF_ERROR(
      commit_segment(meta, lines, [txs = std::move(txs)](store::WriteTxn& tx) -> Status {
        for (const auto& row : txs) {
          WARDEN_ASSIGN_OR_RETURN(bool deleted, tx.delete_archived_transaction(row));
          if (!deleted) {
            return Status(ErrorCode::TX_INVALID_STATE,
                          "decision " + row.id + " changed while it was archived; retried later");
          }
        }
        return Status();
      }));
  decision_rows_moved_ += static_cast<std::uint64_t>(count);
  return count;
}

Status Mover::commit_segment(store::ArchiveSegmentRow meta, const std::vector<std::string>& lines,
                             std::function<Status(store::WriteTxn&)> delete_rows) {
  meta.id = next_segment_id_;
  meta.file = segment_file_name(meta.id, meta.kind);
  meta.created_at = clock_.now_seconds();
  const std::string text = segment_text(meta, lines);
  WARDEN_ASSIGN_OR_RETURN(std::string bytes, zstd_compress(text));
  meta.bytes = static_cast<std::int64_t>(bytes.size());
  WARDEN_RETURN_IF_ERROR(
      write_durably(options_.archive_dir, meta.file, bytes, options_.test_pause_ms));
  if (options_.test_pause_ms > 0) {
    std::this_thread::sleep_for(std::chrono::milliseconds(options_.test_pause_ms));
  }
  // Timed inside the operation: the writer's own time, not the wait for the batch before it.
  // run() returns after the op's last run (it may run again if its batch's commit fails), so a
  // local may hold the time; commit_us_max_ is written by the round's thread only.
  std::int64_t commit_us = 0;
  Status committed = writer_.run([meta, delete_rows, &commit_us](store::WriteTxn& tx) -> Status {
    const auto start = std::chrono::steady_clock::now();
    WARDEN_RETURN_IF_ERROR(tx.insert_archive_segment(meta));
    Status s = delete_rows(tx);
    commit_us = std::chrono::duration_cast<std::chrono::microseconds>(
                    std::chrono::steady_clock::now() - start)
                    .count();
    return s;
  });
  if (committed.ok() && commit_us > commit_us_max_.load()) commit_us_max_ = commit_us;
  if (!committed.ok()) {
    // Not recorded, so not part of the archive: its rows are still hot. Removed only once the
    // store says so; when it cannot say, recover() decides at the next start.
    auto summary = store_.archive_summary();
    if (summary.ok() && summary->last_segment_id < meta.id) {
      std::error_code ec;
      fs::remove(fs::path(options_.archive_dir) / meta.file, ec);
    }
    return committed;
  }
  ++next_segment_id_;
  return Status();
}

std::string Mover::render_metrics() const {
  std::string out;
  out +=
      "# HELP warden_archive_rows_moved_total Rows moved from the hot tables into archive "
      "segments since start.\n";
  out += "# TYPE warden_archive_rows_moved_total counter\n";
  out += fmt::format("warden_archive_rows_moved_total{{kind=\"audit\"}} {}\n",
                     audit_rows_moved_.load());
  out += fmt::format("warden_archive_rows_moved_total{{kind=\"decisions\"}} {}\n",
                     decision_rows_moved_.load());
  out += "# HELP warden_archive_segments Archive segment files recorded in the database.\n";
  out += "# TYPE warden_archive_segments gauge\n";
  out += fmt::format("warden_archive_segments {}\n", segment_count());
  out +=
      "# HELP warden_archive_commit_seconds_max The longest a move's delete transaction ran "
      "on the writer since start.\n";
  out += "# TYPE warden_archive_commit_seconds_max gauge\n";
  out += fmt::format("warden_archive_commit_seconds_max {:.6f}\n",
                     static_cast<double>(commit_us_max_.load()) / 1e6);
  out += "# HELP warden_archive_failures_total Archive rounds that failed (see the log).\n";
  out += "# TYPE warden_archive_failures_total counter\n";
  out += fmt::format("warden_archive_failures_total {}\n", failures_.load());
  return out;
}

}  // namespace warden::archive
