// Segment files: rows as JSON Lines, the header and footer around them, zstd, and the write
// that survives a crash at any point (temp file, fsync, rename, directory fsync).
#include "archive/segment.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>
#include <zstd.h>

#include <boost/json.hpp>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

#include "core/errors.h"
#include "core/json.h"
#include "core/sha256.h"

namespace warden::archive {
namespace json = boost::json;

namespace {

Status broken(std::string message) {
  return Status(ErrorCode::AUDIT_CHAIN_BROKEN, std::move(message));
}

// Typed reads of one object's fields; the first wrong one is remembered in `error`.
class Fields {
 public:
  explicit Fields(const json::object& o) : o_(o) {}
  std::string str(std::string_view key) {
    const json::value* v = o_.if_contains(key);
    if (v != nullptr && v->is_string()) return std::string(v->as_string());
    fail(key);
    return {};
  }
  std::optional<std::string> opt_str(std::string_view key) {
    const json::value* v = o_.if_contains(key);
    if (v != nullptr && v->is_null()) return std::nullopt;
    if (v != nullptr && v->is_string()) return std::string(v->as_string());
    fail(key);
    return std::nullopt;
  }
  std::int64_t num(std::string_view key) {
    const json::value* v = o_.if_contains(key);
    if (v != nullptr && v->is_int64()) return v->as_int64();
    fail(key);
    return 0;
  }
  std::optional<std::int64_t> opt_num(std::string_view key) {
    const json::value* v = o_.if_contains(key);
    if (v != nullptr && v->is_null()) return std::nullopt;
    if (v != nullptr && v->is_int64()) return v->as_int64();
    fail(key);
    return std::nullopt;
  }
  bool boolean(std::string_view key) {
    const json::value* v = o_.if_contains(key);
    if (v != nullptr && v->is_bool()) return v->as_bool();
    fail(key);
    return false;
  }
  Status status() const {
    if (bad_.empty()) return Status();
    return broken("field '" + bad_ + "' is missing or of the wrong type");
  }

 private:
  void fail(std::string_view key) {
    if (bad_.empty()) bad_ = std::string(key);
  }
  const json::object& o_;
  std::string bad_;
};

Result<json::object> parse_object(std::string_view line) {
  boost::system::error_code ec;
  json::value v = json::parse(line, ec);
  if (ec || !v.is_object()) return broken("a line is not a JSON object");
  return std::move(v.as_object());
}

json::object transaction_json(const store::TransactionRow& r) {
  return json::object{{"id", r.id},
                      {"agent_id", r.agent_id},
                      {"session_id", nullable(r.session_id)},
                      {"chain", r.chain},
                      {"tx_hash", nullable(r.tx_hash)},
                      {"type", r.type},
                      {"amount", nullable(r.amount)},
                      {"to_address", nullable(r.to_address)},
                      {"token_mint", nullable(r.token_mint)},
                      {"contract_address", nullable(r.contract_address)},
                      {"method_signature", nullable(r.method_signature)},
                      {"spender_address", nullable(r.spender_address)},
                      {"approved_amount", nullable(r.approved_amount)},
                      {"parent_id", nullable(r.parent_id)},
                      {"batch_index", nullable(r.batch_index)},
                      {"status", r.status},
                      {"tier", nullable(r.tier)},
                      {"queued_at", nullable(r.queued_at)},
                      {"executed_at", nullable(r.executed_at)},
                      {"created_at", r.created_at},
                      {"error", nullable(r.error)},
                      {"metadata", r.metadata},
                      {"reserved_amount", nullable(r.reserved_amount)},
                      {"idempotency_key", nullable(r.idempotency_key)},
                      {"request_hash", nullable(r.request_hash)},
                      {"expires_at", nullable(r.expires_at)},
                      {"executable_at", nullable(r.executable_at)},
                      {"final_amount", nullable(r.final_amount)},
                      {"updated_at", r.updated_at}};
}

store::TransactionRow transaction_from(Fields& f) {
  store::TransactionRow r;
  r.id = f.str("id");
  r.agent_id = f.str("agent_id");
  r.session_id = f.opt_str("session_id");
  r.chain = f.str("chain");
  r.tx_hash = f.opt_str("tx_hash");
  r.type = f.str("type");
  r.amount = f.opt_str("amount");
  r.to_address = f.opt_str("to_address");
  r.token_mint = f.opt_str("token_mint");
  r.contract_address = f.opt_str("contract_address");
  r.method_signature = f.opt_str("method_signature");
  r.spender_address = f.opt_str("spender_address");
  r.approved_amount = f.opt_str("approved_amount");
  r.parent_id = f.opt_str("parent_id");
  r.batch_index = f.opt_num("batch_index");
  r.status = f.str("status");
  r.tier = f.opt_str("tier");
  r.queued_at = f.opt_num("queued_at");
  r.executed_at = f.opt_num("executed_at");
  r.created_at = f.num("created_at");
  r.error = f.opt_str("error");
  r.metadata = f.str("metadata");
  r.reserved_amount = f.opt_str("reserved_amount");
  r.idempotency_key = f.opt_str("idempotency_key");
  r.request_hash = f.opt_str("request_hash");
  r.expires_at = f.opt_num("expires_at");
  r.executable_at = f.opt_num("executable_at");
  r.final_amount = f.opt_str("final_amount");
  r.updated_at = f.num("updated_at");
  return r;
}

json::object approval_json(const store::ApprovalRow& a) {
  return json::object{{"id", a.id},
                      {"tx_id", a.tx_id},
                      {"required_by", a.required_by},
                      {"expires_at", a.expires_at},
                      {"approved_at", nullable(a.approved_at)},
                      {"rejected_at", nullable(a.rejected_at)},
                      {"owner_signature", nullable(a.owner_signature)},
                      {"created_at", a.created_at}};
}

store::ApprovalRow approval_from(Fields& f) {
  store::ApprovalRow a;
  a.id = f.str("id");
  a.tx_id = f.str("tx_id");
  a.required_by = f.num("required_by");
  a.expires_at = f.num("expires_at");
  a.approved_at = f.opt_num("approved_at");
  a.rejected_at = f.opt_num("rejected_at");
  a.owner_signature = f.opt_str("owner_signature");
  a.created_at = f.num("created_at");
  return a;
}

json::object header_json(const store::ArchiveSegmentRow& m) {
  return json::object{{"warden_archive", kSegmentFormat},
                      {"kind", m.kind},
                      {"segment", m.id},
                      {"rows", m.rows},
                      {"first_audit_id", m.first_audit_id},
                      {"last_audit_id", m.last_audit_id},
                      {"prev_hash", m.prev_hash},
                      {"last_hash", m.last_hash},
                      {"time_min", m.time_min},
                      {"time_max", m.time_max}};
}

std::string errno_text() { return std::strerror(errno); }

}  // namespace

std::string segment_file_name(std::int64_t id, std::string_view kind) {
  return fmt::format("{:08d}-{}.jsonl.zst", id, kind);
}

std::string audit_row_line(const store::AuditRow& row) {
  const store::AuditEvent& e = row.event;
  // details stays the stored text byte for byte: the row's hash is over it.
  return json::serialize(json::object{{"id", row.id},
                                      {"timestamp", e.timestamp},
                                      {"event_type", e.event_type},
                                      {"actor", e.actor},
                                      {"agent_id", nullable(e.agent_id)},
                                      {"session_id", nullable(e.session_id)},
                                      {"tx_id", nullable(e.tx_id)},
                                      {"details", e.details},
                                      {"severity", e.severity},
                                      {"ip_address", nullable(e.ip_address)},
                                      {"correlation_id", nullable(e.correlation_id)},
                                      {"prev_hash", row.prev_hash},
                                      {"hash", row.hash}});
}

Result<store::AuditRow> parse_audit_row_line(std::string_view line) {
  WARDEN_ASSIGN_OR_RETURN(json::object o, parse_object(line));
  Fields f(o);
  store::AuditRow row;
  row.id = f.num("id");
  row.event.timestamp = f.num("timestamp");
  row.event.event_type = f.str("event_type");
  row.event.actor = f.str("actor");
  row.event.agent_id = f.opt_str("agent_id");
  row.event.session_id = f.opt_str("session_id");
  row.event.tx_id = f.opt_str("tx_id");
  row.event.details = f.str("details");
  row.event.severity = f.str("severity");
  row.event.ip_address = f.opt_str("ip_address");
  row.event.correlation_id = f.opt_str("correlation_id");
  row.prev_hash = f.str("prev_hash");
  row.hash = f.str("hash");
  WARDEN_RETURN_IF_ERROR(f.status());
  return row;
}

std::string decision_line(const store::ArchivedDecision& d) {
  json::array approvals;
  for (const auto& a : d.approvals) approvals.push_back(approval_json(a));
  return json::serialize(
      json::object{{"transaction", transaction_json(d.tx)}, {"approvals", std::move(approvals)}});
}

Result<store::ArchivedDecision> parse_decision_line(std::string_view line) {
  WARDEN_ASSIGN_OR_RETURN(json::object o, parse_object(line));
  const json::value* tx = o.if_contains("transaction");
  const json::value* approvals = o.if_contains("approvals");
  if (tx == nullptr || !tx->is_object() || approvals == nullptr || !approvals->is_array()) {
    return broken("a decision line lacks its transaction or approvals");
  }
  store::ArchivedDecision d;
  Fields f(tx->as_object());
  d.tx = transaction_from(f);
  WARDEN_RETURN_IF_ERROR(f.status());
  for (const json::value& a : approvals->as_array()) {
    if (!a.is_object()) return broken("an approval is not an object");
    Fields af(a.as_object());
    d.approvals.push_back(approval_from(af));
    WARDEN_RETURN_IF_ERROR(af.status());
  }
  return d;
}

std::string segment_text(store::ArchiveSegmentRow& meta, const std::vector<std::string>& lines) {
  std::string rows;
  for (const std::string& line : lines) {
    rows += line;
    rows += '\n';
  }
  meta.rows = static_cast<std::int64_t>(lines.size());
  meta.checksum = sha256_hex(rows);
  std::string text = json::serialize(header_json(meta));
  text += '\n';
  text += rows;
  text += json::serialize(
      json::object{{"footer", true}, {"rows", meta.rows}, {"sha256", meta.checksum}});
  text += '\n';
  return text;
}

Result<ParsedSegment> read_segment(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return broken("the file is missing or unreadable");
  std::ostringstream buf;
  buf << in.rdbuf();
  WARDEN_ASSIGN_OR_RETURN(std::string text, zstd_decompress(buf.str()));
  // Header, rows, footer: every line ends with '\n'.
  std::vector<std::string_view> lines;
  std::size_t at = 0;
  while (at < text.size()) {
    const std::size_t nl = text.find('\n', at);
    if (nl == std::string::npos) return broken("the last line is cut off");
    lines.push_back(std::string_view(text).substr(at, nl - at));
    at = nl + 1;
  }
  if (lines.size() < 2) return broken("the header or footer is missing");
  WARDEN_ASSIGN_OR_RETURN(json::object h, parse_object(lines.front()));
  Fields hf(h);
  ParsedSegment out;
  store::ArchiveSegmentRow& m = out.header;
  if (hf.num("warden_archive") != kSegmentFormat) {
    return broken("not a segment of format " + std::to_string(kSegmentFormat));
  }
  m.kind = hf.str("kind");
  m.id = hf.num("segment");
  m.rows = hf.num("rows");
  m.first_audit_id = hf.num("first_audit_id");
  m.last_audit_id = hf.num("last_audit_id");
  m.prev_hash = hf.str("prev_hash");
  m.last_hash = hf.str("last_hash");
  m.time_min = hf.num("time_min");
  m.time_max = hf.num("time_max");
  WARDEN_RETURN_IF_ERROR(hf.status());
  WARDEN_ASSIGN_OR_RETURN(json::object footer, parse_object(lines.back()));
  Fields ff(footer);
  const bool is_footer = ff.boolean("footer");
  const std::int64_t footer_rows = ff.num("rows");
  m.checksum = ff.str("sha256");
  WARDEN_RETURN_IF_ERROR(ff.status());
  if (!is_footer) return broken("the footer is missing");
  const auto row_count = static_cast<std::int64_t>(lines.size() - 2);
  if (footer_rows != row_count || m.rows != row_count) {
    return broken(fmt::format("it holds {} rows, its header says {} and its footer {}", row_count,
                              m.rows, footer_rows));
  }
  std::string rows;
  for (std::size_t i = 1; i + 1 < lines.size(); ++i) {
    out.lines.emplace_back(lines[i]);
    rows += lines[i];
    rows += '\n';
  }
  out.rows_sha256 = sha256_hex(rows);
  return out;
}

Result<std::string> zstd_compress(std::string_view text) {
  ZSTD_CCtx* cctx = ZSTD_createCCtx();
  if (cctx == nullptr) return Status(ErrorCode::INTERNAL_ERROR, "zstd: out of memory");
  ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, kZstdLevel);
  ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 1);
  std::string out(ZSTD_compressBound(text.size()), '\0');
  const std::size_t n = ZSTD_compress2(cctx, out.data(), out.size(), text.data(), text.size());
  ZSTD_freeCCtx(cctx);
  if (ZSTD_isError(n)) {
    return Status(ErrorCode::INTERNAL_ERROR, std::string("zstd: ") + ZSTD_getErrorName(n));
  }
  out.resize(n);
  return out;
}

Result<std::string> zstd_decompress(std::string_view bytes) {
  const unsigned long long size = ZSTD_getFrameContentSize(bytes.data(), bytes.size());
  if (size == ZSTD_CONTENTSIZE_ERROR || size == ZSTD_CONTENTSIZE_UNKNOWN) {
    return broken("not a zstd frame with a known size");
  }
  if (size > kSegmentTextBytesMax) return broken("its stated size is too large");
  std::string out(static_cast<std::size_t>(size), '\0');
  const std::size_t n = ZSTD_decompress(out.data(), out.size(), bytes.data(), bytes.size());
  if (ZSTD_isError(n)) {
    return broken(std::string("it does not decompress: ") + ZSTD_getErrorName(n));
  }
  if (n != out.size()) return broken("it decompresses to fewer bytes than it says");
  return out;
}

Status fsync_directory(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Status(ErrorCode::INTERNAL_ERROR, "open " + dir + ": " + errno_text());
  const int rc = ::fsync(fd);
  const std::string why = rc == 0 ? "" : errno_text();
  ::close(fd);
  if (rc != 0) return Status(ErrorCode::INTERNAL_ERROR, "fsync " + dir + ": " + why);
  return Status();
}

Status write_durably(const std::string& dir, const std::string& name, std::string_view bytes,
                     std::int64_t pause_before_rename_ms) {
  const std::string final_path = dir + "/" + name;
  const std::string temp_path = final_path + std::string(kTempSuffix);
  const int fd = ::open(temp_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Status(ErrorCode::INTERNAL_ERROR, "open " + temp_path + ": " + errno_text());
  std::size_t written = 0;
  while (written < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + written, bytes.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const std::string why = errno_text();
      ::close(fd);
      ::unlink(temp_path.c_str());
      return Status(ErrorCode::INTERNAL_ERROR, "write " + temp_path + ": " + why);
    }
    written += static_cast<std::size_t>(n);
  }
  const int synced = ::fsync(fd);
  const std::string why = synced == 0 ? "" : errno_text();
  ::close(fd);
  if (synced != 0) {
    ::unlink(temp_path.c_str());
    return Status(ErrorCode::INTERNAL_ERROR, "fsync " + temp_path + ": " + why);
  }
  if (pause_before_rename_ms > 0) {
    std::this_thread::sleep_for(std::chrono::milliseconds(pause_before_rename_ms));
  }
  if (::rename(temp_path.c_str(), final_path.c_str()) != 0) {
    const std::string rename_why = errno_text();
    ::unlink(temp_path.c_str());
    return Status(ErrorCode::INTERNAL_ERROR, "rename " + temp_path + ": " + rename_why);
  }
  return fsync_directory(dir);
}

}  // namespace warden::archive
