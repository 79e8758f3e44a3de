// 容缺 pre-check (DESIGN.md §4 step 1): compares the materials an applicant
// has with the *handling* province's guide. A key material missing, or a
// material the province does not let be missing, refuses the application at
// once with the whole list; only 容缺-eligible materials missing (and the
// province allows 容缺 for the item) accepts it with a supplement deadline.
#pragma once

#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "tongban/v1/application.pb.h"
#include "tongban/v1/catalog.pb.h"

namespace tongban::node {

struct PrecheckResult {
  v1::PrecheckOutcome outcome = v1::PRECHECK_OUTCOME_UNSPECIFIED;
  std::vector<v1::MaterialRequirement> missing_key;       // block acceptance
  std::vector<v1::MaterialRequirement> missing_deferred;  // may come later (容缺)
  int supplement_days = 0;                                // when ACCEPT_WITH_DEFICIENCY
};

// INVALID_ARGUMENT when a supplied id is not a material of the guide
// (`field` names the request field, e.g. "materials").
absl::StatusOr<PrecheckResult> Precheck(const v1::Guide& guide,
                                        const std::set<std::string>& supplied_ids,
                                        const std::string& field);

// "M01 居民身份证 (Resident identity card), M03 ..." for error messages.
std::string DescribeMaterials(const std::vector<v1::MaterialRequirement>& materials);

}  // namespace tongban::node
