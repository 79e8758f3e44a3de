// LicenceService (protos/tongban/v1/licence.proto): this province's officers
// issue, revoke and read the 电子证照 of their register, check any province's
// licence yes/no (a licence of another province is asked of its issuing node
// through the gateway, FederationService.CheckLicence), and audit the
// disclosure log. The rules (validation, signing, the log) are
// LicenceRegistry's; this file authorises callers and pages.
//
// 免证办 (PreviewLicence, ConfirmLicence) enters at the node the applicant
// files at — or, for a citizen's app, at the issuing node through the
// gateway. This node checks that the handling province's guide takes the
// licence type for the material, then asks the issuing node (itself, or
// through the gateway), and verifies a released licence's signature, holder
// and id before passing it on.
//
// Authorization (the table lives here, next to the methods it guards):
// every method is Rule::kOwnOfficer, except ListLicenceTypes (the national
// code list: also operators), ListLicenceDisclosures (officers and
// operators: audit) and PreviewLicence / ConfirmLicence /
// ListHolderDisclosures (officers, or a citizen through the gateway for
// their own licences).
#pragma once

#include "clock.h"
#include "record_signing.h"
#include "service/authz_policy.h"
#include "service/federation_client.h"
#include "service/guide_resolver.h"
#include "service/licence_registry.h"
#include "store/application_store.h"
#include "structured_log.h"
#include "tongban/v1/licence.grpc.pb.h"

namespace tongban::node {

struct LicenceServiceDeps {
  LicenceRegistry* registry = nullptr;
  // Carries questions about other provinces' licences to the gateway; null
  // without a gateway (they answer UNAVAILABLE then).
  FederationClient* federation = nullptr;
  // The handling province's guide: which licence types it takes per material.
  GuideResolver* guides = nullptr;
  // Checks licences released by other provinces.
  const signing::RecordVerifier* verifier = nullptr;
  const Clock* clock = nullptr;
  EventLog* log = nullptr;
  // The applications whose licences CheckApplicationLicences checks.
  ApplicationStore* applications = nullptr;
};

// VerifyLicence (an officer's yes/no check, the most frequent call here) and
// the two 免证办 steps run on gRPC's callback API: no thread waits while the
// issuing province answers through the gateway, or while this node's own
// record commits.
using LicenceServiceBase = v1::LicenceService::WithCallbackMethod_VerifyLicence<
    v1::LicenceService::WithCallbackMethod_PreviewLicence<
        v1::LicenceService::WithCallbackMethod_ConfirmLicence<v1::LicenceService::Service>>>;

class LicenceServiceImpl final : public LicenceServiceBase {
 public:
  // Pointers in `deps` are not owned and must outlive the service; all but
  // `federation` are required.
  explicit LicenceServiceImpl(LicenceServiceDeps deps);

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
  grpc::ServerUnaryReactor* VerifyLicence(grpc::CallbackServerContext* ctx,
                                          const v1::VerifyLicenceRequest* req,
                                          v1::VerifyLicenceResponse* resp) override;
  // VerifyLicence answered on the calling thread (the fuzzer).
  grpc::Status VerifyLicenceNow(const grpc::ServerContextBase& ctx,
                                const v1::VerifyLicenceRequest& req,
                                v1::VerifyLicenceResponse* resp);
  grpc::Status ListLicenceDisclosures(grpc::ServerContext* ctx,
                                      const v1::ListLicenceDisclosuresRequest* req,
                                      v1::ListLicenceDisclosuresResponse* resp) override;
  grpc::ServerUnaryReactor* PreviewLicence(grpc::CallbackServerContext* ctx,
                                           const v1::PreviewLicenceRequest* req,
                                           v1::PreviewLicenceResponse* resp) override;
  grpc::ServerUnaryReactor* ConfirmLicence(grpc::CallbackServerContext* ctx,
                                           const v1::ConfirmLicenceRequest* req,
                                           v1::ConfirmLicenceResponse* resp) override;
  // The two answered on the calling thread (the fuzzer).
  grpc::Status PreviewLicenceNow(const grpc::ServerContextBase& ctx,
                                 const v1::PreviewLicenceRequest& req,
                                 v1::PreviewLicenceResponse* resp);
  grpc::Status ConfirmLicenceNow(const grpc::ServerContextBase& ctx,
                                 const v1::ConfirmLicenceRequest& req,
                                 v1::ConfirmLicenceResponse* resp);
  grpc::Status ListHolderDisclosures(grpc::ServerContext* ctx,
                                     const v1::ListHolderDisclosuresRequest* req,
                                     v1::ListLicenceDisclosuresResponse* resp) override;
  grpc::Status CheckApplicationLicences(grpc::ServerContext* ctx,
                                        const v1::CheckApplicationLicencesRequest* req,
                                        v1::CheckApplicationLicencesResponse* resp) override;

 private:
  // A yes/no question to the issuing province (this node, or through the
  // gateway), with `requester` as the asker.
  absl::StatusOr<v1::VerifyLicenceResponse> Ask(const std::string& issuing_province,
                                                const LicenceQuestion& question);
  void AskAsync(const std::string& issuing_province, const LicenceQuestion& question,
                LicenceRegistry::Done<v1::VerifyLicenceResponse> done);
  // VerifyLicence authorised and validated into its question.
  absl::StatusOr<LicenceQuestion> VerifyQuestion(const grpc::ServerContextBase& ctx,
                                                 const v1::VerifyLicenceRequest& req);
  // PreviewLicence authorised, validated and its use checked against the
  // handling province's guide (which may fetch the guide through the gateway
  // once) into the fetch to ask of `issuing_province`.
  struct PreviewAsk {
    std::string issuing_province;
    LicenceFetch fetch;
  };
  absl::StatusOr<PreviewAsk> PreviewAsked(const grpc::ServerContextBase& ctx,
                                          const v1::PreviewLicenceRequest& req);
  // Another province's preview, refused if it is of another holder.
  absl::StatusOr<v1::PreviewLicenceResponse> CheckedPreview(
      const PreviewAsk& ask, absl::StatusOr<v1::PreviewLicenceResponse> preview);
  v1::FetchLicencePreviewRequest RelayedPreview(const PreviewAsk& ask) const;
  // ConfirmLicence authorised and validated: the asker (actor) to record.
  absl::StatusOr<std::string> ConfirmAsker(const grpc::ServerContextBase& ctx,
                                           const v1::ConfirmLicenceRequest& req);
  // A released licence checked before anyone relies on it.
  absl::StatusOr<v1::ConfirmLicenceResponse> CheckedRelease(
      const v1::LicenceGrant& grant, absl::StatusOr<v1::ConfirmLicenceResponse> decided);
  // One page of the log under `filter`, newest first, with the page token
  // tied to `list` (the listing and its filter).
  absl::Status DisclosurePage(const DisclosureFilter& filter, const std::string& list,
                              int32_t page_size, const std::string& page_token,
                              v1::ListLicenceDisclosuresResponse* resp);
  // OK when `province`'s guide of the use's item lists `type_code` for the
  // use's material; FAILED_PRECONDITION (LICENCE_TYPE_NOT_ACCEPTED) naming
  // what it takes otherwise.
  absl::Status CheckUse(const v1::LicenceUse& use, const std::string& type_code);

  LicenceRegistry* registry_;
  FederationClient* federation_;
  GuideResolver* guides_;
  const signing::RecordVerifier* verifier_;
  const Clock* clock_;
  EventLog* log_;
  ApplicationStore* applications_;
  AuthzPolicy authz_;
};

}  // namespace tongban::node
