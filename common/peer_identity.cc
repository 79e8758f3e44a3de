#include "peer_identity.h"

#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "grpc/grpc_security_constants.h"
#include "province_registry.h"

namespace tongban {

absl::string_view PrincipalKindName(Principal::Kind kind) {
  switch (kind) {
    case Principal::Kind::kAnonymous: return "anonymous";
    case Principal::Kind::kUnrecognized: return "unrecognized";
    case Principal::Kind::kGateway: return "gateway";
    case Principal::Kind::kNode: return "node";
    case Principal::Kind::kOfficer: return "officer";
    case Principal::Kind::kOperator: return "operator";
  }
  return "unknown";
}

std::string NodeSpiffeId(absl::string_view province) {
  return absl::StrCat("spiffe://tongban/province/", province);
}

bool IsValidOfficerId(absl::string_view id) {
  if (id.empty() || id.size() > 32) return false;
  for (char c : id) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) return false;
  }
  return true;
}

absl::StatusOr<Principal> ParseSpiffeId(absl::string_view uri) {
  constexpr absl::string_view kPrefix = "spiffe://tongban/";
  auto bad = [&] {
    return absl::InvalidArgumentError(absl::StrCat("\"", uri.substr(0, 100),
                                                   "\" is not a tongban identity"));
  };
  if (!absl::StartsWith(uri, kPrefix)) return bad();
  std::vector<absl::string_view> parts = absl::StrSplit(uri.substr(kPrefix.size()), '/');
  Principal p;
  p.spiffe_id = std::string(uri);
  if (parts.size() == 1 && parts[0] == "gateway") {
    p.kind = Principal::Kind::kGateway;
    return p;
  }
  if ((parts.size() == 2 || parts.size() == 4) && parts[0] == "province" &&
      FindProvince(parts[1]) != nullptr) {
    p.province = std::string(parts[1]);
    if (parts.size() == 2) {
      p.kind = Principal::Kind::kNode;
      return p;
    }
    if (parts[2] == "officer" && IsValidOfficerId(parts[3])) {
      p.kind = Principal::Kind::kOfficer;
      p.officer_id = std::string(parts[3]);
      return p;
    }
    if (parts[2] == "operator" && IsValidOfficerId(parts[3])) {
      p.kind = Principal::Kind::kOperator;
      p.operator_id = std::string(parts[3]);
      return p;
    }
  }
  return bad();
}

Principal PrincipalFromUriSans(const std::vector<absl::string_view>& uri_sans) {
  Principal unrecognized;
  unrecognized.kind = Principal::Kind::kUnrecognized;
  // Several URI SANs are ambiguous (which one speaks?): trust none of them,
  // as the X.509-SVID profile requires exactly one.
  if (uri_sans.size() != 1) return unrecognized;
  absl::StatusOr<Principal> parsed = ParseSpiffeId(uri_sans.front());
  if (parsed.ok()) return *parsed;
  // Shown in the UNAUTHENTICATED message, so the caller sees what was found.
  unrecognized.spiffe_id = std::string(uri_sans.front().substr(0, 200));
  return unrecognized;
}

Principal PrincipalFromAuthContext(const grpc::AuthContext* auth_context) {
  if (auth_context == nullptr || !auth_context->IsPeerAuthenticated()) return Principal();
  // peer_uri holds the certificate's URI SANs only (gRPC's SSL handshaker
  // fills it from GEN_URI entries); x509_subject_alternative_name would mix
  // in DNS, e-mail and IP SANs, whose text a CA does not vouch for as an id.
  std::vector<absl::string_view> uris;
  for (const grpc::string_ref& uri : auth_context->FindPropertyValues(GRPC_PEER_URI_PROPERTY_NAME)) {
    uris.emplace_back(uri.data(), uri.size());
  }
  return PrincipalFromUriSans(uris);
}

}  // namespace tongban
