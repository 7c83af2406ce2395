// ES256 JWTs and the session signing keys: each refusal with its reason, rotation overlap,
// sealing under the master secret, and the revocation set, on a real SQLite store.
#include "server/jwt.h"

#include <gtest/gtest.h>
#include <openssl/hmac.h>
#include <stdlib.h>

#include <boost/json.hpp>
#include <filesystem>

#include "core/clock.h"
#include "server/session_tokens.h"
#include "store/sqlite/sqlite_store.h"

namespace warden::server {
namespace {

namespace json = boost::json;

constexpr std::int64_t kHourS = 3600;

std::string part(const json::object& o) { return base64url_encode(json::serialize(o)); }

json::object claims_json(std::int64_t now, std::int64_t exp) {
  return {{"sub", "agent-1"}, {"sid", "session-1"}, {"org", nullptr}, {"iat", now},
          {"nbf", now},       {"exp", exp},         {"jti", "j-1"}};
}

class SessionKeysTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (std::filesystem::temp_directory_path() / "warden-jwt-XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    auto opened = store::SqliteStore::open(dir_ + "/warden.db", {.create_if_missing = true});
    ASSERT_TRUE(opened.ok()) << opened.status().to_string();
    store_ = std::move(*opened);
    keys_ = open_keys(secret_);
  }
  void TearDown() override {
    keys_.reset();
    store_.reset();
    std::filesystem::remove_all(dir_);
  }
  std::unique_ptr<SessionKeys> open_keys(const std::string& secret) {
    auto k = SessionKeys::open(*store_, secret, clock_,
                               {.rotation_seconds = kHourS, .overlap_seconds = 15 * 60});
    EXPECT_TRUE(k.ok()) << k.status().to_string();
    return k.ok() ? std::move(*k) : nullptr;
  }
  JwtClaims claims(std::int64_t exp_in_s) const {
    JwtClaims c;
    c.sub = "agent-1";
    c.sid = "session-1";
    c.org = "org-a";
    c.iat = clock_.now_seconds();
    c.nbf = c.iat;
    c.exp = c.iat + exp_in_s;
    c.jti = "jti-1";
    return c;
  }
  std::vector<store::SigningKeyRow> rows() {
    auto r = store_->list_signing_keys();
    EXPECT_TRUE(r.ok());
    return r.ok() ? *r : std::vector<store::SigningKeyRow>{};
  }
  // The public key the JWKS document publishes for kid.
  std::optional<EcKey> jwks_key(const std::string& kid) {
    json::value doc = json::parse(keys_->jwks());
    for (const auto& k : doc.at("keys").as_array()) {
      const auto& o = k.as_object();
      if (o.at("kid").as_string() != kid) continue;
      EXPECT_EQ(o.at("kty").as_string(), "EC");
      EXPECT_EQ(o.at("crv").as_string(), "P-256");
      EXPECT_EQ(o.at("alg").as_string(), "ES256");
      EXPECT_EQ(o.at("use").as_string(), "sig");
      auto key = EcKey::from_public_xy(*base64url_decode(o.at("x").as_string()),
                                       *base64url_decode(o.at("y").as_string()));
      if (key.ok()) return *key;
    }
    return std::nullopt;
  }

  std::string dir_;
  FakeClock clock_;
  std::string secret_ = std::string(kMasterSecretBytes, 'm');
  std::unique_ptr<store::SqliteStore> store_;
  std::unique_ptr<SessionKeys> keys_;
};

TEST(Base64UrlTest, RoundTripsAndRefusesNonCanonicalText) {
  for (std::string s : {"", "f", "fo", "foo", "foob", "fooba", "foobar", "\xff\xfe\x00"}) {
    EXPECT_EQ(base64url_decode(base64url_encode(s)), s);
  }
  EXPECT_EQ(base64url_encode("\xfb\xff"), "-_8");
  EXPECT_FALSE(base64url_decode("Zm9v=").has_value());  // padding
  EXPECT_FALSE(base64url_decode("Zm+v").has_value());   // standard alphabet
  EXPECT_FALSE(base64url_decode("Z").has_value());      // impossible length
  EXPECT_FALSE(base64url_decode("Zh").has_value());     // leftover bits set
}

TEST_F(SessionKeysTest, ValidTokenVerifiesWithItsClaims) {
  auto t = keys_->sign(claims(600));
  ASSERT_TRUE(t.ok()) << t.status().to_string();
  JwtVerifyResult r = keys_->verify(t->token);
  ASSERT_TRUE(r.claims) << jwt_error_name(r.error);
  EXPECT_EQ(r.claims->sub, "agent-1");
  EXPECT_EQ(r.claims->sid, "session-1");
  EXPECT_EQ(r.claims->org, "org-a");
  EXPECT_EQ(r.claims->exp, clock_.now_seconds() + 600);
  EXPECT_EQ(r.kid, t->kid);
  // Header as specified.
  json::value header = json::parse(*base64url_decode(t->token.substr(0, t->token.find('.'))));
  EXPECT_EQ(header.at("alg").as_string(), "ES256");
  EXPECT_EQ(header.at("typ").as_string(), "JWT");
  EXPECT_EQ(header.at("kid").as_string(), t->kid);
  // The raw signature is r||s, 64 bytes.
  EXPECT_EQ(base64url_decode(t->token.substr(t->token.rfind('.') + 1))->size(), 64u);
}

TEST_F(SessionKeysTest, ExpiredAndNotYetValidAreRefusedOutsideTheLeeway) {
  auto t = keys_->sign(claims(60));
  ASSERT_TRUE(t.ok());
  clock_.advance_ms((60 + 29) * 1000);  // inside the 30 s leeway
  EXPECT_TRUE(keys_->verify(t->token).claims);
  clock_.advance_ms(1000);
  JwtVerifyResult r = keys_->verify(t->token);
  EXPECT_FALSE(r.claims);
  EXPECT_EQ(r.error, JwtError::kExpired);
  EXPECT_EQ(jwt_error_status(r.error).code(), ErrorCode::AUTH_SESSION_EXPIRED);

  JwtClaims future = claims(600);
  future.nbf = clock_.now_seconds() + 31;
  auto f = keys_->sign(future);
  ASSERT_TRUE(f.ok());
  r = keys_->verify(f->token);
  EXPECT_EQ(r.error, JwtError::kNotYetValid);
  EXPECT_EQ(jwt_error_status(r.error).code(), ErrorCode::AUTH_SESSION_INVALID);
  EXPECT_EQ(jwt_error_status(r.error).message(), "session token refused: not_yet_valid");
  clock_.advance_ms(2000);  // now within the leeway of nbf
  EXPECT_TRUE(keys_->verify(f->token).claims);
}

TEST_F(SessionKeysTest, UnknownKidIsRefused) {
  auto other = EcKey::generate();
  ASSERT_TRUE(other.ok());
  JwtClaims c = claims(600);
  auto forged = jwt_sign(*other, "no-such-kid", c);
  ASSERT_TRUE(forged.ok());
  EXPECT_EQ(keys_->verify(*forged).error, JwtError::kUnknownKey);
  // A real kid with another key's signature is a bad signature.
  auto t = keys_->sign(c);
  ASSERT_TRUE(t.ok());
  auto wrong = jwt_sign(*other, t->kid, c);
  ASSERT_TRUE(wrong.ok());
  EXPECT_EQ(keys_->verify(*wrong).error, JwtError::kBadSignature);
}

TEST_F(SessionKeysTest, AlgNoneAndHs256WithThePublicKeyAsSecretAreRefused) {
  auto t = keys_->sign(claims(600));
  ASSERT_TRUE(t.ok());
  const std::string payload = part(claims_json(clock_.now_seconds(), clock_.now_seconds() + 600));
  const std::string none =
      part({{"alg", "none"}, {"typ", "JWT"}, {"kid", t->kid}}) + "." + payload + ".";
  EXPECT_EQ(keys_->verify(none).error, JwtError::kAlgorithm);
  const std::string none_upper =
      part({{"alg", "NONE"}, {"kid", t->kid}}) + "." + payload + "." + base64url_encode("x");
  EXPECT_EQ(keys_->verify(none_upper).error, JwtError::kAlgorithm);

  // Algorithm confusion: HS256 keyed with every public form of the key a verifier might hold.
  json::value doc = json::parse(keys_->jwks());
  const std::string jwk = json::serialize(doc.at("keys").as_array().at(0));
  auto xy = jwks_key(t->kid)->public_xy();
  ASSERT_TRUE(xy.ok());
  const std::string input =
      part({{"alg", "HS256"}, {"typ", "JWT"}, {"kid", t->kid}}) + "." + payload;
  for (const std::string& secret : {jwk, "\x04" + xy->first + xy->second}) {
    unsigned char mac[32];
    unsigned int mac_len = 0;
    HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
         reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac, &mac_len);
    const std::string token =
        input + "." + base64url_encode(std::string(reinterpret_cast<char*>(mac), mac_len));
    EXPECT_EQ(keys_->verify(token).error, JwtError::kAlgorithm);
  }
  // Other algorithms and a crit header are refused the same way.
  for (const char* alg : {"RS256", "ES384", "es256", "PS256"}) {
    const std::string token = part({{"alg", alg}, {"kid", t->kid}}) + "." + payload + ".c2ln";
    EXPECT_EQ(keys_->verify(token).error, JwtError::kAlgorithm) << alg;
  }
  const std::string crit = part({{"alg", "ES256"}, {"kid", t->kid}, {"crit", json::array{"exp"}}}) +
                           "." + payload + ".c2ln";
  EXPECT_EQ(keys_->verify(crit).error, JwtError::kAlgorithm);
}

TEST_F(SessionKeysTest, TamperedHeaderPayloadOrSignatureIsRefused) {
  auto t = keys_->sign(claims(600));
  ASSERT_TRUE(t.ok());
  const std::string& tok = t->token;
  const auto d1 = tok.find('.');
  const auto d2 = tok.rfind('.');
  // A payload naming another agent, keeping the original signature.
  json::object forged = claims_json(clock_.now_seconds(), clock_.now_seconds() + 600);
  forged["sub"] = "agent-2";
  const std::string tampered_payload = tok.substr(0, d1) + "." + part(forged) + tok.substr(d2);
  EXPECT_EQ(keys_->verify(tampered_payload).error, JwtError::kBadSignature);
  // The same header with a harmless extra member.
  const std::string tampered_header =
      part({{"alg", "ES256"}, {"typ", "JWT"}, {"kid", t->kid}, {"x", 1}}) + tok.substr(d1);
  EXPECT_EQ(keys_->verify(tampered_header).error, JwtError::kBadSignature);
  // One bit of the signature flipped.
  std::string sig = *base64url_decode(tok.substr(d2 + 1));
  sig[10] = static_cast<char>(sig[10] ^ 0x01);
  EXPECT_EQ(keys_->verify(tok.substr(0, d2 + 1) + base64url_encode(sig)).error,
            JwtError::kBadSignature);
  // A truncated signature, and a DER signature instead of r||s.
  EXPECT_EQ(keys_->verify(tok.substr(0, d2 + 1) + base64url_encode(sig.substr(0, 63))).error,
            JwtError::kBadSignature);
  // A payload that is not base64url fails on the signature, checked first.
  EXPECT_EQ(keys_->verify(tok.substr(0, d1) + ".!!!" + tok.substr(d2)).error,
            JwtError::kBadSignature);
  // Malformed: parts, base64 and JSON.
  for (const std::string& bad :
       {std::string("abc"), tok + ".x", tok.substr(0, d2 + 1) + "!!",
        base64url_encode("{not json") + tok.substr(d1), std::string("..")}) {
    EXPECT_EQ(keys_->verify(bad).error, JwtError::kMalformed) << bad;
  }
}

TEST_F(SessionKeysTest, RotationKeepsOldTokensDuringTheOverlapThenRetiresTheKey) {
  auto first = keys_->sign(claims(10 * kHourS));
  ASSERT_TRUE(first.ok());
  clock_.advance_ms((kHourS + 1) * 1000);  // the first key has stopped signing
  auto second = keys_->sign(claims(10 * kHourS));
  ASSERT_TRUE(second.ok());
  EXPECT_NE(first->kid, second->kid);
  ASSERT_EQ(rows().size(), 2u);
  EXPECT_TRUE(keys_->verify(first->token).claims);  // overlap
  EXPECT_TRUE(jwks_key(first->kid));
  EXPECT_TRUE(jwks_key(second->kid));

  // 15 minutes after it stopped signing the first key verifies nothing more.
  clock_.advance_ms((15 * 60 - 1) * 1000);
  EXPECT_TRUE(keys_->verify(first->token).claims);
  clock_.advance_ms(2000);
  JwtVerifyResult r = keys_->verify(first->token);
  EXPECT_EQ(r.error, JwtError::kKeyRetired);
  EXPECT_EQ(jwt_error_status(r.error).message(), "session token refused: key_retired");
  EXPECT_FALSE(jwks_key(first->kid));
  EXPECT_TRUE(keys_->verify(second->token).claims);
}

TEST_F(SessionKeysTest, AKeyVerifiesUntilTheLastTokenItSignedExpires) {
  auto t = keys_->sign(claims(5 * kHourS));
  ASSERT_TRUE(t.ok());
  // What the session route does in the session's transaction, then after its commit.
  const std::int64_t until = clock_.now_seconds() + 5 * kHourS + 30;
  ASSERT_TRUE(
      store_->write([&](store::WriteTxn& tx) { return tx.extend_signing_key(t->kid, until); })
          .ok());
  keys_->signed_until(t->kid, until);
  EXPECT_EQ(rows().at(0).verify_until, until);
  clock_.advance_ms(4 * kHourS * 1000);  // long past rotation plus overlap
  EXPECT_TRUE(keys_->verify(t->token).claims);
  // Another replica reading the store agrees.
  auto replica = open_keys(secret_);
  EXPECT_TRUE(replica->verify(t->token).claims);
}

TEST_F(SessionKeysTest, AReplicaOnTheSameStoreVerifiesAndSignsWithTheSharedKey) {
  auto replica = open_keys(secret_);
  ASSERT_EQ(rows().size(), 1u);  // the replica found the key, made none
  auto t = keys_->sign(claims(600));
  auto u = replica->sign(claims(600));
  ASSERT_TRUE(t.ok() && u.ok());
  EXPECT_EQ(t->kid, u->kid);
  EXPECT_TRUE(replica->verify(t->token).claims);
  EXPECT_TRUE(keys_->verify(u->token).claims);
}

TEST_F(SessionKeysTest, PrivateKeysAreSealedUnderTheMasterSecret) {
  const auto row = rows().at(0);
  auto sealed = base64url_decode(row.private_key_enc);
  ASSERT_TRUE(sealed);
  // Not DER: a PKCS#8 key starts with a SEQUENCE (0x30); nor does it parse as one.
  EXPECT_NE((*sealed)[0], '\x30');
  EXPECT_FALSE(EcKey::from_private_der(*sealed).ok());
  EXPECT_FALSE(EcKey::from_private_der(row.private_key_enc).ok());
  auto opened = open_private_key(secret_, row.kid, row.private_key_enc);
  ASSERT_TRUE(opened.ok()) << opened.status().to_string();
  auto key = EcKey::from_private_der(*opened);
  ASSERT_TRUE(key.ok());
  EXPECT_EQ(*key->public_jwk(row.kid), row.public_jwk);
  // Another master secret, or the sealed key moved to another kid, does not open.
  EXPECT_FALSE(
      open_private_key(std::string(kMasterSecretBytes, 'x'), row.kid, row.private_key_enc).ok());
  EXPECT_FALSE(open_private_key(secret_, row.kid + "2", row.private_key_enc).ok());
  // A daemon with the wrong master secret verifies (public keys) but cannot sign.
  auto wrong = open_keys(std::string(kMasterSecretBytes, 'x'));
  ASSERT_TRUE(wrong);
  auto t = keys_->sign(claims(600));
  ASSERT_TRUE(t.ok());
  EXPECT_TRUE(wrong->verify(t->token).claims);
  EXPECT_FALSE(wrong->sign(claims(600)).ok());
}

TEST_F(SessionKeysTest, MasterSecretFileIsCreatedOnceWithOwnerOnlyMode) {
  ::unsetenv(std::string(kMasterSecretEnv).c_str());
  auto a = load_or_create_master_secret(dir_);
  ASSERT_TRUE(a.ok()) << a.status().to_string();
  EXPECT_EQ(a->size(), kMasterSecretBytes);
  const auto path = std::filesystem::path(dir_) / kMasterSecretFile;
  EXPECT_EQ(std::filesystem::status(path).permissions() & std::filesystem::perms::all,
            std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  EXPECT_EQ(*load_or_create_master_secret(dir_), *a);
  ::setenv(std::string(kMasterSecretEnv).c_str(), std::string(64, 'a').c_str(), 1);
  EXPECT_EQ(*load_or_create_master_secret(dir_), std::string(32, '\xaa'));
  ::setenv(std::string(kMasterSecretEnv).c_str(), "abc", 1);
  EXPECT_FALSE(load_or_create_master_secret(dir_).ok());
  ::unsetenv(std::string(kMasterSecretEnv).c_str());
}

TEST_F(SessionKeysTest, RevokedSessionsLoadFromTheStoreAndExpire) {
  RevokedSessions revoked(clock_);
  const std::int64_t now = clock_.now_seconds();
  ASSERT_TRUE(store_
                  ->write([&](store::WriteTxn& tx) {
                    store::AgentRow a;
                    a.id = "agent-1";
                    a.name = "a";
                    a.chain = "solana";
                    a.network = "devnet";
                    a.created_at = now;
                    a.updated_at = now;
                    WARDEN_RETURN_IF_ERROR(tx.insert_agent(a));
                    for (const char* id : {"s-live", "s-revoked", "s-old"}) {
                      store::SessionRow s;
                      s.id = id;
                      s.agent_id = "agent-1";
                      s.token_hash = id;
                      s.created_at = now - 100;
                      s.expires_at = now + 100;
                      s.absolute_expires_at = std::string_view(id) == "s-old" ? now - 1 : now + 100;
                      if (std::string_view(id) != "s-live") s.revoked_at = now - 10;
                      WARDEN_RETURN_IF_ERROR(tx.insert_session(s));
                    }
                    return Status();
                  })
                  .ok());
  ASSERT_TRUE(revoked.load(*store_).ok());
  EXPECT_TRUE(revoked.contains("s-revoked"));
  EXPECT_FALSE(revoked.contains("s-live"));
  EXPECT_FALSE(revoked.contains("s-old"));
  revoked.add("s-live", now + 5);
  EXPECT_TRUE(revoked.contains("s-live"));
  clock_.advance_ms(200 * 1000);  // past every absolute expiry: pruned
  EXPECT_FALSE(revoked.contains("s-live"));
  EXPECT_FALSE(revoked.contains("s-revoked"));
}

}  // namespace
}  // namespace warden::server
