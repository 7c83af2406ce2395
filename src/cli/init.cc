// `warden init`: create the data directory, the database and the master password hash.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/json/serialize.hpp>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "cli/commands.h"
#include "core/clock.h"
#include "server/auth.h"
#include "server/session_tokens.h"
#include "cli/store_url.h"
#include "store/postgres/pg_store.h"
#include "store/sqlite/sqlite_store.h"

namespace warden::cli {
namespace fs = std::filesystem;

std::string database_path(const std::string& data_dir) {
  return (fs::path(data_dir) / "warden.db").string();
}

namespace {

constexpr std::size_t kPasswordFileBytesMax = 4096;

// Reads the password: the file if given, else WARDEN_MASTER_PASSWORD, else none.
std::optional<std::string> given_password(const std::string& file, std::string* error) {
  if (!file.empty()) {
    std::ifstream in(file, std::ios::binary);
    if (!in) {
      *error = "cannot read master password file " + file;
      return std::nullopt;
    }
    std::string pw(kPasswordFileBytesMax + 1, '\0');
    in.read(pw.data(), static_cast<std::streamsize>(pw.size()));
    pw.resize(static_cast<std::size_t>(in.gcount()));
    while (!pw.empty() && (pw.back() == '\n' || pw.back() == '\r')) pw.pop_back();
    if (pw.empty() || pw.size() > kPasswordFileBytesMax) {
      *error = "master password file must hold 1.." + std::to_string(kPasswordFileBytesMax) +
               " bytes";
      return std::nullopt;
    }
    return pw;
  }
  if (const char* env = std::getenv("WARDEN_MASTER_PASSWORD"); env && *env) return std::string(env);
  return std::nullopt;
}

bool write_secret_file(const fs::path& path, const std::string& secret) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (fd < 0) return false;
  const std::string line = secret + "\n";
  const bool ok = ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size());
  return ::close(fd) == 0 && ok;
}

}  // namespace

int run_init(const InitArgs& args) {
  std::error_code ec;
  fs::create_directories(args.data_dir, ec);
  if (ec) {
    std::cerr << "error: cannot create " << args.data_dir << ": " << ec.message() << "\n";
    return kExitFailed;
  }
  fs::permissions(args.data_dir, fs::perms::owner_all, fs::perm_options::replace, ec);

  // Cluster mode: the replicas' shared store holds the hash; the data directory keeps only
  // this replica's files.
  Result<std::unique_ptr<store::Store>> store = std::unique_ptr<store::Store>();
  if (!args.store_url.empty()) {
    auto config = postgres_config(args.store_url, args.store_password_file);
    if (!config.ok()) {
      std::cerr << "error: " << config.status().message() << "\n";
      return kExitUsage;
    }
    auto pg = store::postgres::PostgresStore::open({*config, 1});
    if (pg.ok()) {
      store = std::unique_ptr<store::Store>(std::move(pg).value());
    } else {
      store = pg.take_status();
    }
  } else {
    auto lite =
        store::SqliteStore::open(database_path(args.data_dir), {.create_if_missing = true});
    if (lite.ok()) {
      store = std::unique_ptr<store::Store>(std::move(lite).value());
    } else {
      store = lite.take_status();
    }
  }
  if (!store.ok()) {
    std::cerr << "error: " << store.status().to_string() << "\n";
    return kExitFailed;
  }
  auto existing = (*store)->get_kv(server::kMasterPasswordHashKey);
  if (!existing.ok()) {
    std::cerr << "error: " << existing.status().to_string() << "\n";
    return kExitFailed;
  }
  if (existing->has_value()) {
    std::cout << "already initialized: " << args.data_dir << " (nothing changed)\n";
    return kExitOk;
  }

  std::string error;
  std::optional<std::string> password = given_password(args.master_password_file, &error);
  if (!error.empty()) {
    std::cerr << "error: " << error << "\n";
    return kExitFailed;
  }
  std::string generated_path;
  if (!password) {
    password = server::generate_secret();
    generated_path = (fs::path(args.data_dir) / "master-password").string();
    if (!write_secret_file(generated_path, *password)) {
      std::cerr << "error: cannot write " << generated_path << "\n";
      return kExitFailed;
    }
  }
  auto hash = server::hash_master_password(*password);
  if (!hash.ok()) {
    std::cerr << "error: " << hash.status().to_string() << "\n";
    return kExitFailed;
  }
  // The secret the session signing keys are sealed under (DATA_DIR/master.secret, 0600), unless
  // WARDEN_MASTER_SECRET supplies it.
  if (auto secret = server::load_or_create_master_secret(args.data_dir); !secret.ok()) {
    std::cerr << "error: " << secret.status().message() << "\n";
    return kExitFailed;
  }
  SystemClock clock;
  const std::int64_t now = clock.now_seconds();
  Status s = (*store)->write([&](store::WriteTxn& tx) {
    WARDEN_RETURN_IF_ERROR(tx.put_kv(server::kMasterPasswordHashKey, *hash, now));
    store::AuditEvent e;
    e.timestamp = now;
    e.event_type = "STORE_INITIALIZED";
    e.actor = "system";
    e.details = boost::json::serialize(boost::json::object{
        {"master_password_source",
         generated_path.empty() ? (args.master_password_file.empty() ? "env" : "file")
                                : "generated"}});
    return tx.append_audit(e).take_status();
  });
  if (!s.ok()) {
    std::cerr << "error: " << s.to_string() << "\n";
    return kExitFailed;
  }
  std::cout << "initialized " << args.data_dir << " (database "
            << (args.store_url.empty() ? database_path(args.data_dir) : args.store_url) << ")\n";
  if (!generated_path.empty()) {
    std::cout << "master password written to " << generated_path << " (mode 0600)\n";
  }
  return kExitOk;
}

}  // namespace warden::cli
