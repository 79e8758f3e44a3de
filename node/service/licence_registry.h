// LicenceRegistry: this province's register of 电子证照 (docs/licences.md) —
// issuing (signed by this node), revoking (a signed revocation), reading with
// the status derived from the dates, and answering yes/no checks, each check
// recorded, signed, in the disclosure log before its answer is returned.
//
// No gRPC here: LicenceServiceImpl (officers) and FederationServiceImpl
// (checks relayed from other provinces) authorise the caller and call this.
// Requests are validated here, so every entrance applies the same rules.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "clock.h"
#include "licence_types.h"
#include "record_signing.h"
#include "service/node_metrics.h"
#include "store/licence_store.h"
#include "tongban/v1/licence.pb.h"

namespace tongban::node {

struct LicenceRegistryDeps {
  std::string own_province;
  LicenceStore* store = nullptr;
  signing::RecordSigner* signer = nullptr;
  const Clock* clock = nullptr;
  const LicenceTypeList* types = nullptr;
  // Checks this node's own grants when a decision comes back.
  const signing::RecordVerifier* verifier = nullptr;
  NodeMetrics* metrics = nullptr;  // optional (tests)
  // How long a preview's grant may be decided on.
  absl::Duration grant_lifetime = absl::Minutes(10);
};

// Machine-readable reasons (google.rpc.ErrorInfo, grpc_status.h) of the
// 免证办 answers an app shows differently.
inline constexpr char kReasonLicenceNotFound[] = "LICENCE_NOT_FOUND";
inline constexpr char kReasonLicenceRevoked[] = "LICENCE_REVOKED";
inline constexpr char kReasonLicenceExpired[] = "LICENCE_EXPIRED";
inline constexpr char kReasonGrantExpired[] = "LICENCE_GRANT_EXPIRED";
inline constexpr char kReasonTypeNotAccepted[] = "LICENCE_TYPE_NOT_ACCEPTED";

// An applicant's request for their licence of a type, for one use.
struct LicenceFetch {
  std::string type_code;
  std::string holder_id;
  v1::LicenceUse use;
  std::string requester_province;  // verified by the caller of Preview
  std::string requester;
};

// Validates the fields of a fetch (type_code, holder_id, use.*), named as in
// PreviewLicenceRequest.
absl::Status ValidateLicenceFetch(const LicenceFetch& fetch, const LicenceTypeList& types);

// One yes/no question: "is licence <number> of <type> held by <holder>?".
struct LicenceQuestion {
  std::string type_code;
  std::string number;
  std::string holder_id;
  std::string purpose;
  std::string application_id;  // optional
  // Who asks: the province (verified by the caller of Check) and the person
  // there as that province states it.
  std::string requester_province;
  std::string requester;
};

// Validates the asked fields of a question (type_code, number, holder_id,
// purpose, application_id), naming them as the request does.
absl::Status ValidateLicenceQuestion(const LicenceQuestion& question,
                                     const LicenceTypeList& types);

// Licence number: 1..40 of A-Z a-z 0-9 '-'.
absl::Status ValidateLicenceNumber(absl::string_view field, absl::string_view value);

// "<6-digit province>-<type code>-<number>"; INVALID_ARGUMENT naming `field`.
absl::Status ValidateLicenceId(absl::string_view field, absl::string_view value);

class LicenceRegistry {
 public:
  // Pointers in `deps` are required, not owned, and must outlive the registry.
  explicit LicenceRegistry(LicenceRegistryDeps deps);

  // Validates, signs and stores a new licence of this province issued by
  // `officer` (recorded as issued_by). INVALID_ARGUMENT naming the field;
  // ALREADY_EXISTS when the number is already issued for the type.
  absl::StatusOr<v1::Licence> Issue(const v1::IssueLicenceRequest& request,
                                    const std::string& officer);

  // Revokes a licence of this province with a signed revocation.
  // NOT_FOUND / FAILED_PRECONDITION (already revoked, naming when).
  absl::StatusOr<v1::Licence> Revoke(const std::string& licence_id, const std::string& reason,
                                     const std::string& officer);

  // One licence with its status; NOT_FOUND naming the id.
  absl::StatusOr<v1::Licence> Get(const std::string& licence_id);

  // A page of the register (licence_id order, after `after_licence_id`) with
  // statuses. `status` UNSPECIFIED = any; EXPIRED and VALID are told apart
  // by date here, so a page may hold fewer than `limit` while more remain:
  // `next_after` is then the last id read ("" on the last page).
  struct Page {
    std::vector<v1::Licence> licences;
    std::string next_after;
  };
  absl::StatusOr<Page> List(const LicenceFilter& filter, v1::LicenceStatus status,
                            const std::string& after_licence_id, int limit);

  // Answers a question and records it (signed) in the disclosure log first.
  // The question must be valid (ValidateLicenceQuestion). A licence of the
  // type and number held by someone else answers exactly as no licence.
  absl::StatusOr<v1::VerifyLicenceResponse> Check(const LicenceQuestion& question);

  // The Check, Preview and Release of callers on gRPC's callback API: the
  // answer (or refusal) goes to `done` once its record is durable, without
  // a thread waiting on the store's commit. `done` may run on the store's
  // completion thread, where later answers wait for it: it must be cheap
  // and must not call this registry.
  template <typename Answer>
  using Done = std::function<void(absl::StatusOr<Answer>)>;
  void CheckAsync(const LicenceQuestion& question, Done<v1::VerifyLicenceResponse> done);
  void PreviewAsync(const LicenceFetch& fetch, Done<v1::PreviewLicenceResponse> done);
  void ReleaseAsync(const v1::LicenceGrant& grant, bool confirm,
                    const std::string& requester_province, const std::string& requester,
                    Done<v1::ConfirmLicenceResponse> done);

  // The holder's newest valid licence of the type as a preview with a signed
  // grant, recorded (PREVIEW) first. NOT_FOUND (LICENCE_NOT_FOUND) when the
  // holder has none of the type here; FAILED_PRECONDITION (LICENCE_REVOKED /
  // LICENCE_EXPIRED) when all they have are revoked or expired. The fetch
  // must be valid (ValidateLicenceFetch).
  absl::StatusOr<v1::PreviewLicenceResponse> Preview(const LicenceFetch& fetch);

  // The holder's decision on one of this node's grants, passed on by
  // `requester` of `requester_province`, recorded (RELEASE / DECLINE) first.
  // PERMISSION_DENIED when the grant is not this node's, altered, or for
  // another province; FAILED_PRECONDITION when it expired
  // (LICENCE_GRANT_EXPIRED) or the licence was revoked since (LICENCE_REVOKED).
  absl::StatusOr<v1::ConfirmLicenceResponse> Release(const v1::LicenceGrant& grant, bool confirm,
                                                     const std::string& requester_province,
                                                     const std::string& requester);

  // The disclosure log, newest first, below `before_sequence` (0 = newest).
  absl::StatusOr<std::vector<StoredDisclosure>> ListDisclosures(const DisclosureFilter& filter,
                                                                int64_t before_sequence,
                                                                int limit);

  // Status of a stored licence at `now` (REVOKED, EXPIRED by China date, VALID).
  static v1::LicenceStatus StatusAt(const v1::Licence& licence, absl::Time now);

  const std::string& own_province() const { return d_.own_province; }
  const LicenceTypeList& types() const { return *d_.types; }

 private:
  // An answer that may leave only once the record of the access that
  // produced it is stored (a refusal may need no record: bad grants).
  template <typename Answer>
  struct Logged {
    std::optional<v1::LicenceDisclosure> record;  // not yet signed
    absl::StatusOr<Answer> answer;
    std::function<void(const Answer&)> count;  // metrics once it is given
  };

  // A new record of one access, with what every kind carries.
  v1::LicenceDisclosure NewRecord(v1::DisclosureKind kind, const std::string& type_code,
                                  const std::string& holder_id,
                                  const std::string& requester_province,
                                  const std::string& requester, absl::Time now) const;
  Logged<v1::VerifyLicenceResponse> DecideCheck(const LicenceQuestion& question);
  Logged<v1::PreviewLicenceResponse> DecidePreview(const LicenceFetch& fetch);
  Logged<v1::ConfirmLicenceResponse> DecideRelease(const v1::LicenceGrant& grant, bool confirm,
                                                   const std::string& requester_province,
                                                   const std::string& requester);
  // Signs and stores the record, then gives the answer: on this thread
  // (Give) or from the store's commit (GiveAsync).
  template <typename Answer>
  absl::StatusOr<Answer> Give(Logged<Answer> logged);
  template <typename Answer>
  void GiveAsync(Logged<Answer> logged, Done<Answer> done);

  LicenceRegistryDeps d_;
};

}  // namespace tongban::node
