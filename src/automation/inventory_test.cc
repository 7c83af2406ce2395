#include "automation/inventory.h"

#include <gtest/gtest.h>

namespace warden::automation {
namespace {

// A driver whose listing takes `listing_ms` of fake time.
class ListingDriver final : public Driver {
 public:
  ListingDriver(FakeClock& clock, std::vector<InventoryItem> items) : clock_(clock), items_(items) {
    info_.id = "fake";
    info_.dry_run_refresh_sla_s = 5;
  }
  const HostInfo& info() const override { return info_; }
  Result<std::vector<InventoryItem>> inventory(bool full) override {
    calls.push_back(full);
    clock_.advance_ms(full ? full_listing_ms : listing_ms);
    if (fail) return Status(ErrorCode::AUTOMATION_DRIVER_FAILED, "down");
    return items_;
  }
  Result<DryRun> dry_run(const ActionCall&) override { return DryRun{}; }
  Result<ExecuteResult> execute(const ActionCall&) override { return ExecuteResult{}; }

  std::int64_t listing_ms = 100;
  std::int64_t full_listing_ms = 20'000;
  bool fail = false;
  std::vector<bool> calls;

 private:
  FakeClock& clock_;
  std::vector<InventoryItem> items_;
  HostInfo info_;
};

std::vector<InventoryItem> items() {
  return {InventoryItem{"trader-02", "Trader two", "agent", {{"env", "prod"}, {"team", "b"}}},
          InventoryItem{"db-1", "db-primary", "host", {{"env", "prod"}}},
          InventoryItem{"trader-01", "Trader one", "agent", {{"env", "dev"}}}};
}

struct Fixture {
  FakeClock clock{1'000'000};
  DriverRegistry registry;
  ListingDriver* driver;
  Inventory inventory{registry, clock};
  Fixture() {
    auto d = std::make_unique<ListingDriver>(clock, items());
    driver = d.get();
    registry.add(std::move(d));
  }
};

std::vector<std::string> ids(const std::vector<InventoryItem>& v) {
  std::vector<std::string> out;
  for (const InventoryItem& i : v) out.push_back(i.id);
  return out;
}

TEST(Inventory, FastRefreshIsDatedAndSortedAndGoesStaleAfterTheSla) {
  Fixture f;
  EXPECT_TRUE(f.inventory.snapshot("fake").stale);  // never refreshed
  EXPECT_TRUE(f.inventory.snapshot("fake").items.empty());

  Result<InventorySnapshot> s = f.inventory.refresh("fake", false);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->host, "fake");
  EXPECT_FALSE(s->full);
  EXPECT_FALSE(s->stale);
  EXPECT_EQ(s->refreshed_at_ms, 1'000'000);  // when the listing started
  EXPECT_EQ(ids(s->items), (std::vector<std::string>{"db-1", "trader-01", "trader-02"}));
  EXPECT_EQ(f.driver->calls, std::vector<bool>{false});

  f.clock.advance_ms(4'800);  // 4.9 s old: within the 5 s SLA
  EXPECT_FALSE(f.inventory.snapshot("fake").stale);
  f.clock.advance_ms(200);  // 5.1 s
  EXPECT_TRUE(f.inventory.snapshot("fake").stale);
  EXPECT_TRUE(f.inventory.all().at("fake").stale);
  EXPECT_EQ(f.inventory.snapshot("fake").items.size(), 3u);  // stale, still there
}

TEST(Inventory, AFastRefreshSlowerThanTheSlaComesBackStale) {
  Fixture f;
  f.driver->listing_ms = 6'000;
  Result<InventorySnapshot> s = f.inventory.refresh("fake", false);
  ASSERT_TRUE(s.ok());
  EXPECT_TRUE(s->stale);
  // A full refresh is slow by nature; it is dated at its start too.
  Result<InventorySnapshot> full = f.inventory.refresh("fake", true);
  ASSERT_TRUE(full.ok());
  EXPECT_TRUE(full->full);
  EXPECT_EQ(full->refreshed_at_ms, 1'006'000);
  EXPECT_EQ(f.driver->calls, (std::vector<bool>{false, true}));
}

TEST(Inventory, ErrorsKeepTheLastSnapshot) {
  Fixture f;
  ASSERT_TRUE(f.inventory.refresh("fake", false).ok());
  f.driver->fail = true;
  EXPECT_EQ(f.inventory.refresh("fake", false).status().code(),
            ErrorCode::AUTOMATION_DRIVER_FAILED);
  EXPECT_EQ(f.inventory.snapshot("fake").refreshed_at_ms, 1'000'000);
  EXPECT_EQ(f.inventory.snapshot("fake").items.size(), 3u);
  EXPECT_EQ(f.inventory.refresh("other", false).status().code(),
            ErrorCode::AUTOMATION_HOST_NOT_FOUND);
}

TEST(Inventory, HooksAndRestore) {
  Fixture f;
  std::vector<InventorySnapshot> saved;
  f.inventory.set_on_refresh([&](const InventorySnapshot& s) { saved.push_back(s); });
  ASSERT_TRUE(f.inventory.refresh("fake", true).ok());
  ASSERT_EQ(saved.size(), 1u);
  EXPECT_EQ(saved[0].items.size(), 3u);
  EXPECT_TRUE(saved[0].full);

  // An older stored snapshot does not replace a newer one; a newer one does.
  InventorySnapshot old{"fake", {InventoryItem{"x", "x", "file", {}}}, 5, false, false};
  f.inventory.restore(old);
  EXPECT_EQ(f.inventory.snapshot("fake").items.size(), 3u);
  InventorySnapshot stored{
      "stored", {InventoryItem{"y", "y", "file", {}}}, f.clock.now_ms(), true, false};
  f.inventory.restore(stored);
  EXPECT_EQ(ids(f.inventory.snapshot("stored").items), std::vector<std::string>{"y"});
  // A host without a driver has the default 5 s SLA.
  f.clock.advance_ms(5'001);
  EXPECT_TRUE(f.inventory.snapshot("stored").stale);
}

TEST(Inventory, SearchesIdsNamesAndLabels) {
  Fixture f;
  ASSERT_TRUE(f.inventory.refresh("fake", false).ok());
  auto search = [&](std::string_view q) { return ids(f.inventory.search("fake", q)); };
  EXPECT_EQ(search(""), (std::vector<std::string>{"db-1", "trader-01", "trader-02"}));
  EXPECT_EQ(search("trader"), (std::vector<std::string>{"trader-01", "trader-02"}));
  EXPECT_EQ(search("PRIMARY"), std::vector<std::string>{"db-1"});  // name, case-insensitive
  EXPECT_EQ(search("label:env=prod"), (std::vector<std::string>{"db-1", "trader-02"}));
  EXPECT_EQ(search("label:env=prod name:Trader*"), std::vector<std::string>{"trader-02"});
  EXPECT_EQ(search("label:team"), std::vector<std::string>{"trader-02"});
  EXPECT_EQ(search("name:db-*"), std::vector<std::string>{"db-1"});
  EXPECT_EQ(search("name:Trader ?ne"), std::vector<std::string>{});  // two terms: "?ne" no
  EXPECT_EQ(search("name:Trader?one"), std::vector<std::string>{"trader-01"});
  EXPECT_EQ(search("label:env=staging"), std::vector<std::string>{});
  EXPECT_EQ(search("nothing-like-this"), std::vector<std::string>{});
  EXPECT_TRUE(f.inventory.search("unknown-host", "").empty());
}

}  // namespace
}  // namespace warden::automation
