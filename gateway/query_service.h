// FederationQueryService: questions about the whole federation. Answers come
// from the catalog cache where a province's catalog is fresh, from live calls
// (with the per-node deadline) where it is not; provinces that did not
// answer are named in the response instead of failing the whole query.
// Searches also use a province's stale copy (named in the answer) rather
// than wait for a node that stopped answering.
//
// On gRPC's callback API where it pays (issue #14): SearchFederation fans
// out without a thread waiting; GetProvinceGuide and GetRoutedApplication
// are routed as bytes (forwarded_call.h): the route key is read from the
// request's wire format and the node's answer is returned unparsed, since
// the gateway's and the node's messages share field numbers.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "catalog_cache.h"
#include "directory_watcher.h"
#include "node_call.h"
#include "tongban/v1/gateway.grpc.pb.h"

namespace tongban::gateway {

struct QueryOptions {
  absl::Duration node_deadline = absl::Milliseconds(500);
  absl::Duration budget = absl::Milliseconds(20);
  bool use_cache = true;
};

using QueryServiceBase = v1::FederationQueryService::WithRawCallbackMethod_SearchFederation<
    v1::FederationQueryService::WithRawCallbackMethod_GetProvinceGuide<
        v1::FederationQueryService::WithRawCallbackMethod_GetRoutedApplication<
            v1::FederationQueryService::Service>>>;

class QueryServiceImpl final : public QueryServiceBase {
 public:
  // Pointers are not owned and must outlive the service.
  QueryServiceImpl(NodeCaller caller, CatalogCache* cache, const DirectoryWatcher* directory,
                   QueryOptions options);

  // Raw, parsed here: a request that is not a valid message must answer
  // INVALID_ARGUMENT naming its type, as on the sync methods (gRPC's own
  // callback deserialisation answers a code of its choosing).
  grpc::ServerUnaryReactor* SearchFederation(grpc::CallbackServerContext* ctx,
                                             const grpc::ByteBuffer* request,
                                             grpc::ByteBuffer* response) override;
  grpc::Status FindFilingOptions(grpc::ServerContext* ctx,
                                 const v1::FindFilingOptionsRequest* req,
                                 v1::FindFilingOptionsResponse* resp) override;
  grpc::Status CompareGuides(grpc::ServerContext* ctx, const v1::CompareGuidesRequest* req,
                             v1::CompareGuidesResponse* resp) override;
  grpc::ServerUnaryReactor* GetProvinceGuide(grpc::CallbackServerContext* ctx,
                                             const grpc::ByteBuffer* request,
                                             grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* GetRoutedApplication(grpc::CallbackServerContext* ctx,
                                                 const grpc::ByteBuffer* request,
                                                 grpc::ByteBuffer* response) override;
  grpc::Status GetFederationStatus(grpc::ServerContext* ctx,
                                   const v1::GetFederationStatusRequest* req,
                                   v1::GetFederationStatusResponse* resp) override;
  // 好差评 statistics: fans out ApplicationService.GetRatingStats (docs/ratings.md).
  grpc::Status GetSatisfactionStats(grpc::ServerContext* ctx,
                                    const v1::GetSatisfactionStatsRequest* req,
                                    v1::GetSatisfactionStatsResponse* resp) override;
  // 电子证照 directory: the licence types that satisfy the materials of one
  // province's guide (read as ProvinceGuide reads it), with suggested
  // issuing provinces for a holder (docs/licences.md).
  grpc::Status FindLicenceEvidence(grpc::ServerContext* ctx,
                                   const v1::FindLicenceEvidenceRequest* req,
                                   v1::FindLicenceEvidenceResponse* resp) override;

  // The answers themselves, without the caller check (officers and nodes
  // above, citizens on the public edge): `deadline` is the caller's.
  grpc::Status Search(const v1::SearchFederationRequest& req, absl::Time deadline,
                      v1::SearchFederationResponse* resp);
  // Search without waiting: `done` runs once with the status when `resp` is
  // complete (on a gRPC thread, or on this one). `req` and `resp` must stay
  // valid until then.
  void SearchAsync(const v1::SearchFederationRequest& req, absl::Time deadline,
                   v1::SearchFederationResponse* resp,
                   std::function<void(grpc::Status)> done);
  grpc::Status FilingOptions(const v1::FindFilingOptionsRequest& req, absl::Time deadline,
                             v1::FindFilingOptionsResponse* resp);
  grpc::Status ProvinceGuide(const v1::GetProvinceGuideRequest& req, absl::Time deadline,
                             v1::GetProvinceGuideResponse* resp);
  grpc::Status LicenceEvidence(const v1::FindLicenceEvidenceRequest& req, absl::Time deadline,
                               v1::FindLicenceEvidenceResponse* resp);
  // The caller's deadline minus the gateway's budget, capped at 30 s.
  absl::Time NodeDeadline(absl::Time caller_deadline) const;

 private:
  // Guides of one item in every province that implements it (NOT_FOUND at a
  // node = does not implement it); provinces that did not answer go to `missing`.
  std::map<std::string, v1::Guide> GuidesOfItem(const std::string& item_code, absl::Time deadline,
                                                std::vector<v1::MissingProvince>* missing);
  absl::Time Deadline(const grpc::ServerContextBase& ctx) const;
  // Where a search's page goes: a message, or bytes with the cached guides
  // spliced in as the cache keeps them (SearchFederation).
  struct SearchOutput {
    v1::SearchFederationResponse* message = nullptr;
    grpc::ByteBuffer* bytes = nullptr;
  };
  // Reads `req` before it returns; `out` must stay valid until `done`.
  void StartSearch(const v1::SearchFederationRequest& req, absl::Time deadline, SearchOutput out,
                   std::function<void(grpc::Status)> done);
  struct SearchInProgress;
  // Merges what the cached and live provinces found into the page, and answers.
  void FinishSearch(const std::shared_ptr<SearchInProgress>& search);
  struct RoutedRead;
  // Asks the next province of `read` for the application (forwarded bytes).
  void AskNextProvince(std::shared_ptr<RoutedRead> read);

  const NodeCaller caller_;
  CatalogCache* const cache_;
  const DirectoryWatcher* const directory_;
  const QueryOptions options_;
};

}  // namespace tongban::gateway
