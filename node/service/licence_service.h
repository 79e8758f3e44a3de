// LicenceService (protos/tongban/v1/licence.proto): this province's officers
// issue, revoke and read the 电子证照 of their register, check any province's
// licence yes/no (a licence of another province is asked of its issuing node
// through the gateway, FederationService.CheckLicence), and audit the
// disclosure log. The rules (validation, signing, the log) are
// LicenceRegistry's; this file authorises callers and pages.
//
// Authorization (the table lives here, next to the methods it guards):
// every method is Rule::kOwnOfficer, except ListLicenceTypes (the national
// code list: also operators) and ListLicenceDisclosures (officers and
// operators: audit).
#pragma once

#include "service/authz_policy.h"
#include "service/federation_client.h"
#include "service/licence_registry.h"
#include "structured_log.h"
#include "tongban/v1/licence.grpc.pb.h"

namespace tongban::node {

class LicenceServiceImpl final : public v1::LicenceService::Service {
 public:
  // Not owned; must outlive the service. `federation` carries checks of
  // other provinces' licences to the gateway.
  LicenceServiceImpl(LicenceRegistry* registry, FederationClient* federation, EventLog* log);

  // The authorization table of this service.
  static AuthzPolicy Policy(const std::string& own_province);

  grpc::Status ListLicenceTypes(grpc::ServerContext* ctx, const v1::ListLicenceTypesRequest* req,
                                v1::ListLicenceTypesResponse* resp) override;
  grpc::Status IssueLicence(grpc::ServerContext* ctx, const v1::IssueLicenceRequest* req,
                            v1::IssueLicenceResponse* resp) override;
  grpc::Status RevokeLicence(grpc::ServerContext* ctx, const v1::RevokeLicenceRequest* req,
                             v1::RevokeLicenceResponse* resp) override;
  grpc::Status GetLicence(grpc::ServerContext* ctx, const v1::GetLicenceRequest* req,
                          v1::GetLicenceResponse* resp) override;
  grpc::Status ListLicences(grpc::ServerContext* ctx, const v1::ListLicencesRequest* req,
                            v1::ListLicencesResponse* resp) override;
  grpc::Status VerifyLicence(grpc::ServerContext* ctx, const v1::VerifyLicenceRequest* req,
                             v1::VerifyLicenceResponse* resp) override;
  grpc::Status ListLicenceDisclosures(grpc::ServerContext* ctx,
                                      const v1::ListLicenceDisclosuresRequest* req,
                                      v1::ListLicenceDisclosuresResponse* resp) override;

 private:
  LicenceRegistry* registry_;
  FederationClient* federation_;
  EventLog* log_;
  AuthzPolicy authz_;
};

}  // namespace tongban::node
