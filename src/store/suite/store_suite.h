// The store's behaviour suite, run against every backend (issue 12): each test gets a fresh,
// empty, migrated Store from the backend its binary instantiates, and talks to it through the
// Store and WriteTxn interface only. A unique key's violation names its columns on every backend
// ("agents.public_key"): callers rely on that, so the suite checks it; other message text is the
// backend's own and only codes are compared. store_suite_test runs it on SQLite
// (sqlite_backend.cc), postgres_store_suite_test on the PostgreSQL server of tests/postgres
// (postgres_backend.cc).
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "core/errors.h"
#include "store/store.h"

namespace warden::store::suite {

// One test's store, and whatever must live as long as it (a temporary directory, a connection).
class StoreInstance {
 public:
  virtual ~StoreInstance() = default;
  virtual Store& store() = 0;
  // Runs `sql` (one statement on `table`) behind the store's back with the rights to change
  // anything, guard triggers included: what an intruder with database access could do. The
  // statement is plain SQL both dialects accept.
  virtual Status tamper(std::string_view table, std::string_view sql) = 0;
  // An SQL expression for an audit hash (64 hex digits) as the backend stores it, for tamper().
  virtual std::string stored_hash(std::string_view hex) const = 0;
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string name() const = 0;
  // An empty store at the latest schema; nullptr after recording why as a test failure.
  virtual std::unique_ptr<StoreInstance> open_empty() = 0;
};

// The backends this binary runs the suite on: defined by its instantiation file.
std::vector<Backend*> backends();

inline std::string backend_name(const ::testing::TestParamInfo<Backend*>& info) {
  return info.param->name();
}

// How GoogleTest shows the parameter, and so how CTest names each case: the backend's name
// rather than an address that changes from run to run.
inline void PrintTo(Backend* backend, std::ostream* os) { *os << backend->name(); }

// The fixture of every suite test. Fixtures that add to SetUp call StoreTest::SetUp() first and
// stop when it failed.
class StoreTest : public ::testing::TestWithParam<Backend*> {
 protected:
  void SetUp() override {
    instance_ = GetParam()->open_empty();
    ASSERT_NE(instance_, nullptr);
    store_ = &instance_->store();
  }
  void TearDown() override {
    store_ = nullptr;
    instance_.reset();
  }
  Status run(const std::function<Status(WriteTxn&)>& fn) { return store_->write(fn); }
  Status tamper(std::string_view table, std::string_view sql) {
    return instance_->tamper(table, sql);
  }
  std::string stored_hash(std::string_view hex) const { return instance_->stored_hash(hex); }

  std::unique_ptr<StoreInstance> instance_;
  Store* store_ = nullptr;
};

}  // namespace warden::store::suite

namespace warden {

// GoogleTest shows a failed code comparison by the codes' names ("STORE_CONSTRAINT"), not bytes.
inline void PrintTo(ErrorCode code, std::ostream* os) { *os << error_code_name(code); }

}  // namespace warden

// Instantiates the suite fixture `fixture` on this binary's backends. Test names read
// Store/<fixture>.<test>/<backend>.
#define WARDEN_STORE_SUITE(fixture)                                                 \
  INSTANTIATE_TEST_SUITE_P(Store, fixture,                                          \
                           ::testing::ValuesIn(::warden::store::suite::backends()), \
                           ::warden::store::suite::backend_name)
