#include "application_request_validation.h"

#include <set>

#include "absl/strings/str_cat.h"
#include "input_validation.h"
#include "resident_id.h"

namespace tongban::node {

absl::Status ValidateApplicant(const std::string& field, const v1::Applicant& a) {
  absl::Status s = ValidateResidentId(field + ".id_number", a.id_number());
  if (!s.ok()) return s;
  s = ValidateText(field + ".name", a.name(), 50, /*required=*/true);
  if (!s.ok()) return s;
  if (!a.phone().empty()) {
    bool ok = a.phone().size() == 11 && a.phone()[0] == '1';
    for (char c : a.phone()) ok &= c >= '0' && c <= '9';
    if (!ok) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ".phone must be an 11-digit mobile number starting with 1"));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateSuppliedMaterials(
    const std::string& field, const google::protobuf::RepeatedPtrField<v1::SuppliedMaterial>& ms,
    bool required, bool licences_allowed) {
  if (required && ms.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(field, " must list at least one material"));
  }
  if (ms.size() > kMaxMaterialsPerRequest) {
    return absl::InvalidArgumentError(absl::StrCat(field, " lists ", ms.size(),
                                                   " materials, at most ",
                                                   kMaxMaterialsPerRequest));
  }
  std::set<std::string> seen;
  for (int i = 0; i < ms.size(); ++i) {
    const v1::SuppliedMaterial& m = ms[i];
    std::string f = absl::StrCat(field, "[", i, "]");
    absl::Status s = ValidateMaterialId(f + ".material_id", m.material_id());
    if (!s.ok()) return s;
    if (!seen.insert(m.material_id()).second) {
      return absl::InvalidArgumentError(
          absl::StrCat(f, ".material_id ", m.material_id(), " is listed twice"));
    }
    s = ValidateSha256Hex(f + ".content_sha256", m.content_sha256());
    if (!s.ok()) return s;
    if (m.size_bytes() <= 0 || m.size_bytes() > kMaxMaterialBytes) {
      return absl::InvalidArgumentError(absl::StrCat(f, ".size_bytes is ", m.size_bytes(),
                                                     ": must be 1 to ", kMaxMaterialBytes,
                                                     " (20 MiB)"));
    }
    s = ValidateText(f + ".media_type", m.media_type(), 100, /*required=*/true);
    if (!s.ok()) return s;
    if (m.has_licence() && !licences_allowed) {
      return absl::InvalidArgumentError(absl::StrCat(
          f, ".licence is set by the accepting node; send a licence in licence_materials"));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateSubmit(const v1::SubmitApplicationRequest& req) {
  absl::Status s = ValidateIdempotencyKey("idempotency_key", req.idempotency_key());
  if (s.ok()) s = ValidateItemCode("item_code", req.item_code());
  if (s.ok()) s = ValidateProvinceCode("handling_province", req.handling_province());
  if (s.ok() && !req.has_applicant()) s = absl::InvalidArgumentError("applicant is required");
  if (s.ok()) s = ValidateApplicant("applicant", req.applicant());
  if (s.ok()) s = ValidateSuppliedMaterials("materials", req.materials(), /*required=*/false);
  if (s.ok()) s = ValidateText("note", req.note(), kMaxNoteChars, /*required=*/false);
  if (s.ok() && req.joint_roles_size() > 10) {
    s = absl::InvalidArgumentError("joint_roles holds at most 10 role assignments");
  }
  return s;
}

absl::Status ValidatePrecheck(const v1::PrecheckApplicationRequest& req) {
  absl::Status s = ValidateItemCode("item_code", req.item_code());
  if (s.ok()) s = ValidateProvinceCode("handling_province", req.handling_province());
  if (s.ok() && req.material_ids_size() > kMaxMaterialsPerRequest) {
    s = absl::InvalidArgumentError(
        absl::StrCat("material_ids lists more than ", kMaxMaterialsPerRequest));
  }
  for (int i = 0; s.ok() && i < req.material_ids_size(); ++i) {
    s = ValidateMaterialId(absl::StrCat("material_ids[", i, "]"), req.material_ids(i));
  }
  return s;
}

}  // namespace tongban::node
