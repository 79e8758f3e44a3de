// Who may call what on a node: deny by default, one rule per RPC (DESIGN.md
// §3). The caller's identity is read from the verified peer certificate; the
// gateway's stamps (origin province, citizen id) are believed only when the
// peer certificate is the gateway's, and refused from anyone else.
#pragma once

#include "absl/strings/string_view.h"
#include <map>
#include <set>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "grpcpp/server_context.h"
#include "peer_identity.h"

namespace tongban::node {

inline constexpr absl::string_view kCitizenIdMetadata = "x-tongban-citizen-id";
inline constexpr absl::string_view kOriginProvinceMetadata = "x-tongban-origin-province";

// The verified caller of one RPC.
struct Caller {
  Principal principal;
  std::string citizen_id;       // stamped by the gateway for a mobile-app citizen
  std::string origin_province;  // stamped by the gateway on relayed node-to-node calls

  bool is_citizen() const { return !citizen_id.empty(); }
  bool is_officer() const { return principal.kind == Principal::Kind::kOfficer; }
  bool is_operator() const { return principal.kind == Principal::Kind::kOperator; }
  // Recorded as the actor of events: "citizen:<id>" or the SPIFFE id.
  std::string actor() const;
};

enum class Rule {
  // Officers of this province, or the gateway (for catalog reads it fans out).
  kOwnOfficerOrGateway,
  // Officers of this province only.
  kOwnOfficer,
  // Officers of this province, or the gateway on behalf of a stamped citizen.
  kOwnOfficerOrCitizen,
  // The gateway relaying another node's call, with a stamped origin province.
  kGatewayRelay,
  // kOwnOfficerOrCitizen, or the gateway relaying a read for a stamped origin
  // province (the handler then shows only applications that province is party to).
  kOwnOfficerCitizenOrRelay,
  // Operators of this province only (spiffe://tongban/province/<p>/operator/<id>):
  // running the node (outbox, dead letters), never deciding applications.
  kOwnOperator,
  // Officers or operators of this province (read-only work lists, e.g. the
  // open 好差评 rectifications).
  kOwnOfficerOrOperator,
};

absl::string_view RuleName(Rule rule);

class AuthzPolicy final {
 public:
  // `rules` maps full method names ("/tongban.v1.CatalogService/GetItem") to rules.
  AuthzPolicy(std::string own_province, std::map<std::string, Rule, std::less<>> rules);

  // The node's table for all tongban.v1 services.
  static AuthzPolicy ForNode(std::string own_province);

  // UNAUTHENTICATED without a usable identity; PERMISSION_DENIED naming the
  // rule when the identity may not call `method`.
  absl::StatusOr<Caller> Authorize(const grpc::ServerContextBase& context,
                                   absl::string_view method) const;

  // For tests: the same decision from a principal and stamps.
  absl::StatusOr<Caller> Decide(const Principal& principal, absl::string_view citizen_stamp,
                                absl::string_view origin_stamp, bool citizen_stamped,
                                bool origin_stamped, absl::string_view method) const;

  const std::string& own_province() const { return own_province_; }

  // Officer ids of this province who may approve time-limit extensions
  // (负责人批准; config time_limits.extension_approvers). Set before serving.
  void set_extension_approvers(std::set<std::string> officer_ids) {
    extension_approvers_ = std::move(officer_ids);
  }
  // OK for an officer of this province listed as an approver; otherwise
  // PERMISSION_DENIED naming rule extension-approvers-only. The officer id is
  // the verified certificate's, never a header's.
  absl::Status CheckExtensionApprover(const Caller& caller) const;

 private:
  std::string own_province_;
  std::set<std::string> extension_approvers_;
  std::map<std::string, Rule, std::less<>> rules_;
};

}  // namespace tongban::node
