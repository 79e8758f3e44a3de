// CatalogService of a node: its own province's items and guides, searchable
// in Chinese and English, and officers' amendments (versioned, so caches of
// the gateway and other nodes see every change).
#pragma once

#include <functional>
#include <string>

#include "clock.h"
#include "service/authz_policy.h"
#include "store/catalog_store.h"
#include "structured_log.h"
#include "tongban/v1/catalog.grpc.pb.h"

namespace tongban::node {

class CatalogServiceImpl final : public v1::CatalogService::Service {
 public:
  // Pointers are not owned and must outlive the service.
  CatalogServiceImpl(const AuthzPolicy* authz, CatalogStore* store, const Clock* clock,
                     EventLog* log);

  grpc::Status ListItems(grpc::ServerContext* ctx, const v1::ListItemsRequest* req,
                         v1::ListItemsResponse* resp) override;
  grpc::Status SearchItems(grpc::ServerContext* ctx, const v1::SearchItemsRequest* req,
                           v1::SearchItemsResponse* resp) override;
  grpc::Status GetItem(grpc::ServerContext* ctx, const v1::GetItemRequest* req,
                       v1::GetItemResponse* resp) override;
  grpc::Status GetGuide(grpc::ServerContext* ctx, const v1::GetGuideRequest* req,
                        v1::GetGuideResponse* resp) override;
  grpc::Status ListAlliances(grpc::ServerContext* ctx, const v1::ListAlliancesRequest* req,
                             v1::ListAlliancesResponse* resp) override;
  grpc::Status GetCatalogInfo(grpc::ServerContext* ctx, const v1::GetCatalogInfoRequest* req,
                              v1::GetCatalogInfoResponse* resp) override;
  grpc::Status AmendGuide(grpc::ServerContext* ctx, const v1::AmendGuideRequest* req,
                          v1::AmendGuideResponse* resp) override;
  grpc::Status AbolishItem(grpc::ServerContext* ctx, const v1::AbolishItemRequest* req,
                           v1::AbolishItemResponse* resp) override;

  // Called with the item code after an amendment or abolition is stored, so
  // in-memory copies of the guide (GuideResolver) are dropped. Set before serving.
  void set_on_guide_changed(std::function<void(const std::string&)> hook) {
    on_guide_changed_ = std::move(hook);
  }

 private:
  absl::StatusOr<v1::Guide> OwnGuide(const std::string& item_code);
  absl::Status ListPage(const GuideFilter& filter, const std::string& list_name, int page_size,
                        const std::string& page_token,
                        google::protobuf::RepeatedPtrField<v1::Guide>* out,
                        std::string* next_page_token);

  const AuthzPolicy* authz_;
  CatalogStore* store_;
  const Clock* clock_;
  EventLog* log_;
  std::function<void(const std::string&)> on_guide_changed_;
};

// Checks an amended guide: materials, limits, texts. INVALID_ARGUMENT naming the field.
absl::Status ValidateGuideAmendment(const v1::Guide& guide);

}  // namespace tongban::node
