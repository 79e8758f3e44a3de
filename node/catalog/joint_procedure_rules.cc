#include "catalog/joint_procedure_rules.h"

#include <algorithm>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace tongban::node {
namespace {

bool IsRoleId(const std::string& id) {
  return !id.empty() && id.size() <= 32 && std::all_of(id.begin(), id.end(), [](char c) {
    return absl::ascii_islower(c) || absl::ascii_isdigit(c) || c == '_';
  });
}

}  // namespace

std::vector<std::string> JointProcedureProblems(const v1::JointProcedure& p) {
  std::vector<std::string> problems;
  std::set<std::string> roles, used;
  if (p.roles_size() < 2 || p.roles_size() > kMaxJointRoles) {
    problems.push_back(absl::StrCat("joint_procedure.roles: 2 to ", kMaxJointRoles,
                                    " roles, not ", p.roles_size()));
  }
  for (const auto& r : p.roles()) {
    if (!IsRoleId(r.role_id())) {
      problems.push_back(absl::StrCat("joint_procedure.roles: role_id \"", r.role_id(),
                                      "\" must be 1..32 of a-z, 0-9, _"));
    } else if (!roles.insert(r.role_id()).second) {
      problems.push_back(absl::StrCat("joint_procedure.roles: ", r.role_id(), " is declared twice"));
    }
    if (r.name_zh().empty()) {
      problems.push_back(absl::StrCat("joint_procedure.roles: ", r.role_id(), " needs a name_zh"));
    }
  }
  if (p.steps_size() < 1 || p.steps_size() > kMaxJointSteps) {
    problems.push_back(absl::StrCat("joint_procedure.steps: 1 to ", kMaxJointSteps,
                                    " steps, not ", p.steps_size()));
  }
  int stage = 0;
  for (int i = 0; i < p.steps_size(); ++i) {
    const v1::JointStep& s = p.steps(i);
    const std::string at = absl::StrCat("joint_procedure.steps[", i, "]");
    if (s.step() != i + 1) problems.push_back(absl::StrCat(at, ".step must be ", i + 1));
    if (s.stage() != stage && s.stage() != stage + 1) {
      problems.push_back(absl::StrCat(at, ".stage must be ", stage == 0 ? 1 : stage, " or ",
                                      stage + 1, " (stages ascend with the steps, no gap)"));
    }
    stage = std::max(stage, s.stage());
    if (roles.count(s.role_id()) == 0) {
      problems.push_back(absl::StrCat(at, ".role_id \"", s.role_id(), "\" is not a declared role"));
    }
    used.insert(s.role_id());
    if (s.name_zh().empty()) problems.push_back(absl::StrCat(at, ".name_zh must not be empty"));
    if (s.promised_days() < 1 || s.legal_days() < s.promised_days() || s.legal_days() > 3650) {
      problems.push_back(absl::StrCat(at, ": time limits need 0 < promised_days (",
                                      s.promised_days(), ") ≤ legal_days (", s.legal_days(),
                                      ") ≤ 3650"));
    }
  }
  for (const std::string& r : roles) {
    if (used.count(r) == 0) {
      problems.push_back(absl::StrCat("joint_procedure.roles: ", r, " does no step"));
    }
  }
  return problems;
}

}  // namespace tongban::node
