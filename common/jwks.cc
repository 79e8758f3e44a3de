#include "jwks.h"

#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/pem.h>

#include <memory>
#include <set>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"

namespace tongban {
namespace {

using google::protobuf::Struct;
using google::protobuf::Value;

constexpr size_t kCoordinateBytes = 32;
constexpr size_t kMaxKeys = 100;  // providers publish a handful

struct ClearOpenSslErrors {
  ~ClearOpenSslErrors() { ERR_clear_error(); }
};

// A value from the file, quoted for a message: printable ASCII, at most 64.
std::string Shown(absl::string_view v) {
  std::string out = "\"";
  for (size_t i = 0; i < v.size() && i < 64; ++i) {
    char c = v[i];
    out.push_back(c >= 0x20 && c < 0x7F && c != '"' ? c : '?');
  }
  if (v.size() > 64) out.append("...");
  out.push_back('"');
  return out;
}

// The string member `name`: nullptr when absent; *bad when not a string.
const std::string* StringMember(const Struct& s, const std::string& name, bool* bad) {
  auto it = s.fields().find(name);
  if (it == s.fields().end()) return nullptr;
  if (it->second.kind_case() != Value::kStringValue) {
    *bad = true;
    return nullptr;
  }
  return &it->second.string_value();
}

// base64url without padding (RFC 7518 §6.2.1.2: exactly 32 bytes for P-256).
bool Coordinate(const std::string& text, std::string* out) {
  if (text.find_first_of("=+/") != std::string::npos) return false;
  return absl::WebSafeBase64Unescape(text, out) && out->size() == kCoordinateBytes;
}

// The PEM of the P-256 public key (x, y); "" when the point is not on the curve.
std::string P256Pem(const std::string& x, const std::string& y) {
  ClearOpenSslErrors clear;
  std::string point = "\x04" + x + y;  // uncompressed SEC1 point
  char group[] = "prime256v1";
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, group, 0),
      OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size()),
      OSSL_PARAM_construct_end()};
  std::unique_ptr<EVP_PKEY_CTX, decltype(&EVP_PKEY_CTX_free)> ctx(
      EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr), EVP_PKEY_CTX_free);
  EVP_PKEY* raw = nullptr;
  if (ctx == nullptr || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
      EVP_PKEY_fromdata(ctx.get(), &raw, EVP_PKEY_PUBLIC_KEY, params) != 1) {
    return "";
  }
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> pkey(raw, EVP_PKEY_free);
  // fromdata decodes the point; check it is on the curve all the same.
  std::unique_ptr<EVP_PKEY_CTX, decltype(&EVP_PKEY_CTX_free)> check(
      EVP_PKEY_CTX_new_from_pkey(nullptr, pkey.get(), nullptr), EVP_PKEY_CTX_free);
  if (check == nullptr || EVP_PKEY_public_check(check.get()) != 1) return "";
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), BIO_free);
  if (bio == nullptr || PEM_write_bio_PUBKEY(bio.get(), pkey.get()) != 1) return "";
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);
  return len > 0 ? std::string(data, static_cast<size_t>(len)) : "";
}

}  // namespace

absl::StatusOr<Jwks> ParseJwks(absl::string_view json) {
  Struct set;
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = false;
  if (!google::protobuf::util::JsonStringToMessage(std::string(json), &set, options).ok()) {
    return absl::InvalidArgumentError("not a JSON object (a JWKS is {\"keys\": [...]})");
  }
  auto keys = set.fields().find("keys");
  if (keys == set.fields().end() || keys->second.kind_case() != Value::kListValue) {
    return absl::InvalidArgumentError("has no \"keys\" array (a JWKS is {\"keys\": [...]})");
  }
  const auto& list = keys->second.list_value().values();
  if (static_cast<size_t>(list.size()) > kMaxKeys) {
    return absl::InvalidArgumentError(
        absl::StrCat("has ", list.size(), " keys; at most ", kMaxKeys, " are read"));
  }
  Jwks out;
  std::set<std::string> kids;
  for (int i = 0; i < list.size(); ++i) {
    if (list[i].kind_case() != Value::kStructValue) {
      return absl::InvalidArgumentError(absl::StrCat("key ", i, " is not a JSON object"));
    }
    const Struct& jwk = list[i].struct_value();
    bool bad = false;
    const std::string* kid = StringMember(jwk, "kid", &bad);
    std::string name = absl::StrCat("key ", i, kid != nullptr ? " (kid " + Shown(*kid) + ")" : "");
    const std::string* kty = StringMember(jwk, "kty", &bad);
    const std::string* crv = StringMember(jwk, "crv", &bad);
    const std::string* use = StringMember(jwk, "use", &bad);
    const std::string* alg = StringMember(jwk, "alg", &bad);
    const std::string* x = StringMember(jwk, "x", &bad);
    const std::string* y = StringMember(jwk, "y", &bad);
    if (bad) {
      return absl::InvalidArgumentError(
          absl::StrCat(name, ": kid, kty, crv, use, alg, x and y must be strings"));
    }
    if (jwk.fields().count("d") > 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(name, " is a private key (\"d\"): publish and configure only public keys"));
    }
    auto skip = [&](std::string why) { out.skipped.push_back(absl::StrCat(name, ": ", why)); };
    if (kty == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(name, " has no \"kty\""));
    }
    if (*kty != "EC") {
      skip(absl::StrCat("kty ", Shown(*kty), " is not EC (ES256 tokens use EC P-256 keys)"));
      continue;
    }
    if (crv == nullptr || *crv != "P-256") {
      skip(absl::StrCat("crv ", crv == nullptr ? "(none)" : Shown(*crv),
                        " is not P-256 (the curve of ES256)"));
      continue;
    }
    if (use != nullptr && *use != "sig") {
      skip(absl::StrCat("use ", Shown(*use), " is not sig"));
      continue;
    }
    if (alg != nullptr && *alg != "ES256") {
      skip(absl::StrCat("alg ", Shown(*alg), " is not ES256"));
      continue;
    }
    if (auto ops = jwk.fields().find("key_ops"); ops != jwk.fields().end()) {
      bool verify = false;
      if (ops->second.kind_case() == Value::kListValue) {
        for (const Value& op : ops->second.list_value().values()) {
          verify |= op.kind_case() == Value::kStringValue && op.string_value() == "verify";
        }
      }
      if (!verify) {
        skip("key_ops does not list verify");
        continue;
      }
    }
    std::string xb, yb;
    if (x == nullptr || y == nullptr || !Coordinate(*x, &xb) || !Coordinate(*y, &yb)) {
      return absl::InvalidArgumentError(absl::StrCat(
          name, ": x and y must each be 32 bytes in base64url without padding (RFC 7518 6.2.1)"));
    }
    std::string pem = P256Pem(xb, yb);
    if (pem.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(name, ": (x, y) is not a point on P-256"));
    }
    std::string id = kid == nullptr ? "" : *kid;
    if (!kids.insert(id).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("two usable keys have the kid ", Shown(id), "; tokens could not choose"));
    }
    out.keys.push_back(JwksKey{std::move(id), std::move(pem)});
  }
  if (out.keys.size() > 1 && kids.count("") > 0) {
    return absl::InvalidArgumentError(
        "a usable key has no kid while the set has several: give every key a kid (tokens name "
        "theirs in the header)");
  }
  if (out.keys.empty()) {
    std::string why;
    for (const std::string& s : out.skipped) absl::StrAppend(&why, "; ", s);
    return absl::InvalidArgumentError(absl::StrCat("has no EC P-256 signing key (ES256)", why));
  }
  return out;
}

}  // namespace tongban
