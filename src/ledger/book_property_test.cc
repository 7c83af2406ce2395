// Random sequences of mint / debit / hold / post / void / expire / undo over many owners and
// lots, checked after every step against a plain model written here: the same balances, no lot
// below zero, and the entries the book reported sum to every lot's state.
#include <gtest/gtest.h>

#include <map>
#include <random>

#include "ledger/ledger.h"

namespace warden::ledger {
namespace {

// The model: plain integers (amounts stay far below 2^63) and linear scans.
struct ModelLot {
  std::string id, owner, currency;
  std::int64_t expires_at = -1;  // -1: never
  long long remaining = 0, held = 0;
  bool expired = false;
};
struct ModelHold {
  std::string owner, currency;
  std::vector<std::pair<std::string, long long>> portions;
  long long amount = 0;
};

struct Model {
  std::vector<ModelLot> lots;  // creation order
  std::map<std::string, ModelHold> holds;

  ModelLot& lot(const std::string& id) {
    for (auto& l : lots) {
      if (l.id == id) return l;
    }
    throw std::logic_error("no lot " + id);
  }
  bool spendable(const ModelLot& l, std::int64_t now) const {
    return !l.expired && (l.expires_at < 0 || now < l.expires_at);
  }
  // Spending order: earliest expiry first (never last), then creation.
  std::vector<ModelLot*> order(const std::string& owner, const std::string& cur, std::int64_t now) {
    std::vector<ModelLot*> out;
    for (auto& l : lots) {
      if (l.owner == owner && l.currency == cur && spendable(l, now)) out.push_back(&l);
    }
    std::stable_sort(out.begin(), out.end(), [](const ModelLot* a, const ModelLot* b) {
      const auto ka = a->expires_at < 0 ? INT64_MAX : a->expires_at;
      const auto kb = b->expires_at < 0 ? INT64_MAX : b->expires_at;
      if (ka != kb) return ka < kb;
      return a->id < b->id;
    });
    return out;
  }
  long long available(const std::string& owner, const std::string& cur, std::int64_t now) {
    long long sum = 0;
    for (auto* l : order(owner, cur, now)) sum += l->remaining;
    return sum;
  }
  long long held(const std::string& owner, const std::string& cur) {
    long long sum = 0;
    for (auto& l : lots) {
      if (l.owner == owner && l.currency == cur) sum += l.held;
    }
    return sum;
  }
};

long long to_ll(const Amount& a) { return static_cast<long long>(a.rep()); }

class BookProperty : public ::testing::TestWithParam<unsigned> {};

TEST_P(BookProperty, MatchesThePlainModelAfterEveryStep) {
  std::mt19937 rng(GetParam());
  auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<unsigned>(n)); };
  const std::vector<std::string> owners = {"o1", "o2", "o3"};
  const std::vector<std::string> currencies = {"USD", "native"};
  Book book;
  Model model;
  // Every entry the book reported, per lot: what the entries alone say.
  std::map<std::string, std::pair<long long, long long>> from_entries;  // remaining, held
  auto tally = [&](const Change& c, int sign) {
    for (const Entry& e : c.entries) {
      auto& [rem, held] = from_entries[e.lot_id];
      const long long a = sign * to_ll(e.amount);
      switch (e.type) {
        case EntryType::kCredit: rem += a; break;
        case EntryType::kDebit: e.hold_id ? held -= a : rem -= a; break;
        case EntryType::kExpire: rem -= a; break;
        case EntryType::kHold: rem -= a, held += a; break;
        case EntryType::kRelease: rem += a, held -= a; break;
      }
    }
  };
  std::int64_t now = 1'000'000;
  int next_id = 0;
  std::vector<Change> undoable;  // the last changes, newest last

  for (int step = 0; step < 3000; ++step) {
    const std::string owner = owners[pick(3)];
    const std::string cur = currencies[pick(2)];
    const int op = pick(100);
    std::optional<Change> made;
    bool expiry_pass = false;
    if (op < 20) {  // mint
      char id[16];
      std::snprintf(id, sizeof id, "lot%06d", next_id++);
      Lot l;
      l.id = id;
      l.owner = owner;
      l.currency = cur;
      l.source = "grant";
      l.amount = Amount(1 + pick(500));
      if (pick(2) == 0) l.expires_at = now + 1 + pick(200);
      l.created_at = now;
      auto c = book.mint(l);
      ASSERT_TRUE(c.ok());
      model.lots.push_back({l.id, owner, cur, l.expires_at.value_or(-1), to_ll(l.amount), 0, false});
      made = *c;
    } else if (op < 45) {  // debit
      const long long want = 1 + pick(400);
      const long long avail = model.available(owner, cur, now);
      auto c = book.debit(owner, cur, Amount(want), now);
      if (want > avail) {
        ASSERT_FALSE(c.ok());
        ASSERT_EQ(c.status().code(), ErrorCode::LEDGER_BUDGET_EXCEEDED);
        ASSERT_EQ(c.status().details().at("shortfall").as_string(), std::to_string(want - avail));
      } else {
        ASSERT_TRUE(c.ok());
        long long left = want;
        for (auto* l : model.order(owner, cur, now)) {
          const long long take = std::min(l->remaining, left);
          l->remaining -= take;
          left -= take;
        }
        made = *c;
      }
    } else if (op < 65) {  // hold
      const long long want = 1 + pick(300);
      const bool partial = pick(4) == 0;
      const long long avail = model.available(owner, cur, now);
      const std::string hid = "hold" + std::to_string(next_id++);
      auto c = book.hold(owner, cur, Amount(want), partial, hid, now + 1 + pick(100), {}, now);
      if (want > avail && !partial) {
        ASSERT_FALSE(c.ok());
      } else {
        ASSERT_TRUE(c.ok());
        ModelHold h{owner, cur, {}, 0};
        long long left = std::min(want, avail);
        for (auto* l : model.order(owner, cur, now)) {
          const long long take = std::min(l->remaining, left);
          if (take == 0) continue;
          l->remaining -= take;
          l->held += take;
          h.portions.emplace_back(l->id, take);
          h.amount += take;
          left -= take;
        }
        ASSERT_EQ(to_ll(c->new_hold->amount), h.amount);
        model.holds[hid] = h;
        made = *c;
      }
    } else if (op < 85 && !model.holds.empty()) {  // post or void
      auto it = model.holds.begin();
      std::advance(it, pick(static_cast<int>(model.holds.size())));
      const std::string hid = it->first;
      ModelHold h = it->second;
      const bool post = pick(2) == 0;
      const long long amount = post ? pick(static_cast<int>(h.amount) + 1) : 0;
      auto c = post ? book.post(hid, Amount(amount), now) : book.void_hold(hid, now);
      ASSERT_TRUE(c.ok()) << c.status().to_string();
      long long left = amount;
      for (auto& [lot_id, part] : h.portions) {
        ModelLot& l = model.lot(lot_id);
        const long long spent = std::min(part, left);
        left -= spent;
        l.held -= part;
        l.remaining += part - spent;
        if (!model.spendable(l, now)) l.remaining = 0;  // released into an ended lot: expired
      }
      model.holds.erase(hid);
      made = *c;
    } else if (op < 92) {  // time passes and lots expire
      expiry_pass = true;
      now += 1 + pick(60);
      for (Change& c : book.expire_lots(now)) {
        ModelLot& l = model.lot(c.statuses.front().first);
        l.remaining = 0;
        l.expired = true;
        tally(c, 1);
      }
      for (auto& l : model.lots) {
        if (l.expires_at >= 0 && now >= l.expires_at) {
          ASSERT_EQ(l.remaining, 0) << l.id;
          l.expired = true;
        }
      }
    } else if (!undoable.empty()) {  // a write failed: the newest change is undone
      const Change c = undoable.back();
      undoable.pop_back();
      book.undo(c);
      tally(c, -1);
      // The model takes it back the same way.
      if (c.new_lot) {
        std::erase_if(model.lots, [&](const ModelLot& l) { return l.id == c.new_lot->id; });
        from_entries.erase(c.new_lot->id);
      }
      if (c.new_hold) model.holds.erase(c.new_hold->id);
      if (c.closed_hold) {
        ModelHold h{c.owner, c.currency, {}, to_ll(c.closed_hold->amount)};
        for (const auto& p : c.closed_hold->portions) h.portions.emplace_back(p.lot_id, to_ll(p.amount));
        model.holds[c.closed_hold->id] = h;
      }
      for (auto it = c.entries.rbegin(); it != c.entries.rend(); ++it) {
        if (c.new_lot && it->lot_id == c.new_lot->id) continue;
        ModelLot& l = model.lot(it->lot_id);
        const long long a = to_ll(it->amount);
        switch (it->type) {
          case EntryType::kCredit: l.remaining -= a; break;
          case EntryType::kDebit: it->hold_id ? l.held += a : l.remaining += a; break;
          case EntryType::kExpire: l.remaining += a; break;
          case EntryType::kHold: l.remaining += a, l.held -= a; break;
          case EntryType::kRelease: l.remaining -= a, l.held += a; break;
        }
      }
    }
    if (made) {
      tally(*made, 1);
      undoable.push_back(*made);
      if (undoable.size() > 3) undoable.erase(undoable.begin());
    }
    // A change made before an expiry pass is not undone after it (a write fails before the
    // next one starts).
    if (expiry_pass) undoable.clear();

    // The checks, after every step.
    for (const auto& ml : model.lots) {
      auto l = book.lot(ml.id);
      ASSERT_TRUE(l.has_value()) << ml.id << " step " << step;
      ASSERT_EQ(to_ll(l->remaining), ml.remaining) << ml.id << " step " << step;
      ASSERT_EQ(to_ll(l->held), ml.held) << ml.id << " step " << step;
      ASSERT_GE(ml.remaining, 0);
      ASSERT_GE(ml.held, 0);
      const auto& [rem, held] = from_entries[ml.id];
      ASSERT_EQ(rem, ml.remaining) << "entries of " << ml.id << " step " << step;
      ASSERT_EQ(held, ml.held) << "entries of " << ml.id << " step " << step;
    }
    for (const auto& o : owners) {
      for (const auto& c : currencies) {
        const Balance b = book.balance(o, c, now);
        ASSERT_EQ(to_ll(b.available), model.available(o, c, now)) << o << c << " step " << step;
        ASSERT_EQ(to_ll(b.held), model.held(o, c)) << o << c << " step " << step;
      }
    }
    ASSERT_EQ(book.holds().size(), model.holds.size());
  }
}

INSTANTIATE_TEST_SUITE_P(Seeds, BookProperty, ::testing::Values(1u, 2u, 3u, 42u, 2026u));

}  // namespace
}  // namespace warden::ledger
