// Internal to the archive module: one segment file's format and its durable write.
//
// A segment is one zstd frame (with zstd's own content checksum) of JSON Lines text:
//   line 1      the header: {"warden_archive":1,"kind":...,"segment":...,"rows":...,
//               "first_audit_id":...,"last_audit_id":...,"prev_hash":...,"last_hash":...,
//               "time_min":...,"time_max":...}
//   lines 2..n  one row each (an audit row, or a decision with its approvals)
//   last line   the footer: {"footer":true,"rows":...,"sha256":...} over the row lines' bytes
// The same state is recorded in the archive_segments table, so the file and the database vouch
// for each other.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "store/store.h"

namespace warden::archive {

inline constexpr std::int64_t kSegmentFormat = 1;
inline constexpr std::string_view kTempSuffix = ".tmp";
inline constexpr int kZstdLevel = 3;  // zstd's default: fast, and JSON compresses ~5-10x anyway
// A segment decompresses to at most this: a corrupt size field cannot make a reader allocate
// without bound (kBatchRowsMax rows of a few KB each fit well under it).
inline constexpr std::size_t kSegmentTextBytesMax = std::size_t{1} << 31;

// "<id, 8 digits>-<kind>.jsonl.zst": names sort in segment order.
std::string segment_file_name(std::int64_t id, std::string_view kind);

// The row lines (each without its newline) of an audit segment / a decision segment.
std::string audit_row_line(const store::AuditRow& row);
std::string decision_line(const store::ArchivedDecision& decision);
Result<store::AuditRow> parse_audit_row_line(std::string_view line);
Result<store::ArchivedDecision> parse_decision_line(std::string_view line);

// The uncompressed text of a segment; fills meta.rows and meta.checksum from the lines.
std::string segment_text(store::ArchiveSegmentRow& meta, const std::vector<std::string>& lines);

// A segment file read back: its header's fields (in an ArchiveSegmentRow, without file, bytes and
// created_at; checksum is the footer's) and its row lines, whose count the header and footer
// agree on. Failures say what is wrong with the file (AUDIT_CHAIN_BROKEN). The checksum is
// compared by the caller after the rows, so that a changed row is named by the chain first.
struct ParsedSegment {
  store::ArchiveSegmentRow header;
  std::vector<std::string> lines;
  std::string rows_sha256;  // computed over the row lines as read
};
Result<ParsedSegment> read_segment(const std::string& path);

Result<std::string> zstd_compress(std::string_view text);
Result<std::string> zstd_decompress(std::string_view bytes);

// Writes `bytes` to dir/name durably: dir/name.tmp written and fsynced, renamed to dir/name,
// then the directory fsynced. A crash leaves either no file, a .tmp, or the whole file.
Status write_durably(const std::string& dir, const std::string& name, std::string_view bytes,
                     std::int64_t pause_before_rename_ms = 0);
Status fsync_directory(const std::string& dir);

}  // namespace warden::archive
