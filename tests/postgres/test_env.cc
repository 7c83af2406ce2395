#include "test_env.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>

namespace warden::store::postgres {

std::map<std::string, std::string> server_env() {
  std::map<std::string, std::string> env;
  const char* path = std::getenv("WARDEN_PG_TEST_ENV");
  if (path == nullptr) return env;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    auto eq = line.find('=');
    if (eq != std::string::npos) env[line.substr(0, eq)] = line.substr(eq + 1);
  }
  return env;
}

ConnectionConfig test_config(const std::string& role, std::string_view database) {
  auto env = server_env();
  std::string url = env[role + "_url"];
  url = url.substr(0, url.rfind('/') + 1) + std::string(database);
  Result<std::string> password = read_password("", env[role + "_password_file"]);
  EXPECT_TRUE(password.ok()) << password.status().to_string();
  return {url, password.ok() ? *password : ""};
}

Status act_for_all_orgs(Connection& conn) { return conn.exec_script("SET app.org_id = '*'"); }

}  // namespace warden::store::postgres
