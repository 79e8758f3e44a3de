// What a 多地联办 procedure declared in a guide (Guide.joint_procedure) must
// look like; checked when the demo catalog is loaded and when a guide is
// amended (docs/joint-handling.md).
#pragma once

#include <string>
#include <vector>

#include "tongban/v1/catalog.pb.h"

namespace tongban::node {

// Most roles and steps a procedure may declare.
inline constexpr int kMaxJointRoles = 10;
inline constexpr int kMaxJointSteps = 20;

// What is wrong with a declared procedure (empty when nothing): roles
// unique, well-formed and at least 2; steps numbered 1..n, stages 1.. with
// no gap and ascending with the steps, each naming a declared role, with
// 0 < promised_days ≤ legal_days ≤ 3650; every role used by a step.
std::vector<std::string> JointProcedureProblems(const v1::JointProcedure& procedure);

}  // namespace tongban::node
