// LedgerService::payment_event on a real SQLite store: statuses move forward only whatever the
// order of the events, an event is applied once however often it arrives, a payment mints its lot
// once (also when the writer runs the write twice, or the commit fails), and contradicting or
// unknown-owner events are stored as evidence and change nothing else.
#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <thread>

#include "core/json.h"
#include "ledger/service.h"
#include "store/sqlite/sqlite_store.h"
#include "store/sqlite/test_util.h"

namespace warden {
void PrintTo(const Amount& amount, std::ostream* os) { *os << amount.to_string(); }
}  // namespace warden

namespace warden::ledger {
namespace {
namespace json = boost::json;

constexpr auto kWaitMax = std::chrono::seconds(10);
constexpr std::string_view kProvider = "acme";

std::string str(const json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  return v && v->is_string() ? std::string(v->as_string()) : std::string();
}

bool flag(const json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  return v && v->is_bool() && v->as_bool();
}

class PaymentsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = store::testing::open_store(dir_.file("ledger.db"));
    ASSERT_NE(store_, nullptr);
    agent_ = add_agent();
    writer_ = std::make_unique<store::BatchWriter>(*store_, store::BatchOptions{});
    service_ = std::make_unique<LedgerService>(*store_, *writer_, clock_, ids_,
                                               LedgerOptions{.start_sweeper = false});
    ASSERT_TRUE(service_->start().ok());
  }
  void TearDown() override {
    service_.reset();
    writer_.reset();
    store_.reset();
  }

  std::string add_agent() {
    store::AgentRow a{.id = ids_.next(), .name = "bot", .chain = "ethereum", .network = "mainnet"};
    a.created_at = a.updated_at = clock_.now_seconds();
    EXPECT_TRUE(store_->write([&](store::WriteTxn& tx) { return tx.insert_agent(a); }).ok());
    return a.id;
  }

  PaymentEvent event(std::string event_id, std::string status, std::string payment_id = "pay_1",
                     std::uint64_t amount = 500) {
    PaymentEvent e;
    e.provider = kProvider;
    e.event_id = std::move(event_id);
    e.payment_id = std::move(payment_id);
    e.owner = agent_;
    e.amount = Amount(amount);
    e.currency = "USD";
    e.status = std::move(status);
    e.created = clock_.now_seconds();
    e.payload = R"({"id":")" + e.event_id + R"("})";
    return e;
  }

  Result<Answer> deliver(PaymentEvent e) {
    auto promise = std::make_shared<std::promise<Result<Answer>>>();
    auto future = promise->get_future();
    service_->payment_event(std::move(e), Caller{"webhook:acme", "corr-1", "10.0.0.1"},
                            [promise](Result<Answer> r) { promise->set_value(std::move(r)); });
    if (future.wait_for(kWaitMax) != std::future_status::ready) {
      return Status(ErrorCode::INTERNAL_ERROR, "never answered");
    }
    return future.get();
  }

  // The answer of a delivery that must succeed (a failure records itself and gives {}).
  json::object ok(PaymentEvent e) {
    auto r = deliver(std::move(e));
    EXPECT_TRUE(r.ok()) << r.status().to_string();
    if (!r.ok()) return {};
    EXPECT_EQ(r->status, 200);
    return r->body;
  }

  std::optional<store::PaymentRow> payment(std::string_view id = "acme:pay_1") {
    auto p = store_->get_payment(id);
    EXPECT_TRUE(p.ok()) << p.status().to_string();
    return p.ok() ? *p : std::nullopt;
  }
  std::optional<store::WebhookEventRow> stored_event(std::string_view event_id) {
    auto e = store_->get_webhook_event(kProvider, event_id);
    EXPECT_TRUE(e.ok()) << e.status().to_string();
    return e.ok() ? *e : std::nullopt;
  }
  std::vector<store::LotRow> lots(const std::string& owner) {
    auto rows = store_->list_lots({.owner = owner}, {.limit = 1000});
    EXPECT_TRUE(rows.ok()) << rows.status().to_string();
    return rows.ok() ? *rows : std::vector<store::LotRow>{};
  }
  std::vector<store::AuditRow> audit(const std::string& type) {
    auto rows = store_->list_audit({.event_type = type, .limit = 1000});
    EXPECT_TRUE(rows.ok()) << rows.status().to_string();
    return rows.ok() ? *rows : std::vector<store::AuditRow>{};
  }
  Amount available(const std::string& owner) {
    return service_->book().balance(owner, "USD", clock_.now_seconds()).available;
  }
  // Book and store agree: the same lots, by id.
  void expect_book_matches_store(const std::string& owner) {
    std::vector<std::string> in_book;
    for (const Lot& l : service_->book().lots()) {
      if (l.owner == owner) in_book.push_back(l.id);
    }
    std::vector<std::string> in_store;
    for (const auto& l : lots(owner)) in_store.push_back(l.id);
    EXPECT_EQ(in_book, in_store);
  }

  store::testing::TempDir dir_;
  FakeClock clock_;
  IdGenerator ids_{clock_};
  std::unique_ptr<store::SqliteStore> store_;
  std::unique_ptr<store::BatchWriter> writer_;
  std::unique_ptr<LedgerService> service_;
  std::string agent_;
};

TEST_F(PaymentsTest, AConfirmedPaymentMintsItsLotOnce) {
  json::object a = ok(event("evt_1", "confirmed"));
  EXPECT_FALSE(flag(a, "duplicate"));
  EXPECT_TRUE(flag(a, "applied"));
  EXPECT_TRUE(flag(a, "minted"));
  EXPECT_EQ(str(a, "outcome"), "created");
  const json::object& lot = a.at("lot").as_object();
  EXPECT_EQ(str(lot, "source"), "payment");
  EXPECT_EQ(str(lot, "payment_id"), "acme:pay_1");
  EXPECT_EQ(str(lot, "amount"), "500");
  EXPECT_EQ(str(lot, "owner"), agent_);

  auto p = payment();
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->status, "confirmed");
  EXPECT_EQ(p->provider, "acme");
  EXPECT_EQ(p->amount, "500");
  ASSERT_TRUE(p->lot_id.has_value());
  EXPECT_EQ(*p->lot_id, str(lot, "id"));
  EXPECT_EQ(str(a.at("payment").as_object(), "payment_id"), "pay_1");

  auto rows = lots(agent_);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].id, *p->lot_id);
  EXPECT_EQ(rows[0].payment_id, std::optional<std::string>("acme:pay_1"));
  EXPECT_EQ(available(agent_), Amount(500));
  expect_book_matches_store(agent_);

  auto e = stored_event("evt_1");
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->processed_at, std::optional<std::int64_t>(clock_.now_seconds()));
  EXPECT_EQ(e->payload, R"({"id":"evt_1"})");
  auto events = audit("PAYMENT_EVENT");
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].event.actor, "webhook:acme");
  EXPECT_EQ(events[0].event.severity, "info");
  EXPECT_EQ(events[0].event.agent_id, std::optional<std::string>(agent_));
  json::object details = parse_json(events[0].event.details)->as_object();
  EXPECT_EQ(str(details, "outcome"), "created");
  EXPECT_EQ(str(details, "lot_id"), *p->lot_id);
  EXPECT_EQ(audit("LEDGER_MINT").size(), 1u);
}

TEST_F(PaymentsTest, TheSameEventTwiceIsADuplicateThatChangesNothing) {
  json::object first = ok(event("evt_1", "confirmed"));
  const std::size_t audit_rows = audit("PAYMENT_EVENT").size();
  json::object again = ok(event("evt_1", "confirmed"));
  EXPECT_TRUE(flag(again, "duplicate"));
  EXPECT_TRUE(flag(again, "applied"));  // what the first delivery did
  EXPECT_EQ(str(again, "event_id"), "evt_1");
  EXPECT_EQ(str(again.at("payment").as_object(), "lot_id"), str(first.at("lot").as_object(), "id"));
  EXPECT_EQ(lots(agent_).size(), 1u);
  EXPECT_EQ(available(agent_), Amount(500));
  EXPECT_EQ(audit("PAYMENT_EVENT").size(), audit_rows);
  EXPECT_EQ(audit("LEDGER_MINT").size(), 1u);
  expect_book_matches_store(agent_);
}

TEST_F(PaymentsTest, FinishedBeforeConfirmedMintsOnceAndTheLateConfirmIsIgnored) {
  json::object finished = ok(event("evt_2", "finished"));
  EXPECT_TRUE(flag(finished, "minted"));
  json::object confirmed = ok(event("evt_1", "confirmed"));
  EXPECT_FALSE(flag(confirmed, "duplicate"));
  EXPECT_FALSE(flag(confirmed, "applied"));
  EXPECT_FALSE(flag(confirmed, "minted"));
  EXPECT_EQ(str(confirmed, "outcome"), "stale");
  EXPECT_EQ(payment()->status, "finished");
  auto late = stored_event("evt_1");
  ASSERT_TRUE(late.has_value());  // stored as evidence
  EXPECT_FALSE(late->processed_at.has_value());
  EXPECT_EQ(lots(agent_).size(), 1u);
  EXPECT_EQ(available(agent_), Amount(500));
  expect_book_matches_store(agent_);
}

TEST_F(PaymentsTest, PendingAfterConfirmedIsIgnored) {
  json::object pending = ok(event("evt_1", "pending"));
  EXPECT_TRUE(flag(pending, "applied"));
  EXPECT_FALSE(flag(pending, "minted"));
  EXPECT_EQ(lots(agent_).size(), 0u);
  EXPECT_FALSE(payment()->lot_id.has_value());
  EXPECT_TRUE(flag(ok(event("evt_2", "confirmed")), "minted"));
  json::object late = ok(event("evt_3", "pending"));
  EXPECT_FALSE(flag(late, "applied"));
  EXPECT_EQ(str(late, "outcome"), "stale");
  EXPECT_EQ(payment()->status, "confirmed");
  // Equal is not forward either.
  EXPECT_EQ(str(ok(event("evt_4", "confirmed")), "outcome"), "stale");
  EXPECT_EQ(lots(agent_).size(), 1u);
  EXPECT_EQ(available(agent_), Amount(500));
}

TEST_F(PaymentsTest, FailedAfterFinishedIsRefused) {
  ok(event("evt_1", "finished"));
  json::object failed = ok(event("evt_2", "failed"));
  EXPECT_FALSE(flag(failed, "applied"));
  EXPECT_EQ(str(failed, "outcome"), "refused");
  EXPECT_EQ(payment()->status, "finished");
  EXPECT_FALSE(stored_event("evt_2")->processed_at.has_value());
  auto events = audit("PAYMENT_EVENT");
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[1].event.severity, "warning");
  EXPECT_EQ(available(agent_), Amount(500));
}

TEST_F(PaymentsTest, ConfirmedThenFailedKeepsTheLotAndPendingThenFailedMintsNothing) {
  ok(event("evt_1", "confirmed"));
  json::object failed = ok(event("evt_2", "failed"));
  EXPECT_TRUE(flag(failed, "applied"));
  EXPECT_EQ(str(failed, "taken_back"), "500");
  EXPECT_EQ(payment()->status, "failed");
  EXPECT_EQ(available(agent_), Amount(0));  // the money never arrived: the credit goes back

  ok(event("evt_3", "pending", "pay_2"));
  ok(event("evt_4", "failed", "pay_2"));
  EXPECT_EQ(str(ok(event("evt_5", "confirmed", "pay_2")), "outcome"), "stale");
  EXPECT_EQ(payment("acme:pay_2")->status, "failed");
  EXPECT_FALSE(payment("acme:pay_2")->lot_id.has_value());
  EXPECT_EQ(lots(agent_).size(), 1u);
}

TEST_F(PaymentsTest, RefundedEndsThePayment) {
  ok(event("evt_1", "confirmed"));
  // 200 of the 500 is spent before the refund: the other 300 is taken back.
  {
    std::promise<Result<Answer>> p;
    service_->debit({agent_, Amount(200), "USD", "spend-1"}, {},
                   [&](Result<Answer> r) { p.set_value(std::move(r)); });
    ASSERT_TRUE(p.get_future().get().ok());
  }
  json::object refunded = ok(event("evt_2", "refunded"));
  EXPECT_TRUE(flag(refunded, "applied"));
  EXPECT_FALSE(flag(refunded, "minted"));
  EXPECT_EQ(str(refunded, "taken_back"), "300");
  EXPECT_EQ(available(agent_), Amount(0));
  EXPECT_EQ(lots(agent_).at(0).status, "expired");
  EXPECT_EQ(payment()->status, "refunded");
  EXPECT_EQ(str(ok(event("evt_3", "finished")), "outcome"), "stale");
  EXPECT_EQ(str(ok(event("evt_4", "failed")), "outcome"), "stale");  // same rank
  EXPECT_EQ(payment()->status, "refunded");
  EXPECT_EQ(lots(agent_).size(), 1u);

  // Refunded before it was ever confirmed: nothing is minted, then or later.
  json::object first = ok(event("evt_5", "refunded", "pay_2"));
  EXPECT_EQ(str(first, "outcome"), "created");
  EXPECT_FALSE(flag(first, "minted"));
  EXPECT_FALSE(flag(ok(event("evt_6", "confirmed", "pay_2")), "applied"));
  EXPECT_FALSE(payment("acme:pay_2")->lot_id.has_value());
  EXPECT_EQ(lots(agent_).size(), 1u);
  EXPECT_EQ(available(agent_), Amount(0));  // the first payment's credit went back
}

TEST_F(PaymentsTest, AContradictingEventIsStoredAsEvidenceAndRefused) {
  ok(event("evt_1", "pending"));
  auto amount = deliver(event("evt_2", "confirmed", "pay_1", 999));
  ASSERT_FALSE(amount.ok());
  EXPECT_EQ(amount.status().code(), ErrorCode::LEDGER_PAYMENT_CONFLICT);
  EXPECT_EQ(amount.status().details().at("field").as_string(), "amount");
  PaymentEvent other_owner = event("evt_3", "confirmed");
  other_owner.owner = add_agent();
  auto owner = deliver(other_owner);
  ASSERT_FALSE(owner.ok());
  EXPECT_EQ(owner.status().details().at("field").as_string(), "owner");
  PaymentEvent other_currency = event("evt_4", "confirmed");
  other_currency.currency = "EUR";
  EXPECT_EQ(deliver(other_currency).status().details().at("field").as_string(), "currency");

  for (const char* id : {"evt_2", "evt_3", "evt_4"}) {
    auto e = stored_event(id);
    ASSERT_TRUE(e.has_value()) << id;
    EXPECT_FALSE(e->processed_at.has_value()) << id;
  }
  EXPECT_EQ(payment()->status, "pending");
  EXPECT_EQ(payment()->amount, "500");
  EXPECT_EQ(lots(agent_).size(), 0u);
  EXPECT_EQ(lots(other_owner.owner).size(), 0u);
  auto events = audit("PAYMENT_EVENT");
  ASSERT_EQ(events.size(), 4u);
  EXPECT_EQ(events[1].event.severity, "warning");
  EXPECT_EQ(str(parse_json(events[1].event.details)->as_object(), "outcome"), "conflict");
  // A redelivery is a duplicate that says it was not applied.
  json::object again = ok(event("evt_2", "confirmed", "pay_1", 999));
  EXPECT_TRUE(flag(again, "duplicate"));
  EXPECT_FALSE(flag(again, "applied"));
  // The payment still confirms with its own terms.
  EXPECT_TRUE(flag(ok(event("evt_5", "confirmed")), "minted"));
}

TEST_F(PaymentsTest, AnUnknownOwnerStoresOnlyTheEvent) {
  PaymentEvent e = event("evt_1", "confirmed");
  e.owner = "no-such-agent";
  auto r = deliver(e);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), ErrorCode::LEDGER_OWNER_UNKNOWN);
  EXPECT_EQ(r.status().details().at("field").as_string(), "data.owner");
  auto stored = stored_event("evt_1");
  ASSERT_TRUE(stored.has_value());
  EXPECT_FALSE(stored->processed_at.has_value());
  EXPECT_FALSE(payment().has_value());
  EXPECT_TRUE(lots("no-such-agent").empty());
  EXPECT_TRUE(service_->book().lots().empty());
  auto events = audit("PAYMENT_EVENT");
  ASSERT_EQ(events.size(), 1u);
  EXPECT_FALSE(events[0].event.agent_id.has_value());
  EXPECT_EQ(events[0].event.severity, "warning");
  EXPECT_TRUE(audit("LEDGER_MINT").empty());
}

// A lot minted through the API with the payment's id is the payment's lot: linked, not minted
// again; one with other terms is a conflict.
TEST_F(PaymentsTest, ALotAlreadyMintedForThePaymentIdIsLinked) {
  auto promise = std::make_shared<std::promise<Result<Answer>>>();
  service_->mint({.owner = agent_,
                  .amount = Amount(500),
                  .currency = "USD",
                  .source = "payment",
                  .payment_id = "acme:pay_1",
                  .idempotency_key = "k1"},
                 Caller{}, [promise](Result<Answer> r) { promise->set_value(std::move(r)); });
  auto minted = promise->get_future().get();
  ASSERT_TRUE(minted.ok()) << minted.status().to_string();
  json::object linked = ok(event("evt_1", "confirmed"));
  EXPECT_TRUE(flag(linked, "applied"));
  EXPECT_FALSE(flag(linked, "minted"));
  EXPECT_EQ(payment()->lot_id, std::optional<std::string>(str(minted->body, "id")));
  EXPECT_EQ(lots(agent_).size(), 1u);
  EXPECT_EQ(available(agent_), Amount(500));

  auto promise2 = std::make_shared<std::promise<Result<Answer>>>();
  service_->mint({.owner = agent_,
                  .amount = Amount(7),
                  .currency = "USD",
                  .source = "grant",
                  .payment_id = "acme:pay_2",
                  .idempotency_key = "k2"},
                 Caller{}, [promise2](Result<Answer> r) { promise2->set_value(std::move(r)); });
  ASSERT_TRUE(promise2->get_future().get().ok());
  auto other = deliver(event("evt_2", "confirmed", "pay_2", 500));
  ASSERT_FALSE(other.ok());
  EXPECT_EQ(other.status().code(), ErrorCode::LEDGER_PAYMENT_CONFLICT);
  EXPECT_EQ(other.status().details().at("field").as_string(), "lot");
  EXPECT_FALSE(payment("acme:pay_2").has_value());
  EXPECT_EQ(lots(agent_).size(), 2u);
}

// 100 threads deliver the same event, and others deliver the payment's other events at the same
// time: one delivery applies it, one lot exists, in the book as in the store.
TEST_F(PaymentsTest, ConcurrentDeliveriesMintOnce) {
  constexpr int kThreads = 100;
  std::atomic<int> first{0}, duplicates{0}, failures{0};
  std::vector<std::thread> threads;
  std::atomic<bool> go{false};
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      while (!go.load()) std::this_thread::yield();
      // Every tenth thread sends another event of the same payment.
      PaymentEvent e = i % 10 == 0 ? event("evt_other_" + std::to_string(i),
                                           i % 20 == 0 ? "finished" : "pending")
                                   : event("evt_1", "confirmed");
      auto r = deliver(e);
      if (!r.ok()) {
        ++failures;
      } else if (e.event_id == "evt_1") {
        flag(r->body, "duplicate") ? ++duplicates : ++first;
      }
    });
  }
  go = true;
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(first.load(), 1);
  EXPECT_EQ(duplicates.load(), kThreads - kThreads / 10 - 1);
  EXPECT_EQ(lots(agent_).size(), 1u);
  EXPECT_EQ(available(agent_), Amount(500));
  EXPECT_EQ(audit("LEDGER_MINT").size(), 1u);
  expect_book_matches_store(agent_);
  EXPECT_EQ(payment()->status, "finished");  // the highest status sent wins, in any order
}

// Another operation of the batch fails, so the writer rolls the batch back and runs it again
// with savepoints: the event's write runs twice and must reuse the lot it minted in memory.
TEST_F(PaymentsTest, AWriteRunTwiceMintsOneLot) {
  auto runs = std::make_shared<std::atomic<int>>(0);
  std::promise<Status> failed;
  Result<Answer> answer = Status(ErrorCode::INTERNAL_ERROR);
  {
    store::testing::BlockedWriter blocked(*writer_);
    auto promise = std::make_shared<std::promise<Result<Answer>>>();
    auto future = promise->get_future();
    service_->payment_event(event("evt_1", "confirmed"), Caller{},
                            [promise](Result<Answer> r) { promise->set_value(std::move(r)); });
    ASSERT_TRUE(writer_
                    ->submit(
                        [runs](store::WriteTxn&) {
                          ++*runs;
                          return Status(ErrorCode::VALIDATION_INVALID_VALUE, "fails on purpose");
                        },
                        [&failed](const Status& s) { failed.set_value(s); })
                    .ok());
    blocked.release();
    ASSERT_EQ(future.wait_for(kWaitMax), std::future_status::ready);
    answer = future.get();
  }
  EXPECT_EQ(failed.get_future().get().code(), ErrorCode::VALIDATION_INVALID_VALUE);
  EXPECT_EQ(runs->load(), 2);  // the batch did run twice
  ASSERT_TRUE(answer.ok()) << answer.status().to_string();
  EXPECT_TRUE(flag(answer->body, "minted"));
  EXPECT_EQ(service_->book().lots().size(), 1u);
  EXPECT_EQ(lots(agent_).size(), 1u);
  EXPECT_EQ(available(agent_), Amount(500));
  expect_book_matches_store(agent_);
}

// The commit fails (the disk is full): the lot minted in memory is taken back, and the next
// delivery mints it for real.
TEST_F(PaymentsTest, AFailedCommitUndoesTheMint) {
  {
    store::testing::FileSizeLimit disk_full(0);
    auto r = deliver(event("evt_1", "confirmed"));
    EXPECT_FALSE(r.ok());
  }
  EXPECT_TRUE(service_->book().lots().empty());
  EXPECT_EQ(available(agent_), Amount());
  EXPECT_FALSE(stored_event("evt_1").has_value());
  json::object retry = ok(event("evt_1", "confirmed"));
  EXPECT_FALSE(flag(retry, "duplicate"));
  EXPECT_TRUE(flag(retry, "minted"));
  EXPECT_EQ(lots(agent_).size(), 1u);
  EXPECT_EQ(available(agent_), Amount(500));
  expect_book_matches_store(agent_);
}

// The lot minted by a webhook is rebuilt at start-up like any other.
TEST_F(PaymentsTest, AMintedLotSurvivesARestart) {
  PaymentEvent e = event("evt_1", "confirmed");
  e.expires_at = clock_.now_seconds() + 3600;
  ok(e);
  service_.reset();
  service_ = std::make_unique<LedgerService>(*store_, *writer_, clock_, ids_,
                                             LedgerOptions{.start_sweeper = false});
  ASSERT_TRUE(service_->start().ok());
  EXPECT_EQ(available(agent_), Amount(500));
  auto restored = service_->book().lots();
  ASSERT_EQ(restored.size(), 1u);
  EXPECT_EQ(restored[0].expires_at, e.expires_at);
  EXPECT_EQ(restored[0].payment_id, std::optional<std::string>("acme:pay_1"));
  EXPECT_TRUE(flag(ok(event("evt_1", "confirmed")), "duplicate"));
  EXPECT_EQ(lots(agent_).size(), 1u);
}

TEST_F(PaymentsTest, MalformedEventsAreRefusedBeforeAnythingIsWritten) {
  struct Case {
    std::function<void(PaymentEvent&)> change;
    std::string field;
    ErrorCode reason;
  };
  const std::vector<Case> cases = {
      {[](PaymentEvent& e) { e.amount = Amount(); }, "data.amount",
       ErrorCode::VALIDATION_INVALID_AMOUNT},
      {[](PaymentEvent& e) { e.currency = "usd"; }, "data.currency",
       ErrorCode::LEDGER_CURRENCY_UNKNOWN},
      {[](PaymentEvent& e) { e.status = "settled"; }, "data.status",
       ErrorCode::VALIDATION_INVALID_VALUE},
      {[](PaymentEvent& e) { e.event_id = ""; }, "id", ErrorCode::VALIDATION_INVALID_VALUE},
      {[](PaymentEvent& e) { e.event_id = "evt 1"; }, "id", ErrorCode::VALIDATION_INVALID_VALUE},
      {[](PaymentEvent& e) { e.payment_id = std::string(124, 'p'); }, "data.payment_id",
       ErrorCode::VALIDATION_INVALID_VALUE},
      {[](PaymentEvent& e) { e.owner = ""; }, "data.owner", ErrorCode::VALIDATION_INVALID_VALUE},
      {[](PaymentEvent& e) { e.provider = "Acme"; }, "provider",
       ErrorCode::VALIDATION_INVALID_VALUE},
      {[](PaymentEvent& e) { e.expires_at = 0; }, "data.expires_at",
       ErrorCode::VALIDATION_INVALID_VALUE},
  };
  for (const Case& c : cases) {
    PaymentEvent e = event("evt_bad", "confirmed");
    c.change(e);
    auto r = deliver(e);
    ASSERT_FALSE(r.ok()) << c.field;
    EXPECT_EQ(r.status().code(), ErrorCode::WEBHOOK_PAYLOAD_INVALID) << c.field;
    EXPECT_EQ(r.status().details().at("field").as_string(), c.field);
    EXPECT_EQ(r.status().details().at("reason").as_string(), error_code_name(c.reason)) << c.field;
  }
  // 123 bytes is the most a payment id may have with a 4-byte provider (128 in all).
  EXPECT_TRUE(flag(ok(event("evt_long", "confirmed", std::string(123, 'p'))), "minted"));
  EXPECT_FALSE(stored_event("evt_bad").has_value());
  EXPECT_EQ(audit("PAYMENT_EVENT").size(), 1u);
}

}  // namespace
}  // namespace warden::ledger
