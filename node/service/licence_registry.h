// LicenceRegistry: this province's register of 电子证照 (docs/licences.md) —
// issuing (signed by this node), revoking (a signed revocation), reading with
// the status derived from the dates, and answering yes/no checks, each check
// recorded, signed, in the disclosure log before its answer is returned.
//
// No gRPC here: LicenceServiceImpl (officers) and FederationServiceImpl
// (checks relayed from other provinces) authorise the caller and call this.
// Requests are validated here, so every entrance applies the same rules.
#pragma once

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
  NodeMetrics* metrics = nullptr;  // optional (tests)
};

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

  // The disclosure log, newest first, below `before_sequence` (0 = newest).
  absl::StatusOr<std::vector<StoredDisclosure>> ListDisclosures(const DisclosureFilter& filter,
                                                                int64_t before_sequence,
                                                                int limit);

  // Status of a stored licence at `now` (REVOKED, EXPIRED by China date, VALID).
  static v1::LicenceStatus StatusAt(const v1::Licence& licence, absl::Time now);

  const std::string& own_province() const { return d_.own_province; }
  const LicenceTypeList& types() const { return *d_.types; }

 private:
  LicenceRegistryDeps d_;
};

}  // namespace tongban::node
