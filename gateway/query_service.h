// FederationQueryService: questions about the whole federation. Answers come
// from the catalog cache where a province's catalog is fresh, from live calls
// (with the per-node deadline) where it is not; provinces that did not
// answer are named in the response instead of failing the whole query.
#pragma once

#include <map>
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

class QueryServiceImpl final : public v1::FederationQueryService::Service {
 public:
  // Pointers are not owned and must outlive the service.
  QueryServiceImpl(NodeCaller caller, CatalogCache* cache, const DirectoryWatcher* directory,
                   QueryOptions options);

  grpc::Status SearchFederation(grpc::ServerContext* ctx, const v1::SearchFederationRequest* req,
                                v1::SearchFederationResponse* resp) override;
  grpc::Status FindFilingOptions(grpc::ServerContext* ctx,
                                 const v1::FindFilingOptionsRequest* req,
                                 v1::FindFilingOptionsResponse* resp) override;
  grpc::Status CompareGuides(grpc::ServerContext* ctx, const v1::CompareGuidesRequest* req,
                             v1::CompareGuidesResponse* resp) override;
  grpc::Status GetProvinceGuide(grpc::ServerContext* ctx, const v1::GetProvinceGuideRequest* req,
                                v1::GetProvinceGuideResponse* resp) override;
  grpc::Status GetRoutedApplication(grpc::ServerContext* ctx,
                                    const v1::GetRoutedApplicationRequest* req,
                                    v1::GetRoutedApplicationResponse* resp) override;
  grpc::Status GetFederationStatus(grpc::ServerContext* ctx,
                                   const v1::GetFederationStatusRequest* req,
                                   v1::GetFederationStatusResponse* resp) override;

  // The answers themselves, without the caller check (officers and nodes
  // above, citizens on the public edge): `deadline` is the caller's.
  grpc::Status Search(const v1::SearchFederationRequest& req, absl::Time deadline,
                      v1::SearchFederationResponse* resp);
  grpc::Status FilingOptions(const v1::FindFilingOptionsRequest& req, absl::Time deadline,
                             v1::FindFilingOptionsResponse* resp);
  grpc::Status ProvinceGuide(const v1::GetProvinceGuideRequest& req, absl::Time deadline,
                             v1::GetProvinceGuideResponse* resp);
  // The caller's deadline minus the gateway's budget, capped at 30 s.
  absl::Time NodeDeadline(absl::Time caller_deadline) const;

 private:
  // Guides of one item in every province that implements it (NOT_FOUND at a
  // node = does not implement it); provinces that did not answer go to `missing`.
  std::map<std::string, v1::Guide> GuidesOfItem(const std::string& item_code, absl::Time deadline,
                                                std::vector<v1::MissingProvince>* missing);
  absl::Time Deadline(const grpc::ServerContext& ctx) const;

  const NodeCaller caller_;
  CatalogCache* const cache_;
  const DirectoryWatcher* const directory_;
  const QueryOptions options_;
};

}  // namespace tongban::gateway
