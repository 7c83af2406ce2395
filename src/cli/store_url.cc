// Cluster mode's store settings: a PostgreSQL URL without its password, and the password.
#include "cli/store_url.h"

#include <regex>

namespace warden::cli {

bool is_postgres_url(const std::string& url) {
  return url.starts_with("postgres://") || url.starts_with("postgresql://");
}

Result<store::postgres::ConnectionConfig> postgres_config(const std::string& url,
                                                         const std::string& password_file) {
  if (!is_postgres_url(url)) {
    return Status(ErrorCode::CONFIG_INVALID,
                  "store url must start with postgres:// or postgresql://");
  }
  // user:password@ in the authority, or a password= parameter.
  static const std::regex kUserInfoPassword(R"(^postgres(ql)?://[^/@?]*:[^/@?]*@)");
  static const std::regex kPasswordParam(R"([?&]password=)");
  if (std::regex_search(url, kUserInfoPassword) || std::regex_search(url, kPasswordParam)) {
    return Status(ErrorCode::CONFIG_INVALID,
                  "store url must not carry a password: set WARDEN_STORE_PASSWORD or "
                  "--store-password-file");
  }
  auto password = store::postgres::read_password(kStorePasswordEnv, password_file);
  if (!password.ok()) {
    return Status(ErrorCode::CONFIG_INVALID,
                  std::string("store password: ") + password.status().message());
  }
  return store::postgres::ConnectionConfig{url, std::move(password).value()};
}

Result<std::unique_ptr<store::postgres::PostgresStore>> open_postgres_store(
    const std::string& url, const std::string& password_file) {
  WARDEN_ASSIGN_OR_RETURN(auto config, postgres_config(url, password_file));
  return store::postgres::PostgresStore::open({std::move(config), 1});
}

}  // namespace warden::cli
