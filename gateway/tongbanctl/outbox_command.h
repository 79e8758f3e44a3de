// `tongbanctl outbox ...`: a province operator's view of one node's outbox
// and its dead letters, through NodeAdminService (protos/tongban/v1/
// node_admin.proto) over mTLS with the operator's certificate.
//
//   tongbanctl outbox list    --node HOST:PORT --cert F --key F --ca F [filters]
//   tongbanctl outbox show    ID ...
//   tongbanctl outbox replay  ID ...
//   tongbanctl outbox discard ID --reason TEXT ...
//
// Exit codes: 0 done, 1 the node refused or could not be reached (the gRPC
// status is printed), 2 usage error.
#pragma once

#include <string>
#include <vector>

namespace tongban::tongbanctl {

// `args` starts with "outbox".
int OutboxCommand(const std::vector<std::string>& args);

}  // namespace tongban::tongbanctl
