// The archive over a real SQLite file and the real group-commit writer: what moves and what
// stays, verify across segments and the hot table (and what it names when a segment is
// tampered with), export across both, and start-up's cleanup of moves that did not commit.
#include "archive/archive.h"

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <set>
#include <sstream>

#include "archive/segment.h"
#include "store/sqlite/test_util.h"

namespace warden::archive {
namespace {

namespace fs = std::filesystem;
using store::testing::sample_agent;
using store::testing::sample_event;

constexpr std::int64_t kNow = 1'767'225'600 + 400 * kSecondsPerDay;
constexpr std::int64_t kOld = kNow - 200 * kSecondsPerDay;  // older than either horizon

class ArchiveTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = store::testing::open_store(dir_.file("warden.db"));
    ASSERT_NE(store_, nullptr);
    writer_ = std::make_unique<store::BatchWriter>(*store_, store::BatchOptions{});
    ASSERT_TRUE(store_
                    ->write([](store::WriteTxn& t) {
                      return t.insert_agent(sample_agent("a1", std::nullopt));
                    })
                    .ok());
  }
  void TearDown() override {
    writer_->stop();
    writer_.reset();
    store_.reset();
  }

  RetentionOptions options(std::size_t batch_rows) const {
    RetentionOptions o;
    o.decisions_seconds = 30 * kSecondsPerDay;
    o.audit_seconds = 90 * kSecondsPerDay;
    o.batch_rows = batch_rows;
    o.archive_dir = archive_dir_;
    return o;
  }

  void append_audit(int count, std::int64_t timestamp, const std::string& agent = "a1") {
    ASSERT_TRUE(store_
                    ->write([&](store::WriteTxn& t) -> Status {
                      for (int i = 0; i < count; ++i) {
                        store::AuditEvent e = sample_event("DECIDED", agent);
                        e.timestamp = timestamp + i;
                        WARDEN_RETURN_IF_ERROR(t.append_audit(e).status());
                      }
                      return Status();
                    })
                    .ok());
  }

  store::TransactionRow tx(const std::string& id, const std::string& status,
                           std::int64_t created_at) {
    store::TransactionRow r;
    r.id = id;
    r.agent_id = "a1";
    r.chain = "solana";
    r.type = "DECISION";
    r.status = status;
    r.created_at = created_at;
    r.updated_at = created_at + 5;
    r.metadata = R"({"reasons":[]})";
    return r;
  }

  void insert(const store::TransactionRow& r) {
    ASSERT_TRUE(store_->write([&](store::WriteTxn& t) { return t.insert_transaction(r); }).ok())
        << r.id;
  }

  std::vector<std::int64_t> hot_audit_ids() {
    store::AuditFilter f;
    f.limit = 100'000;
    std::vector<std::int64_t> ids;
    auto rows = store_->list_audit(f);
    EXPECT_TRUE(rows.ok());
    for (const auto& row : *rows) ids.push_back(row.id);
    return ids;
  }

  std::vector<store::ArchiveSegmentRow> segments() { return *store_->list_archive_segments(); }

  store::testing::TempDir dir_;
  std::string archive_dir_ = dir_.file("archive");
  FakeClock clock_{kNow * 1000};
  std::unique_ptr<store::SqliteStore> store_;
  std::unique_ptr<store::BatchWriter> writer_;
};

TEST(Retention, ParsesDaysHoursAndOffAndRefusesTheRest) {
  EXPECT_EQ(*parse_retention("retention.decisions", "30d"), 30 * kSecondsPerDay);
  EXPECT_EQ(*parse_retention("retention.decisions", "36h"), 36 * 3600);
  EXPECT_EQ(*parse_retention("retention.audit", "off"), 0);
  EXPECT_EQ(*parse_retention("retention.audit", "0"), 0);
  for (const char* bad : {"", "d", "30", "30x", "-1d", "1.5d", "12h", "0d", "99999999999d"}) {
    auto r = parse_retention("retention.audit", bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.status().code(), ErrorCode::CONFIG_INVALID);
    EXPECT_NE(r.status().message().find("retention.audit"), std::string::npos) << bad;
  }
}

// 20 old rows, batches of 8: two full segments and one of 3; the newest old row stays hot
// because the chain's next row links to it. The whole chain verifies across segments and hot.
TEST_F(ArchiveTest, OldAuditRowsMoveInBatchesAndTheChainVerifiesAcrossSegments) {
  append_audit(20, kOld);
  append_audit(5, kNow - kSecondsPerDay);  // recent: stays
  Mover mover(*store_, *writer_, clock_, options(8));
  ASSERT_TRUE(recover(*store_, archive_dir_).ok());
  auto round = mover.run_round();
  ASSERT_TRUE(round.ok()) << round.status().to_string();
  EXPECT_EQ(round->audit_rows, 20);
  EXPECT_EQ(mover.rows_moved(), 20u);
  const auto segs = segments();
  ASSERT_EQ(segs.size(), 3u);
  EXPECT_EQ(segs[0].first_audit_id, 1);
  EXPECT_EQ(segs[0].last_audit_id, 8);
  EXPECT_EQ(segs[0].prev_hash, store::kAuditGenesisHash);
  EXPECT_EQ(segs[1].prev_hash, segs[0].last_hash);
  EXPECT_EQ(segs[2].last_audit_id, 20);
  EXPECT_EQ(segs[2].rows, 4);
  for (const auto& s : segs) EXPECT_TRUE(fs::exists(archive_dir_ + "/" + s.file)) << s.file;
  EXPECT_EQ(hot_audit_ids(), (std::vector<std::int64_t>{21, 22, 23, 24, 25}));
  EXPECT_EQ(mover.segment_count(), 3u);

  auto report = verify_archive(*store_, archive_dir_);
  ASSERT_TRUE(report.ok());
  EXPECT_TRUE(report->ok) << report->problem;
  EXPECT_EQ(report->rows_checked, 25);
  EXPECT_EQ(report->segments_checked, 3);
  // The store's own walk starts after the archived rows.
  auto hot = store_->verify_audit();
  EXPECT_EQ(hot->started_after_id, 20);
  EXPECT_FALSE(hot->first_broken_id.has_value());
  // New rows keep linking to the chain.
  append_audit(1, kNow);
  EXPECT_TRUE(verify_archive(*store_, archive_dir_)->ok);
  // Nothing left to move: a second round writes nothing.
  EXPECT_EQ(mover.run_round()->segments, 0);
  EXPECT_EQ(segments().size(), 3u);
}

TEST_F(ArchiveTest, EveryAuditRowIsKeptWhenOnlyTheNewestIsOld) {
  append_audit(1, kOld);
  Mover mover(*store_, *writer_, clock_, options(8));
  ASSERT_TRUE(recover(*store_, archive_dir_).ok());
  EXPECT_EQ(mover.run_round()->audit_rows, 0);
  EXPECT_EQ(hot_audit_ids(), (std::vector<std::int64_t>{1}));
}

// Settled and old moves; open, recent, parents of hot children and holders of pending holds
// stay. Every decision is then in exactly one place, approvals with their transaction.
TEST_F(ArchiveTest, OnlySettledOldDecisionsMoveWithTheirApprovals) {
  const std::int64_t recent = kNow - kSecondsPerDay;
  insert(tx("t-confirmed", "CONFIRMED", kOld));
  insert(tx("t-denied", "DENIED", kOld + 1));
  insert(tx("t-expired", "EXPIRED", kOld + 2));
  insert(tx("t-pending", "PENDING", kOld + 3));
  insert(tx("t-queued", "QUEUED", kOld + 4));
  insert(tx("t-recent", "CONFIRMED", recent));
  insert(tx("t-parent", "CONFIRMED", kOld + 5));
  store::TransactionRow child = tx("t-child", "PENDING", kOld + 6);
  child.parent_id = "t-parent";
  insert(child);
  insert(tx("t-approved", "CANCELLED", kOld + 7));
  store::ApprovalRow approval;
  approval.id = "ap-1";
  approval.tx_id = "t-approved";
  approval.required_by = kOld + 100;
  approval.expires_at = kOld + 200;
  approval.rejected_at = kOld + 50;
  approval.created_at = kOld + 7;
  ASSERT_TRUE(store_->write([&](store::WriteTxn& t) { return t.insert_approval(approval); }).ok());
  insert(tx("t-held", "CONFIRMED", kOld + 8));
  store::HoldRow hold = store::testing::hold("h-1", "a1", "10");
  hold.tx_id = "t-held";
  ASSERT_TRUE(store_->write([&](store::WriteTxn& t) { return t.insert_hold(hold); }).ok());

  Mover mover(*store_, *writer_, clock_, options(100));
  ASSERT_TRUE(recover(*store_, archive_dir_).ok());
  auto round = mover.run_round();
  ASSERT_TRUE(round.ok()) << round.status().to_string();
  EXPECT_EQ(round->decision_rows, 4);

  std::multiset<std::string> archived;
  std::vector<store::ApprovalRow> archived_approvals;
  ASSERT_TRUE(scan_archived_decisions(*store_, archive_dir_, [&](const auto& d) {
                archived.insert(d.tx.id);
                for (const auto& a : d.approvals) archived_approvals.push_back(a);
                return Status();
              }).ok());
  EXPECT_EQ(archived,
            (std::multiset<std::string>{"t-confirmed", "t-denied", "t-expired", "t-approved"}));
  ASSERT_EQ(archived_approvals.size(), 1u);
  EXPECT_EQ(archived_approvals[0].id, "ap-1");
  EXPECT_EQ(archived_approvals[0].rejected_at, kOld + 50);
  EXPECT_FALSE(store_->get_approval("ap-1")->has_value());
  for (const char* hot : {"t-pending", "t-queued", "t-recent", "t-parent", "t-child", "t-held"}) {
    EXPECT_TRUE(store_->get_transaction(hot)->has_value()) << hot;
    EXPECT_FALSE(archived.contains(hot)) << hot;
  }
  for (const auto& id : archived) EXPECT_FALSE(store_->get_transaction(id)->has_value()) << id;
  // The archived copy is the row as it was, field for field.
  bool found = false;
  Status scanned = scan_archived_decisions(*store_, archive_dir_, [&](const auto& d) {
    if (d.tx.id == "t-confirmed") {
      EXPECT_EQ(d.tx.metadata, R"({"reasons":[]})");
      EXPECT_EQ(d.tx.updated_at, kOld + 5);
      EXPECT_EQ(d.tx.agent_id, "a1");
      found = true;
    }
    return Status();
  });
  EXPECT_TRUE(scanned.ok());
  EXPECT_TRUE(found);

  // Once the child is settled, it moves, and in the next round its parent.
  child.status = "CONFIRMED";
  ASSERT_TRUE(store_->write([&](store::WriteTxn& t) { return t.update_transaction(child); }).ok());
  EXPECT_EQ(mover.run_round()->decision_rows, 1);
  EXPECT_TRUE(store_->get_transaction("t-parent")->has_value());
  EXPECT_EQ(mover.run_round()->decision_rows, 1);
  EXPECT_FALSE(store_->get_transaction("t-parent")->has_value());
  EXPECT_TRUE(verify_archive(*store_, archive_dir_)->ok);
}

// A full default batch of each kind: the delete transaction on the writer stays short (its
// duration is printed for docs/retention.md; the bound asserted is only a sanity check).
TEST_F(ArchiveTest, AFullBatchMovesInOneShortWriterTransaction) {
  constexpr int kRows = static_cast<int>(kDefaultBatchRows);
  append_audit(kRows + 1, kOld);
  ASSERT_TRUE(store_
                  ->write([&](store::WriteTxn& t) -> Status {
                    for (int i = 0; i < kRows; ++i) {
                      store::TransactionRow r =
                          tx("t-" + std::to_string(100000 + i), "CONFIRMED", kOld + i);
                      r.metadata = R"({"reasons":[],"charges":[{"asset":"native","amount":"1"}]})";
                      WARDEN_RETURN_IF_ERROR(t.insert_transaction(r));
                    }
                    return Status();
                  })
                  .ok());
  Mover mover(*store_, *writer_, clock_, options(kDefaultBatchRows));
  ASSERT_TRUE(recover(*store_, archive_dir_).ok());
  const auto start = std::chrono::steady_clock::now();
  auto round = mover.run_round();
  const auto round_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::steady_clock::now() - start)
                            .count();
  ASSERT_TRUE(round.ok()) << round.status().to_string();
  EXPECT_EQ(round->audit_rows, kRows);
  EXPECT_EQ(round->decision_rows, kRows);
  std::cout << "moved " << kRows << " audit rows and " << kRows << " decisions in " << round_ms
            << " ms; longest delete transaction " << mover.commit_us_max() << " us\n";
  EXPECT_GT(mover.commit_us_max(), 0);
  EXPECT_LT(mover.commit_us_max(), 2'000'000);
  EXPECT_NE(mover.render_metrics().find("warden_archive_commit_seconds_max 0."), std::string::npos);
  EXPECT_TRUE(verify_archive(*store_, archive_dir_)->ok);
}

// The next segment's file is a move that did not commit: start-up deletes it (and its temp
// file, of either kind), and leaves recorded segments and strangers' files alone.
TEST_F(ArchiveTest, RecoverDeletesUnrecordedSegmentsOnly) {
  append_audit(10, kOld);
  Mover mover(*store_, *writer_, clock_, options(100));
  ASSERT_TRUE(recover(*store_, archive_dir_).ok());
  ASSERT_EQ(mover.run_round()->segments, 1);
  const std::string recorded = segments().at(0).file;
  std::ofstream(archive_dir_ + "/00000002-audit.jsonl.zst") << "half";
  std::ofstream(archive_dir_ + "/00000002-decisions.jsonl.zst.tmp") << "half";
  std::ofstream(archive_dir_ + "/notes.txt") << "mine";
  auto deleted = recover(*store_, archive_dir_);
  ASSERT_TRUE(deleted.ok());
  EXPECT_EQ(*deleted, 2);
  EXPECT_TRUE(fs::exists(archive_dir_ + "/" + recorded));
  EXPECT_FALSE(fs::exists(archive_dir_ + "/00000002-audit.jsonl.zst"));
  EXPECT_FALSE(fs::exists(archive_dir_ + "/00000002-decisions.jsonl.zst.tmp"));
  EXPECT_TRUE(fs::exists(archive_dir_ + "/notes.txt"));
  EXPECT_TRUE(verify_archive(*store_, archive_dir_)->ok);
}

class TamperTest : public ArchiveTest {
 protected:
  void SetUp() override {
    ArchiveTest::SetUp();
    append_audit(30, kOld);
    Mover mover(*store_, *writer_, clock_, options(10));
    ASSERT_TRUE(recover(*store_, archive_dir_).ok());
    ASSERT_EQ(mover.run_round()->segments, 3);
    path_ = archive_dir_ + "/" + segments().at(1).file;
  }
  std::string read_all() {
    std::ifstream in(path_, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
  }
  void write_all(const std::string& bytes) {
    std::ofstream(path_, std::ios::binary | std::ios::trunc) << bytes;
  }
  std::string path_;
};

TEST_F(TamperTest, AFlippedByteNamesTheSegment) {
  std::string bytes = read_all();
  bytes[bytes.size() / 2] = static_cast<char>(bytes[bytes.size() / 2] ^ 0x01);
  write_all(bytes);
  auto report = verify_archive(*store_, archive_dir_);
  ASSERT_TRUE(report.ok());
  EXPECT_FALSE(report->ok);
  EXPECT_EQ(report->broken_segment, segments().at(1).file);
  EXPECT_FALSE(report->broken_row.has_value());
  EXPECT_EQ(report->rows_checked, 10);  // the first segment's rows
}

TEST_F(TamperTest, AnEditedRowNamesTheRow) {
  std::string text = *zstd_decompress(read_all());
  // Row 14 (the fourth of the second segment) now says another actor did it.
  const std::string row_start = "{\"id\":14,";
  const auto at = text.find(row_start);
  ASSERT_NE(at, std::string::npos);
  const auto actor = text.find("\"actor\":\"master\"", at);
  ASSERT_NE(actor, std::string::npos);
  text.replace(actor, 16, "\"actor\":\"nobody\"");
  write_all(*zstd_compress(text));
  auto report = verify_archive(*store_, archive_dir_);
  ASSERT_TRUE(report.ok());
  EXPECT_FALSE(report->ok);
  EXPECT_EQ(report->broken_segment, segments().at(1).file);
  ASSERT_TRUE(report->broken_row.has_value());
  EXPECT_EQ(*report->broken_row, 14);
  EXPECT_NE(report->problem.find("does not match its content"), std::string::npos)
      << report->problem;
}

TEST_F(TamperTest, AMissingSegmentIsNamed) {
  fs::remove(path_);
  auto report = verify_archive(*store_, archive_dir_);
  EXPECT_FALSE(report->ok);
  EXPECT_EQ(report->broken_segment, segments().at(1).file);
}

// Export reads segments then the hot table, in id order, each row once, filtered by time and
// agent.
TEST_F(ArchiveTest, ExportReadsAcrossSegmentsAndTheHotTable) {
  append_audit(12, kOld, "a1");
  append_audit(6, kOld + 100, "a2");
  append_audit(4, kNow, "a1");
  Mover mover(*store_, *writer_, clock_, options(5));
  ASSERT_TRUE(recover(*store_, archive_dir_).ok());
  ASSERT_EQ(mover.run_round()->audit_rows, 18);
  ASSERT_EQ(hot_audit_ids().size(), 4u);

  std::ostringstream all;
  ASSERT_EQ(*export_audit(*store_, archive_dir_, {}, all), 22);
  std::vector<std::int64_t> ids;
  std::istringstream lines(all.str());
  for (std::string line; std::getline(lines, line);) ids.push_back(parse_audit_row_line(line)->id);
  std::vector<std::int64_t> expected(22);
  for (int i = 0; i < 22; ++i) expected[static_cast<std::size_t>(i)] = i + 1;
  EXPECT_EQ(ids, expected);

  std::ostringstream a1_old;
  ExportFilter f;
  f.agent_id = "a1";
  f.from = kOld + 3;
  f.to = kNow;
  ASSERT_EQ(*export_audit(*store_, archive_dir_, f, a1_old), 9);  // rows 4..12
  EXPECT_EQ(a1_old.str().substr(0, 8), "{\"id\":4,");

  std::ostringstream a2;
  f.agent_id = "a2";
  f.from = 0;
  f.to = INT64_MAX;
  EXPECT_EQ(*export_audit(*store_, archive_dir_, f, a2), 6);
}

}  // namespace
}  // namespace warden::archive
