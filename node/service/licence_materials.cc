#include "licence_materials.h"

#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "grpc_status.h"
#include "input_validation.h"
#include "licence_signing.h"
#include "service/application_request_validation.h"
#include "service/licence_registry.h"

namespace tongban::node {
namespace {

// As many as materials may be uploaded (the public API documents 50).
constexpr int kMaxLicenceMaterials = kMaxMaterialsPerRequest;

}  // namespace

v1::SuppliedMaterial LicenceAsMaterial(const std::string& material_id, const v1::Licence& licence) {
  const std::string content = signing::DeterministicBytes(licence.content());
  v1::SuppliedMaterial m;
  m.set_material_id(material_id);
  m.set_content_sha256(signing::Hex(signing::Sha256(content)));
  m.set_size_bytes(static_cast<int64_t>(content.size()));
  m.set_media_type(kLicenceMediaType);
  *m.mutable_licence() = licence;
  m.mutable_licence()->clear_status();
  return m;
}

absl::Status CheckLicenceMaterial(const std::string& field, const std::string& material_id,
                                  const v1::Licence& licence, const v1::Guide& guide,
                                  const std::string& applicant_id,
                                  const signing::RecordVerifier& verifier, absl::Time now) {
  absl::Status verified =
      signing::VerifyLicence(verifier, licence, now, signing::VerifyMode::kHistorical);
  if (!verified.ok()) {
    return WithReason(absl::InvalidArgumentError(absl::StrCat(field, ": ", verified.message())),
                      kReasonLicenceNotVerified);
  }
  const v1::LicenceContent& c = licence.content();
  if (c.holder_id() != applicant_id) {
    return absl::InvalidArgumentError(absl::StrCat(
        field, ": licence ", c.licence_id(), " is not held by the applicant"));
  }
  switch (LicenceRegistry::StatusAt(licence, now)) {
    case v1::LICENCE_STATUS_REVOKED:
      return WithReason(absl::FailedPreconditionError(absl::StrCat(
                            field, ": licence ", c.licence_id(), " was revoked by province ",
                            c.issuing_province(), ": ", licence.revocation().reason())),
                        kReasonLicenceRevoked);
    case v1::LICENCE_STATUS_EXPIRED:
      return WithReason(absl::FailedPreconditionError(absl::StrCat(
                            field, ": licence ", c.licence_id(), " expired on ", c.valid_until())),
                        kReasonLicenceExpired);
    default:
      break;
  }
  for (const v1::MaterialRequirement& r : guide.materials()) {
    if (r.material_id() != material_id) continue;
    for (const std::string& t : r.licence_types()) {
      if (t == c.type_code()) return absl::OkStatus();
    }
    return WithReason(
        absl::FailedPreconditionError(absl::StrCat(
            field, ": province ", guide.province_code(), "'s guide of item ",
            guide.item().item_code(), " does not take licence type ", c.type_code(),
            " for material ", material_id, " (", r.name_zh(), ")",
            r.licence_types().empty() ? ": that material is uploaded only"
                                      : absl::StrCat(": it takes ",
                                                     absl::StrJoin(r.licence_types(), ", ")))),
        kReasonTypeNotAccepted);
  }
  return absl::InvalidArgumentError(absl::StrCat(
      field, ": material ", Shown(material_id), " is not in province ", guide.province_code(),
      "'s guide of item ", guide.item().item_code()));
}

absl::StatusOr<std::vector<v1::SuppliedMaterial>> AcceptLicenceMaterials(
    const google::protobuf::RepeatedPtrField<v1::LicenceMaterial>& licences,
    const google::protobuf::RepeatedPtrField<v1::SuppliedMaterial>& uploaded,
    const v1::Guide& guide, const std::string& applicant_id,
    const signing::RecordVerifier& verifier, absl::Time now) {
  if (licences.size() > kMaxLicenceMaterials) {
    return absl::InvalidArgumentError(absl::StrCat("licence_materials lists ", licences.size(),
                                                   " licences, at most ", kMaxLicenceMaterials));
  }
  std::set<std::string> ids;
  for (const v1::SuppliedMaterial& m : uploaded) ids.insert(m.material_id());
  std::vector<v1::SuppliedMaterial> out;
  for (int i = 0; i < licences.size(); ++i) {
    const std::string field = absl::StrCat("licence_materials[", i, "]");
    const v1::LicenceMaterial& lm = licences[i];
    if (absl::Status s = ValidateMaterialId(field + ".material_id", lm.material_id()); !s.ok()) {
      return s;
    }
    if (!ids.insert(lm.material_id()).second) {
      return absl::InvalidArgumentError(absl::StrCat(
          field, ".material_id ", lm.material_id(), " is supplied twice (also in materials or "
          "licence_materials)"));
    }
    if (!lm.has_licence()) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ".licence is required: the licence ConfirmLicence released"));
    }
    if (absl::Status s = CheckLicenceMaterial(field + ".licence", lm.material_id(), lm.licence(),
                                              guide, applicant_id, verifier, now);
        !s.ok()) {
      return s;
    }
    out.push_back(LicenceAsMaterial(lm.material_id(), lm.licence()));
  }
  return out;
}

absl::Status CheckFiledLicences(
    const std::string& field, const google::protobuf::RepeatedPtrField<v1::SuppliedMaterial>& ms,
    const v1::Guide& own_guide, const std::string& applicant_id,
    const signing::RecordVerifier& verifier, absl::Time now) {
  for (int i = 0; i < ms.size(); ++i) {
    const v1::SuppliedMaterial& m = ms[i];
    if (!m.has_licence()) continue;
    const std::string at = absl::StrCat(field, "[", i, "]");
    absl::Status s = CheckLicenceMaterial(at + ".licence", m.material_id(), m.licence(),
                                          own_guide, applicant_id, verifier, now);
    if (!s.ok()) return s;
    const v1::SuppliedMaterial expected = LicenceAsMaterial(m.material_id(), m.licence());
    if (m.content_sha256() != expected.content_sha256() ||
        m.size_bytes() != expected.size_bytes() || m.media_type() != expected.media_type()) {
      return absl::InvalidArgumentError(absl::StrCat(
          at, ": content_sha256, size_bytes and media_type must be those of its licence"));
    }
  }
  return absl::OkStatus();
}

}  // namespace tongban::node
