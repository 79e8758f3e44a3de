#include "catalog_service.h"

#include <set>

#include "absl/strings/str_cat.h"
#include "catalog/catalog_search.h"
#include "catalog/joint_procedure_rules.h"
#include "grpc_status.h"
#include "input_validation.h"
#include "licence_types.h"
#include "page_token.h"
#include "request_id.h"
#include "service/callback_reply.h"
#include "structured_log.h"

namespace tongban::node {
namespace {

constexpr char kService[] = "/tongban.v1.CatalogService/";

std::string Method(const char* name) { return absl::StrCat(kService, name); }

}  // namespace

CatalogServiceImpl::CatalogServiceImpl(const AuthzPolicy* authz, CatalogStore* store,
                                       const Clock* clock, EventLog* log)
    : authz_(authz), store_(store), clock_(clock), log_(log) {}

absl::StatusOr<v1::Guide> CatalogServiceImpl::OwnGuide(const std::string& item_code) {
  absl::Status valid = ValidateItemCode("item_code", item_code);
  if (!valid.ok()) return valid;
  absl::StatusOr<v1::Guide> guide = store_->GetGuide(authz_->own_province(), item_code);
  if (absl::IsNotFound(guide.status())) {
    return absl::NotFoundError(absl::StrCat(
        "item ", item_code, " is not in the catalog of province ", authz_->own_province()));
  }
  return guide;
}

absl::Status CatalogServiceImpl::ListPage(const GuideFilter& filter, const std::string& list_name,
                                          int page_size, const std::string& page_token,
                                          google::protobuf::RepeatedPtrField<v1::Guide>* out,
                                          std::string* next_page_token) {
  int limit = 0;
  absl::Status s = ValidatePageSize("page_size", page_size, &limit);
  if (!s.ok()) return s;
  absl::StatusOr<std::string> after = DecodePageToken("page_token", list_name, page_token);
  if (!after.ok()) return after.status();
  // One extra row tells whether there is a next page without a count query.
  absl::StatusOr<std::vector<v1::Guide>> rows = store_->ListGuides(filter, *after, limit + 1);
  if (!rows.ok()) return rows.status();
  bool more = static_cast<int>(rows->size()) > limit;
  if (more) rows->pop_back();
  for (v1::Guide& g : *rows) *out->Add() = std::move(g);
  if (more) *next_page_token = EncodePageToken(list_name, out->rbegin()->item().item_code());
  return absl::OkStatus();
}

grpc::Status CatalogServiceImpl::ListItems(grpc::ServerContext* ctx,
                                           const v1::ListItemsRequest* req,
                                           v1::ListItemsResponse* resp) {
  const ScopedRequestId request_id(RequestIdOfCall(ctx->client_metadata()));
  absl::StatusOr<Caller> caller = authz_->Authorize(*ctx, Method("ListItems"));
  if (!caller.ok()) return ToGrpcStatus(caller.status());
  if (!v1::ItemScope_IsValid(req->scope())) {
    return ToGrpcStatus(absl::InvalidArgumentError(
        absl::StrCat("scope ", req->scope(), " is not an ItemScope value")));
  }
  GuideFilter filter;
  filter.province_code = authz_->own_province();
  filter.scope = req->scope();
  filter.include_abolished = req->include_abolished();
  std::string list = absl::StrCat("items:", req->scope(), ":", req->include_abolished());
  return ToGrpcStatus(ListPage(filter, list, req->page_size(), req->page_token(),
                               resp->mutable_guides(), resp->mutable_next_page_token()));
}

grpc::Status CatalogServiceImpl::SearchItems(grpc::ServerContext* ctx,
                                             const v1::SearchItemsRequest* req,
                                             v1::SearchItemsResponse* resp) {
  const ScopedRequestId request_id(RequestIdOfCall(ctx->client_metadata()));
  absl::StatusOr<Caller> caller = authz_->Authorize(*ctx, Method("SearchItems"));
  if (!caller.ok()) return ToGrpcStatus(caller.status());
  absl::StatusOr<CatalogSearchPage> page =
      SearchCatalog(*store_, authz_->own_province(), *req, SynonymTable::Shipped());
  if (!page.ok()) return ToGrpcStatus(page.status());
  for (ScoredGuide& g : page->results) {
    *resp->add_guides() = std::move(g.guide);
    resp->add_relevance(g.relevance);
  }
  resp->set_next_page_token(std::move(page->next_page_token));
  return grpc::Status::OK;
}

grpc::Status CatalogServiceImpl::GetItem(grpc::ServerContext* ctx, const v1::GetItemRequest* req,
                                         v1::GetItemResponse* resp) {
  const ScopedRequestId request_id(RequestIdOfCall(ctx->client_metadata()));
  absl::StatusOr<Caller> caller = authz_->Authorize(*ctx, Method("GetItem"));
  if (!caller.ok()) return ToGrpcStatus(caller.status());
  absl::StatusOr<v1::Guide> guide = OwnGuide(req->item_code());
  if (!guide.ok()) return ToGrpcStatus(guide.status());
  *resp->mutable_item() = guide->item();
  return grpc::Status::OK;
}

grpc::ServerUnaryReactor* CatalogServiceImpl::GetGuide(grpc::CallbackServerContext* ctx,
                                                       const grpc::ByteBuffer* request,
                                                       grpc::ByteBuffer* response) {
  return AnswerWithKeptBytes<v1::GetGuideRequest>(
      ctx, request, response, Method("GetGuide"),
      [this, ctx](const v1::GetGuideRequest& req, std::shared_ptr<const std::string>* answer) {
        return GuideFor(*ctx, req, answer);
      });
}

grpc::Status CatalogServiceImpl::GuideFor(const grpc::ServerContextBase& ctx,
                                          const v1::GetGuideRequest& req,
                                          std::shared_ptr<const std::string>* answer) {
  const ScopedRequestId request_id(RequestIdOfCall(ctx.client_metadata()));
  absl::StatusOr<Caller> caller = authz_->Authorize(ctx, Method("GetGuide"));
  if (!caller.ok()) return ToGrpcStatus(caller.status());
  absl::StatusOr<OwnGuideAnswer> kept = GuideAnswer(req.item_code());
  if (!kept.ok()) return ToGrpcStatus(kept.status());
  *answer = std::move(kept->bytes);
  return grpc::Status::OK;
}

absl::StatusOr<OwnGuideAnswer> CatalogServiceImpl::GuideAnswer(const std::string& item_code) {
  uint64_t generation = 0;
  {
    absl::MutexLock lock(&answers_mu_);
    auto it = answers_.find(item_code);
    if (it != answers_.end() && (answer_ttl_ == absl::InfiniteDuration() ||
                                 clock_->Now() - it->second.kept_at < answer_ttl_)) {
      return it->second.answer;
    }
    generation = answers_generation_;
  }
  absl::StatusOr<v1::Guide> guide = OwnGuide(item_code);
  if (!guide.ok()) return guide.status();
  OwnGuideAnswer kept;
  kept.version = guide->version();
  v1::GetGuideResponse answer;
  *answer.mutable_guide() = *std::move(guide);
  kept.bytes = std::make_shared<const std::string>(answer.SerializeAsString());
  absl::MutexLock lock(&answers_mu_);
  if (generation == answers_generation_) answers_[item_code] = {kept, clock_->Now()};
  return kept;
}

void CatalogServiceImpl::ForgetGuideAnswer(const std::string& item_code) {
  absl::MutexLock lock(&answers_mu_);
  answers_.erase(item_code);
  ++answers_generation_;
}

grpc::Status CatalogServiceImpl::ListAlliances(grpc::ServerContext* ctx,
                                               const v1::ListAlliancesRequest*,
                                               v1::ListAlliancesResponse* resp) {
  const ScopedRequestId request_id(RequestIdOfCall(ctx->client_metadata()));
  absl::StatusOr<Caller> caller = authz_->Authorize(*ctx, Method("ListAlliances"));
  if (!caller.ok()) return ToGrpcStatus(caller.status());
  absl::StatusOr<std::vector<v1::Alliance>> alliances = store_->ListAlliances();
  if (!alliances.ok()) return ToGrpcStatus(alliances.status());
  for (v1::Alliance& a : *alliances) *resp->add_alliances() = std::move(a);
  return grpc::Status::OK;
}

grpc::Status CatalogServiceImpl::GetCatalogInfo(grpc::ServerContext* ctx,
                                                const v1::GetCatalogInfoRequest*,
                                                v1::GetCatalogInfoResponse* resp) {
  const ScopedRequestId request_id(RequestIdOfCall(ctx->client_metadata()));
  absl::StatusOr<Caller> caller = authz_->Authorize(*ctx, Method("GetCatalogInfo"));
  if (!caller.ok()) return ToGrpcStatus(caller.status());
  absl::StatusOr<CatalogCounts> counts = store_->Counts(authz_->own_province());
  if (!counts.ok()) return ToGrpcStatus(counts.status());
  resp->set_province_code(authz_->own_province());
  resp->set_catalog_version(counts->catalog_version);
  resp->set_active_items(counts->active_items);
  resp->set_abolished_items(counts->abolished_items);
  return grpc::Status::OK;
}

absl::Status ValidateGuideAmendment(const v1::Guide& g) {
  absl::Status s = ValidateText("guide.department_zh", g.department_zh(), 100, true);
  if (!s.ok()) return s;
  if (g.materials_size() == 0 || g.materials_size() > 50) {
    return absl::InvalidArgumentError("guide.materials must list 1 to 50 materials");
  }
  std::set<std::string> ids;
  bool has_key = false;
  for (int i = 0; i < g.materials_size(); ++i) {
    const v1::MaterialRequirement& m = g.materials(i);
    std::string field = absl::StrCat("guide.materials[", i, "]");
    s = ValidateMaterialId(field + ".material_id", m.material_id());
    if (!s.ok()) return s;
    if (!ids.insert(m.material_id()).second) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ".material_id ", m.material_id(), " appears twice"));
    }
    s = ValidateText(field + ".name_zh", m.name_zh(), 100, true);
    if (!s.ok()) return s;
    s = ValidateText(field + ".name_en", m.name_en(), 200, false);
    if (!s.ok()) return s;
    if (m.key() && m.deficiency_allowed()) {
      return absl::InvalidArgumentError(absl::StrCat(
          field,
          " is a key material and cannot be deficiency_allowed (容缺 covers only secondary "
          "materials)"));
    }
    // 电子证照 types that satisfy the material: codes of the national list, each once.
    std::set<std::string> types;
    for (int j = 0; j < m.licence_types_size(); ++j) {
      const std::string& type = m.licence_types(j);
      const std::string type_field = absl::StrCat(field, ".licence_types[", j, "]");
      if (LicenceTypeList::National().Find(type) == nullptr) {
        return absl::InvalidArgumentError(absl::StrCat(
            type_field, type.size() <= 16 ? absl::StrCat(" \"", type, "\"") : std::string(),
            " is not a licence type of the national list (LicenceService.ListLicenceTypes)"));
      }
      if (!types.insert(type).second) {
        return absl::InvalidArgumentError(
            absl::StrCat(type_field, " ", type, " is listed twice for this material"));
      }
    }
    has_key |= m.key();
  }
  if (!has_key) return absl::InvalidArgumentError("guide.materials must contain a key material");
  for (int i = 0; i < g.conditions_zh_size(); ++i) {
    s = ValidateText(absl::StrCat("guide.conditions_zh[", i, "]"), g.conditions_zh(i), 500, true);
    if (!s.ok()) return s;
  }
  if (g.legal_time_limit_days() < 0 || g.promised_time_limit_days() < 0 ||
      g.legal_time_limit_days() > 365) {
    return absl::InvalidArgumentError("guide time limits must be 0 to 365 working days");
  }
  if (g.legal_time_limit_days() > 0 && g.promised_time_limit_days() > g.legal_time_limit_days()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "guide.promised_time_limit_days (", g.promised_time_limit_days(),
        ") may not exceed guide.legal_time_limit_days (", g.legal_time_limit_days(), ")"));
  }
  if (g.fee_fen() < 0) return absl::InvalidArgumentError("guide.fee_fen may not be negative");
  if (g.has_joint_procedure()) {
    const std::vector<std::string> problems = JointProcedureProblems(g.joint_procedure());
    if (!problems.empty()) {
      return absl::InvalidArgumentError(absl::StrCat("guide.", problems.front()));
    }
  }
  if (g.supplement_days() < 0 || g.supplement_days() > 60) {
    return absl::InvalidArgumentError("guide.supplement_days must be 0 to 60");
  }
  return absl::OkStatus();
}

grpc::Status CatalogServiceImpl::AmendGuide(grpc::ServerContext* ctx,
                                            const v1::AmendGuideRequest* req,
                                            v1::AmendGuideResponse* resp) {
  const ScopedRequestId request_id(RequestIdOfCall(ctx->client_metadata()));
  absl::StatusOr<Caller> caller = authz_->Authorize(*ctx, Method("AmendGuide"));
  if (!caller.ok()) return ToGrpcStatus(caller.status());
  if (!req->has_guide()) return ToGrpcStatus(absl::InvalidArgumentError("guide is required"));
  const v1::Guide& in = req->guide();
  if (in.province_code() != authz_->own_province()) {
    return ToGrpcStatus(absl::InvalidArgumentError(
        absl::StrCat("guide.province_code must be this node's province ", authz_->own_province())));
  }
  absl::StatusOr<v1::Guide> current = OwnGuide(in.item().item_code());
  if (!current.ok()) return ToGrpcStatus(current.status());
  absl::Status valid = ValidateGuideAmendment(in);
  if (!valid.ok()) return ToGrpcStatus(valid);
  if (req->expected_version() <= 0) {
    return ToGrpcStatus(absl::InvalidArgumentError(
        "expected_version is required: the version of the guide the amendment is based on"));
  }
  v1::Guide amended = in;
  // Identity of the item is the national catalog's, not the province's to change.
  *amended.mutable_item() = current->item();
  amended.mutable_item()->set_name_en(in.item().name_en().empty() ? current->item().name_en()
                                                                  : in.item().name_en());
  if (amended.status() == v1::ITEM_STATUS_UNSPECIFIED) amended.set_status(current->status());
  // An amendment of materials or limits keeps the 多地联办 steps it does not
  // restate: other provinces' tasks rely on them.
  if (!in.has_joint_procedure() && current->has_joint_procedure()) {
    *amended.mutable_joint_procedure() = current->joint_procedure();
  }
  absl::StatusOr<v1::Guide> stored =
      store_->AmendGuide(amended, req->expected_version(), absl::ToUnixSeconds(clock_->Now()));
  if (!stored.ok()) return ToGrpcStatus(stored.status());
  ForgetGuideAnswer(stored->item().item_code());
  if (on_guide_changed_) on_guide_changed_(stored->item().item_code());
  log_->Info("catalog.guide_amended", {{"item", stored->item().item_code()},
                                       {"version", absl::StrCat(stored->version())},
                                       {"by", caller->actor()}});
  *resp->mutable_guide() = std::move(*stored);
  return grpc::Status::OK;
}

grpc::Status CatalogServiceImpl::AbolishItem(grpc::ServerContext* ctx,
                                             const v1::AbolishItemRequest* req,
                                             v1::AbolishItemResponse* resp) {
  const ScopedRequestId request_id(RequestIdOfCall(ctx->client_metadata()));
  absl::StatusOr<Caller> caller = authz_->Authorize(*ctx, Method("AbolishItem"));
  if (!caller.ok()) return ToGrpcStatus(caller.status());
  absl::Status valid = ValidateText("reason_zh", req->reason_zh(), 500, /*required=*/true);
  if (!valid.ok()) return ToGrpcStatus(valid);
  absl::StatusOr<v1::Guide> current = OwnGuide(req->item_code());
  if (!current.ok()) return ToGrpcStatus(current.status());
  if (current->status() == v1::ITEM_STATUS_ABOLISHED) {
    return ToGrpcStatus(absl::FailedPreconditionError(absl::StrCat(
        "item ", req->item_code(), " is already abolished (version ", current->version(), ")")));
  }
  v1::Guide abolished = *current;
  abolished.set_status(v1::ITEM_STATUS_ABOLISHED);
  absl::StatusOr<v1::Guide> stored =
      store_->AmendGuide(abolished, current->version(), absl::ToUnixSeconds(clock_->Now()));
  if (!stored.ok()) return ToGrpcStatus(stored.status());
  ForgetGuideAnswer(req->item_code());
  if (on_guide_changed_) on_guide_changed_(req->item_code());
  log_->Info("catalog.item_abolished", {{"item", req->item_code()},
                                        {"version", absl::StrCat(stored->version())},
                                        {"reason", req->reason_zh()},
                                        {"by", caller->actor()}});
  *resp->mutable_guide() = std::move(*stored);
  return grpc::Status::OK;
}

}  // namespace tongban::node
