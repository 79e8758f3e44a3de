// Citizen bearer tokens (common/citizen_token): the ES256 JWT verifier, the
// Authorization header parser and the minting used by tongbanctl. Tokens are
// signed here with OpenSSL directly (not with MintCitizenToken) so that any
// header and any claims can be written, including the hostile ones.
#include "citizen_token.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "clock.h"
#include "gmock/gmock.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "structured_log.h"

namespace tongban {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kIssuer[] = "https://id.tongban.dev";
constexpr char kAudience[] = "tongban-public-api";
// Valid resident ids (checksums verified in resident_id_test).
constexpr char kCitizen[] = "11010519491231002X";
constexpr char kOtherCitizen[] = "440524188001010014";
// 2023-11-14T22:13:20Z.
constexpr int64_t kStart = 1700000000;

struct PkeyDeleter {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyDeleter>;

std::string B64(absl::string_view bytes) { return absl::WebSafeBase64Escape(bytes); }

std::string Unb64(absl::string_view text) {
  std::string out;
  EXPECT_TRUE(absl::WebSafeBase64Unescape(text, &out)) << text;
  return out;
}

struct TestKey {
  PkeyPtr pkey;
  std::string private_pem;
  std::string public_pem;
};

std::string BioText(BIO* bio) {
  char* data = nullptr;
  long len = BIO_get_mem_data(bio, &data);
  std::string out(data, static_cast<size_t>(len));
  BIO_free(bio);
  return out;
}

TestKey PemsOf(PkeyPtr pkey) {
  TestKey k;
  BIO* priv = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(priv, pkey.get(), nullptr, nullptr, 0, nullptr, nullptr);
  k.private_pem = BioText(priv);
  BIO* pub = BIO_new(BIO_s_mem());
  PEM_write_bio_PUBKEY(pub, pkey.get());
  k.public_pem = BioText(pub);
  k.pkey = std::move(pkey);
  return k;
}

TestKey NewEcKey(const char* curve = "P-256") {
  PkeyPtr pkey(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", curve));
  EXPECT_NE(pkey, nullptr);
  return PemsOf(std::move(pkey));
}

TestKey NewRsaKey() {
  PkeyPtr pkey(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(2048)));
  EXPECT_NE(pkey, nullptr);
  return PemsOf(std::move(pkey));
}

// ES256 over `signing_input`, as JWS wants it: raw R || S (64 bytes).
std::string Es256Raw(EVP_PKEY* key, absl::string_view signing_input) {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  size_t len = 0;
  EXPECT_EQ(EVP_DigestSignInit(ctx, nullptr, EVP_sha256(), nullptr, key), 1);
  EXPECT_EQ(EVP_DigestSign(ctx, nullptr, &len,
                           reinterpret_cast<const unsigned char*>(signing_input.data()),
                           signing_input.size()),
            1);
  std::string der(len, '\0');
  EXPECT_EQ(EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(der.data()), &len,
                           reinterpret_cast<const unsigned char*>(signing_input.data()),
                           signing_input.size()),
            1);
  EVP_MD_CTX_free(ctx);
  const unsigned char* p = reinterpret_cast<const unsigned char*>(der.data());
  ECDSA_SIG* sig = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(len));
  const BIGNUM* r = nullptr;
  const BIGNUM* s = nullptr;
  ECDSA_SIG_get0(sig, &r, &s);
  std::string raw(64, '\0');
  BN_bn2binpad(r, reinterpret_cast<unsigned char*>(raw.data()), 32);
  BN_bn2binpad(s, reinterpret_cast<unsigned char*>(raw.data()) + 32, 32);
  ECDSA_SIG_free(sig);
  return raw;
}

// The signature as OpenSSL writes it (DER), which JWS does not allow.
std::string Es256Der(EVP_PKEY* key, absl::string_view signing_input) {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  size_t len = 0;
  EVP_DigestSignInit(ctx, nullptr, EVP_sha256(), nullptr, key);
  EVP_DigestSign(ctx, nullptr, &len, reinterpret_cast<const unsigned char*>(signing_input.data()),
                 signing_input.size());
  std::string der(len, '\0');
  EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(der.data()), &len,
                 reinterpret_cast<const unsigned char*>(signing_input.data()),
                 signing_input.size());
  EVP_MD_CTX_free(ctx);
  der.resize(len);
  return der;
}

std::string Sign(const TestKey& key, absl::string_view header_json,
                 absl::string_view payload_json) {
  std::string input = absl::StrCat(B64(header_json), ".", B64(payload_json));
  return absl::StrCat(input, ".", B64(Es256Raw(key.pkey.get(), input)));
}

// Claims as raw JSON values, so tests can drop one or give it a wrong type.
using Claims = std::map<std::string, std::string>;

std::string Json(const Claims& claims) {
  std::string out = "{";
  for (const auto& [name, value] : claims) {
    if (out.size() > 1) out += ",";
    absl::StrAppend(&out, "\"", name, "\":", value);
  }
  return out + "}";
}

std::string Quoted(absl::string_view s) { return absl::StrCat("\"", s, "\""); }
std::string Num(int64_t n) { return absl::StrCat(n); }

Claims GoodClaims() {
  return {{"iss", Quoted(kIssuer)},
          {"aud", Quoted(kAudience)},
          {"sub", Quoted(kCitizen)},
          {"iat", Num(kStart)},
          {"exp", Num(kStart + 600)}};
}

std::string Header(absl::string_view kid) {
  return kid.empty() ? R"({"alg":"ES256","typ":"JWT"})"
                     : absl::StrCat(R"({"alg":"ES256","typ":"JWT","kid":")", kid, "\"}");
}

class CitizenTokenTest : public ::testing::Test {
 protected:
  void SetUp() override {
    key_ = NewEcKey();
    verifier_ = MakeVerifier({{"dev-1", key_.public_pem}});
  }

  std::unique_ptr<CitizenTokenVerifier> MakeVerifier(std::vector<CitizenTokenPublicKey> keys) {
    CitizenTokenPolicy policy;
    policy.issuer = kIssuer;
    policy.audience = kAudience;
    absl::StatusOr<std::unique_ptr<CitizenTokenVerifier>> v =
        CitizenTokenVerifier::Create(policy, keys, &clock_);
    EXPECT_TRUE(v.ok()) << v.status();
    return v.ok() ? *std::move(v) : nullptr;
  }

  std::string Token(const Claims& claims, absl::string_view kid = "dev-1") {
    return Sign(key_, Header(kid), Json(claims));
  }

  // Refused as UNAUTHENTICATED, with a reason containing `reason` and not
  // the token (nor its signed part).
  void ExpectRefused(const std::string& token, absl::string_view reason,
                     const CitizenTokenVerifier* verifier = nullptr) {
    if (verifier == nullptr) verifier = verifier_.get();
    absl::StatusOr<VerifiedCitizen> got = verifier->Verify(token);
    ASSERT_FALSE(got.ok()) << "accepted: " << token;
    EXPECT_EQ(got.status().code(), absl::StatusCode::kUnauthenticated) << got.status();
    EXPECT_THAT(std::string(got.status().message()), HasSubstr(std::string(reason)));
    std::vector<std::string> parts = absl::StrSplit(token, '.');
    for (const std::string& part : parts) {
      if (part.size() >= 8) {
        EXPECT_THAT(std::string(got.status().message()), Not(HasSubstr(part)));
      }
    }
  }

  void ExpectCitizen(const std::string& token, absl::string_view citizen = kCitizen,
                     const CitizenTokenVerifier* verifier = nullptr) {
    if (verifier == nullptr) verifier = verifier_.get();
    absl::StatusOr<VerifiedCitizen> got = verifier->Verify(token);
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_EQ(got->citizen_id, citizen);
  }

  FakeClock clock_{absl::FromUnixSeconds(kStart + 60)};
  TestKey key_;
  std::unique_ptr<CitizenTokenVerifier> verifier_;
};

TEST_F(CitizenTokenTest, ValidToken) {
  absl::StatusOr<VerifiedCitizen> got = verifier_->Verify(Token(GoodClaims()));
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->citizen_id, kCitizen);
  EXPECT_EQ(got->expires_at, absl::FromUnixSeconds(kStart + 600));
}

TEST_F(CitizenTokenTest, ExpiredTokenNamesBothTimes) {
  Claims c = GoodClaims();
  c["exp"] = Num(kStart - 61);  // 121 s before now, leeway 60
  ExpectRefused(Token(c), "token expired at 2023-11-14T22:12:19Z (now 2023-11-14T22:14:20Z)");
}

TEST_F(CitizenTokenTest, ExpiredWithinLeewayIsAccepted) {
  Claims c = GoodClaims();
  c["exp"] = Num(kStart + 60 - 60);  // now - 60 s: exactly the leeway
  ExpectCitizen(Token(c));
  c["exp"] = Num(kStart + 60 - 61);
  ExpectRefused(Token(c), "expired");
}

TEST_F(CitizenTokenTest, NotBeforeInTheFuture) {
  Claims c = GoodClaims();
  c["nbf"] = Num(kStart + 60 + 120);
  ExpectRefused(Token(c), "token not valid before 2023-11-14T22:16:20Z");
  c["nbf"] = Num(kStart + 60 + 30);  // within the leeway
  ExpectCitizen(Token(c));
  c["nbf"] = Quoted("soon");
  ExpectRefused(Token(c), "\"nbf\" must be a number");
}

TEST_F(CitizenTokenTest, IssuedInTheFuture) {
  Claims c = GoodClaims();
  c["iat"] = Num(kStart + 60 + 120);
  ExpectRefused(Token(c), "issued in the future");
  c["iat"] = Num(kStart + 60 + 30);  // within the leeway
  ExpectCitizen(Token(c));
}

TEST_F(CitizenTokenTest, WrongIssuer) {
  Claims c = GoodClaims();
  c["iss"] = Quoted("https://id.evil.example");
  ExpectRefused(Token(c), "token issuer \"https://id.evil.example\" is not");
  c["iss"] = Quoted("https://id.tongban.dev/");  // near miss
  ExpectRefused(Token(c), "issuer");
  c.erase("iss");
  ExpectRefused(Token(c), "\"iss\" (issuer) is missing");
}

TEST_F(CitizenTokenTest, WrongAudience) {
  Claims c = GoodClaims();
  c["aud"] = Quoted("tongban-officer-api");
  ExpectRefused(Token(c), "not meant for this service");
  c["aud"] = R"(["a","b"])";
  ExpectRefused(Token(c), "not meant for this service");
  c["aud"] = "42";
  ExpectRefused(Token(c), "not meant for this service");
  c.erase("aud");
  ExpectRefused(Token(c), "\"aud\" is missing");
}

TEST_F(CitizenTokenTest, AudienceArrayContainingTheAudience) {
  Claims c = GoodClaims();
  c["aud"] = absl::StrCat(R"(["other-api",)", Quoted(kAudience), "]");
  ExpectCitizen(Token(c));
}

TEST_F(CitizenTokenTest, MissingOrNonNumericExpiry) {
  Claims c = GoodClaims();
  c.erase("exp");
  ExpectRefused(Token(c), "\"exp\" (expiry) is missing");
  c["exp"] = Quoted(Num(kStart + 600));
  ExpectRefused(Token(c), "\"exp\" must be a number");
  c["exp"] = "1e300";
  ExpectRefused(Token(c), "\"exp\" is not a date");
}

TEST_F(CitizenTokenTest, MissingSubject) {
  Claims c = GoodClaims();
  c.erase("sub");
  ExpectRefused(Token(c), "\"sub\" (the citizen's resident id number) is missing");
  c["sub"] = "110105194912310020";  // a number, not a string
  ExpectRefused(Token(c), "\"sub\"");
}

TEST_F(CitizenTokenTest, SubjectNotAResidentId) {
  Claims c = GoodClaims();
  c["sub"] = Quoted("110105194912310021");  // wrong check character (X)
  ExpectRefused(Token(c), "wrong check character");
  c["sub"] = Quoted("alice");
  ExpectRefused(Token(c), "18-character resident id");
  c["sub"] = Quoted(kOtherCitizen);
  ExpectCitizen(Token(c), kOtherCitizen);
}

TEST_F(CitizenTokenTest, AlgNoneIsRefused) {
  std::string payload = B64(Json(GoodClaims()));
  ExpectRefused(absl::StrCat(B64(R"({"alg":"none","typ":"JWT"})"), ".", payload, "."),
                "algorithm \"none\" is not accepted");
  // Even with a valid ES256 signature over the same bytes.
  std::string input = absl::StrCat(B64(R"({"alg":"none","kid":"dev-1"})"), ".", payload);
  ExpectRefused(absl::StrCat(input, ".", B64(Es256Raw(key_.pkey.get(), input))),
                "algorithm \"none\"");
  ExpectRefused(absl::StrCat(B64(R"({"typ":"JWT"})"), ".", payload, "."), "has no \"alg\"");
}

TEST_F(CitizenTokenTest, Hs256WithThePublicKeyAsSecretIsRefused) {
  // The classic confusion attack: the public key (known to everyone) used as
  // an HMAC secret by a verifier that trusts the header's "alg".
  std::string input = absl::StrCat(B64(R"({"alg":"HS256","typ":"JWT","kid":"dev-1"})"), ".",
                                   B64(Json(GoodClaims())));
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int mac_len = 0;
  ASSERT_NE(HMAC(EVP_sha256(), key_.public_pem.data(), static_cast<int>(key_.public_pem.size()),
                 reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac, &mac_len),
            nullptr);
  std::string token =
      absl::StrCat(input, ".", B64(std::string(reinterpret_cast<char*>(mac), mac_len)));
  ExpectRefused(token, "algorithm \"HS256\" is not accepted");
}

TEST_F(CitizenTokenTest, OtherAlgorithmsAreRefusedEvenWithAnEs256Signature) {
  for (const char* alg : {"RS256", "ES384", "ES512", "es256", "PS256", "EdDSA", "ES256 "}) {
    std::string input = absl::StrCat(B64(absl::StrCat(R"({"alg":")", alg, R"(","kid":"dev-1"})")),
                                     ".", B64(Json(GoodClaims())));
    ExpectRefused(absl::StrCat(input, ".", B64(Es256Raw(key_.pkey.get(), input))),
                  "is not accepted; only ES256");
  }
  std::string input =
      absl::StrCat(B64(R"({"alg":256,"kid":"dev-1"})"), ".", B64(Json(GoodClaims())));
  ExpectRefused(absl::StrCat(input, ".", B64(Es256Raw(key_.pkey.get(), input))), "no \"alg\"");
}

TEST_F(CitizenTokenTest, TypAndCritHeaders) {
  ExpectCitizen(Sign(key_, R"({"alg":"ES256","kid":"dev-1"})", Json(GoodClaims())));
  ExpectCitizen(Sign(key_, R"({"alg":"ES256","typ":"jwt","kid":"dev-1"})", Json(GoodClaims())));
  // RFC 9068 access tokens, with or without the "application/" prefix.
  ExpectCitizen(Sign(key_, R"({"alg":"ES256","typ":"at+jwt","kid":"dev-1"})", Json(GoodClaims())));
  ExpectCitizen(Sign(key_, R"({"alg":"ES256","typ":"application/at+JWT","kid":"dev-1"})",
                     Json(GoodClaims())));
  ExpectCitizen(
      Sign(key_, R"({"alg":"ES256","typ":"application/jwt","kid":"dev-1"})", Json(GoodClaims())));
  for (const char* typ : {"JOSE", "id+jwt", "application/", "at+jwt ", "secevent+jwt"}) {
    ExpectRefused(Sign(key_, absl::StrCat(R"({"alg":"ES256","typ":")", typ, R"(","kid":"dev-1"})"),
                       Json(GoodClaims())),
                  "neither \"JWT\" nor \"at+jwt\"");
  }
  ExpectRefused(Sign(key_, R"({"alg":"ES256","typ":7,"kid":"dev-1"})", Json(GoodClaims())),
                "neither");
  ExpectRefused(
      Sign(key_, R"({"alg":"ES256","kid":"dev-1","crit":["exp"],"exp":1})", Json(GoodClaims())),
      "critical extensions");
  ExpectRefused(Sign(key_, R"({"alg":"ES256","kid":7})", Json(GoodClaims())),
                "\"kid\" is not a string");
}

TEST_F(CitizenTokenTest, SignedByAnotherKeyIsRefused) {
  TestKey forger = NewEcKey();
  ExpectRefused(Sign(forger, Header("dev-1"), Json(GoodClaims())),
                "bad token signature: not signed by key \"dev-1\"");
}

TEST_F(CitizenTokenTest, TamperedPayloadWithTheOriginalSignatureIsRefused) {
  std::string token = Token(GoodClaims());
  std::vector<std::string> parts = absl::StrSplit(token, '.');
  Claims c = GoodClaims();
  c["sub"] = Quoted(kOtherCitizen);
  ExpectCitizen(token);  // the original is fine (and now cached)
  ExpectRefused(absl::StrCat(parts[0], ".", B64(Json(c)), ".", parts[2]), "bad token signature");
  // A flipped bit in the signature.
  std::string sig = Unb64(parts[2]);
  sig[10] ^= 0x01;
  ExpectRefused(absl::StrCat(parts[0], ".", parts[1], ".", B64(sig)), "bad token signature");
  // Header swapped for an equivalent one: the signature covers the bytes as sent.
  ExpectRefused(absl::StrCat(B64(R"({"typ":"JWT","alg":"ES256","kid":"dev-1"})"), ".", parts[1],
                             ".", parts[2]),
                "bad token signature");
}

TEST_F(CitizenTokenTest, UnknownKid) {
  ExpectRefused(Token(GoodClaims(), "dev-2"), "token signed with unknown key id \"dev-2\"");
  // A hostile kid is shortened and escaped in the message.
  std::string long_kid(200, 'k');
  absl::StatusOr<VerifiedCitizen> got = verifier_->Verify(Token(GoodClaims(), long_kid));
  ASSERT_FALSE(got.ok());
  EXPECT_LT(got.status().message().size(), 120u) << got.status();
}

TEST_F(CitizenTokenTest, KeyRotationBothKidsVerify) {
  TestKey next = NewEcKey();
  auto verifier = MakeVerifier({{"dev-1", key_.public_pem}, {"dev-2", next.public_pem}});
  ASSERT_NE(verifier, nullptr);
  ExpectCitizen(Sign(key_, Header("dev-1"), Json(GoodClaims())), kCitizen, verifier.get());
  ExpectCitizen(Sign(next, Header("dev-2"), Json(GoodClaims())), kCitizen, verifier.get());
  // The kid picks the key: the new key's token labelled with the old kid fails.
  ExpectRefused(Sign(next, Header("dev-1"), Json(GoodClaims())), "not signed by key \"dev-1\"",
                verifier.get());
  // Without a kid and no key configured for that, every key is tried.
  ExpectCitizen(Sign(next, Header(""), Json(GoodClaims())), kCitizen, verifier.get());
  ExpectRefused(Sign(NewEcKey(), Header(""), Json(GoodClaims())),
                "not signed by any key for tokens without a kid", verifier.get());
}

TEST_F(CitizenTokenTest, TokensWithoutKidUseTheKeysWithoutKid) {
  TestKey plain = NewEcKey();
  auto verifier = MakeVerifier({{"dev-1", key_.public_pem}, {"", plain.public_pem}});
  ASSERT_NE(verifier, nullptr);
  ExpectCitizen(Sign(plain, Header(""), Json(GoodClaims())), kCitizen, verifier.get());
  ExpectCitizen(Sign(plain, R"({"alg":"ES256","kid":""})", Json(GoodClaims())), kCitizen,
                verifier.get());
  // dev-1's key is not tried for a token without a kid once a kid-less key exists.
  ExpectRefused(Sign(key_, Header(""), Json(GoodClaims())), "bad token signature", verifier.get());
  ExpectCitizen(Sign(key_, Header("dev-1"), Json(GoodClaims())), kCitizen, verifier.get());
}

TEST_F(CitizenTokenTest, MalformedTokens) {
  std::string good = Token(GoodClaims());
  std::vector<std::string> p = absl::StrSplit(good, '.');
  ExpectRefused("", "empty");
  ExpectRefused(absl::StrCat(p[0], ".", p[1]), "3 dot-separated parts, this one has 2");
  ExpectRefused(absl::StrCat(good, ".", p[2]), "this one has 4");
  ExpectRefused(absl::StrCat(p[0], "!.", p[1], ".", p[2]), "header is not unpadded base64url");
  ExpectRefused(absl::StrCat(p[0], ".", p[1], "+.", p[2]), "payload is not unpadded base64url");
  ExpectRefused(absl::StrCat(p[0], ".", p[1], ".", p[2], "=="),
                "signature is not unpadded base64url");
  ExpectRefused(absl::StrCat(p[0], ".", p[1], ".", p[2].substr(0, 85), "/"), "signature is not");
  ExpectRefused(absl::StrCat(" ", good), "header is not unpadded base64url");
  // One base64 character too many (4n+1 characters decode to nothing).
  ExpectRefused(absl::StrCat(p[0], ".", p[1], "A.", p[2]), "payload is not unpadded base64url");
  // Same bytes, non-zero unused bits in the last character: refused, so a
  // token has exactly one spelling.
  std::string alt = p[2];
  ASSERT_EQ(alt.size(), 86u);
  alt.back() = alt.back() == 'A' ? 'B' : static_cast<char>(alt.back() + 1);
  ExpectRefused(absl::StrCat(p[0], ".", p[1], ".", alt), "signature is not unpadded base64url");
  ExpectRefused(absl::StrCat(B64("not json"), ".", p[1], ".", p[2]), "header is not a JSON object");
  ExpectRefused(absl::StrCat(B64(R"(["ES256"])"), ".", p[1], ".", p[2]),
                "header is not a JSON object");
  ExpectRefused(absl::StrCat(".", p[1], ".", p[2]), "header is not unpadded base64url");
  // Duplicate names: no "which alg wins" ambiguity between parsers.
  ExpectRefused(Sign(key_, R"({"alg":"ES256","alg":"none","kid":"dev-1"})", Json(GoodClaims())),
                "header is not a JSON object");
  std::string input = absl::StrCat(p[0], ".", p[1]);
  std::string raw = Es256Raw(key_.pkey.get(), input);
  ExpectRefused(absl::StrCat(input, ".", B64(raw.substr(0, 63))), "this one 63");
  ExpectRefused(absl::StrCat(input, ".", B64(raw + std::string(1, '\0'))), "this one 65");
  ExpectRefused(absl::StrCat(input, "."), "this one 0");
  ExpectRefused(absl::StrCat(input, ".", B64(Es256Der(key_.pkey.get(), input))),
                "an ES256 signature is 64 bytes");
  // A signed payload that is not JSON.
  ExpectRefused(Sign(key_, Header("dev-1"), "hello"), "payload is not a JSON object");
}

TEST_F(CitizenTokenTest, LifetimeTooLong) {
  Claims c = GoodClaims();
  c["exp"] = Num(kStart + 25 * 3600);
  ExpectRefused(Token(c), "token lifetime 90000 s is longer than the allowed 86400 s");
  c.erase("iat");  // then measured from now
  ExpectRefused(Token(c), "is longer than the allowed 86400 s");
  c["exp"] = Num(kStart + 23 * 3600);
  ExpectCitizen(Token(c));
}

TEST_F(CitizenTokenTest, OversizeTokenIsRefusedBeforeParsing) {
  Claims c = GoodClaims();
  c["pad"] = Quoted(std::string(5800, 'p'));
  std::string token = Token(c);
  ASSERT_LE(token.size(), 8192u);
  ExpectCitizen(token);  // large but within the limit
  c["pad"] = Quoted(std::string(6200, 'p'));
  token = Token(c);
  ASSERT_GT(token.size(), 8192u);
  ExpectRefused(token, "longer than 8192 bytes");
  ExpectRefused(std::string(1 << 20, 'A'), "longer than 8192 bytes");
}

TEST_F(CitizenTokenTest, CacheHitStillExpiresAsTheClockAdvances) {
  std::string token = Token(GoodClaims());  // exp = now + 540 s
  ExpectCitizen(token);
  clock_.Advance(absl::Seconds(500));
  ExpectCitizen(token);
  clock_.Advance(absl::Seconds(100));  // exp + 60 s: still within the leeway
  ExpectCitizen(token);
  clock_.Advance(absl::Seconds(1));
  ExpectRefused(token, "token expired at");
  ExpectRefused(token, "token expired at");  // and stays refused
}

TEST_F(CitizenTokenTest, ManyDistinctTokensStayCorrectPastTheCacheBound) {
  // More tokens than the cache holds: eviction must not change any answer.
  std::vector<std::string> tokens;
  Claims c = GoodClaims();
  for (int i = 0; i < 10100; ++i) {
    c["jti"] = Quoted(Num(i));
    tokens.push_back(Token(c));
  }
  int accepted = 0;
  for (const std::string& t : tokens) accepted += verifier_->Verify(t).ok();
  EXPECT_EQ(accepted, 10100);
  accepted = 0;
  for (const std::string& t : tokens) accepted += verifier_->Verify(t).ok();
  EXPECT_EQ(accepted, 10100);
  clock_.Advance(absl::Hours(1));
  int refused = 0;
  for (const std::string& t : tokens) refused += !verifier_->Verify(t).ok();
  EXPECT_EQ(refused, 10100);
}

TEST_F(CitizenTokenTest, ConcurrentVerify) {
  TestKey forger = NewEcKey();
  Claims expired = GoodClaims();
  expired["exp"] = Num(kStart - 100);
  std::vector<std::string> good;
  Claims c = GoodClaims();
  for (int i = 0; i < 40; ++i) {
    c["jti"] = Quoted(Num(i));
    good.push_back(Token(c));
  }
  const std::string forged = Sign(forger, Header("dev-1"), Json(GoodClaims()));
  const std::string old = Token(expired);
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 200; ++i) {
        const std::string& token = good[(i + t) % good.size()];
        absl::StatusOr<VerifiedCitizen> ok = verifier_->Verify(token);
        if (!ok.ok() || ok->citizen_id != kCitizen) ++wrong;
        if (verifier_->Verify(forged).ok()) ++wrong;
        if (verifier_->Verify(old).ok()) ++wrong;
      }
    });
  }
  for (std::thread& th : threads) th.join();
  EXPECT_EQ(wrong.load(), 0);
}

TEST(BearerTokenTest, ExtractsTheToken) {
  absl::StatusOr<absl::string_view> t = BearerToken("Bearer abc.def.ghi");
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(*t, "abc.def.ghi");
  t = BearerToken("bearer abc");
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(*t, "abc");
  t = BearerToken("BEARER   abc  ");
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(*t, "abc");
}

TEST(BearerTokenTest, RefusesMissingOrOtherSchemes) {
  struct Case {
    const char* header;
    const char* reason;
  };
  for (const Case& c : std::vector<Case>{
           {"", "missing bearer token: send Authorization: Bearer <token>"},
           {"   ", "missing bearer token"},
           {"Bearer", "missing bearer token"},
           {"Bearer    ", "missing bearer token"},
           {"Basic dXNlcjpwYXNz", "not a bearer token"},
           {"Bearerabc", "not a bearer token"},
           {"eyJhbGciOiJFUzI1NiJ9.e30.c2ln", "not a bearer token"},
           {"Bearer abc def", "malformed bearer token"},
       }) {
    absl::StatusOr<absl::string_view> t = BearerToken(c.header);
    ASSERT_FALSE(t.ok()) << c.header;
    EXPECT_EQ(t.status().code(), absl::StatusCode::kUnauthenticated);
    EXPECT_THAT(std::string(t.status().message()), HasSubstr(c.reason)) << c.header;
    EXPECT_THAT(std::string(t.status().message()), HasSubstr("Authorization: Bearer <token>"));
    EXPECT_THAT(std::string(t.status().message()), Not(HasSubstr("dXNlcjpwYXNz")));
    EXPECT_THAT(std::string(t.status().message()), Not(HasSubstr("eyJhbGciOiJFUzI1NiJ9")));
  }
}

class CitizenTokenConfigTest : public ::testing::Test {
 protected:
  std::string WriteFile(const std::string& name, const std::string& text) {
    std::string path =
        absl::StrCat(::testing::TempDir(), "/citizen_token_test_", getpid(), "_", name);
    std::ofstream(path) << text;
    files_.push_back(path);
    return path;
  }
  void TearDown() override {
    for (const std::string& f : files_) std::remove(f.c_str());
  }
  v1::CitizenTokenConfig Config(const std::string& key_file) {
    v1::CitizenTokenConfig config;
    config.set_issuer(kIssuer);
    config.set_audience(kAudience);
    v1::CitizenTokenKey* k = config.add_keys();
    k->set_kid("dev-1");
    k->set_public_key_file(key_file);
    return config;
  }

  FakeClock clock_{absl::FromUnixSeconds(kStart)};
  std::vector<std::string> files_;
};

TEST_F(CitizenTokenConfigTest, MissingKeyFileIsAFailedPrecondition) {
  std::string missing = absl::StrCat(::testing::TempDir(), "/no-such-dir/public-key.pem");
  auto v = CitizenTokenVerifier::FromConfig(Config(missing), &clock_);
  ASSERT_FALSE(v.ok());
  EXPECT_EQ(v.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(v.status().message()), HasSubstr(missing));
}

TEST_F(CitizenTokenConfigTest, DefaultsAndARoundTripThroughFiles) {
  TestKey key = NewEcKey();
  auto v = CitizenTokenVerifier::FromConfig(Config(WriteFile("pub.pem", key.public_pem)), &clock_);
  ASSERT_TRUE(v.ok()) << v.status();
  Claims c = GoodClaims();
  c["exp"] = Num(kStart - 60);  // default leeway 60 s
  EXPECT_TRUE((*v)->Verify(Sign(key, Header("dev-1"), Json(c))).ok());
  c["exp"] = Num(kStart - 61);
  EXPECT_FALSE((*v)->Verify(Sign(key, Header("dev-1"), Json(c))).ok());
  c["exp"] = Num(kStart + 86400);  // default max lifetime 24 h
  EXPECT_TRUE((*v)->Verify(Sign(key, Header("dev-1"), Json(c))).ok());
  c["exp"] = Num(kStart + 86401);
  EXPECT_FALSE((*v)->Verify(Sign(key, Header("dev-1"), Json(c))).ok());

  v1::CitizenTokenConfig config = Config(files_[0]);
  config.set_leeway_seconds(5);
  config.set_max_lifetime_seconds(3600);
  v = CitizenTokenVerifier::FromConfig(config, &clock_);
  ASSERT_TRUE(v.ok()) << v.status();
  c["exp"] = Num(kStart - 6);
  EXPECT_FALSE((*v)->Verify(Sign(key, Header("dev-1"), Json(c))).ok());
  c["exp"] = Num(kStart + 3601);
  EXPECT_FALSE((*v)->Verify(Sign(key, Header("dev-1"), Json(c))).ok());
  c["exp"] = Num(kStart + 3600);
  EXPECT_TRUE((*v)->Verify(Sign(key, Header("dev-1"), Json(c))).ok());
}

TEST_F(CitizenTokenConfigTest, CreateRefusesBadPolicyOrKeys) {
  TestKey key = NewEcKey();
  auto refused = [&](CitizenTokenPolicy policy, std::vector<CitizenTokenPublicKey> keys,
                     absl::string_view reason) {
    auto v = CitizenTokenVerifier::Create(policy, keys, &clock_);
    ASSERT_FALSE(v.ok()) << reason;
    EXPECT_EQ(v.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(v.status().message()), HasSubstr(std::string(reason)));
  };
  CitizenTokenPolicy good{kIssuer, kAudience};
  std::vector<CitizenTokenPublicKey> keys = {{"dev-1", key.public_pem}};
  ASSERT_TRUE(CitizenTokenVerifier::Create(good, keys, &clock_).ok());
  refused({"", kAudience}, keys, "issuer is required");
  refused({kIssuer, ""}, keys, "audience is required");
  refused(good, {}, "at least one public key");
  refused(good, {{"dev-1", "not a key"}}, "is not a PEM public key");
  refused(good, {{"dev-1", key.private_pem}}, "is a private key");
  refused(good, {{"dev-1", NewEcKey("P-384").public_pem}}, "is not an EC P-256 key");
  refused(good, {{"dev-1", NewRsaKey().public_pem}}, "is not an EC P-256 key");
  refused(good, {{"dev-1", key.public_pem}, {"dev-1", NewEcKey().public_pem}},
          "same kid \"dev-1\"");
  refused(good, {{"", key.public_pem}, {"", NewEcKey().public_pem}}, "same kid \"\"");
}

TEST(MintCitizenTokenTest, RoundTrip) {
  TestKey key = NewEcKey();
  FakeClock clock(absl::FromUnixSeconds(kStart));
  CitizenTokenClaims claims;
  claims.subject = kCitizen;
  claims.issuer = kIssuer;
  claims.audience = kAudience;
  claims.issued_at = clock.Now();
  claims.not_before = clock.Now() - absl::Seconds(5);
  claims.expires_at = clock.Now() + absl::Hours(1);
  claims.kid = "dev-1";
  claims.jti = "demo-0001";
  absl::StatusOr<std::string> token = MintCitizenToken(key.private_pem, claims);
  ASSERT_TRUE(token.ok()) << token.status();

  std::vector<std::string> parts = absl::StrSplit(*token, '.');
  ASSERT_EQ(parts.size(), 3u);
  EXPECT_EQ(Unb64(parts[2]).size(), 64u);
  for (const std::string& p : parts) EXPECT_EQ(p.find('='), std::string::npos);
  google::protobuf::Struct header, payload;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(Unb64(parts[0]), &header).ok());
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(Unb64(parts[1]), &payload).ok());
  EXPECT_EQ(header.fields().size(), 3u);
  EXPECT_EQ(header.fields().at("alg").string_value(), "ES256");
  EXPECT_EQ(header.fields().at("typ").string_value(), "JWT");
  EXPECT_EQ(header.fields().at("kid").string_value(), "dev-1");
  EXPECT_EQ(payload.fields().at("iss").string_value(), kIssuer);
  EXPECT_EQ(payload.fields().at("sub").string_value(), kCitizen);
  EXPECT_EQ(payload.fields().at("aud").string_value(), kAudience);
  EXPECT_EQ(payload.fields().at("iat").number_value(), kStart);
  EXPECT_EQ(payload.fields().at("nbf").number_value(), kStart - 5);
  EXPECT_EQ(payload.fields().at("exp").number_value(), kStart + 3600);
  EXPECT_EQ(payload.fields().at("jti").string_value(), "demo-0001");
  // Integer NumericDates, as other JWT libraries expect.
  EXPECT_THAT(Unb64(parts[1]), HasSubstr("\"exp\":1700003600"));

  auto verifier =
      CitizenTokenVerifier::Create({kIssuer, kAudience}, {{"dev-1", key.public_pem}}, &clock);
  ASSERT_TRUE(verifier.ok()) << verifier.status();
  absl::StatusOr<VerifiedCitizen> got = (*verifier)->Verify(*token);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->citizen_id, kCitizen);
  EXPECT_EQ(got->expires_at, claims.expires_at);

  // No kid, no nbf, no jti: absent from the token, still verifiable.
  claims.kid = "";
  claims.jti = "";
  claims.not_before = absl::InfinitePast();
  token = MintCitizenToken(key.private_pem, claims);
  ASSERT_TRUE(token.ok()) << token.status();
  parts = absl::StrSplit(*token, '.');
  EXPECT_THAT(Unb64(parts[0]), Not(HasSubstr("kid")));
  EXPECT_THAT(Unb64(parts[1]), Not(HasSubstr("nbf")));
  EXPECT_THAT(Unb64(parts[1]), Not(HasSubstr("jti")));
  auto no_kid = CitizenTokenVerifier::Create({kIssuer, kAudience}, {{"", key.public_pem}}, &clock);
  ASSERT_TRUE(no_kid.ok()) << no_kid.status();
  EXPECT_TRUE((*no_kid)->Verify(*token).ok());
  // A minted token from another key does not verify.
  token = MintCitizenToken(NewEcKey().private_pem, claims);
  ASSERT_TRUE(token.ok()) << token.status();
  EXPECT_FALSE((*no_kid)->Verify(*token).ok());
}

TEST(MintCitizenTokenTest, ManySignaturesAllVerify) {
  // R or S shorter than 32 bytes (about 1 in 128 signatures) must be
  // left-padded; 300 signatures make a miss very unlikely to go unseen.
  TestKey key = NewEcKey();
  FakeClock clock(absl::FromUnixSeconds(kStart));
  auto verifier =
      CitizenTokenVerifier::Create({kIssuer, kAudience}, {{"dev-1", key.public_pem}}, &clock);
  ASSERT_TRUE(verifier.ok()) << verifier.status();
  CitizenTokenClaims claims{kCitizen,
                            kIssuer,
                            kAudience,
                            clock.Now(),
                            absl::InfinitePast(),
                            clock.Now() + absl::Minutes(5),
                            "dev-1",
                            ""};
  for (int i = 0; i < 300; ++i) {
    claims.jti = absl::StrCat("jti-", i);
    absl::StatusOr<std::string> token = MintCitizenToken(key.private_pem, claims);
    ASSERT_TRUE(token.ok()) << token.status();
    ASSERT_TRUE((*verifier)->Verify(*token).ok()) << i;
  }
}

TEST(MintCitizenTokenTest, RefusesKeysThatAreNotP256AndIncompleteClaims) {
  CitizenTokenClaims claims{kCitizen,
                            kIssuer,
                            kAudience,
                            absl::FromUnixSeconds(kStart),
                            absl::InfinitePast(),
                            absl::FromUnixSeconds(kStart + 60),
                            "",
                            ""};
  EXPECT_EQ(MintCitizenToken(NewEcKey("P-384").private_pem, claims).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(MintCitizenToken(NewRsaKey().private_pem, claims).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(MintCitizenToken(NewEcKey().public_pem, claims).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(MintCitizenToken("garbage", claims).status().code(),
            absl::StatusCode::kInvalidArgument);
  claims.subject = "";
  EXPECT_EQ(MintCitizenToken(NewEcKey().private_pem, claims).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace tongban

// ---- JWKS (RFC 7517) ----------------------------------------------------------

namespace tongban {
namespace {

// The JWK of an EC key's public half: {"kty":"EC","crv":..,"x":..,"y":..} plus `extra`.
std::string Jwk(const TestKey& key, const std::string& crv, const std::string& extra) {
  unsigned char point[200];
  size_t len = 0;
  EXPECT_EQ(EVP_PKEY_get_octet_string_param(key.pkey.get(), OSSL_PKEY_PARAM_PUB_KEY, point,
                                            sizeof(point), &len),
            1);
  EXPECT_EQ(point[0], 0x04);  // uncompressed
  size_t n = (len - 1) / 2;
  std::string x(reinterpret_cast<char*>(point) + 1, n),
      y(reinterpret_cast<char*>(point) + 1 + n, n);
  return absl::StrCat(R"({"kty":"EC","crv":")", crv, R"(","x":")", B64(x), R"(","y":")", B64(y),
                      "\"", extra.empty() ? "" : ",", extra, "}");
}

std::string Set(const std::vector<std::string>& jwks) {
  return absl::StrCat(R"({"keys":[)", absl::StrJoin(jwks, ","), "]}");
}

class JwksTest : public CitizenTokenConfigTest {
 protected:
  v1::CitizenTokenConfig JwksConfig(const std::string& jwks_json) {
    v1::CitizenTokenConfig config;
    config.set_issuer(kIssuer);
    config.set_audience(kAudience);
    config.set_jwks_file(WriteFile(absl::StrCat("jwks", files_.size(), ".json"), jwks_json));
    return config;
  }
  std::string TokenBy(const TestKey& key, const std::string& kid) {
    return Sign(key, Header(kid), Json(GoodClaims()));
  }
};

TEST_F(JwksTest, SeveralKeysSelectedByKidOthersSkippedAndLogged) {
  TestKey a = NewEcKey(), b = NewEcKey(), p384 = NewEcKey("P-384"), enc = NewEcKey();
  const std::string jwks = Set({
      Jwk(a, "P-256", R"("kid":"idp-a","alg":"ES256","use":"sig")"),
      R"({"kty":"RSA","kid":"idp-rsa","use":"sig","alg":"RS256","n":"sXchDaQebHnPiGvyDOAT4saGEUetSyo9MKLOoWFsueri23bOdgWp4Dy1WlUzewbgBHod5pcM9H95GQRV3JDXboIRROSBigeC5yjU1hGzHHyXss8UDprecbAYxknTcQkhslANGRUZmdTOQ5qTRsLAt6BTYuyvVRdhS8exSZEy_c4gs_7svlJJQ4H9_NxsiIoLwAEk7-Q3UXERGYw_75IDrGA84-lA_-Ct4eTlXHBIY2EaV7t7LjJaynVJCpkv4LKjTTAumiGUIuQhrNhZLuF_RJLqHpM2kgWFLU7-VTdL1VbC2tejvcI2BlMkEpk1BzBZI0KQB0GaDWFLN-aEAw3vRw","e":"AQAB"})",
      Jwk(p384, "P-384", R"("kid":"idp-384","alg":"ES384")"),
      Jwk(enc, "P-256", R"("kid":"idp-enc","use":"enc")"),
      Jwk(b, "P-256", R"("kid":"idp-b","key_ops":["verify"])"),
  });
  std::FILE* log_file = std::tmpfile();
  EventLog log("gateway", log_file);
  auto v = CitizenTokenVerifier::FromConfig(JwksConfig(jwks), &clock_, &log);
  ASSERT_TRUE(v.ok()) << v.status();

  EXPECT_TRUE((*v)->Verify(TokenBy(a, "idp-a")).ok());
  EXPECT_TRUE((*v)->Verify(TokenBy(b, "idp-b")).ok());
  // The kid selects the key: another key's signature under it is refused.
  auto wrong = (*v)->Verify(TokenBy(a, "idp-b"));
  EXPECT_EQ(wrong.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(std::string(wrong.status().message()), HasSubstr("not signed by key \"idp-b\""));
  const std::string unknown_kids[] = {"idp-unknown", "idp-rsa", "idp-384", "idp-enc"};
  for (const std::string& kid : unknown_kids) {
    auto unknown = (*v)->Verify(TokenBy(a, kid));
    EXPECT_EQ(unknown.status().code(), absl::StatusCode::kUnauthenticated) << kid;
    EXPECT_THAT(std::string(unknown.status().message()),
                HasSubstr(absl::StrCat("unknown key id \"", kid, "\"")));
  }
  // A token without a kid is tried with every key (no key lacks a kid here),
  // as with configured keys.
  EXPECT_TRUE((*v)->Verify(TokenBy(a, "")).ok());

  std::fflush(log_file);
  std::rewind(log_file);
  std::string text(4096, '\0');
  text.resize(std::fread(text.data(), 1, text.size(), log_file));
  std::fclose(log_file);
  std::vector<std::string> lines = absl::StrSplit(text, '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 3u) << text;
  EXPECT_THAT(lines[0], HasSubstr("level=warn component=gateway event=tokens.jwks_key_skipped"));
  EXPECT_THAT(lines[0], HasSubstr("key 1 (kid \\\"idp-rsa\\\"): kty \\\"RSA\\\" is not EC"));
  EXPECT_THAT(lines[1], HasSubstr("key 2 (kid \\\"idp-384\\\"): crv \\\"P-384\\\" is not P-256"));
  EXPECT_THAT(lines[2], HasSubstr("key 3 (kid \\\"idp-enc\\\"): use \\\"enc\\\" is not sig"));
}

TEST_F(JwksTest, JoinsTheConfiguredKeys) {
  TestKey configured = NewEcKey(), published = NewEcKey();
  v1::CitizenTokenConfig config = JwksConfig(Set({Jwk(published, "P-256", R"("kid":"idp-1")")}));
  v1::CitizenTokenKey* k = config.add_keys();
  k->set_kid("dev-1");
  k->set_public_key_file(WriteFile("configured.pem", configured.public_pem));
  auto v = CitizenTokenVerifier::FromConfig(config, &clock_);
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_TRUE((*v)->Verify(TokenBy(configured, "dev-1")).ok());
  EXPECT_TRUE((*v)->Verify(TokenBy(published, "idp-1")).ok());

  // The same kid in both: refused at load, naming it.
  config.mutable_keys(0)->set_kid("idp-1");
  v = CitizenTokenVerifier::FromConfig(config, &clock_);
  ASSERT_FALSE(v.ok());
  EXPECT_THAT(std::string(v.status().message()), HasSubstr("same kid \"idp-1\""));
}

TEST_F(JwksTest, ASingleKeyWithoutKidServesTokensWithoutKid) {
  TestKey key = NewEcKey();
  auto v = CitizenTokenVerifier::FromConfig(JwksConfig(Set({Jwk(key, "P-256", "")})), &clock_);
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_TRUE((*v)->Verify(TokenBy(key, "")).ok());
}

TEST_F(JwksTest, UnusableSetsAreRefusedAtLoadNamingWhy) {
  TestKey key = NewEcKey(), other = NewEcKey();
  std::string good = Jwk(key, "P-256", R"("kid":"k1")");
  // x and y of one key, the y of another: not a point on the curve.
  std::string off_curve = Jwk(key, "P-256", R"("kid":"k1")");
  std::string other_jwk = Jwk(other, "P-256", "");
  size_t y_at = off_curve.find(R"("y":")"), other_y = other_jwk.find(R"("y":")");
  off_curve = off_curve.substr(0, y_at) +
              other_jwk.substr(other_y, other_jwk.find('"', other_y + 5) + 1 - other_y) +
              off_curve.substr(off_curve.find('"', y_at + 5) + 1);
  const std::pair<std::string, std::string> cases[] = {
      {"not json", "not a JSON object"},
      {R"({"kty":"EC"})", "has no \"keys\" array"},
      {R"({"keys":{}})", "has no \"keys\" array"},
      {R"({"keys":[1]})", "key 0 is not a JSON object"},
      {Set({R"({"kid":"k0"})"}), "key 0 (kid \"k0\") has no \"kty\""},
      {Set({good.substr(0, good.size() - 1) + R"(,"d":"AAAA"})"}), "is a private key"},
      {Set({R"({"kty":"EC","crv":"P-256","kid":"k1","x":"AAAA","y":"AAAA"})"}),
       "key 0 (kid \"k1\"): x and y must each be 32 bytes"},
      {Set({R"({"kty":"EC","crv":"P-256","kid":"k1"})"}), "x and y must each be 32 bytes"},
      {Set({off_curve}), "key 0 (kid \"k1\"): (x, y) is not a point on P-256"},
      {Set({good, Jwk(other, "P-256", R"("kid":"k1")")}), "two usable keys have the kid \"k1\""},
      {Set({good, Jwk(other, "P-256", "")}), "a usable key has no kid"},
      {Set({R"({"kty":"RSA","kid":"r1","n":"AQAB","e":"AQAB"})"}),
       "has no EC P-256 signing key (ES256); key 0 (kid \"r1\"): kty \"RSA\" is not EC"},
      {Set({}), "has no EC P-256 signing key"},
      {Set({R"({"kty":"EC","crv":"P-256","kid":7})"}), "must be strings"},
  };
  for (const auto& [json, reason] : cases) {
    v1::CitizenTokenConfig config = JwksConfig(json);
    auto v = CitizenTokenVerifier::FromConfig(config, &clock_);
    ASSERT_FALSE(v.ok()) << json;
    EXPECT_EQ(v.status().code(), absl::StatusCode::kInvalidArgument) << json;
    EXPECT_THAT(std::string(v.status().message()), HasSubstr(reason)) << json;
    EXPECT_THAT(std::string(v.status().message()), HasSubstr(config.jwks_file())) << json;
  }
}

TEST_F(JwksTest, MissingFileIsAFailedPrecondition) {
  v1::CitizenTokenConfig config;
  config.set_issuer(kIssuer);
  config.set_audience(kAudience);
  config.set_jwks_file(absl::StrCat(::testing::TempDir(), "/no-such-dir/jwks.json"));
  auto v = CitizenTokenVerifier::FromConfig(config, &clock_);
  ASSERT_FALSE(v.ok());
  EXPECT_EQ(v.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(v.status().message()), HasSubstr("jwks.json"));
}

}  // namespace
}  // namespace tongban
