#include "guide_precheck.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace tongban::node {

absl::StatusOr<PrecheckResult> Precheck(const v1::Guide& guide,
                                        const std::set<std::string>& supplied_ids,
                                        const std::string& field) {
  std::set<std::string> known;
  for (const v1::MaterialRequirement& m : guide.materials()) known.insert(m.material_id());
  for (const std::string& id : supplied_ids) {
    if (known.count(id) == 0) {
      std::vector<std::string> ids(known.begin(), known.end());
      return absl::InvalidArgumentError(absl::StrCat(
          field, " names material ", id, ", which item ", guide.item().item_code(), " at province ",
          guide.province_code(), " does not ask for (its materials: ", absl::StrJoin(ids, ", "),
          ")"));
    }
  }
  PrecheckResult result;
  for (const v1::MaterialRequirement& m : guide.materials()) {
    if (supplied_ids.count(m.material_id()) > 0) continue;
    bool deferrable = !m.key() && m.deficiency_allowed() && guide.deficiency_acceptance();
    (deferrable ? result.missing_deferred : result.missing_key).push_back(m);
  }
  if (!result.missing_key.empty()) {
    result.outcome = v1::PRECHECK_OUTCOME_REFUSE;
  } else if (!result.missing_deferred.empty()) {
    result.outcome = v1::PRECHECK_OUTCOME_ACCEPT_WITH_DEFICIENCY;
    // The supplement period may not exceed the promised time limit (容缺 rules).
    int days = guide.supplement_days() > 0 ? guide.supplement_days() : 5;
    if (guide.promised_time_limit_days() > 0) days = std::min(days, guide.promised_time_limit_days());
    result.supplement_days = days;
  } else {
    result.outcome = v1::PRECHECK_OUTCOME_COMPLETE;
  }
  return result;
}

std::string DescribeMaterials(const std::vector<v1::MaterialRequirement>& materials) {
  std::vector<std::string> parts;
  for (const v1::MaterialRequirement& m : materials) {
    parts.push_back(absl::StrCat(m.material_id(), " ", m.name_zh(), " (", m.name_en(), ")"));
  }
  return absl::StrJoin(parts, ", ");
}

}  // namespace tongban::node
