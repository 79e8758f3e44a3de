// 免证办 materials: a licence the applicant had released by its issuing
// province (LicenceService.ConfirmLicence) stands for one material of a
// filing (docs/licences.md, "Filing with a licence"). Both ends check it the
// same way, neither believing the other: the accepting node when it files
// (AcceptLicenceMaterials), the handling node when the filing is delivered
// (CheckFiledLicences), each against the handling province's guide.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "google/protobuf/repeated_ptr_field.h"
#include "record_signing.h"
#include "tongban/v1/application.pb.h"
#include "tongban/v1/catalog.pb.h"
#include "tongban/v1/licence.pb.h"

namespace tongban::node {

// media_type of a material that is a licence.
inline constexpr char kLicenceMediaType[] = "application/vnd.tongban.licence+protobuf";
// Reason (ErrorInfo) of a licence whose signature or id does not verify.
inline constexpr char kReasonLicenceNotVerified[] = "LICENCE_NOT_VERIFIED";

// The supplied material a licence becomes: content_sha256 and size_bytes of
// its deterministic content, kLicenceMediaType, the licence (status cleared:
// it is derived, not signed).
v1::SuppliedMaterial LicenceAsMaterial(const std::string& material_id, const v1::Licence& licence);

// Checks one licence standing for `material_id` of `guide` for the
// applicant: the issuer's signature and id (INVALID_ARGUMENT
// LICENCE_NOT_VERIFIED naming `field`), the holder (INVALID_ARGUMENT), not
// revoked or expired at `now` (FAILED_PRECONDITION LICENCE_REVOKED /
// LICENCE_EXPIRED), and that the guide takes its type for the material
// (FAILED_PRECONDITION LICENCE_TYPE_NOT_ACCEPTED; INVALID_ARGUMENT when the
// guide has no such material).
absl::Status CheckLicenceMaterial(const std::string& field, const std::string& material_id,
                                  const v1::Licence& licence, const v1::Guide& guide,
                                  const std::string& applicant_id,
                                  const signing::RecordVerifier& verifier, absl::Time now);

// The accepting node's side: every licence material checked, as supplied
// materials; no material id also in `uploaded`.
absl::StatusOr<std::vector<v1::SuppliedMaterial>> AcceptLicenceMaterials(
    const google::protobuf::RepeatedPtrField<v1::LicenceMaterial>& licences,
    const google::protobuf::RepeatedPtrField<v1::SuppliedMaterial>& uploaded,
    const v1::Guide& guide, const std::string& applicant_id,
    const signing::RecordVerifier& verifier, absl::Time now);

// The handling node's side: every material of a delivered filing that
// carries a licence is checked again against this province's own guide, and
// its hash, size and media type must be the licence's.
absl::Status CheckFiledLicences(
    const std::string& field, const google::protobuf::RepeatedPtrField<v1::SuppliedMaterial>& ms,
    const v1::Guide& own_guide, const std::string& applicant_id,
    const signing::RecordVerifier& verifier, absl::Time now);

}  // namespace tongban::node
