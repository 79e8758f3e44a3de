// `tongbanctl certs check <dir>`: inspects every certificate (cert.pem) of a
// Tongban PKI directory the way a node or gateway would see it — identity,
// validity, key, chain to the CA bundle, revocation by the CRL directory —
// and lists the problems. The logic lives here so it is unit-testable; the
// binary (main.cc) only parses arguments and prints.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "tls_credentials.h"

namespace tongban::ctl {

struct CertCheckOptions {
  std::string dir;            // walked recursively for files named cert.pem
  std::string ca_file;        // trust bundle; empty = <dir>/ca/ca.pem
  std::string crl_dir;        // hashed CRL directory; empty = no revocation check
  int warn_days = 14;         // a certificate expiring sooner is a problem
  int crl_warn_hours = 48;    // a CRL expiring sooner is a problem
  int64_t now = 0;            // Unix seconds; 0 = the current time
};

// Problem kinds (Problem::kind, CertReport::problems).
inline constexpr char kExpired[] = "expired";
inline constexpr char kExpiring[] = "expiring";
inline constexpr char kNotYetValid[] = "not_yet_valid";
inline constexpr char kKeyMismatch[] = "key_mismatch";
inline constexpr char kKeyMissing[] = "key_missing";
inline constexpr char kChain[] = "chain";
inline constexpr char kRevoked[] = "revoked";
inline constexpr char kNoIdentity[] = "no_identity";
inline constexpr char kDuplicateIdentity[] = "duplicate_identity";
inline constexpr char kUnreadable[] = "unreadable";
inline constexpr char kCa[] = "ca";
inline constexpr char kCrl[] = "crl";

struct Problem {
  std::string path;     // relative to the checked dir; "" for CRL problems
  std::string kind;
  std::string message;
};

struct CertReport {
  std::string path;                // relative to the checked dir
  std::string subject;             // one-line subject
  std::string issuer;              // one-line issuer
  std::string serial;              // hex
  std::vector<std::string> uris;   // every URI SAN
  std::string identity;            // the tongban SPIFFE id, "" when none
  int64_t not_before = 0;
  int64_t not_after = 0;
  int64_t days_left = 0;           // whole days until notAfter (negative: expired)
  std::string key;                 // match | mismatch | missing | unreadable
  std::string chain;               // ok | the verification error
  std::string revocation;          // good | revoked | no_crl | not_checked
  std::vector<std::string> problems;  // kinds, also listed in CheckReport::problems
};

struct CaReport {
  std::string subject;
  int64_t not_after = 0;
  int64_t days_left = 0;
};

struct CheckReport {
  std::string dir;
  std::string ca_file;
  std::string crl_dir;
  int64_t now = 0;
  std::vector<CertReport> certs;
  std::vector<CaReport> cas;
  CrlDirectoryCheck crl;            // empty when no crl_dir
  std::vector<Problem> problems;
  bool ok() const { return problems.empty(); }
};

// Errors only when the check cannot run at all (no such dir, unreadable CA bundle).
absl::StatusOr<CheckReport> CheckCertificates(const CertCheckOptions& options);

std::string FormatText(const CheckReport& report);
std::string FormatJson(const CheckReport& report);

}  // namespace tongban::ctl
