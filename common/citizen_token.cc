#include "citizen_token.h"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>
#include <unordered_map>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "jwks.h"
#include "resident_id.h"
#include "structured_log.h"

namespace tongban {
namespace {

using google::protobuf::Struct;
using google::protobuf::Value;

// Far above any real token (a few hundred bytes), far below what would make
// decoding or hashing costly; checked before anything else is looked at.
constexpr size_t kMaxTokenBytes = 8 * 1024;
// ES256 signatures in JWS are R || S, each a 32-byte big-endian integer.
constexpr size_t kSignatureBytes = 64;
constexpr int kCoordinateBytes = 32;
// Verified-token cache bounds: entries and total token bytes (10 000 tokens
// of the 8 KiB maximum would otherwise pin 80 MB).
constexpr size_t kCacheMaxEntries = 10000;
constexpr size_t kCacheMaxBytes = 8 * 1024 * 1024;
// NumericDate values accepted: 1970 up to the year 9999, so that conversions
// to absl::Time and the formatting in messages stay exact and meaningful.
constexpr double kMaxNumericDate = 253402300799.0;

struct PkeyDeleter {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyDeleter>;
struct MdCtxDeleter {
  void operator()(EVP_MD_CTX* p) const { EVP_MD_CTX_free(p); }
};
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, MdCtxDeleter>;
struct BioDeleter {
  void operator()(BIO* p) const { BIO_free(p); }
};
using BioPtr = std::unique_ptr<BIO, BioDeleter>;
struct EcdsaSigDeleter {
  void operator()(ECDSA_SIG* p) const { ECDSA_SIG_free(p); }
};
using EcdsaSigPtr = std::unique_ptr<ECDSA_SIG, EcdsaSigDeleter>;

// OpenSSL failures leave entries in the thread's error queue; a stale entry
// there can make a later, unrelated TLS call on the same (gRPC) thread report
// an error. Every function here that calls OpenSSL clears it on the way out.
struct ClearOpenSslErrors {
  ~ClearOpenSslErrors() { ERR_clear_error(); }
};

// Every refusal of a token: UNAUTHENTICATED with a reason that stands on its
// own in a log line. Reasons may quote header or claim values (shortened by
// Shown), never the token.
absl::Status Unauthenticated(absl::string_view reason) {
  return absl::UnauthenticatedError(reason);
}

// Quotes a value taken from a token (a kid, an issuer) for a message: at most
// 40 bytes, control and non-ASCII bytes escaped, so an attacker cannot make
// log lines long or unprintable.
std::string Shown(absl::string_view value) {
  bool cut_short = value.size() > 40;
  if (cut_short) value = value.substr(0, 40);
  std::string out = "\"";
  for (char c : value) {
    unsigned char u = static_cast<unsigned char>(c);
    if (u < 0x20 || u >= 0x7F || c == '"' || c == '\\') {
      absl::StrAppend(&out, "\\x", absl::Hex(u, absl::kZeroPad2));
    } else {
      out.push_back(c);
    }
  }
  absl::StrAppend(&out, cut_short ? "...\"" : "\"");
  return out;
}

std::string TimeText(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", t, absl::UTCTimeZone());
}

std::string DurationText(absl::Duration d) { return absl::StrCat(absl::ToInt64Seconds(d), " s"); }

int Base64UrlValue(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '-') return 62;
  if (c == '_') return 63;
  return -1;
}

// Strict base64url without padding (RFC 7515 §2): only the URL-safe
// alphabet, no '=', no whitespace, and unused trailing bits must be zero, so
// each byte string has exactly one accepted encoding (no malleable tokens).
bool DecodeBase64Url(absl::string_view in, std::string* out) {
  out->clear();
  if (in.size() % 4 == 1) return false;
  out->reserve(in.size() * 3 / 4);
  uint32_t bits = 0;
  int nbits = 0;
  for (char c : in) {
    int v = Base64UrlValue(c);
    if (v < 0) return false;
    bits = (bits << 6) | static_cast<uint32_t>(v);
    nbits += 6;
    if (nbits >= 8) {
      nbits -= 8;
      out->push_back(static_cast<char>((bits >> nbits) & 0xFF));
    }
  }
  return (bits & ((1u << nbits) - 1)) == 0;
}

std::string EncodeBase64Url(absl::string_view in) {
  std::string out;
  absl::WebSafeBase64Escape(in, &out);  // unpadded
  return out;
}

// Parses a JSON object with protobuf's JSON support (no parser of our own).
// It refuses duplicate names (so no two parsers can disagree on which "alg"
// or "sub" counts); its leniencies (unquoted names, trailing commas) only
// reach bytes covered by the signature.
bool ParseJsonObject(const std::string& json, Struct* out) {
  return google::protobuf::util::JsonStringToMessage(json, out).ok();
}

const Value* Field(const Struct& s, const std::string& name) {
  auto it = s.fields().find(name);
  return it == s.fields().end() ? nullptr : &it->second;
}

// A NumericDate claim (RFC 7519 §2): seconds since the epoch, possibly
// fractional. NOT_FOUND when absent, UNAUTHENTICATED when not a usable number.
absl::StatusOr<absl::Time> NumericDate(const Struct& claims, const std::string& name) {
  const Value* v = Field(claims, name);
  if (v == nullptr) return absl::NotFoundError(name);
  if (v->kind_case() != Value::kNumberValue) {
    return Unauthenticated(
        absl::StrCat("token claim \"", name, "\" must be a number (seconds since 1970)"));
  }
  double seconds = v->number_value();
  if (!std::isfinite(seconds) || seconds < 0 || seconds > kMaxNumericDate) {
    return Unauthenticated(
        absl::StrCat("token claim \"", name, "\" is not a date between 1970 and 9999"));
  }
  return absl::UnixEpoch() + absl::Seconds(seconds);
}

// Is `pkey` an EC key on P-256 (the only curve ES256 allows)? Explicit-
// parameter keys have no group name and are refused too.
bool IsP256(EVP_PKEY* pkey) {
  if (pkey == nullptr || EVP_PKEY_get_base_id(pkey) != EVP_PKEY_EC) return false;
  char name[64] = {0};
  size_t len = 0;
  if (EVP_PKEY_get_group_name(pkey, name, sizeof(name), &len) != 1) return false;
  return OBJ_txt2nid(name) == NID_X9_62_prime256v1;
}

PkeyPtr ReadPublicKey(absl::string_view pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (bio == nullptr) return nullptr;
  return PkeyPtr(PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr));
}

PkeyPtr ReadPrivateKey(absl::string_view pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (bio == nullptr) return nullptr;
  // An empty passphrase callback result: encrypted keys fail instead of
  // prompting on the terminal.
  static pem_password_cb* const kNoPassphrase = [](char*, int, int, void*) { return 0; };
  return PkeyPtr(PEM_read_bio_PrivateKey(bio.get(), nullptr, kNoPassphrase, nullptr));
}

// JWS R || S → the DER ECDSA-Sig-Value that EVP_DigestVerify expects; ""
// when OpenSSL fails.
std::string RawSignatureToDer(absl::string_view raw) {
  EcdsaSigPtr sig(ECDSA_SIG_new());
  if (sig == nullptr) return "";
  const auto* bytes = reinterpret_cast<const unsigned char*>(raw.data());
  BIGNUM* r = BN_bin2bn(bytes, kCoordinateBytes, nullptr);
  BIGNUM* s = BN_bin2bn(bytes + kCoordinateBytes, kCoordinateBytes, nullptr);
  if (r == nullptr || s == nullptr || ECDSA_SIG_set0(sig.get(), r, s) != 1) {
    BN_free(r);
    BN_free(s);
    return "";
  }
  unsigned char* der = nullptr;
  int len = i2d_ECDSA_SIG(sig.get(), &der);
  if (len <= 0) return "";
  std::string out(reinterpret_cast<char*>(der), static_cast<size_t>(len));
  OPENSSL_free(der);
  return out;
}

// DER ECDSA-Sig-Value → JWS R || S, each left-padded to 32 bytes; "" when
// the input is not a P-256 signature.
std::string DerSignatureToRaw(const std::string& der) {
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  EcdsaSigPtr sig(d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der.size())));
  if (sig == nullptr) return "";
  const BIGNUM* r = nullptr;
  const BIGNUM* s = nullptr;
  ECDSA_SIG_get0(sig.get(), &r, &s);
  std::string raw(kSignatureBytes, '\0');
  auto* out = reinterpret_cast<unsigned char*>(raw.data());
  if (BN_bn2binpad(r, out, kCoordinateBytes) != kCoordinateBytes ||
      BN_bn2binpad(s, out + kCoordinateBytes, kCoordinateBytes) != kCoordinateBytes) {
    return "";
  }
  return raw;
}

// ECDSA P-256 / SHA-256 over `signed_part`. A fresh context per call: the
// key is only read, so concurrent verifications need no lock.
bool VerifyEs256(EVP_PKEY* key, absl::string_view signed_part, const std::string& der_sig) {
  MdCtxPtr ctx(EVP_MD_CTX_new());
  if (ctx == nullptr) return false;
  if (EVP_DigestVerifyInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key) != 1) return false;
  return EVP_DigestVerify(
             ctx.get(), reinterpret_cast<const unsigned char*>(der_sig.data()), der_sig.size(),
             reinterpret_cast<const unsigned char*>(signed_part.data()), signed_part.size()) == 1;
}

std::string Sha256(absl::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), digest, &len, EVP_sha256(), nullptr) != 1) return "";
  return std::string(reinterpret_cast<char*>(digest), len);
}

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot read citizen token key file ", path, ": ", std::strerror(errno)));
  }
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) {
    return absl::FailedPreconditionError(absl::StrCat("cannot read citizen token key file ", path));
  }
  return text.str();
}

}  // namespace

struct CitizenTokenVerifier::Impl {
  struct Key {
    std::string kid;
    PkeyPtr pkey;
  };
  // A token that passed every check once. Only the time checks can change
  // their answer later, so a hit re-runs just those.
  struct CacheEntry {
    std::string token;  // the full token: a hit must match it byte for byte
    VerifiedCitizen citizen;
    absl::Time not_before;  // InfinitePast() = no nbf claim
  };

  CitizenTokenPolicy policy;
  std::vector<Key> keys;
  const Clock* clock = nullptr;

  mutable absl::Mutex mu;
  // Keyed by the SHA-256 of the token, the full token compared in constant
  // time on a hit: a lookup's timing then reveals nothing about cached
  // tokens of other citizens.
  mutable std::unordered_map<std::string, CacheEntry> cache ABSL_GUARDED_BY(mu);
  mutable size_t cache_bytes ABSL_GUARDED_BY(mu) = 0;

  absl::Status CheckTimes(absl::Time now, absl::Time expires_at, absl::Time not_before) const {
    if (now > expires_at + policy.leeway) {
      return Unauthenticated(
          absl::StrCat("token expired at ", TimeText(expires_at), " (now ", TimeText(now), ")"));
    }
    if (now + policy.leeway < not_before) {
      return Unauthenticated(absl::StrCat("token not valid before ", TimeText(not_before), " (now ",
                                          TimeText(now), ")"));
    }
    return absl::OkStatus();
  }

  // True with *result set when `token` is cached: the citizen, or why the
  // token is no longer valid (then it is dropped from the cache).
  bool Cached(absl::string_view token, const std::string& digest, absl::Time now,
              absl::StatusOr<VerifiedCitizen>* result) const {
    absl::MutexLock lock(&mu);
    auto it = cache.find(digest);
    if (it == cache.end()) return false;
    const CacheEntry& e = it->second;
    if (e.token.size() != token.size() ||
        CRYPTO_memcmp(e.token.data(), token.data(), token.size()) != 0) {
      return false;  // a SHA-256 collision: verify in full
    }
    absl::Status times = CheckTimes(now, e.citizen.expires_at, e.not_before);
    if (!times.ok()) {
      cache_bytes -= e.token.size();
      cache.erase(it);
      *result = times;
    } else {
      *result = e.citizen;
    }
    return true;
  }

  void Remember(absl::string_view token, std::string digest, const VerifiedCitizen& citizen,
                absl::Time not_before, absl::Time now) const {
    if (digest.empty()) return;
    absl::MutexLock lock(&mu);
    if (cache.size() >= kCacheMaxEntries || cache_bytes + token.size() > kCacheMaxBytes) {
      // Full: drop the expired entries, then arbitrary ones down to 90 %, so
      // this O(n) sweep runs at most once per thousand insertions.
      for (auto it = cache.begin(); it != cache.end();) {
        bool drop = now > it->second.citizen.expires_at + policy.leeway ||
                    cache.size() > kCacheMaxEntries * 9 / 10 ||
                    cache_bytes + token.size() > kCacheMaxBytes * 9 / 10;
        if (drop) {
          cache_bytes -= it->second.token.size();
          it = cache.erase(it);
        } else {
          ++it;
        }
      }
    }
    auto [it, inserted] = cache.try_emplace(std::move(digest));
    if (!inserted) cache_bytes -= it->second.token.size();
    it->second = CacheEntry{std::string(token), citizen, not_before};
    cache_bytes += token.size();
  }

  absl::StatusOr<VerifiedCitizen> VerifyUncached(absl::string_view token, absl::Time now,
                                                 absl::Time* not_before) const;
};

CitizenTokenVerifier::CitizenTokenVerifier(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
CitizenTokenVerifier::~CitizenTokenVerifier() = default;

absl::StatusOr<std::unique_ptr<CitizenTokenVerifier>> CitizenTokenVerifier::Create(
    CitizenTokenPolicy policy, const std::vector<CitizenTokenPublicKey>& keys, const Clock* clock) {
  ClearOpenSslErrors clear_errors;
  if (clock == nullptr) return absl::InvalidArgumentError("citizen token verifier needs a clock");
  if (policy.issuer.empty()) {
    return absl::InvalidArgumentError("citizen token issuer is required (the expected \"iss\")");
  }
  if (policy.audience.empty()) {
    return absl::InvalidArgumentError("citizen token audience is required (the expected \"aud\")");
  }
  if (policy.leeway < absl::ZeroDuration()) {
    return absl::InvalidArgumentError("citizen token leeway must not be negative");
  }
  if (policy.max_lifetime <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("citizen token max lifetime must be positive");
  }
  if (keys.empty()) {
    return absl::InvalidArgumentError("citizen token verification needs at least one public key");
  }
  auto impl = std::make_unique<Impl>();
  std::set<std::string> kids;
  for (size_t i = 0; i < keys.size(); ++i) {
    const CitizenTokenPublicKey& k = keys[i];
    std::string name = absl::StrCat("citizen token key ", i, " (kid ", Shown(k.kid), ")");
    if (!kids.insert(k.kid).second) {
      return absl::InvalidArgumentError(absl::StrCat("two citizen token keys have the same kid ",
                                                     Shown(k.kid), "; each key needs its own kid"));
    }
    PkeyPtr pkey = ReadPublicKey(k.pem);
    if (pkey == nullptr) {
      if (absl::StrContains(k.pem, "PRIVATE KEY")) {
        return absl::InvalidArgumentError(absl::StrCat(
            name, " is a private key; configure only its public key (openssl pkey -pubout)"));
      }
      return absl::InvalidArgumentError(
          absl::StrCat(name, " is not a PEM public key (SubjectPublicKeyInfo)"));
    }
    if (!IsP256(pkey.get())) {
      return absl::InvalidArgumentError(
          absl::StrCat(name, " is not an EC P-256 key, the only kind ES256 tokens use"));
    }
    impl->keys.push_back(Impl::Key{k.kid, std::move(pkey)});
  }
  impl->policy = std::move(policy);
  impl->clock = clock;
  return std::unique_ptr<CitizenTokenVerifier>(new CitizenTokenVerifier(std::move(impl)));
}

absl::StatusOr<std::unique_ptr<CitizenTokenVerifier>> CitizenTokenVerifier::FromConfig(
    const v1::CitizenTokenConfig& config, const Clock* clock, EventLog* log) {
  CitizenTokenPolicy policy;
  policy.issuer = config.issuer();
  policy.audience = config.audience();
  policy.leeway = absl::Seconds(config.leeway_seconds() == 0 ? 60 : config.leeway_seconds());
  policy.max_lifetime =
      absl::Seconds(config.max_lifetime_seconds() == 0 ? 86400 : config.max_lifetime_seconds());
  std::vector<CitizenTokenPublicKey> keys;
  for (int i = 0; i < config.keys_size(); ++i) {
    const v1::CitizenTokenKey& k = config.keys(i);
    if (k.public_key_file().empty()) {
      return absl::InvalidArgumentError(absl::StrCat("citizen token key ", i, " (kid ",
                                                     Shown(k.kid()), ") has no public_key_file"));
    }
    absl::StatusOr<std::string> pem = ReadFile(k.public_key_file());
    if (!pem.ok()) return pem.status();
    keys.push_back(CitizenTokenPublicKey{k.kid(), *std::move(pem)});
  }
  if (!config.jwks_file().empty()) {
    absl::StatusOr<std::string> json = ReadFile(config.jwks_file());
    if (!json.ok()) return json.status();
    absl::StatusOr<Jwks> jwks = ParseJwks(*json);
    if (!jwks.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("citizen token jwks_file ", config.jwks_file(),
                                                     ": ", jwks.status().message()));
    }
    std::unique_ptr<EventLog> stderr_log;
    if (log == nullptr && !jwks->skipped.empty()) {
      stderr_log = std::make_unique<EventLog>("gateway");
      log = stderr_log.get();
    }
    for (const std::string& reason : jwks->skipped) {
      log->Warn("tokens.jwks_key_skipped", {{"file", config.jwks_file()}, {"reason", reason}});
    }
    for (JwksKey& k : jwks->keys) {
      keys.push_back(CitizenTokenPublicKey{std::move(k.kid), std::move(k.pem)});
    }
  }
  absl::StatusOr<std::unique_ptr<CitizenTokenVerifier>> verifier =
      Create(std::move(policy), keys, clock);
  if (!verifier.ok()) {
    return absl::Status(verifier.status().code(),
                        absl::StrCat("citizen token config: ", verifier.status().message()));
  }
  return verifier;
}

absl::StatusOr<VerifiedCitizen> CitizenTokenVerifier::Verify(absl::string_view token) const {
  if (token.empty()) return Unauthenticated("empty citizen token");
  if (token.size() > kMaxTokenBytes) {
    return Unauthenticated(
        absl::StrCat("token is longer than ", kMaxTokenBytes, " bytes (", token.size(), ")"));
  }
  absl::Time now = impl_->clock->Now();
  std::string digest = Sha256(token);
  absl::StatusOr<VerifiedCitizen> result;
  if (!digest.empty() && impl_->Cached(token, digest, now, &result)) return result;
  absl::Time not_before = absl::InfinitePast();
  result = impl_->VerifyUncached(token, now, &not_before);
  if (result.ok()) impl_->Remember(token, std::move(digest), *result, not_before, now);
  return result;
}

absl::StatusOr<VerifiedCitizen> CitizenTokenVerifier::Impl::VerifyUncached(
    absl::string_view token, absl::Time now, absl::Time* not_before) const {
  ClearOpenSslErrors clear_errors;
  // --- Shape: header.payload.signature, each strict base64url.
  std::vector<absl::string_view> parts = absl::StrSplit(token, '.');
  if (parts.size() != 3) {
    return Unauthenticated(absl::StrCat(
        "malformed token: a compact JWS has 3 dot-separated parts, this one has ", parts.size()));
  }
  std::string header_json, payload_json, signature;
  if (!DecodeBase64Url(parts[0], &header_json) || header_json.empty()) {
    return Unauthenticated("malformed token: the header is not unpadded base64url");
  }
  if (!DecodeBase64Url(parts[1], &payload_json) || payload_json.empty()) {
    return Unauthenticated("malformed token: the payload is not unpadded base64url");
  }
  if (!DecodeBase64Url(parts[2], &signature)) {
    return Unauthenticated("malformed token: the signature is not unpadded base64url");
  }

  // --- Header: only ES256, and only keys from the config (embedded "jwk",
  // "jku", "x5u" and "x5c" headers are ignored: a token never chooses its
  // own key).
  Struct header;
  if (!ParseJsonObject(header_json, &header)) {
    return Unauthenticated("malformed token: the header is not a JSON object");
  }
  const Value* alg = Field(header, "alg");
  if (alg == nullptr || alg->kind_case() != Value::kStringValue) {
    return Unauthenticated("token header has no \"alg\"; only ES256 tokens are accepted");
  }
  if (alg->string_value() != "ES256") {
    // "none", HS256 (the public key misused as an HMAC secret), RS256, ES384...
    return Unauthenticated(absl::StrCat("token algorithm ", Shown(alg->string_value()),
                                        " is not accepted; only ES256"));
  }
  if (const Value* typ = Field(header, "typ"); typ != nullptr) {
    // JWS §4.1.9: media type names compare case-insensitively and may omit
    // "application/". RFC 9068 access tokens (what identity providers issue
    // for APIs) say "at+jwt"; plain JWTs say "JWT".
    absl::string_view type;
    if (typ->kind_case() == Value::kStringValue) type = typ->string_value();
    if (type.size() > 12 && absl::EqualsIgnoreCase(type.substr(0, 12), "application/")) {
      type.remove_prefix(12);
    }
    if (!absl::EqualsIgnoreCase(type, "JWT") && !absl::EqualsIgnoreCase(type, "at+jwt")) {
      return Unauthenticated(
          "token header \"typ\" is neither \"JWT\" nor \"at+jwt\": not a citizen token");
    }
  }
  if (Field(header, "crit") != nullptr) {
    return Unauthenticated(
        "token header lists critical extensions (\"crit\"), which this verifier does not support");
  }
  std::string kid;
  if (const Value* k = Field(header, "kid"); k != nullptr) {
    if (k->kind_case() != Value::kStringValue) {
      return Unauthenticated("malformed token: header \"kid\" is not a string");
    }
    kid = k->string_value();
  }
  // A token with a kid is checked with that key only. Without one (or with
  // "kid": ""), it is tried with the keys configured with an empty kid or,
  // when none has one, with every key: an identity provider that omits kid
  // keeps working across a key rotation, at the cost of one verification per
  // configured key (a handful) for a forged token.
  std::vector<const Key*> candidates;
  bool any_empty_kid = false;
  for (const Key& k : keys) any_empty_kid |= k.kid.empty();
  for (const Key& k : keys) {
    if (kid.empty() ? (!any_empty_kid || k.kid.empty()) : k.kid == kid) candidates.push_back(&k);
  }
  if (candidates.empty()) {
    return Unauthenticated(absl::StrCat("token signed with unknown key id ", Shown(kid)));
  }

  // --- Signature over the first two parts, as sent.
  if (signature.size() != kSignatureBytes) {
    return Unauthenticated(absl::StrCat("malformed token: an ES256 signature is ", kSignatureBytes,
                                        " bytes (R || S), this one ", signature.size()));
  }
  std::string der = RawSignatureToDer(signature);
  if (der.empty()) return absl::InternalError("cannot convert an ES256 signature (OpenSSL)");
  absl::string_view signed_part = token.substr(0, parts[0].size() + 1 + parts[1].size());
  bool verified = false;
  for (const Key* k : candidates) {
    if (VerifyEs256(k->pkey.get(), signed_part, der)) {
      verified = true;
      break;
    }
  }
  if (!verified) {
    return Unauthenticated(
        kid.empty() ? "bad token signature: not signed by any key for tokens "
                      "without a kid"
                    : absl::StrCat("bad token signature: not signed by key ", Shown(kid)));
  }

  // --- Claims; parsed only once the signature shows who wrote them.
  Struct claims;
  if (!ParseJsonObject(payload_json, &claims)) {
    return Unauthenticated("malformed token: the payload is not a JSON object");
  }
  const Value* iss = Field(claims, "iss");
  if (iss == nullptr || iss->kind_case() != Value::kStringValue) {
    return Unauthenticated("token claim \"iss\" (issuer) is missing");
  }
  if (iss->string_value() != policy.issuer) {
    return Unauthenticated(absl::StrCat("token issuer ", Shown(iss->string_value()), " is not ",
                                        Shown(policy.issuer)));
  }
  const Value* aud = Field(claims, "aud");
  bool audience_ok = false;
  if (aud != nullptr && aud->kind_case() == Value::kStringValue) {
    audience_ok = aud->string_value() == policy.audience;
  } else if (aud != nullptr && aud->kind_case() == Value::kListValue) {
    for (const Value& a : aud->list_value().values()) {
      audience_ok |= a.kind_case() == Value::kStringValue && a.string_value() == policy.audience;
    }
  }
  if (!audience_ok) {
    return Unauthenticated(absl::StrCat("token is not meant for this service: claim \"aud\" ",
                                        aud == nullptr ? "is missing" : "does not name",
                                        aud == nullptr ? "" : " ",
                                        aud == nullptr ? "" : Shown(policy.audience)));
  }

  absl::StatusOr<absl::Time> exp = NumericDate(claims, "exp");
  if (absl::IsNotFound(exp.status())) {
    return Unauthenticated("token claim \"exp\" (expiry) is missing; tokens must expire");
  }
  if (!exp.ok()) return exp.status();
  absl::StatusOr<absl::Time> nbf = NumericDate(claims, "nbf");
  if (!nbf.ok() && !absl::IsNotFound(nbf.status())) return nbf.status();
  *not_before = nbf.ok() ? *nbf : absl::InfinitePast();
  absl::StatusOr<absl::Time> iat = NumericDate(claims, "iat");
  if (!iat.ok() && !absl::IsNotFound(iat.status())) return iat.status();

  if (absl::Status times = CheckTimes(now, *exp, *not_before); !times.ok()) return times;
  if (iat.ok() && *iat > now + policy.leeway) {
    return Unauthenticated(absl::StrCat("token issued in the future, at ", TimeText(*iat), " (now ",
                                        TimeText(now), ")"));
  }
  absl::Duration lifetime = *exp - (iat.ok() ? *iat : now);
  if (lifetime > policy.max_lifetime) {
    return Unauthenticated(absl::StrCat("token lifetime ", DurationText(lifetime),
                                        " is longer than the allowed ",
                                        DurationText(policy.max_lifetime)));
  }

  const Value* sub = Field(claims, "sub");
  if (sub == nullptr || sub->kind_case() != Value::kStringValue || sub->string_value().empty()) {
    return Unauthenticated("token claim \"sub\" (the citizen's resident id number) is missing");
  }
  if (absl::Status id = ValidateResidentId("token claim \"sub\"", sub->string_value()); !id.ok()) {
    return Unauthenticated(id.message());
  }
  return VerifiedCitizen{sub->string_value(), *exp};
}

absl::StatusOr<absl::string_view> BearerToken(absl::string_view authorization) {
  constexpr char kHint[] = "send Authorization: Bearer <token>";
  authorization = absl::StripAsciiWhitespace(authorization);
  if (authorization.empty()) {
    return absl::UnauthenticatedError(absl::StrCat("missing bearer token: ", kHint));
  }
  // The scheme is not echoed: a client that forgot it sent the token itself.
  size_t space = authorization.find(' ');
  absl::string_view scheme = authorization.substr(0, space);
  if (!absl::EqualsIgnoreCase(scheme, "Bearer")) {
    return absl::UnauthenticatedError(
        absl::StrCat("the Authorization header is not a bearer token: ", kHint));
  }
  absl::string_view token =
      space == absl::string_view::npos
          ? absl::string_view()
          : absl::StripLeadingAsciiWhitespace(authorization.substr(space + 1));
  if (token.empty()) {
    return absl::UnauthenticatedError(
        absl::StrCat("missing bearer token after \"Bearer\": ", kHint));
  }
  for (char c : token) {
    if (absl::ascii_isspace(static_cast<unsigned char>(c)) || absl::ascii_iscntrl(c)) {
      return absl::UnauthenticatedError(
          absl::StrCat("malformed bearer token (contains whitespace): ", kHint));
    }
  }
  return token;
}

absl::StatusOr<std::string> MintCitizenToken(absl::string_view private_key_pem,
                                             const CitizenTokenClaims& claims) {
  ClearOpenSslErrors clear_errors;
  if (claims.subject.empty() || claims.issuer.empty() || claims.audience.empty()) {
    return absl::InvalidArgumentError("a citizen token needs a subject, an issuer and an audience");
  }
  for (absl::Time t : {claims.issued_at, claims.expires_at}) {
    if (t == absl::InfinitePast() || t == absl::InfiniteFuture()) {
      return absl::InvalidArgumentError("a citizen token needs finite issue and expiry times");
    }
  }
  if (claims.not_before == absl::InfiniteFuture()) {
    return absl::InvalidArgumentError(
        "a citizen token's not-before must be finite or InfinitePast");
  }
  PkeyPtr key = ReadPrivateKey(private_key_pem);
  if (key == nullptr) {
    return absl::InvalidArgumentError(
        "the signing key is not a PEM private key (PKCS#8 or SEC1, unencrypted)");
  }
  if (!IsP256(key.get())) {
    return absl::InvalidArgumentError("the signing key is not an EC P-256 key, as ES256 needs");
  }

  Struct header;
  (*header.mutable_fields())["alg"].set_string_value("ES256");
  (*header.mutable_fields())["typ"].set_string_value("JWT");
  if (!claims.kid.empty()) (*header.mutable_fields())["kid"].set_string_value(claims.kid);
  Struct payload;
  auto& f = *payload.mutable_fields();
  f["iss"].set_string_value(claims.issuer);
  f["sub"].set_string_value(claims.subject);
  f["aud"].set_string_value(claims.audience);
  // Whole seconds: NumericDate allows fractions, but integers are what every
  // JWT library writes and reads.
  f["iat"].set_number_value(static_cast<double>(absl::ToUnixSeconds(claims.issued_at)));
  f["exp"].set_number_value(static_cast<double>(absl::ToUnixSeconds(claims.expires_at)));
  if (claims.not_before != absl::InfinitePast()) {
    f["nbf"].set_number_value(static_cast<double>(absl::ToUnixSeconds(claims.not_before)));
  }
  if (!claims.jti.empty()) f["jti"].set_string_value(claims.jti);
  std::string header_json, payload_json;
  if (!google::protobuf::util::MessageToJsonString(header, &header_json).ok() ||
      !google::protobuf::util::MessageToJsonString(payload, &payload_json).ok()) {
    return absl::InternalError("cannot write the citizen token's JSON");
  }

  std::string signing_input =
      absl::StrCat(EncodeBase64Url(header_json), ".", EncodeBase64Url(payload_json));
  MdCtxPtr ctx(EVP_MD_CTX_new());
  size_t der_len = 0;
  if (ctx == nullptr ||
      EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key.get()) != 1 ||
      EVP_DigestSign(ctx.get(), nullptr, &der_len,
                     reinterpret_cast<const unsigned char*>(signing_input.data()),
                     signing_input.size()) != 1) {
    return absl::InternalError("cannot sign the citizen token (OpenSSL)");
  }
  std::string der(der_len, '\0');
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(der.data()), &der_len,
                     reinterpret_cast<const unsigned char*>(signing_input.data()),
                     signing_input.size()) != 1) {
    return absl::InternalError("cannot sign the citizen token (OpenSSL)");
  }
  der.resize(der_len);
  std::string raw = DerSignatureToRaw(der);
  if (raw.empty()) return absl::InternalError("cannot convert the ECDSA signature to R || S");
  return absl::StrCat(signing_input, ".", EncodeBase64Url(raw));
}

}  // namespace tongban
