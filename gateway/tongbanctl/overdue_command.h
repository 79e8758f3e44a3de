// `tongbanctl overdue`: the applications a province handles whose time limit
// ran out (docs/time-limits.md), through ApplicationService.
// ListOverdueApplications over mTLS with an officer's certificate of the
// node's province.
//
//   tongbanctl overdue --node HOST:PORT --cert F --key F --ca F
//                      [--clock legal|promised|either] [--limit N] [--page_token T] [--json]
//
// Exit codes: 0 done (also when nothing is overdue), 1 the node refused or
// could not be reached (the gRPC status is printed), 2 usage error.
#pragma once

#include <string>
#include <vector>

namespace tongban::tongbanctl {

// `args` starts with "overdue".
int OverdueCommand(const std::vector<std::string>& args);

}  // namespace tongban::tongbanctl
