// Signed, tamper-evident records (docs/protocol.md, "Signed records").
//
// Every event a node authors is signed with the node's mTLS key (ECDSA P-256)
// over a deterministic encoding, and each province's events of an
// application form a hash chain rooted at the application's filing record.
//
//   filing hash      SHA-256(deterministic ApplicationFiling)
//   signing digest   SHA-256("tongban.v1.ApplicationEvent\n" + application_id +
//                    "\n" + deterministic ApplicationEvent without `signature`)
//   chain hash       SHA-256(deterministic ApplicationEvent, signature included)
//
// The first event province P authors on an application has previous_hash =
// filing hash; each later P-event points at the chain hash of the previous
// P-event. Every hash here is 32 raw bytes.
//
// Other signed records (licences, common/licence_signing.h) use the same keys
// and checks through RecordSigner::SignDigest and
// RecordVerifier::VerifySignature, each with a signing context of its own.
//
// Nothing here throws; every failure is an absl::Status. RecordSigner and
// RecordVerifier are thread-safe and re-read their files (at most once per
// `recheck_interval`) so renewed certificates, CA bundles and CRLs are used
// without a restart.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "google/protobuf/message.h"
#include "google/protobuf/repeated_ptr_field.h"
#include "tongban/v1/application.pb.h"

namespace tongban::signing {

// RecordSignature.algorithm of every signature made here.
inline constexpr char kAlgorithm[] = "ecdsa-p256-sha256";
// Domain separation prefix of the event signing input.
inline constexpr char kEventSigningContext[] = "tongban.v1.ApplicationEvent\n";

// Deterministic protobuf serialization (SetSerializationDeterministic).
std::string DeterministicBytes(const google::protobuf::Message& message);

// SHA-256 of the deterministic encoding of the filing record.
std::string FilingHash(const v1::ApplicationFiling& filing);
// SHA-256 of the deterministic encoding of the whole event, signature
// included: what the next event of the same province carries in previous_hash.
std::string EventChainHash(const v1::ApplicationEvent& event);
// The exact bytes that are signed (the ECDSA signature is over their SHA-256):
// context + application_id + "\n" + event without `signature`.
std::string EventSigningInput(const std::string& application_id,
                              const v1::ApplicationEvent& event);
// SHA-256 of EventSigningInput.
std::string EventSigningDigest(const std::string& application_id,
                               const v1::ApplicationEvent& event);

// A record one node keeps for itself (an operator's DISCARD_DELIVERY): never
// sent to the other province, so it is neither signed nor part of any hash
// chain, and its id is "<province>-local-<n>" so the shared numbering has no
// gaps. Chains, links and VerifyHistory skip it.
bool IsLocalRecord(const v1::ApplicationEvent& event);

// SHA-256 of bytes, 32 raw bytes (the algorithm fetched once, not per call).
std::string Sha256(std::string_view bytes);

// Lower-case hex of bytes (for messages and reports).
std::string Hex(const std::string& bytes);

// What previous_hash a new event authored by `province` must carry: the chain
// hash of the last event of `province` among `events` (append order), or the
// filing hash when `province` has authored none.
std::string PreviousHashFor(const v1::ApplicationFiling& filing,
                            const std::vector<v1::ApplicationEvent>& events,
                            const std::string& province);
std::string PreviousHashFor(const v1::ApplicationFiling& filing,
                            const google::protobuf::RepeatedPtrField<v1::ApplicationEvent>& events,
                            const std::string& province);

// Receiving side of the chain: `incoming.previous_hash` must equal
// PreviousHashFor(filing, stored, incoming.province_code()). INVALID_ARGUMENT
// naming the event it should have pointed at otherwise ("previous_hash does
// not match event 430000-1: an event was altered, removed or reordered").
// Idempotent re-delivery of an already stored event is the caller's business
// (check it before calling this).
absl::Status CheckChainLink(const v1::ApplicationFiling& filing,
                            const std::vector<v1::ApplicationEvent>& stored_events_of_application,
                            const v1::ApplicationEvent& incoming);
absl::Status CheckChainLink(
    const v1::ApplicationFiling& filing,
    const google::protobuf::RepeatedPtrField<v1::ApplicationEvent>& stored_events_of_application,
    const v1::ApplicationEvent& incoming);

// Signs events with a node's key. The certificate must carry exactly one URI
// SAN spiffe://tongban/province/<code>; the node signs only events whose
// province_code is that code.
class RecordSigner {
 public:
  // Reads the PEM key and certificate (key.pem, cert.pem of the node's mTLS
  // identity; symlinks are followed). FAILED_PRECONDITION when unreadable, not
  // P-256, not matching, or the certificate names no single province.
  static absl::StatusOr<std::unique_ptr<RecordSigner>> Create(
      const std::string& key_file, const std::string& cert_file,
      absl::Duration recheck_interval = absl::Seconds(1));
  ~RecordSigner();
  RecordSigner(const RecordSigner&) = delete;
  RecordSigner& operator=(const RecordSigner&) = delete;

  // Fills event->signature (algorithm, certificate DER, DER ECDSA signature
  // over EventSigningDigest). previous_hash and every other field must be
  // final before. FAILED_PRECONDITION when event->province_code() is not the
  // signer's province; INTERNAL when OpenSSL fails.
  absl::Status SignEvent(const std::string& application_id, v1::ApplicationEvent* event);

  // Signs any record: fills *out (algorithm, certificate DER, DER ECDSA
  // signature over `digest32`, the record's 32-byte SHA-256 signing digest,
  // which should include a domain-separation context of its own). *out is left
  // untouched on failure. FAILED_PRECONDITION when `province` (the province
  // the record is of) is not the signer's province; INVALID_ARGUMENT when
  // `digest32` is not 32 bytes; INTERNAL when OpenSSL fails.
  absl::Status SignDigest(const std::string& province, const std::string& digest32,
                          v1::RecordSignature* out);

  // The province the current certificate names.
  std::string province() const;
  // DER of the certificate in use (changes after a renewal is picked up).
  std::string certificate_der() const;

  struct Identity;

 private:
  RecordSigner(std::string key_file, std::string cert_file, absl::Duration recheck_interval);
  std::shared_ptr<const Identity> Current();
  struct State;
  std::unique_ptr<State> state_;
};

enum class VerifyMode {
  // A live message: the signer's certificate must be valid now and not
  // revoked now.
  kReceiving,
  // A stored record: the certificate must have been valid at the event's `at`
  // time and not revoked before it (records signed while valid stay valid).
  kHistorical,
};

// Verifies signed records against the federation CA bundle and, optionally, a
// hashed CRL directory (<issuer-hash>.r<n>, as gRPC and OpenSSL read it).
class RecordVerifier {
 public:
  // FAILED_PRECONDITION when the CA bundle holds no certificate or the CRL
  // directory (when given) does not exist.
  static absl::StatusOr<std::unique_ptr<RecordVerifier>> Create(
      const std::string& ca_file, const std::string& crl_directory = "",
      absl::Duration recheck_interval = absl::Seconds(1));
  ~RecordVerifier();
  RecordVerifier(const RecordVerifier&) = delete;
  RecordVerifier& operator=(const RecordVerifier&) = delete;

  // OK, or PERMISSION_DENIED "event <id> of <application>: <reason>" where the
  // reason is one of: not signed; unknown signature algorithm; signer
  // certificate unreadable / does not chain to the federation CA / names no
  // single province / names province X, event is authored by Y / not valid
  // at <time> (expired or not yet valid) / revoked; signature does not verify.
  // The expected province is event.province_code(). In kHistorical mode the
  // time checked is event.at() (INVALID_ARGUMENT-free: a missing `at` is a
  // PERMISSION_DENIED "has no time"); in kReceiving mode it is `now`.
  absl::Status VerifyEvent(const std::string& application_id, const v1::ApplicationEvent& event,
                           absl::Time now, VerifyMode mode) const;

  // Verifies the signature of any record (what VerifyEvent does for events):
  // `sig` must be a signature over `digest32` (the record's 32-byte signing
  // digest, as passed to RecordSigner::SignDigest) by a certificate of the
  // federation CA naming `expected_province`, valid (and not revoked) at `now`
  // in kReceiving mode or at `at`, the record's own time, in kHistorical mode
  // (absl::InfinitePast() = the record has no time: refused in kHistorical).
  // OK, or PERMISSION_DENIED "<what>: <reason>" with the reasons of
  // VerifyEvent ("... names province X, the record is of province Y" for a
  // province mismatch).
  absl::Status VerifySignature(const v1::RecordSignature& sig, const std::string& expected_province,
                               const std::string& digest32, absl::Time at, VerifyMode mode,
                               absl::Time now, const std::string& what) const;

  // Number of signer certificates currently cached (tests, metrics).
  size_t cached_certificates() const;

  struct Trust;

 private:
  RecordVerifier(std::string ca_file, std::string crl_directory, absl::Duration recheck_interval);
  struct State;
  std::unique_ptr<State> state_;
};

// Offline verification of an exported history (kHistorical mode).
struct EventVerdict {
  std::string event_id;
  std::string province;
  std::string action;  // e.g. "APPLICATION_ACTION_SUBMIT"
  absl::Time at = absl::InfinitePast();
  std::vector<std::string> problems;  // empty = verified
  bool local_record = false;          // IsLocalRecord: not signed, not checked
  bool ok() const { return problems.empty(); }
};
struct HistoryVerdict {
  // Problems of the history as a whole (filing missing, a province's first
  // event is not where it should be, ...).
  std::vector<std::string> problems;
  std::vector<EventVerdict> events;  // in the order given
  bool ok() const;
};

// Checks: the filing record is present and names `application_id` and the
// provinces of the id; every event is signed by its province and verifies
// (kHistorical); each province's events carry consecutive ids "<p>-1",
// "<p>-2", ... and an intact chain from the filing hash; the accepting
// province's first event is SUBMIT.
HistoryVerdict VerifyHistory(const std::string& application_id, const v1::ApplicationFiling* filing,
                             const std::vector<v1::ApplicationEvent>& events,
                             const RecordVerifier& verifier);

}  // namespace tongban::signing
