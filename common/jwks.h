// JSON Web Key Sets (RFC 7517), as identity providers publish their token
// signing keys at their jwks_uri: {"keys": [{"kty": "EC", "crv": "P-256",
// "x": "...", "y": "...", "kid": "...", "alg": "ES256", "use": "sig"}, ...]}.
// ParseJwks keeps the keys citizen tokens can be signed with (EC P-256 for
// ES256) as PEM public keys for CitizenTokenVerifier, selected by kid.
//
// What is skipped and what is refused: a key of another kind (RSA, OKP,
// another curve) or meant for something else ("use" other than "sig", "alg"
// other than ES256, "key_ops" without "verify") is skipped with a reason —
// providers publish several kinds in one set, and the gateway must start
// when they do. A set that is not JSON or has no "keys" array, an EC P-256
// key that is malformed (x/y not 32 bytes of base64url, not a point on the
// curve), a private key ("d" present: a leaked secret), a usable key
// without a kid when the set has several keys, and a set without one usable
// key are refused: each means the file is not what the operator believes.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace tongban {

struct JwksKey {
  std::string kid;
  std::string pem;  // SubjectPublicKeyInfo PEM of the EC P-256 public key
};

struct Jwks {
  std::vector<JwksKey> keys;         // usable keys, in file order
  std::vector<std::string> skipped;  // why each other key was skipped ("key 1 (kid \"r1\"): ...")
};

// INVALID_ARGUMENT naming the key (index and kid) and what is wrong.
absl::StatusOr<Jwks> ParseJwks(absl::string_view json);

}  // namespace tongban
