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
  }
  return "unknown";
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
  }
  return bad();
}

Principal PrincipalFromAuthContext(const grpc::AuthContext* auth_context) {
  Principal anonymous;
  if (auth_context == nullptr || !auth_context->IsPeerAuthenticated()) return anonymous;
  Principal found;
  found.kind = Principal::Kind::kUnrecognized;
  int tongban_ids = 0;
  for (const grpc::string_ref& san :
       auth_context->FindPropertyValues(GRPC_X509_SAN_PROPERTY_NAME)) {
    absl::string_view value(san.data(), san.size());
    if (!absl::StartsWith(value, "spiffe://")) continue;  // DNS and IP SANs
    absl::StatusOr<Principal> parsed = ParseSpiffeId(value);
    if (parsed.ok()) {
      ++tongban_ids;
      found = *parsed;
    } else if (found.spiffe_id.empty()) {
      found.spiffe_id = std::string(value);
    }
  }
  // A certificate naming two tongban identities is ambiguous: trust neither.
  if (tongban_ids != 1) {
    Principal unrecognized;
    unrecognized.kind = Principal::Kind::kUnrecognized;
    unrecognized.spiffe_id = tongban_ids > 1 ? "" : found.spiffe_id;
    return unrecognized;
  }
  return found;
}

}  // namespace tongban
