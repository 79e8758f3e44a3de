// Citizen bearer tokens: compact ES256 JWTs (RFC 7519/7515) issued by the
// identity provider of the citizens' apps. The gateway verifies them with
// public keys from its config and maps the subject to the citizen id it
// stamps on calls to nodes; MintCitizenToken signs one, for the dev tool
// (tongbanctl token mint), the demo and tests.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "clock.h"
#include "tongban/v1/gateway_config.pb.h"

namespace tongban {

class EventLog;  // structured_log.h

// What a verified token says.
struct VerifiedCitizen {
  std::string citizen_id;  // the subject: an 18-character resident id, checksum verified
  absl::Time expires_at;
};

struct CitizenTokenPolicy {
  std::string issuer;    // required "iss"
  std::string audience;  // required "aud" (or one of its entries)
  absl::Duration leeway = absl::Seconds(60);
  absl::Duration max_lifetime = absl::Hours(24);
};

struct CitizenTokenPublicKey {
  std::string kid;  // "" = for tokens without a kid (tried for them)
  std::string pem;  // EC P-256 public key, SubjectPublicKeyInfo PEM
};

class CitizenTokenVerifier {
 public:
  ~CitizenTokenVerifier();
  // INVALID_ARGUMENT naming what is wrong: no issuer/audience/keys, a key
  // that is not an EC P-256 public key, two keys with the same kid.
  static absl::StatusOr<std::unique_ptr<CitizenTokenVerifier>> Create(
      CitizenTokenPolicy policy, const std::vector<CitizenTokenPublicKey>& keys,
      const Clock* clock);
  // Reads the key files named by the config and its jwks_file (a JSON Web
  // Key Set, jwks.h: its EC P-256 signing keys join the configured keys,
  // selected by kid; other keys are skipped and each skip is logged as
  // tokens.jwks_key_skipped on `log`, or on stderr when it is nullptr).
  // FAILED_PRECONDITION naming an unreadable file; INVALID_ARGUMENT naming
  // the file and key for a set that cannot be used (jwks.h says which);
  // defaults: leeway 60 s, max lifetime 24 h.
  static absl::StatusOr<std::unique_ptr<CitizenTokenVerifier>> FromConfig(
      const v1::CitizenTokenConfig& config, const Clock* clock, EventLog* log = nullptr);

  // UNAUTHENTICATED with the reason (malformed, wrong algorithm, unknown key,
  // bad signature, expired, not yet valid, wrong issuer/audience, lifetime
  // too long, subject not a resident id); never echoes the token. Thread-safe.
  absl::StatusOr<VerifiedCitizen> Verify(absl::string_view token) const;

 private:
  struct Impl;
  explicit CitizenTokenVerifier(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// "Bearer <token>" (scheme case-insensitive) → the token; UNAUTHENTICATED
// when the header is empty or uses another scheme.
absl::StatusOr<absl::string_view> BearerToken(absl::string_view authorization);

struct CitizenTokenClaims {
  std::string subject;
  std::string issuer;
  std::string audience;
  absl::Time issued_at;
  absl::Time not_before;  // InfinitePast() = no nbf claim
  absl::Time expires_at;
  std::string kid;  // "" = no kid header
  std::string jti;  // "" = no jti claim
};

// Signs `claims` with an EC P-256 private key (PEM, PKCS#8 or SEC1).
absl::StatusOr<std::string> MintCitizenToken(absl::string_view private_key_pem,
                                             const CitizenTokenClaims& claims);

}  // namespace tongban
