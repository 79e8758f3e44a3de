// CatalogService of a node: its own province's items and guides, searchable
// in Chinese and English, and officers' amendments (versioned, so caches of
// the gateway and other nodes see every change).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "absl/synchronization/mutex.h"
#include "clock.h"
#include "service/authz_policy.h"
#include "store/catalog_store.h"
#include "structured_log.h"
#include "tongban/v1/catalog.grpc.pb.h"

namespace tongban::node {

// GetGuide, the federation's most frequent read, runs on gRPC's callback API
// (no hand-off to a worker thread) and answers from the serialized guides it
// keeps in memory (issue #14: the node's CPU per guide read).
using CatalogServiceBase = v1::CatalogService::WithRawCallbackMethod_GetGuide<v1::CatalogService::Service>;

// A kept answer for one of this province's guides: the serialized
// GetGuideResponse, and the guide's version. Its field 1 (the guide) is also
// FetchGuideResponse's field 1, so the same bytes answer another province's
// FederationService.FetchGuide.
struct OwnGuideAnswer {
  std::shared_ptr<const std::string> bytes;
  int64_t version = 0;
};

class CatalogServiceImpl final : public CatalogServiceBase {
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
  grpc::ServerUnaryReactor* GetGuide(grpc::CallbackServerContext* ctx,
                                     const grpc::ByteBuffer* request,
                                     grpc::ByteBuffer* response) override;
  grpc::Status ListAlliances(grpc::ServerContext* ctx, const v1::ListAlliancesRequest* req,
                             v1::ListAlliancesResponse* resp) override;
  grpc::Status GetCatalogInfo(grpc::ServerContext* ctx, const v1::GetCatalogInfoRequest* req,
                              v1::GetCatalogInfoResponse* resp) override;
  grpc::Status AmendGuide(grpc::ServerContext* ctx, const v1::AmendGuideRequest* req,
                          v1::AmendGuideResponse* resp) override;
  grpc::Status AbolishItem(grpc::ServerContext* ctx, const v1::AbolishItemRequest* req,
                           v1::AbolishItemResponse* resp) override;

  // GetGuide's answer for a caller (the serialized GetGuideResponse), for
  // GetGuide itself and for callers without a callback context (the fuzzer).
  grpc::Status GuideFor(const grpc::ServerContextBase& ctx, const v1::GetGuideRequest& req,
                        std::shared_ptr<const std::string>* answer);

  // The kept answer for one of this province's guides (read from the store
  // the first time): INVALID_ARGUMENT for a malformed item code, NOT_FOUND
  // for an item this province does not have. Thread-safe.
  absl::StatusOr<OwnGuideAnswer> GuideAnswer(const std::string& item_code);

  // How long a GetGuide answer is kept in memory; InfiniteDuration (the
  // default) = until this node amends the item. Several replicas on one
  // database set a short one (node_server.cc): another replica's amendment is
  // answered within it. Set before serving.
  void set_guide_answer_ttl(absl::Duration ttl) { answer_ttl_ = ttl; }

  // Called with the item code after an amendment or abolition is stored, so
  // in-memory copies of the guide (GuideResolver) are dropped. Set before serving.
  void set_on_guide_changed(std::function<void(const std::string&)> hook) {
    on_guide_changed_ = std::move(hook);
  }

 private:
  absl::StatusOr<v1::Guide> OwnGuide(const std::string& item_code);
  // Drops the kept answer of an amended or abolished item.
  void ForgetGuideAnswer(const std::string& item_code);
  absl::Status ListPage(const GuideFilter& filter, const std::string& list_name, int page_size,
                        const std::string& page_token,
                        google::protobuf::RepeatedPtrField<v1::Guide>* out,
                        std::string* next_page_token);

  const AuthzPolicy* authz_;
  CatalogStore* store_;
  const Clock* clock_;
  EventLog* log_;
  std::function<void(const std::string&)> on_guide_changed_;

  absl::Duration answer_ttl_ = absl::InfiniteDuration();
  struct KeptAnswer {
    OwnGuideAnswer answer;
    absl::Time kept_at;
  };
  absl::Mutex answers_mu_;
  // By item code; guarded by answers_mu_.
  std::map<std::string, KeptAnswer, std::less<>> answers_;
  // Bumped by every ForgetGuideAnswer, so a read that raced an amendment
  // does not keep the old guide; guarded by answers_mu_.
  uint64_t answers_generation_ = 0;
};

// Checks an amended guide: materials (with their 电子证照 licence_types: codes
// of the national list, none twice), limits, texts. INVALID_ARGUMENT naming
// the field, e.g. guide.materials[1].licence_types[0].
absl::Status ValidateGuideAmendment(const v1::Guide& guide);

}  // namespace tongban::node
