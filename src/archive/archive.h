// The archive module's public API (docs/retention.md): how long settled decisions and audit
// rows stay in the hot database, the background mover that writes older ones into compressed
// segment files under DATA_DIR/archive and then deletes them through the group-commit writer,
// and the offline readers that see the whole history across segments and the hot tables
// (`warden audit verify`, `warden audit export`).
//
// A row is always in exactly one place: a segment file is written, fsynced and renamed first,
// then recorded in archive_segments in the same transaction that deletes its rows. A file no
// record names is a move that did not commit; recover() deletes it (its rows are still hot).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <thread>

#include "core/clock.h"
#include "core/status.h"
#include "store/batch_writer.h"
#include "store/store.h"

namespace warden::archive {

inline constexpr std::int64_t kSecondsPerDay = 86'400;
inline constexpr std::int64_t kDefaultDecisionsRetentionSeconds = 30 * kSecondsPerDay;
inline constexpr std::int64_t kDefaultAuditRetentionSeconds = 90 * kSecondsPerDay;
// Decisions younger than this must stay hot: retried requests replay them by idempotency key
// for a day (decisions::DecisionOptions::idempotency_retention_seconds).
inline constexpr std::int64_t kRetentionSecondsMin = kSecondsPerDay;
inline constexpr std::int64_t kRetentionSecondsMax = 100 * 365 * kSecondsPerDay;
inline constexpr std::size_t kDefaultBatchRows = 5'000;
inline constexpr std::size_t kBatchRowsMax = 100'000;
inline constexpr std::int64_t kDefaultIntervalSeconds = 60;
inline constexpr std::int64_t kIntervalSecondsMax = 86'400;
// Batches one round moves at most before it waits for the next interval, so a large backlog
// (retention just switched on) drains in steps instead of one long burst on the writer.
inline constexpr int kBatchesPerRoundMax = 100;
inline constexpr std::string_view kArchiveDirName = "archive";

// "30d", "12h" (whole days or hours), or "0" / "off": keep everything (returns 0). Anything else,
// or a horizon under kRetentionSecondsMin, is CONFIG_INVALID naming `key`.
Result<std::int64_t> parse_retention(std::string_view key, std::string_view text);

std::string archive_dir(const std::string& data_dir);

struct RetentionOptions {
  std::int64_t decisions_seconds = kDefaultDecisionsRetentionSeconds;  // 0: keep every decision
  std::int64_t audit_seconds = kDefaultAuditRetentionSeconds;          // 0: keep every audit row
  std::size_t batch_rows = kDefaultBatchRows;  // rows per segment and per delete transaction
  std::int64_t interval_seconds = kDefaultIntervalSeconds;
  std::string archive_dir;  // DATA_DIR/archive
  // Tests only (WARDEN_TEST_ARCHIVE_* in `warden serve`): the mover's clock runs this far ahead,
  // and it sleeps this long before renaming a segment and again before recording it, so a test
  // can kill the process in between.
  std::int64_t test_clock_skew_seconds = 0;
  std::int64_t test_pause_ms = 0;
  // Where failures of a round are reported (the daemon's log); may be empty.
  std::function<void(std::string_view what, const Status& status)> on_error;

  bool enabled() const { return decisions_seconds > 0 || audit_seconds > 0; }
  // Keeps everything (what a library user gets unless they ask for retention).
  static RetentionOptions off() {
    RetentionOptions o;
    o.decisions_seconds = 0;
    o.audit_seconds = 0;
    return o;
  }
};

// Deletes what a move that did not commit left: the file or temp file of the segment number
// after the last recorded one. Creates the directory (0700). Returns how many files it deleted.
// Runs before the mover starts, on the process that holds the data directory.
Result<std::int64_t> recover(store::Store& store, const std::string& archive_dir);

// Thread-safe: start() and stop() from the owner's thread; counters from any thread.
class Mover {
 public:
  Mover(store::Store& store, store::BatchWriter& writer, const Clock& clock,
        RetentionOptions options);
  ~Mover();  // stops
  Mover(const Mover&) = delete;
  Mover& operator=(const Mover&) = delete;

  // recover(), then a thread that runs a round at once and every interval.
  Status start();
  // How many files start()'s recover() deleted (moves that did not commit before a crash).
  std::int64_t files_removed_at_start() const { return files_removed_at_start_; }
  void stop();

  struct RoundResult {
    std::int64_t audit_rows = 0;
    std::int64_t decision_rows = 0;
    std::int64_t segments = 0;
  };
  // One round on the calling thread: batches of audit rows, then of decisions, until nothing is
  // older than its horizon or kBatchesPerRoundMax batches ran.
  Result<RoundResult> run_round();

  std::uint64_t rows_moved() const {
    return audit_rows_moved_.load() + decision_rows_moved_.load();
  }
  // Segments are numbered from 1 without gaps, so the last one's number is their count.
  std::uint64_t segment_count() const {
    return static_cast<std::uint64_t>(next_segment_id_.load() - 1);
  }
  // The longest a move's transaction (record the segment, delete its rows) took on the writer:
  // what a move can add to a decision's wait.
  std::int64_t commit_us_max() const { return commit_us_max_.load(); }
  // Prometheus text: warden_archive_rows_moved_total{kind}, warden_archive_segments,
  // warden_archive_failures_total and warden_archive_commit_seconds_max.
  std::string render_metrics() const;

 private:
  Result<std::int64_t> move_audit_batch(std::int64_t now);
  Result<std::int64_t> move_decision_batch(std::int64_t now);
  // Writes the segment file, then records it and deletes its rows in one writer transaction.
  Status commit_segment(store::ArchiveSegmentRow meta, const std::vector<std::string>& lines,
                        std::function<Status(store::WriteTxn&)> delete_rows);
  Status load_state();
  void loop();

  store::Store& store_;
  store::BatchWriter& writer_;
  const Clock& clock_;
  const RetentionOptions options_;

  // Touched by the round's thread only (one round at a time).
  bool state_loaded_ = false;
  std::int64_t files_removed_at_start_ = 0;
  std::int64_t audit_last_id_ = 0;  // the newest archived audit row and its hash
  std::string audit_last_hash_;

  // Written by the round's thread, read by segment_count() and render_metrics() anywhere.
  std::atomic<std::int64_t> next_segment_id_{1};
  std::atomic<std::uint64_t> audit_rows_moved_{0};
  std::atomic<std::uint64_t> decision_rows_moved_{0};
  std::atomic<std::uint64_t> failures_{0};
  std::atomic<std::int64_t> commit_us_max_{0};

  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;  // guarded by mu_
  std::thread thread_;
};

// ---- Offline readers (the CLI), over a store and its archive directory.

struct VerifyReport {
  std::int64_t rows_checked = 0;      // audit rows, segments and hot table together
  std::int64_t segments_checked = 0;  // of both kinds
  bool ok = true;
  std::string broken_segment;              // the segment's file, when the problem is in one
  std::optional<std::int64_t> broken_row;  // the audit row, when one is named
  std::string problem;
};

// Walks every audit segment in order (file present, readable, header and footer matching its
// record, each row's chain link and hash, the checksum), every decision segment (readable, rows,
// checksum), then the hot audit table from the last segment's state. Stops at the first problem.
Result<VerifyReport> verify_archive(store::Store& store, const std::string& archive_dir);

struct ExportFilter {
  std::int64_t from = 0;        // audit timestamp >= from
  std::int64_t to = INT64_MAX;  // and < to
  std::optional<std::string> agent_id;
};

// Writes the audit rows the filter matches as JSON Lines, in id order, each once: segments
// first, then the hot table (rows a move archives meanwhile are read from their new segment).
// Returns how many rows it wrote.
Result<std::int64_t> export_audit(store::Store& store, const std::string& archive_dir,
                                  const ExportFilter& filter, std::ostream& out);

// Every decision in the archive's segments, in segment order (the tests' and tools' view of
// what left the hot tables).
Status scan_archived_decisions(store::Store& store, const std::string& archive_dir,
                               const std::function<Status(const store::ArchivedDecision&)>& each);

}  // namespace warden::archive
