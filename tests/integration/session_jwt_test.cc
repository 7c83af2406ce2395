// Session tokens as ES256 JWTs through the real daemon: the JWKS endpoint, a token checked
// against it with OpenSSL alone, forged and tampered tokens refused with their reason,
// immediate revocation (also after a restart), and the private key sealed in the database.
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/param_build.h>
#include <openssl/x509.h>
#include <sqlite3.h>
#include <sys/stat.h>

#include <algorithm>
#include <boost/json.hpp>
#include <chrono>
#include <filesystem>
#include <thread>

#include "support/fixture.h"

namespace warden::testing {
namespace {

namespace json = boost::json;

// Base64url, written again here so the test does not trust the daemon's.
std::string b64url(std::string_view in) {
  static constexpr char kAlpha[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  std::size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    const unsigned v = (static_cast<unsigned char>(in[i]) << 16) |
                       (static_cast<unsigned char>(in[i + 1]) << 8) |
                       static_cast<unsigned char>(in[i + 2]);
    for (int s : {18, 12, 6, 0}) out += kAlpha[(v >> s) & 63];
  }
  if (i + 1 == in.size()) {
    const unsigned v = static_cast<unsigned char>(in[i]) << 16;
    out += kAlpha[(v >> 18) & 63];
    out += kAlpha[(v >> 12) & 63];
  } else if (i + 2 == in.size()) {
    const unsigned v =
        (static_cast<unsigned char>(in[i]) << 16) | (static_cast<unsigned char>(in[i + 1]) << 8);
    for (int s : {18, 12, 6}) out += kAlpha[(v >> s) & 63];
  }
  return out;
}

std::string unb64url(std::string_view in) {
  std::string std_b64(in);
  for (char& c : std_b64) c = c == '-' ? '+' : c == '_' ? '/' : c;
  while (std_b64.size() % 4 != 0) std_b64 += '=';
  std::string out(std_b64.size() * 3 / 4, '\0');
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(std_b64.data()),
                                static_cast<int>(std_b64.size()));
  if (n < 0) return {};
  out.resize(static_cast<std::size_t>(n) - (std_b64.size() - std::string(in).size()));
  return out;
}

struct Parts {
  std::string header, payload, signature;  // as sent (base64url)
};
Parts split(const std::string& token) {
  const auto a = token.find('.');
  const auto b = token.rfind('.');
  return {token.substr(0, a), token.substr(a + 1, b - a - 1), token.substr(b + 1)};
}

// ES256 verification with OpenSSL and the JWK's coordinates only.
bool openssl_verifies(const json::object& jwk, const std::string& token) {
  const std::string point =
      "\x04" + unb64url(jwk.at("x").as_string()) + unb64url(jwk.at("y").as_string());
  OSSL_PARAM_BLD* bld = OSSL_PARAM_BLD_new();
  OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0);
  OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size());
  OSSL_PARAM* params = OSSL_PARAM_BLD_to_param(bld);
  EVP_PKEY_CTX* pctx = EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr);
  EVP_PKEY* key = nullptr;
  EVP_PKEY_fromdata_init(pctx);
  EVP_PKEY_fromdata(pctx, &key, EVP_PKEY_PUBLIC_KEY, params);
  EVP_PKEY_CTX_free(pctx);
  OSSL_PARAM_free(params);
  OSSL_PARAM_BLD_free(bld);
  if (key == nullptr) return false;
  const std::string raw = unb64url(split(token).signature);
  if (raw.size() != 64) return false;
  ECDSA_SIG* sig = ECDSA_SIG_new();
  ECDSA_SIG_set0(sig, BN_bin2bn(reinterpret_cast<const unsigned char*>(raw.data()), 32, nullptr),
                 BN_bin2bn(reinterpret_cast<const unsigned char*>(raw.data()) + 32, 32, nullptr));
  unsigned char* der = nullptr;
  const int der_len = i2d_ECDSA_SIG(sig, &der);
  ECDSA_SIG_free(sig);
  const std::string input = token.substr(0, token.rfind('.'));
  EVP_MD_CTX* md = EVP_MD_CTX_new();
  const bool ok =
      EVP_DigestVerifyInit(md, nullptr, EVP_sha256(), nullptr, key) == 1 &&
      EVP_DigestVerify(md, der, static_cast<std::size_t>(der_len),
                       reinterpret_cast<const unsigned char*>(input.data()), input.size()) == 1;
  EVP_MD_CTX_free(md);
  OPENSSL_free(der);
  EVP_PKEY_free(key);
  return ok;
}

class SessionJwtTest : public WardenTest {
 protected:
  // (token, session body) for a fresh agent.
  std::pair<std::string, json::value> issue(const std::string& name) {
    agent_id_ = new_agent(name);
    json::value s = new_session(agent_id_, R"("ttl_s":600)");
    return {str_at(s, "token"), s};
  }
  Response current(const std::string& token) {
    return client_->request("GET", "/v1/sessions/current", {}, bearer_headers(token));
  }
  // Refused with 401, the code and the reason.
  void expect_refused(const std::string& token, const std::string& code,
                      const std::string& reason) {
    Response r = current(token);
    EXPECT_EQ(r.status, 401) << r.describe();
    EXPECT_EQ(r.error_code(), code) << r.describe();
    const json::value body = r.json();
    const json::value* details = at(body.at("error"), "details");
    ASSERT_NE(details, nullptr) << r.body;
    EXPECT_EQ(str_at(*details, "reason"), reason) << r.body;
  }
  json::object jwks_key(const std::string& kid) {
    Response r = client_->request("GET", "/.well-known/jwks.json");
    const json::value doc = r.json();
    for (const auto& k : doc.at("keys").as_array()) {
      if (k.at("kid").as_string() == kid) return k.as_object();
    }
    return {};
  }
  std::string agent_id_;
};

// More failures than the default throttle (5) are sent from one address in these tests.
class ForgedJwtTest : public SessionJwtTest {
  std::vector<std::string> serve_flags() const override { return {"--auth-failures-max", "100"}; }
};

TEST_F(SessionJwtTest, JwksPublishesTheKeyAndOpenSslAloneVerifiesAnIssuedToken) {
  auto [token, session] = issue("jwks");
  ASSERT_FALSE(token.empty());
  ASSERT_EQ(std::count(token.begin(), token.end(), '.'), 2) << token;
  const Parts p = split(token);
  json::value header = json::parse(unb64url(p.header));
  EXPECT_EQ(str_at(header, "alg"), "ES256");
  EXPECT_EQ(str_at(header, "typ"), "JWT");
  const std::string kid = str_at(header, "kid");
  json::value claims = json::parse(unb64url(p.payload));
  EXPECT_EQ(str_at(claims, "sub"), agent_id_);
  EXPECT_EQ(str_at(claims, "sid"), str_at(session, "id"));
  EXPECT_TRUE(claims.at("org").is_null()) << claims;
  EXPECT_EQ(claims.at("exp").as_int64() - claims.at("iat").as_int64(), 600);
  EXPECT_FALSE(str_at(claims, "jti").empty());

  Response jwks = client_->request("GET", "/.well-known/jwks.json");  // no credentials
  ASSERT_EQ(jwks.status, 200) << jwks.describe();
  EXPECT_EQ(jwks.header("cache-control"), "public, max-age=60");
  const json::object key = jwks_key(kid);
  ASSERT_FALSE(key.empty()) << jwks.body;
  EXPECT_EQ(key.at("kty").as_string(), "EC");
  EXPECT_EQ(key.at("crv").as_string(), "P-256");
  EXPECT_EQ(key.at("use").as_string(), "sig");
  EXPECT_EQ(key.at("alg").as_string(), "ES256");
  EXPECT_EQ(key.size(), 7u) << "only public members: " << json::serialize(key);
  EXPECT_TRUE(openssl_verifies(key, token));
  // The same check refuses a token whose payload changed.
  EXPECT_FALSE(openssl_verifies(key, p.header + "." + b64url("{}") + "." + p.signature));

  Response ok = current(token);
  ASSERT_EQ(ok.status, 200) << ok.describe();
  EXPECT_EQ(str_at(ok.json(), "id"), str_at(session, "id"));
}

TEST_F(ForgedJwtTest, ForgedAndTamperedTokensAreRefusedWithTheirReason) {
  auto [token, session] = issue("forged");
  ASSERT_EQ(current(token).status, 200);
  const Parts p = split(token);
  const std::string kid = str_at(json::parse(unb64url(p.header)), "kid");
  json::value claims = json::parse(unb64url(p.payload));

  // alg none, with and without a signature.
  const std::string none = b64url(R"({"alg":"none","typ":"JWT","kid":")" + kid + R"("})");
  expect_refused(none + "." + p.payload + ".", "AUTH_SESSION_INVALID", "algorithm_not_allowed");
  expect_refused(none + "." + p.payload + "." + p.signature, "AUTH_SESSION_INVALID",
                 "algorithm_not_allowed");

  // HS256 keyed with the public key as served by the JWKS (the algorithm-confusion attack).
  const std::string jwk = json::serialize(jwks_key(kid));
  const std::string hs = b64url(R"({"alg":"HS256","typ":"JWT","kid":")" + kid + R"("})");
  const std::string input = hs + "." + p.payload;
  unsigned char mac[32];
  unsigned int mac_len = 0;
  HMAC(EVP_sha256(), jwk.data(), static_cast<int>(jwk.size()),
       reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac, &mac_len);
  expect_refused(input + "." + b64url(std::string(reinterpret_cast<char*>(mac), mac_len)),
                 "AUTH_SESSION_INVALID", "algorithm_not_allowed");

  // A payload naming another session or a later expiry, with the original signature.
  json::object forged = claims.as_object();
  forged["exp"] = forged["exp"].as_int64() + 86'400;
  expect_refused(p.header + "." + b64url(json::serialize(forged)) + "." + p.signature,
                 "AUTH_SESSION_INVALID", "bad_signature");
  // One bit of the signature flipped.
  std::string sig = unb64url(p.signature);
  sig[20] = static_cast<char>(sig[20] ^ 0x40);
  expect_refused(p.header + "." + p.payload + "." + b64url(sig), "AUTH_SESSION_INVALID",
                 "bad_signature");
  // A kid the daemon never made.
  const std::string other_kid = b64url(R"({"alg":"ES256","typ":"JWT","kid":"not-a-key"})");
  expect_refused(other_kid + "." + p.payload + "." + p.signature, "AUTH_SESSION_INVALID",
                 "unknown_key");
  // Not a JWT at all (the pre-JWT opaque form) and broken base64.
  expect_refused("wdn_abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG", "AUTH_SESSION_INVALID",
                 "malformed");
  expect_refused(p.header + "." + p.payload + ".***", "AUTH_SESSION_INVALID", "malformed");
  // The real token still works after all that.
  EXPECT_EQ(current(token).status, 200);
}

TEST_F(SessionJwtTest, RevocationIsImmediateAndSurvivesARestart) {
  auto [token, session] = issue("revoked");
  auto [other, other_session] = issue("kept");
  ASSERT_EQ(current(token).status, 200);
  Response del = master("DELETE", "/v1/sessions/" + str_at(session, "id"));
  ASSERT_EQ(del.status, 204) << del.describe();
  Response r = current(token);
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(r.error_code(), "AUTH_SESSION_REVOKED");

  warden_->sigterm();
  ASSERT_TRUE(warden_->wait_exit(10'000).has_value());
  ASSERT_TRUE(warden_->restart()) << warden_->error();
  client_ = std::make_unique<HttpClient>(warden_->port());
  r = current(token);
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(r.error_code(), "AUTH_SESSION_REVOKED");
  // The other token verifies against the key reloaded from the store.
  EXPECT_EQ(current(other).status, 200);
}

TEST_F(SessionJwtTest, RenewalReturnsATokenWithTheNewExpiry) {
  auto [token, session] = issue("renew");
  const std::int64_t exp0 = json::parse(unb64url(split(token).payload)).at("exp").as_int64();
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  Response r = client_->request("PUT", "/v1/sessions/" + str_at(session, "id") + "/renew", {},
                                bearer_headers(token));
  ASSERT_EQ(r.status, 200) << r.describe();
  const std::string renewed = str_at(r.json(), "token");
  ASSERT_FALSE(renewed.empty()) << r.body;
  const std::int64_t exp1 = json::parse(unb64url(split(renewed).payload)).at("exp").as_int64();
  EXPECT_GT(exp1, exp0);
  EXPECT_EQ(current(renewed).status, 200);
  EXPECT_EQ(current(token).status, 200);  // the old one lives until its own exp
}

TEST_F(SessionJwtTest, PrivateKeyIsCiphertextInTheDatabaseAndTheSecretIsOwnerOnly) {
  auto [token, session] = issue("sealed");
  ASSERT_FALSE(token.empty());
  const auto secret = std::filesystem::path(warden_->data_dir()) / "master.secret";
  struct stat st {};
  ASSERT_EQ(::stat(secret.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(st.st_size, 32);

  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open_v2(warden_->database_path().c_str(), &db, SQLITE_OPEN_READONLY, nullptr),
            SQLITE_OK);
  sqlite3_stmt* q = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db, "SELECT kid, public_jwk, private_key_enc FROM signing_keys", -1,
                               &q, nullptr),
            SQLITE_OK);
  int rows = 0;
  while (sqlite3_step(q) == SQLITE_ROW) {
    ++rows;
    const std::string jwk = reinterpret_cast<const char*>(sqlite3_column_text(q, 1));
    const std::string sealed = reinterpret_cast<const char*>(sqlite3_column_text(q, 2));
    EXPECT_EQ(jwk.find("\"d\""), std::string::npos) << "the public JWK has no private part";
    for (const std::string& candidate : {sealed, unb64url(sealed)}) {
      const auto* bytes = reinterpret_cast<const unsigned char*>(candidate.data());
      EVP_PKEY* k = d2i_AutoPrivateKey(nullptr, &bytes, static_cast<long>(candidate.size()));
      EXPECT_EQ(k, nullptr) << "the stored private key parses as a key";
      EVP_PKEY_free(k);
    }
  }
  sqlite3_finalize(q);
  sqlite3_close(db);
  EXPECT_EQ(rows, 1);
}

}  // namespace
}  // namespace warden::testing
