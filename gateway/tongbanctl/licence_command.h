// `tongbanctl licences ...`: a province's register of 电子证照 and its signed
// disclosure log (docs/licences.md), through LicenceService (protos/tongban/
// v1/licence.proto) over mTLS with an officer's or operator's certificate of
// the node's province. Every signature read is verified offline against the
// --ca bundle (common/licence_signing.h, historical mode).
//
//   tongbanctl licences log    [--holder ID] [--licence ID] [--from-province P]
//                              [--limit N] CONNECTION
//   tongbanctl licences show   LICENCE_ID CONNECTION
//   tongbanctl licences verify --issuer P --type T --number N --holder ID
//                              --purpose TEXT [--application ID] CONNECTION
//
// Exit codes: 0 done (log, show: every signature verified), 1 the node
// refused or could not be reached (the gRPC status is printed), or a
// signature did not verify, 2 usage error.
#pragma once

#include <string>
#include <vector>

namespace tongban::tongbanctl {

// `args` starts with "licences".
int LicenceCommand(const std::vector<std::string>& args);

}  // namespace tongban::tongbanctl
