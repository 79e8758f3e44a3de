// Field-by-field validation of ApplicationService requests. Every message
// names the field (with its index for repeated fields).
#pragma once

#include <string>

#include "absl/status/status.h"
#include "tongban/v1/application.pb.h"

namespace tongban::node {

inline constexpr int kMaxMaterialsPerRequest = 50;
inline constexpr int64_t kMaxMaterialBytes = 20 * 1024 * 1024;
inline constexpr size_t kMaxNoteChars = 500;

absl::Status ValidateApplicant(const std::string& field, const v1::Applicant& applicant);

// 1..50 materials (or 0..50 when !required), each well-formed, no id twice.
// A material carrying a licence (免证办) is refused unless `licences_allowed`
// (a delivered filing, whose licences the caller checks itself): clients
// send licences in licence_materials, and events never carry them.
absl::Status ValidateSuppliedMaterials(
    const std::string& field, const google::protobuf::RepeatedPtrField<v1::SuppliedMaterial>& ms,
    bool required, bool licences_allowed = false);

absl::Status ValidateSubmit(const v1::SubmitApplicationRequest& req);
absl::Status ValidatePrecheck(const v1::PrecheckApplicationRequest& req);

}  // namespace tongban::node
