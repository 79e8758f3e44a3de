#include "caller_identity.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace tongban::gateway {

absl::StatusOr<Principal> VerifiedCaller(const grpc::ServerContextBase& context, CallerKinds allowed,
                                         absl::string_view method) {
  Principal p = PrincipalFromAuthContext(context.auth_context().get());
  if (p.kind == Principal::Kind::kAnonymous || p.kind == Principal::Kind::kUnrecognized) {
    return absl::UnauthenticatedError(
        "the client certificate carries no tongban identity (one URI SAN spiffe://tongban/...)");
  }
  for (const auto& [key, value] : context.client_metadata()) {
    absl::string_view k(key.data(), key.size());
    if (absl::StartsWith(k, "x-tongban-")) {
      return absl::PermissionDeniedError(absl::StrCat(
          "rule gateway-stamps-only: metadata ", k,
          " is set by the gateway from the verified certificate; callers may not send it"));
    }
  }
  const bool node = p.kind == Principal::Kind::kNode;
  const bool officer = p.kind == Principal::Kind::kOfficer;
  if (allowed == CallerKinds::kNodesOnly && !node) {
    return absl::PermissionDeniedError(absl::StrCat(
        "rule nodes-only: ", method, " relays node-to-node calls; caller is ",
        PrincipalKindName(p.kind), " ", p.spiffe_id));
  }
  if (allowed == CallerKinds::kOfficersAndNodes && !node && !officer) {
    return absl::PermissionDeniedError(absl::StrCat("rule officers-and-nodes: ", method,
                                                    " is for officers and nodes; caller is ",
                                                    PrincipalKindName(p.kind), " ", p.spiffe_id));
  }
  return p;
}

}  // namespace tongban::gateway
