// Fuzz target: citizen bearer tokens (common/citizen_token), the public
// edge's first parser of outside bytes. A verifier with a real EC P-256 test
// key (kid "k1", and the same key for tokens without a kid) and a fixed clock
// (2023-11-14T22:13:20Z) gets, by byte 0 of the input:
//   0: the rest as a compact JWS, as sent;
//   1: the rest as an Authorization header value (BearerToken, then Verify);
//   2: the rest as "<header JSON>\n<claims JSON>" (or claims JSON alone with
//      the header {"alg":"ES256","typ":"JWT","kid":"k1"}), signed here with
//      the test key, so the claims checks after the signature are reached;
//   3: as 2, signed with a key the verifier does not know.
// Properties: no crash; an accepted token names a valid resident id and has
// not expired; verifying twice (the second time from the cache) agrees.
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "citizen_token.h"
#include "clock.h"
#include "derived_test_key.h"
#include "fuzz_check.h"
#include "resident_id.h"

namespace {

constexpr int64_t kNow = 1700000000;

// The target's token key, derived at start-up (tests/fuzz/derived_test_key.h).
const std::string& TokenPublicKeyPem() {
  static const std::string* k = new std::string(
      tongban::fuzzing::DerivedTestKeyPem("tongban-fuzz-citizen-token", /*public_only=*/true));
  return *k;
}

struct PkeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
using Pkey = std::unique_ptr<EVP_PKEY, PkeyFree>;

Pkey ReadPrivate(const char* pem) {
  BIO* bio = BIO_new_mem_buf(pem, -1);
  Pkey key(PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr));
  BIO_free(bio);
  FUZZ_CHECK(key != nullptr);
  return key;
}

Pkey NewP256Key() {
  EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_EC, nullptr);
  EVP_PKEY* key = nullptr;
  FUZZ_CHECK(ctx != nullptr && EVP_PKEY_keygen_init(ctx) == 1 &&
             EVP_PKEY_CTX_set_ec_paramgen_curve_nid(ctx, NID_X9_62_prime256v1) == 1 &&
             EVP_PKEY_keygen(ctx, &key) == 1);
  EVP_PKEY_CTX_free(ctx);
  return Pkey(key);
}

// base64url without padding, as JWS wants.
std::string B64(absl::string_view bytes) { return absl::WebSafeBase64Escape(bytes); }

// ES256 over `signed_part`: R || S, 32 bytes each.
std::string SignEs256(EVP_PKEY* key, absl::string_view signed_part) {
  EVP_MD_CTX* md = EVP_MD_CTX_new();
  size_t len = 0;
  FUZZ_CHECK(EVP_DigestSignInit(md, nullptr, EVP_sha256(), nullptr, key) == 1);
  FUZZ_CHECK(EVP_DigestSign(md, nullptr, &len,
                            reinterpret_cast<const unsigned char*>(signed_part.data()),
                            signed_part.size()) == 1);
  std::string der(len, '\0');
  FUZZ_CHECK(EVP_DigestSign(md, reinterpret_cast<unsigned char*>(der.data()), &len,
                            reinterpret_cast<const unsigned char*>(signed_part.data()),
                            signed_part.size()) == 1);
  EVP_MD_CTX_free(md);
  const unsigned char* p = reinterpret_cast<const unsigned char*>(der.data());
  ECDSA_SIG* sig = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(len));
  FUZZ_CHECK(sig != nullptr);
  std::string raw(64, '\0');
  FUZZ_CHECK(BN_bn2binpad(ECDSA_SIG_get0_r(sig), reinterpret_cast<unsigned char*>(&raw[0]), 32) ==
             32);
  FUZZ_CHECK(BN_bn2binpad(ECDSA_SIG_get0_s(sig), reinterpret_cast<unsigned char*>(&raw[32]), 32) ==
             32);
  ECDSA_SIG_free(sig);
  return raw;
}

struct Setup {
  tongban::FakeClock clock{absl::FromUnixSeconds(kNow)};
  Pkey signer = ReadPrivate(tongban::fuzzing::DerivedTestKeyPem("tongban-fuzz-citizen-token").c_str());
  Pkey stranger = NewP256Key();

  // A verifier per input: its cache of verified tokens then starts empty
  // every time (inputs stay independent) and is freed with it, so libFuzzer
  // does not take each remembered token for a leak and run LeakSanitizer
  // after every input (which made the target ~50x slower).
  std::unique_ptr<tongban::CitizenTokenVerifier> NewVerifier() const {
    tongban::CitizenTokenPolicy policy;
    policy.issuer = "https://id.tongban.dev";
    policy.audience = "tongban-public-api";
    auto v = tongban::CitizenTokenVerifier::Create(policy, {{"k1", TokenPublicKeyPem()}, {"", TokenPublicKeyPem()}},
                                                   &clock);
    if (!v.ok()) std::fprintf(stderr, "verifier: %s\n", v.status().ToString().c_str());
    FUZZ_CHECK(v.ok());
    return std::move(*v);
  }
};

Setup& Get() {
  static Setup* setup = new Setup();
  return *setup;
}

void VerifyAndCheck(const Setup& s, absl::string_view token) {
  std::unique_ptr<tongban::CitizenTokenVerifier> verifier = s.NewVerifier();
  absl::StatusOr<tongban::VerifiedCitizen> first = verifier->Verify(token);
  if (first.ok()) {
    FUZZ_CHECK(tongban::ValidateResidentId("sub", first->citizen_id).ok());
    FUZZ_CHECK(first->expires_at + absl::Seconds(60) >= s.clock.Now());
  } else {
    FUZZ_CHECK(absl::IsUnauthenticated(first.status()));
  }
  absl::StatusOr<tongban::VerifiedCitizen> again = verifier->Verify(token);
  FUZZ_CHECK(again.ok() == first.ok());
  if (first.ok()) FUZZ_CHECK(again->citizen_id == first->citizen_id);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  Setup& s = Get();
  absl::string_view rest(reinterpret_cast<const char*>(data + 1), size - 1);
  switch (data[0] & 3) {
    case 0:
      VerifyAndCheck(s, rest);
      break;
    case 1: {
      absl::StatusOr<absl::string_view> token = tongban::BearerToken(rest);
      if (token.ok()) VerifyAndCheck(s, *token);
      break;
    }
    default: {
      absl::string_view header = R"({"alg":"ES256","typ":"JWT","kid":"k1"})";
      absl::string_view claims = rest;
      if (size_t nl = rest.find('\n'); nl != absl::string_view::npos) {
        header = rest.substr(0, nl);
        claims = rest.substr(nl + 1);
      }
      std::string signed_part = absl::StrCat(B64(header), ".", B64(claims));
      EVP_PKEY* key = (data[0] & 3) == 2 ? s.signer.get() : s.stranger.get();
      VerifyAndCheck(s, absl::StrCat(signed_part, ".", B64(SignEs256(key, signed_part))));
      break;
    }
  }
  return 0;
}
