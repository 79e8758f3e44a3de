// Who is calling: read from the verified peer certificate's URI SAN, never
// from anything the caller can set. Identities (DESIGN.md §3):
//   spiffe://tongban/gateway
//   spiffe://tongban/province/<code>                  a province node
//   spiffe://tongban/province/<code>/officer/<id>     an officer of that province
#pragma once

#include "absl/strings/string_view.h"
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "grpcpp/security/auth_context.h"

namespace tongban {

struct Principal {
  enum class Kind {
    kAnonymous,     // no verified certificate
    kUnrecognized,  // verified certificate without exactly one tongban SPIFFE id
    kGateway,
    kNode,
    kOfficer,
  };
  Kind kind = Kind::kAnonymous;
  std::string spiffe_id;   // as found in the certificate (empty when anonymous)
  std::string province;    // for kNode and kOfficer
  std::string officer_id;  // for kOfficer
};

absl::string_view PrincipalKindName(Principal::Kind kind);

// Parses one SPIFFE id; INVALID_ARGUMENT when it is not a tongban identity.
absl::StatusOr<Principal> ParseSpiffeId(absl::string_view uri);

// The principal of a call's verified peer.
Principal PrincipalFromAuthContext(const grpc::AuthContext* auth_context);

// Officer ids: 1..32 of [a-z0-9-].
bool IsValidOfficerId(absl::string_view id);

}  // namespace tongban
