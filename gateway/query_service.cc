#include "query_service.h"

#include <algorithm>
#include <set>

#include "absl/strings/numbers.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "application_id.h"
#include "caller_identity.h"
#include "filing_policy.h"
#include "grpc_status.h"
#include "input_validation.h"
#include "item_search.h"
#include "page_token.h"

namespace tongban::gateway {
namespace {

constexpr char kCatalog[] = "tongban.v1.CatalogService";
constexpr char kApplications[] = "tongban.v1.ApplicationService";
constexpr char kOriginMetadata[] = "x-tongban-origin-province";

std::string Method(const char* name) {
  return absl::StrCat("/tongban.v1.FederationQueryService/", name);
}

void AddMissing(std::vector<v1::MissingProvince>* missing, const std::string& province,
                const std::string& reason) {
  v1::MissingProvince m;
  m.set_province_code(province);
  m.set_reason(reason);
  missing->push_back(std::move(m));
}

// One search result while merging: a guide (owned by a cache entry or a node
// response) and its relevance.
struct SearchHit {
  const v1::Guide* guide;
  int32_t relevance;
};

// Position in the merged order: relevance (highest first), province code,
// item code. Total, so pages are stable. Views into a guide or a cursor.
struct SearchKey {
  int32_t relevance = 0;
  absl::string_view province;
  absl::string_view item;
};

SearchKey KeyOf(const SearchHit& hit) {
  return {hit.relevance, hit.guide->province_code(), hit.guide->item().item_code()};
}

bool Before(const SearchKey& a, const SearchKey& b) {
  if (a.relevance != b.relevance) return a.relevance > b.relevance;
  return std::tie(a.province, a.item) < std::tie(b.province, b.item);
}

// The cursor of a search page token: "<relevance>/<province>/<item>" of the
// last result of the previous page; province empty on the first page.
struct SearchCursor {
  int32_t relevance = 0;
  std::string province;
  std::string item;
  SearchKey key() const { return {relevance, province, item}; }
};

absl::StatusOr<SearchCursor> ParseSearchCursor(const std::string& text) {
  SearchCursor cursor;
  if (text.empty()) return cursor;
  std::vector<std::string> parts = absl::StrSplit(text, '/');
  if (parts.size() != 3 || !absl::SimpleAtoi(parts[0], &cursor.relevance) || parts[1].empty()) {
    return absl::InvalidArgumentError("page_token is not a token of this search");
  }
  cursor.province = std::move(parts[1]);
  cursor.item = std::move(parts[2]);
  return cursor;
}

std::vector<std::string> Names(const std::vector<v1::MissingProvince>& missing) {
  std::vector<std::string> out;
  for (const auto& m : missing) out.push_back(m.province_code());
  return out;
}

}  // namespace

QueryServiceImpl::QueryServiceImpl(NodeCaller caller, CatalogCache* cache,
                                   const DirectoryWatcher* directory, QueryOptions options)
    : caller_(caller), cache_(cache), directory_(directory), options_(options) {}

absl::Time QueryServiceImpl::NodeDeadline(absl::Time caller_deadline) const {
  // The caller's deadline minus the gateway's own budget; a generous cap
  // when the caller set none.
  return std::min(caller_deadline - options_.budget, absl::Now() + absl::Seconds(30));
}

absl::Time QueryServiceImpl::Deadline(const grpc::ServerContext& ctx) const {
  return NodeDeadline(absl::FromChrono(ctx.deadline()));
}

grpc::Status QueryServiceImpl::SearchFederation(grpc::ServerContext* ctx,
                                                const v1::SearchFederationRequest* req,
                                                v1::SearchFederationResponse* resp) {
  absl::StatusOr<Principal> who =
      VerifiedCaller(*ctx, CallerKinds::kOfficersAndNodes, Method("SearchFederation"));
  if (!who.ok()) return ToGrpcStatus(who.status());
  return Search(*req, Deadline(*ctx), resp);
}

grpc::Status QueryServiceImpl::Search(const v1::SearchFederationRequest& request,
                                      absl::Time deadline, v1::SearchFederationResponse* resp) {
  const v1::SearchFederationRequest* req = &request;
  absl::Status s = ValidateText("query", req->query(), 64, /*required=*/true);
  int limit = 0;
  if (s.ok()) s = ValidatePageSize("page_size", req->page_size(), &limit);
  std::vector<std::string> provinces(req->provinces().begin(), req->provinces().end());
  for (size_t i = 0; s.ok() && i < provinces.size(); ++i) {
    s = ValidateProvinceCode(absl::StrCat("provinces[", i, "]"), provinces[i]);
  }
  if (!s.ok()) return ToGrpcStatus(s);
  absl::StatusOr<SearchQuery> query =
      SearchQuery::Parse("query", req->query(), SynonymTable::Shipped());
  if (!query.ok()) return ToGrpcStatus(query.status());
  if (provinces.empty()) provinces = caller_.pool->Provinces();
  std::sort(provinces.begin(), provinces.end());
  const std::string list =
      absl::StrCat("ranked-fed-search:", query->normalized(), ":", absl::StrJoin(provinces, ","));
  absl::StatusOr<std::string> token = DecodePageToken("page_token", list, req->page_token());
  if (!token.ok()) return ToGrpcStatus(token.status());
  absl::StatusOr<SearchCursor> cursor = ParseSearchCursor(*token);
  if (!cursor.ok()) return ToGrpcStatus(cursor.status());

  // Matches are collected as pointers (into cached catalogs kept alive by
  // `cached`, or into `fetched`); only the returned page is copied. Cached
  // catalogs are scored here with the same rule and synonyms as a node's
  // SearchItems (item_search.h), so cached and live provinces merge alike.
  std::vector<SearchHit> found;
  std::vector<std::shared_ptr<const CatalogCache::Entry>> cached;
  std::vector<std::string> live;
  for (const std::string& p : provinces) {
    std::shared_ptr<const CatalogCache::Entry> entry =
        options_.use_cache ? cache_->Fresh(p) : nullptr;
    if (entry == nullptr) {
      live.push_back(p);
      continue;
    }
    for (size_t i = 0; i < entry->guides.size(); ++i) {
      const v1::Guide& g = entry->guides[i];
      if (g.status() != v1::ITEM_STATUS_ACTIVE) continue;
      int32_t relevance =
          query->ScoreNormalized(entry->name_zh_search[i], entry->name_en_search[i]);
      if (relevance > 0) found.push_back({&g, relevance});
    }
    cached.push_back(std::move(entry));
  }
  caller_.metrics->CacheServed(true, static_cast<int>(provinces.size() - live.size()));
  caller_.metrics->CacheServed(false, static_cast<int>(live.size()));
  std::vector<v1::MissingProvince> missing;
  std::vector<NodeResult<v1::SearchItemsResponse>> fetched;
  if (!live.empty()) {
    v1::SearchItemsRequest node_req;
    node_req.set_query(req->query());
    node_req.set_page_size(200);  // a province rarely has more matches than one page
    fetched = FanOut<v1::SearchItemsResponse>(
        caller_, live, kCatalog, "SearchItems", options_.node_deadline, deadline,
        [&](const NodeStubs& stubs, grpc::ClientContext* c, v1::SearchItemsResponse* r,
            std::function<void(grpc::Status)> done) {
          stubs.catalog->async()->SearchItems(c, &node_req, r, std::move(done));
        });
    for (const auto& r : fetched) {
      if (!r.status.ok()) {
        AddMissing(&missing, r.province, MissingReason(r.status));
        continue;
      }
      // A node older than ranked search sends no relevance: scored here.
      const bool scored = r.response.relevance_size() == r.response.guides_size();
      for (int i = 0; i < r.response.guides_size(); ++i) {
        const v1::Guide& g = r.response.guides(i);
        int32_t relevance =
            scored ? r.response.relevance(i) : query->Score(g.item().name_zh(), g.item().name_en());
        found.push_back({&g, std::max(relevance, 1)});
      }
    }
  }
  std::sort(found.begin(), found.end(),
            [](const SearchHit& a, const SearchHit& b) { return Before(KeyOf(a), KeyOf(b)); });
  // Stable order across pages: strictly after the cursor's (relevance, province, item).
  int added = 0;
  for (const SearchHit& hit : found) {
    if (!cursor->province.empty() && !Before(cursor->key(), KeyOf(hit))) continue;
    if (added == limit) {
      const v1::Guide& last = *resp->guides().rbegin();
      resp->set_next_page_token(
          EncodePageToken(list, absl::StrCat(*resp->relevance().rbegin(), "/", last.province_code(),
                                             "/", last.item().item_code())));
      break;
    }
    *resp->add_guides() = *hit.guide;
    resp->add_relevance(hit.relevance);
    ++added;
  }
  caller_.metrics->FanOut("SearchFederation", Names(missing));
  for (auto& m : missing) *resp->add_missing_provinces() = std::move(m);
  return grpc::Status::OK;
}

std::map<std::string, v1::Guide> QueryServiceImpl::GuidesOfItem(
    const std::string& item_code, absl::Time deadline, std::vector<v1::MissingProvince>* missing) {
  std::map<std::string, v1::Guide> out;
  std::vector<std::string> live;
  for (const std::string& p : caller_.pool->Provinces()) {
    std::shared_ptr<const CatalogCache::Entry> entry =
        options_.use_cache ? cache_->Fresh(p) : nullptr;
    if (entry == nullptr) {
      live.push_back(p);
      continue;
    }
    auto it = std::lower_bound(
        entry->guides.begin(), entry->guides.end(), item_code,
        [](const v1::Guide& g, const std::string& code) { return g.item().item_code() < code; });
    if (it != entry->guides.end() && it->item().item_code() == item_code) out[p] = *it;
  }
  if (live.empty()) return out;
  v1::GetGuideRequest node_req;
  node_req.set_item_code(item_code);
  auto results = FanOut<v1::GetGuideResponse>(
      caller_, live, kCatalog, "GetGuide", options_.node_deadline, deadline,
      [&](const NodeStubs& stubs, grpc::ClientContext* c, v1::GetGuideResponse* r,
          std::function<void(grpc::Status)> done) {
        stubs.catalog->async()->GetGuide(c, &node_req, r, std::move(done));
      });
  for (auto& r : results) {
    if (r.status.ok()) {
      out[r.province] = std::move(*r.response.mutable_guide());
    } else if (r.status.error_code() != grpc::StatusCode::NOT_FOUND) {
      AddMissing(missing, r.province, MissingReason(r.status));
    }
  }
  return out;
}

grpc::Status QueryServiceImpl::FindFilingOptions(grpc::ServerContext* ctx,
                                                 const v1::FindFilingOptionsRequest* req,
                                                 v1::FindFilingOptionsResponse* resp) {
  absl::StatusOr<Principal> who =
      VerifiedCaller(*ctx, CallerKinds::kOfficersAndNodes, Method("FindFilingOptions"));
  if (!who.ok()) return ToGrpcStatus(who.status());
  return FilingOptions(*req, Deadline(*ctx), resp);
}

grpc::Status QueryServiceImpl::FilingOptions(const v1::FindFilingOptionsRequest& request,
                                             absl::Time deadline,
                                             v1::FindFilingOptionsResponse* resp) {
  const v1::FindFilingOptionsRequest* req = &request;
  absl::Status s = ValidateItemCode("item_code", req->item_code());
  if (s.ok()) s = ValidateProvinceCode("accepting_province", req->accepting_province());
  if (!s.ok()) return ToGrpcStatus(s);
  std::vector<v1::MissingProvince> missing;
  std::map<std::string, v1::Guide> guides = GuidesOfItem(req->item_code(), deadline, &missing);
  std::shared_ptr<const v1::FederationDirectory> directory = directory_->Current();
  std::vector<v1::Alliance> alliances(directory->alliances().begin(), directory->alliances().end());
  for (auto& [province, guide] : guides) {
    if (!CheckFileableFrom(guide, req->accepting_province(), alliances).ok()) continue;
    v1::FilingOption* option = resp->add_options();
    option->set_handling_province(province);
    option->set_scope(guide.item().scope());
    option->set_alliance_id(guide.item().alliance_id());
    *option->mutable_guide() = std::move(guide);
  }
  caller_.metrics->FanOut("FindFilingOptions", Names(missing));
  for (auto& m : missing) *resp->add_missing_provinces() = std::move(m);
  return grpc::Status::OK;
}

grpc::Status QueryServiceImpl::CompareGuides(grpc::ServerContext* ctx,
                                             const v1::CompareGuidesRequest* req,
                                             v1::CompareGuidesResponse* resp) {
  absl::StatusOr<Principal> who =
      VerifiedCaller(*ctx, CallerKinds::kOfficersAndNodes, Method("CompareGuides"));
  if (!who.ok()) return ToGrpcStatus(who.status());
  absl::Status s = ValidateItemCode("item_code", req->item_code());
  if (!s.ok()) return ToGrpcStatus(s);
  std::vector<v1::MissingProvince> missing;
  std::map<std::string, v1::Guide> guides =
      GuidesOfItem(req->item_code(), Deadline(*ctx), &missing);
  caller_.metrics->FanOut("CompareGuides", Names(missing));
  if (guides.empty() && missing.empty()) {
    return grpc::Status(grpc::StatusCode::NOT_FOUND,
                        absl::StrCat("no province implements item ", req->item_code()));
  }
  // The baseline: materials every province in force asks for.
  std::set<std::string> common;
  bool first = true;
  for (const auto& [province, g] : guides) {
    if (g.status() != v1::ITEM_STATUS_ACTIVE) continue;
    std::set<std::string> ids;
    for (const auto& m : g.materials()) ids.insert(m.material_id());
    if (first) {
      common = ids;
      first = false;
    } else {
      std::set<std::string> both;
      std::set_intersection(common.begin(), common.end(), ids.begin(), ids.end(),
                            std::inserter(both, both.begin()));
      common.swap(both);
    }
  }
  int longest = 0;
  for (const auto& [province, g] : guides) {
    if (!resp->has_item()) *resp->mutable_item() = g.item();
    v1::GuideComparison* c = resp->add_provinces();
    c->set_province_code(province);
    c->set_guide_version(g.version());
    c->set_promised_time_limit_days(g.promised_time_limit_days());
    c->set_legal_time_limit_days(g.legal_time_limit_days());
    c->set_deficiency_acceptance(g.deficiency_acceptance());
    c->set_fee_fen(g.fee_fen());
    c->set_abolished(g.status() == v1::ITEM_STATUS_ABOLISHED);
    c->set_condition_count(g.conditions_zh_size());
    if (c->abolished()) continue;
    for (const auto& m : g.materials()) {
      if (common.count(m.material_id()) == 0) *c->add_extra_materials() = m;
    }
    if (c->extra_materials_size() > 0) resp->add_provinces_with_extra_materials(province);
    if (!g.deficiency_acceptance()) resp->add_provinces_refusing_deficiency(province);
    longest = std::max(longest, g.promised_time_limit_days());
  }
  resp->set_longest_promised_days(longest);
  for (const auto& c : resp->provinces()) {
    if (!c.abolished() && c.promised_time_limit_days() == longest) {
      resp->add_provinces_with_longest_promise(c.province_code());
    }
  }
  for (auto& m : missing) *resp->add_missing_provinces() = std::move(m);
  return grpc::Status::OK;
}

grpc::Status QueryServiceImpl::GetProvinceGuide(grpc::ServerContext* ctx,
                                                const v1::GetProvinceGuideRequest* req,
                                                v1::GetProvinceGuideResponse* resp) {
  absl::StatusOr<Principal> who =
      VerifiedCaller(*ctx, CallerKinds::kOfficersAndNodes, Method("GetProvinceGuide"));
  if (!who.ok()) return ToGrpcStatus(who.status());
  return ProvinceGuide(*req, Deadline(*ctx), resp);
}

grpc::Status QueryServiceImpl::ProvinceGuide(const v1::GetProvinceGuideRequest& request,
                                             absl::Time deadline,
                                             v1::GetProvinceGuideResponse* resp) {
  const v1::GetProvinceGuideRequest* req = &request;
  absl::Status s = ValidateProvinceCode("province_code", req->province_code());
  if (s.ok()) s = ValidateItemCode("item_code", req->item_code());
  if (!s.ok()) return ToGrpcStatus(s);
  v1::GetGuideRequest node_req;
  node_req.set_item_code(req->item_code());
  v1::GetGuideResponse node_resp;
  grpc::Status status = CallNode(
      caller_, req->province_code(), kCatalog, "GetGuide", deadline,
      [&](const NodeStubs& stubs, grpc::ClientContext* c, v1::GetGuideResponse* r) {
        return stubs.catalog->GetGuide(c, node_req, r);
      },
      &node_resp);
  if (status.ok()) *resp->mutable_guide() = std::move(*node_resp.mutable_guide());
  return status;
}

grpc::Status QueryServiceImpl::GetRoutedApplication(grpc::ServerContext* ctx,
                                                    const v1::GetRoutedApplicationRequest* req,
                                                    v1::GetRoutedApplicationResponse* resp) {
  absl::StatusOr<Principal> who =
      VerifiedCaller(*ctx, CallerKinds::kOfficersAndNodes, Method("GetRoutedApplication"));
  if (!who.ok()) return ToGrpcStatus(who.status());
  absl::StatusOr<ApplicationIdParts> id = ParseApplicationId(req->application_id());
  if (!id.ok()) return ToGrpcStatus(id.status());
  v1::GetApplicationRequest node_req;
  node_req.set_application_id(req->application_id());
  // The handling province is authoritative; the accepting one has the same
  // history once events flowed back, so it answers when the handler cannot.
  std::vector<std::string> order = {id->handling_province};
  if (id->accepting_province != id->handling_province) order.push_back(id->accepting_province);
  grpc::Status status;
  for (const std::string& province : order) {
    v1::GetApplicationResponse node_resp;
    status = CallNode(
        caller_, province, kApplications, "GetApplication", Deadline(*ctx),
        [&](const NodeStubs& stubs, grpc::ClientContext* c, v1::GetApplicationResponse* r) {
          return stubs.applications->GetApplication(c, node_req, r);
        },
        &node_resp,
        [&](grpc::ClientContext* c) { c->AddMetadata(kOriginMetadata, who->province); });
    if (status.ok()) {
      *resp->mutable_application() = std::move(*node_resp.mutable_application());
      resp->set_answered_by(province);
      return status;
    }
    // NOT_FOUND at the handling node may mean "not delivered yet": ask the accepting node too.
    if (status.error_code() != grpc::StatusCode::UNAVAILABLE &&
        status.error_code() != grpc::StatusCode::DEADLINE_EXCEEDED &&
        status.error_code() != grpc::StatusCode::NOT_FOUND) {
      return status;
    }
  }
  return status;
}

grpc::Status QueryServiceImpl::GetFederationStatus(grpc::ServerContext* ctx,
                                                   const v1::GetFederationStatusRequest*,
                                                   v1::GetFederationStatusResponse* resp) {
  absl::StatusOr<Principal> who =
      VerifiedCaller(*ctx, CallerKinds::kOfficersAndNodes, Method("GetFederationStatus"));
  if (!who.ok()) return ToGrpcStatus(who.status());
  for (v1::NodeStatus& s : caller_.pool->Status()) {
    s.set_catalog_version(cache_->Version(s.province_code()));
    *resp->add_nodes() = std::move(s);
  }
  return grpc::Status::OK;
}

}  // namespace tongban::gateway
