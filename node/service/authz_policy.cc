#include "authz_policy.h"

#include "absl/strings/str_cat.h"
#include "input_validation.h"
#include "resident_id.h"

namespace tongban::node {
namespace {

// One metadata value, or none; `present` tells an empty value from absence.
absl::string_view Stamp(const grpc::ServerContextBase& ctx, absl::string_view key, bool* present) {
  const auto& md = ctx.client_metadata();
  auto it = md.find(grpc::string_ref(key.data(), key.size()));
  *present = it != md.end();
  if (!*present) return {};
  return absl::string_view(it->second.data(), it->second.size());
}

std::string Describe(const Principal& p) {
  return absl::StrCat(PrincipalKindName(p.kind), " ", p.spiffe_id);
}

}  // namespace

std::string Caller::actor() const {
  return is_citizen() ? absl::StrCat("citizen:", citizen_id) : principal.spiffe_id;
}

absl::string_view RuleName(Rule rule) {
  switch (rule) {
    case Rule::kOwnOfficerOrGateway: return "own-officer-or-gateway";
    case Rule::kOwnOfficer: return "own-officer";
    case Rule::kOwnOfficerOrCitizen: return "own-officer-or-citizen-via-gateway";
    case Rule::kGatewayRelay: return "gateway-relay-only";
    case Rule::kOwnOfficerCitizenOrRelay: return "own-officer-citizen-or-relay";
    case Rule::kOwnOperator: return "own-operator";
    case Rule::kOwnOfficerOrOperator: return "own-officer-or-operator";
  }
  return "unknown";
}

AuthzPolicy::AuthzPolicy(std::string own_province, std::map<std::string, Rule, std::less<>> rules)
    : own_province_(std::move(own_province)), rules_(std::move(rules)) {}

AuthzPolicy AuthzPolicy::ForNode(std::string own_province) {
  const std::string c = "/tongban.v1.CatalogService/";
  const std::string a = "/tongban.v1.ApplicationService/";
  const std::string f = "/tongban.v1.FederationService/";
  std::map<std::string, Rule, std::less<>> rules = {
      {c + "ListItems", Rule::kOwnOfficerOrGateway},
      {c + "SearchItems", Rule::kOwnOfficerOrGateway},
      {c + "GetItem", Rule::kOwnOfficerOrGateway},
      {c + "GetGuide", Rule::kOwnOfficerOrGateway},
      {c + "ListAlliances", Rule::kOwnOfficerOrGateway},
      {c + "GetCatalogInfo", Rule::kOwnOfficerOrGateway},
      {c + "AmendGuide", Rule::kOwnOfficer},
      {c + "AbolishItem", Rule::kOwnOfficer},
      {a + "PrecheckApplication", Rule::kOwnOfficerOrCitizen},
      {a + "SubmitApplication", Rule::kOwnOfficerOrCitizen},
      {a + "GetApplication", Rule::kOwnOfficerCitizenOrRelay},
      {a + "ListApplicationsByApplicant", Rule::kOwnOfficerOrCitizen},
      {a + "ListApplicationsByState", Rule::kOwnOfficer},
      {a + "SupplementMaterials", Rule::kOwnOfficerOrCitizen},
      {a + "WithdrawApplication", Rule::kOwnOfficerOrCitizen},
      {a + "DecideApplication", Rule::kOwnOfficer},
      {a + "EscalateApplication", Rule::kOwnOfficerOrCitizen},
      {a + "ListEscalations", Rule::kOwnOfficer},
      {a + "ResolveEscalation", Rule::kOwnOfficer},
      {a + "ListOverdueApplications", Rule::kOwnOfficer},
      {a + "RateApplication", Rule::kOwnOfficerOrCitizen},
      {a + "RecordRectificationFollowUp", Rule::kOwnOfficer},
      {a + "CloseRectification", Rule::kOwnOfficer},
      {a + "ListRectifications", Rule::kOwnOfficerOrOperator},
      {a + "GetRatingStats", Rule::kOwnOfficerOrGateway},
      {a + "WatchApplication", Rule::kOwnOfficerCitizenOrRelay},
      {f + "DeliverApplication", Rule::kGatewayRelay},
      {f + "DeliverEvent", Rule::kGatewayRelay},
      {f + "FetchGuide", Rule::kGatewayRelay},
      {f + "CheckLicence", Rule::kGatewayRelay},
      {f + "FetchLicencePreview", Rule::kGatewayRelay},
      {f + "ReleaseLicence", Rule::kGatewayRelay},
  };
  return AuthzPolicy(std::move(own_province), std::move(rules));
}

absl::Status AuthzPolicy::CheckExtensionApprover(const Caller& caller) const {
  if (caller.is_officer() && caller.principal.province == own_province_ &&
      extension_approvers_.count(caller.principal.officer_id) > 0) {
    return absl::OkStatus();
  }
  return absl::PermissionDeniedError(absl::StrCat(
      "rule extension-approvers-only: EXTEND_TIME_LIMIT needs an approving officer of province ",
      own_province_, " (time_limits.extension_approvers",
      extension_approvers_.empty() ? ", empty: nobody may extend" : "", "); caller is ",
      Describe(caller.principal)));
}

absl::StatusOr<Caller> AuthzPolicy::Authorize(const grpc::ServerContextBase& context,
                                              absl::string_view method) const {
  bool citizen_present = false;
  bool origin_present = false;
  absl::string_view citizen = Stamp(context, kCitizenIdMetadata, &citizen_present);
  absl::string_view origin = Stamp(context, kOriginProvinceMetadata, &origin_present);
  Principal principal = PrincipalFromAuthContext(context.auth_context().get());
  return Decide(principal, citizen, origin, citizen_present, origin_present, method);
}

absl::StatusOr<Caller> AuthzPolicy::Decide(const Principal& principal,
                                           absl::string_view citizen_stamp,
                                           absl::string_view origin_stamp, bool citizen_stamped,
                                           bool origin_stamped, absl::string_view method) const {
  if (principal.kind == Principal::Kind::kAnonymous) {
    return absl::UnauthenticatedError(
        "no verified client certificate: every call needs a certificate of the federation CA");
  }
  if (principal.kind == Principal::Kind::kUnrecognized) {
    return absl::UnauthenticatedError(absl::StrCat(
        "the client certificate carries no tongban identity (one URI SAN spiffe://tongban/...)",
        principal.spiffe_id.empty() ? "" : absl::StrCat("; found ", principal.spiffe_id)));
  }
  const bool is_gateway = principal.kind == Principal::Kind::kGateway;
  if ((citizen_stamped || origin_stamped) && !is_gateway) {
    return absl::PermissionDeniedError(absl::StrCat(
        "rule gateway-stamps-only: metadata ",
        citizen_stamped ? kCitizenIdMetadata : kOriginProvinceMetadata,
        " may only be set by the gateway; caller is ", Describe(principal)));
  }
  Caller caller;
  caller.principal = principal;
  if (citizen_stamped) {
    absl::Status s = ValidateResidentId(kCitizenIdMetadata, citizen_stamp);
    if (!s.ok()) return s;
    caller.citizen_id = std::string(citizen_stamp);
  }
  if (origin_stamped) {
    absl::Status s = ValidateProvinceCode(kOriginProvinceMetadata, origin_stamp);
    if (!s.ok()) return s;
    caller.origin_province = std::string(origin_stamp);
  }

  auto rule_it = rules_.find(method);
  if (rule_it == rules_.end()) {
    return absl::PermissionDeniedError(
        absl::StrCat("deny-by-default: no rule allows ", method, " on this node"));
  }
  const Rule rule = rule_it->second;
  const bool own_officer = caller.is_officer() && principal.province == own_province_;
  auto deny = [&](absl::string_view who) {
    return absl::PermissionDeniedError(absl::StrCat("rule ", RuleName(rule), ": ", method,
                                                    " is for ", who, "; caller is ",
                                                    Describe(principal)));
  };
  const std::string officers = absl::StrCat("officers of province ", own_province_);
  switch (rule) {
    case Rule::kOwnOfficerOrGateway:
      if (own_officer || is_gateway) return caller;
      if (principal.kind == Principal::Kind::kNode) {
        return deny(absl::StrCat(officers, " and the gateway (nodes reach other nodes only "
                                           "through the gateway)"));
      }
      return deny(absl::StrCat(officers, " and the gateway"));
    case Rule::kOwnOfficer:
      if (own_officer) return caller;
      return deny(officers);
    case Rule::kOwnOfficerOrCitizen:
      if (own_officer) return caller;
      if (is_gateway && caller.is_citizen()) return caller;
      if (is_gateway) {
        return deny(absl::StrCat(officers, ", or the gateway acting for a citizen (metadata ",
                                 kCitizenIdMetadata, " missing)"));
      }
      return deny(absl::StrCat(officers, ", or citizens through the gateway"));
    case Rule::kOwnOfficerCitizenOrRelay:
      if (own_officer) return caller;
      if (is_gateway && (caller.is_citizen() || !caller.origin_province.empty())) return caller;
      return deny(absl::StrCat(officers, ", citizens through the gateway, or the gateway relaying "
                                         "for a province party to the application"));
    case Rule::kGatewayRelay:
      if (is_gateway && !caller.origin_province.empty()) return caller;
      if (is_gateway) {
        return deny(absl::StrCat("the gateway relaying a node's call (metadata ",
                                 kOriginProvinceMetadata, " missing)"));
      }
      return deny("the gateway relaying another node's call (nodes never call each other directly)");
    case Rule::kOwnOperator:
      if (caller.is_operator() && principal.province == own_province_) return caller;
      return deny(absl::StrCat("operators of province ", own_province_));
    case Rule::kOwnOfficerOrOperator:
      if (own_officer || (caller.is_operator() && principal.province == own_province_)) {
        return caller;
      }
      return deny(absl::StrCat(officers, " and operators of province ", own_province_));
  }
  return deny("nobody");
}

}  // namespace tongban::node
