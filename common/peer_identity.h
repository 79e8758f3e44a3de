// Who is calling: read from the verified peer certificate's URI SAN, never
// from anything the caller can set. Identities (DESIGN.md §3):
//   spiffe://tongban/gateway
//   spiffe://tongban/province/<code>                  a province node
//   spiffe://tongban/province/<code>/officer/<id>     an officer of that province
//   spiffe://tongban/province/<code>/operator/<id>    an operator of that province's node
// Only URI SANs name an identity, and only a certificate with exactly one URI
// SAN does (as an X.509-SVID): DNS, e-mail, IP and other SAN types are never
// read, so `DNS:spiffe://tongban/gateway` is nobody.
#pragma once

#include "absl/strings/string_view.h"
#include <string>
#include <string_view>
#include <vector>

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
    kOperator,      // runs a province's node (outbox, dead letters); never an officer
  };
  Kind kind = Kind::kAnonymous;
  std::string spiffe_id;   // as found in the certificate (empty when anonymous)
  std::string province;     // for kNode, kOfficer and kOperator
  std::string officer_id;   // for kOfficer
  std::string operator_id;  // for kOperator
};

absl::string_view PrincipalKindName(Principal::Kind kind);

// The identities a federation dial expects its server to present.
inline constexpr absl::string_view kGatewaySpiffeId = "spiffe://tongban/gateway";
std::string NodeSpiffeId(absl::string_view province);  // spiffe://tongban/province/<province>

// Parses one SPIFFE id; INVALID_ARGUMENT when it is not a tongban identity.
absl::StatusOr<Principal> ParseSpiffeId(absl::string_view uri);

// The principal of a call's verified peer, from its URI SANs only
// (GRPC_PEER_URI_PROPERTY_NAME): exactly one, and a tongban identity;
// otherwise kUnrecognized.
Principal PrincipalFromAuthContext(const grpc::AuthContext* auth_context);

// The same rule over a certificate's URI SANs, for callers that have them
// without an auth context (e.g. a channel's server-certificate check).
Principal PrincipalFromUriSans(const std::vector<absl::string_view>& uri_sans);

// Officer and operator ids: 1..32 of [a-z0-9-].
bool IsValidOfficerId(absl::string_view id);

}  // namespace tongban
