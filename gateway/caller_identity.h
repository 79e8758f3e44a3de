// Who is calling the gateway: read from the verified peer certificate. The
// gateway is the only process that stamps x-tongban-* metadata, so a caller
// sending such metadata is refused rather than trusted or silently ignored.
#pragma once

#include "absl/status/statusor.h"
#include "grpcpp/server_context.h"
#include "peer_identity.h"

namespace tongban::gateway {

enum class CallerKinds { kOfficersAndNodes, kNodesOnly };

// UNAUTHENTICATED without a tongban identity; PERMISSION_DENIED for a kind
// not allowed, or for a caller trying to set the gateway's stamps.
absl::StatusOr<Principal> VerifiedCaller(const grpc::ServerContextBase& context, CallerKinds allowed,
                                         absl::string_view method);

}  // namespace tongban::gateway
