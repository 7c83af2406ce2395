// The suite on SQLite: each test's store is a new file in its own temporary directory, opened
// (and so migrated) as the daemon opens it.
#include <fmt/format.h>

#include "store/sqlite/sqlite_store.h"
#include "store/sqlite/test_util.h"
#include "store/suite/store_suite.h"

namespace warden::store::suite {
namespace {

class SqliteInstance final : public StoreInstance {
 public:
  SqliteInstance() : path_(dir_.file("suite.db")), store_(testing::open_store(path_)) {}
  bool opened() const { return store_ != nullptr; }
  Store& store() override { return *store_; }
  Status tamper(std::string_view, std::string_view sql) override {
    testing::RawDb raw(path_);
    if (raw.exec(sql) != SQLITE_OK) {
      return Status(ErrorCode::INTERNAL_STORE_ERROR, fmt::format("{}: {}", sql, raw.error()));
    }
    return Status();
  }
  // Stored compacted (compact.h), but a TEXT value reads as itself.
  std::string stored_hash(std::string_view hex) const override { return fmt::format("'{}'", hex); }

 private:
  testing::TempDir dir_;  // first in, last out: the store closes before its file goes
  std::string path_;
  std::unique_ptr<SqliteStore> store_;
};

class SqliteBackend final : public Backend {
 public:
  std::string name() const override { return "sqlite"; }
  std::unique_ptr<StoreInstance> open_empty() override {
    auto instance = std::make_unique<SqliteInstance>();
    if (!instance->opened()) return nullptr;  // open_store recorded why
    return instance;
  }
};

}  // namespace

std::vector<Backend*> backends() {
  static SqliteBackend sqlite;
  return {&sqlite};
}

}  // namespace warden::store::suite
