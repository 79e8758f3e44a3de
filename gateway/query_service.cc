#include "query_service.h"

#include <algorithm>
#include <set>

#include "absl/strings/numbers.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/notification.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/wire_format_lite.h"
#include "application_id.h"
#include "caller_identity.h"
#include "filing_policy.h"
#include "forwarded_call.h"
#include "grpc_server_metrics.h"
#include "grpc_status.h"
#include "input_validation.h"
#include "item_search.h"
#include "licence_types.h"
#include "page_token.h"
#include "province_registry.h"
#include "rating_counts.h"
#include "resident_id.h"
#include "wire_route_key.h"

namespace tongban::gateway {
namespace {

constexpr char kCatalog[] = "tongban.v1.CatalogService";
constexpr char kApplications[] = "tongban.v1.ApplicationService";

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
  // The guide serialized, when the catalog cache keeps it so (else nullptr).
  const std::string* bytes = nullptr;
};

// A page's guides as SearchFederationResponse field 1, each one's bytes as
// the cache keeps them (a guide from a live node serialized now), so that a
// page of cached guides is neither copied nor re-encoded.
void AppendGuideFields(const std::vector<const SearchHit*>& page, std::string* out) {
  using google::protobuf::internal::WireFormatLite;
  using google::protobuf::io::CodedOutputStream;
  for (const SearchHit* hit : page) {
    std::string live;
    const std::string* bytes = hit->bytes;
    if (bytes == nullptr) {
      live = hit->guide->SerializeAsString();
      bytes = &live;
    }
    uint8_t header[2 * 5];
    uint8_t* end = CodedOutputStream::WriteTagToArray(
        WireFormatLite::MakeTag(v1::SearchFederationResponse::kGuidesFieldNumber,
                                WireFormatLite::WIRETYPE_LENGTH_DELIMITED),
        header);
    end = CodedOutputStream::WriteVarint32ToArray(static_cast<uint32_t>(bytes->size()), end);
    out->append(reinterpret_cast<const char*>(header), end - header);
    out->append(*bytes);
  }
}

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

absl::Time QueryServiceImpl::Deadline(const grpc::ServerContextBase& ctx) const {
  return NodeDeadline(absl::FromChrono(ctx.deadline()));
}

grpc::ServerUnaryReactor* QueryServiceImpl::SearchFederation(grpc::CallbackServerContext* ctx,
                                                             const grpc::ByteBuffer* request,
                                                             grpc::ByteBuffer* response) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  absl::StatusOr<Principal> who =
      VerifiedCaller(*ctx, CallerKinds::kOfficersAndNodes, Method("SearchFederation"));
  if (!who.ok()) {
    reactor->Finish(ToGrpcStatus(who.status()));
    return reactor;
  }
  v1::SearchFederationRequest req;
  grpc::ByteBuffer bytes(*request);  // shares the slices; parsing consumes the copy
  if (!grpc::SerializationTraits<v1::SearchFederationRequest>::Deserialize(&bytes, &req).ok()) {
    reactor->Finish(UnparsedRequestStatus(Method("SearchFederation").c_str()));
    return reactor;
  }
  // Answered as bytes: cached guides go out as the cache keeps them.
  StartSearch(req, Deadline(*ctx), SearchOutput{nullptr, response},
              [reactor](grpc::Status s) { reactor->Finish(s); });
  return reactor;
}

grpc::Status QueryServiceImpl::Search(const v1::SearchFederationRequest& req, absl::Time deadline,
                                      v1::SearchFederationResponse* resp) {
  grpc::Status status;
  absl::Notification finished;
  SearchAsync(req, deadline, resp, [&](grpc::Status s) {
    status = std::move(s);
    finished.Notify();
  });
  finished.WaitForNotification();
  return status;
}

// One search between its start and its answer: what the cached provinces
// found, and what the live fan-out must add.
struct QueryServiceImpl::SearchInProgress {
  explicit SearchInProgress(SearchQuery q) : query(std::move(q)) {}
  SearchQuery query;
  SearchCursor cursor;
  std::string list;  // what the page token is bound to
  int limit = 0;
  // Matches, as pointers into `cached` entries or `fetched` responses; only
  // the returned page is copied.
  std::vector<SearchHit> found;
  std::vector<std::shared_ptr<const CatalogCache::Entry>> cached;
  std::vector<NodeResult<v1::SearchItemsResponse>> fetched;
  std::vector<v1::StaleProvince> stale;
  SearchOutput out;
  std::function<void(grpc::Status)> done;
};

void QueryServiceImpl::SearchAsync(const v1::SearchFederationRequest& req, absl::Time deadline,
                                   v1::SearchFederationResponse* resp,
                                   std::function<void(grpc::Status)> done) {
  StartSearch(req, deadline, SearchOutput{resp, nullptr}, std::move(done));
}

void QueryServiceImpl::StartSearch(const v1::SearchFederationRequest& req, absl::Time deadline,
                                   SearchOutput out, std::function<void(grpc::Status)> done) {
  absl::Status s = ValidateText("query", req.query(), 64, /*required=*/true);
  int limit = 0;
  if (s.ok()) s = ValidatePageSize("page_size", req.page_size(), &limit);
  std::vector<std::string> provinces(req.provinces().begin(), req.provinces().end());
  for (size_t i = 0; s.ok() && i < provinces.size(); ++i) {
    s = ValidateProvinceCode(absl::StrCat("provinces[", i, "]"), provinces[i]);
  }
  if (!s.ok()) return done(ToGrpcStatus(s));
  absl::StatusOr<SearchQuery> query =
      SearchQuery::Parse("query", req.query(), SynonymTable::Shipped());
  if (!query.ok()) return done(ToGrpcStatus(query.status()));
  if (provinces.empty()) provinces = caller_.pool->Provinces();
  std::sort(provinces.begin(), provinces.end());
  const std::string list =
      absl::StrCat("ranked-fed-search:", query->normalized(), ":", absl::StrJoin(provinces, ","));
  absl::StatusOr<std::string> token = DecodePageToken("page_token", list, req.page_token());
  if (!token.ok()) return done(ToGrpcStatus(token.status()));
  absl::StatusOr<SearchCursor> cursor = ParseSearchCursor(*token);
  if (!cursor.ok()) return done(ToGrpcStatus(cursor.status()));

  auto search = std::make_shared<SearchInProgress>(*std::move(query));
  search->cursor = *std::move(cursor);
  search->list = list;
  search->limit = limit;
  search->out = out;
  search->done = std::move(done);
  // Cached catalogs are scored here with the same rule and synonyms as a
  // node's SearchItems (item_search.h), so cached and live provinces merge
  // alike. A stale copy answers too, named in the response: a node that
  // stopped answering would otherwise hold the search for the per-node
  // deadline (or drop out of it).
  std::vector<std::string> live;
  for (const std::string& p : provinces) {
    CatalogCache::Copy copy = options_.use_cache ? cache_->Usable(p) : CatalogCache::Copy{};
    if (copy.entry == nullptr) {
      live.push_back(p);
      continue;
    }
    const CatalogCache::Entry& entry = *copy.entry;
    for (size_t i = 0; i < entry.guides.size(); ++i) {
      // Names first: most fail on their byte pairs without touching the guide.
      int32_t relevance =
          search->query.ScoreNormalized(entry.name_zh_search[i], entry.name_en_search[i]);
      if (relevance == 0) continue;
      const v1::Guide& g = entry.guides[i];
      if (g.status() == v1::ITEM_STATUS_ACTIVE) {
        search->found.push_back({&g, relevance, &entry.guide_bytes[i]});
      }
    }
    if (!copy.fresh) {
      v1::StaleProvince& stale = search->stale.emplace_back();
      stale.set_province_code(p);
      stale.set_catalog_version(entry.version);
      stale.set_confirmed_unix_seconds(absl::ToUnixSeconds(copy.confirmed_at));
    }
    search->cached.push_back(std::move(copy.entry));
  }
  const int stale = static_cast<int>(search->stale.size());
  caller_.metrics->CacheServed("hit", static_cast<int>(provinces.size() - live.size()) - stale);
  caller_.metrics->CacheServed("stale", stale);
  caller_.metrics->CacheServed("miss", static_cast<int>(live.size()));
  if (live.empty()) return FinishSearch(search);

  auto node_req = std::make_shared<v1::SearchItemsRequest>();
  node_req->set_query(req.query());
  node_req->set_page_size(200);  // a province rarely has more matches than one page
  FanOutAsync<v1::SearchItemsResponse>(
      caller_, live, kCatalog, "SearchItems", options_.node_deadline, deadline,
      [node_req](const NodeStubs& stubs, grpc::ClientContext* c, v1::SearchItemsResponse* r,
                 std::function<void(grpc::Status)> finished) {
        stubs.catalog->async()->SearchItems(c, node_req.get(), r, std::move(finished));
      },
      [this, search](std::vector<NodeResult<v1::SearchItemsResponse>> results) {
        search->fetched = std::move(results);
        FinishSearch(search);
      });
}

void QueryServiceImpl::FinishSearch(const std::shared_ptr<SearchInProgress>& search) {
  std::vector<v1::MissingProvince> missing;
  for (const auto& r : search->fetched) {
    if (!r.status.ok()) {
      AddMissing(&missing, r.province, MissingReason(r.status));
      continue;
    }
    // A node older than ranked search sends no relevance: scored here.
    const bool scored = r.response.relevance_size() == r.response.guides_size();
    for (int i = 0; i < r.response.guides_size(); ++i) {
      const v1::Guide& g = r.response.guides(i);
      int32_t relevance = scored ? r.response.relevance(i)
                                 : search->query.Score(g.item().name_zh(), g.item().name_en());
      search->found.push_back({&g, std::max(relevance, 1)});
    }
  }
  std::vector<SearchHit>& found = search->found;
  std::sort(found.begin(), found.end(),
            [](const SearchHit& a, const SearchHit& b) { return Before(KeyOf(a), KeyOf(b)); });
  // Stable order across pages: strictly after the cursor's (relevance, province, item).
  v1::SearchFederationResponse rest;  // all but the guides, for a bytes answer
  v1::SearchFederationResponse* resp = search->out.message ? search->out.message : &rest;
  const SearchCursor& cursor = search->cursor;
  std::vector<const SearchHit*> page;
  for (const SearchHit& hit : found) {
    if (!cursor.province.empty() && !Before(cursor.key(), KeyOf(hit))) continue;
    if (static_cast<int>(page.size()) == search->limit) {
      const SearchHit& last = *page.back();
      resp->set_next_page_token(EncodePageToken(
          search->list, absl::StrCat(last.relevance, "/", last.guide->province_code(), "/",
                                     last.guide->item().item_code())));
      break;
    }
    page.push_back(&hit);
    resp->add_relevance(hit.relevance);
  }
  caller_.metrics->FanOut("SearchFederation", Names(missing));
  for (auto& m : missing) *resp->add_missing_provinces() = std::move(m);
  for (auto& st : search->stale) *resp->add_stale_provinces() = std::move(st);
  if (search->out.message != nullptr) {
    for (const SearchHit* hit : page) *resp->add_guides() = *hit->guide;
  } else {
    // Fields may come in any order on the wire; guides keep theirs, so
    // relevance[i] still belongs to guides[i].
    std::string wire;
    AppendGuideFields(page, &wire);
    rest.AppendToString(&wire);
    grpc::Slice slice(wire);
    *search->out.bytes = grpc::ByteBuffer(&slice, 1);
  }
  // The last reference may be the fan-out's; `done` may end the call.
  std::function<void(grpc::Status)> done = std::move(search->done);
  done(grpc::Status::OK);
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

grpc::ServerUnaryReactor* QueryServiceImpl::GetProvinceGuide(grpc::CallbackServerContext* ctx,
                                                             const grpc::ByteBuffer* request,
                                                             grpc::ByteBuffer* response) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  const auto refuse = [reactor](const absl::Status& s) {
    reactor->Finish(ToGrpcStatus(s));
    return reactor;
  };
  absl::StatusOr<Principal> who =
      VerifiedCaller(*ctx, CallerKinds::kOfficersAndNodes, Method("GetProvinceGuide"));
  if (!who.ok()) return refuse(who.status());
  absl::StatusOr<std::string> bytes = FlattenByteBuffer(*request);
  if (!bytes.ok()) return refuse(bytes.status());
  // GetProvinceGuideRequest: province_code = 1, item_code = 2.
  absl::StatusOr<std::string> province = ReadStringField(*bytes, {1});
  absl::StatusOr<std::string> item = ReadStringField(*bytes, {2});
  if (!province.ok() || !item.ok()) {
    reactor->Finish(UnparsedRequestStatus(Method("GetProvinceGuide").c_str()));
    return reactor;
  }
  absl::Status s = ValidateProvinceCode("province_code", *province);
  if (s.ok()) s = ValidateItemCode("item_code", *item);
  if (!s.ok()) return refuse(s);
  // The node's GetGuideResponse and our GetProvinceGuideResponse both hold
  // the guide as field 1: the node's bytes are the answer.
  v1::GetGuideRequest node_req;
  node_req.set_item_code(*item);
  grpc::Slice slice(node_req.SerializeAsString());
  auto node_bytes = std::make_shared<grpc::ByteBuffer>(&slice, 1);
  ForwardUnary(caller_, ctx, {*province, kCatalog, "GetGuide", Deadline(*ctx), {}},
               node_bytes.get(), response,
               [reactor, node_bytes](grpc::Status status) { reactor->Finish(status); });
  return reactor;
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

grpc::Status QueryServiceImpl::FindLicenceEvidence(grpc::ServerContext* ctx,
                                                   const v1::FindLicenceEvidenceRequest* req,
                                                   v1::FindLicenceEvidenceResponse* resp) {
  absl::StatusOr<Principal> who =
      VerifiedCaller(*ctx, CallerKinds::kOfficersAndNodes, Method("FindLicenceEvidence"));
  if (!who.ok()) return ToGrpcStatus(who.status());
  return LicenceEvidence(*req, Deadline(*ctx), resp);
}

grpc::Status QueryServiceImpl::LicenceEvidence(const v1::FindLicenceEvidenceRequest& req,
                                               absl::Time deadline,
                                               v1::FindLicenceEvidenceResponse* resp) {
  absl::Status s = ValidateProvinceCode("province_code", req.province_code());
  if (s.ok()) s = ValidateItemCode("item_code", req.item_code());
  if (!s.ok()) return ToGrpcStatus(s);
  // A person's registration province: the first two digits of the resident
  // identity number (its address code, GB/T 2260) when they name a province.
  std::string registered_in;
  if (!req.holder_id().empty()) {
    if (ValidateResidentId("holder_id", req.holder_id()).ok()) {
      const std::string province = req.holder_id().substr(0, 2) + "0000";
      if (FindProvince(province) != nullptr) registered_in = province;
    } else if (!ValidateCreditCode("holder_id", req.holder_id()).ok()) {
      // The value is personal data: not repeated in the answer.
      return ToGrpcStatus(absl::InvalidArgumentError(
          "holder_id must be a resident identity number (GB 11643) or a unified social credit "
          "code (GB 32100): 18 characters with a valid check character, or empty"));
    }
  }
  v1::GetProvinceGuideRequest guide_req;
  guide_req.set_province_code(req.province_code());
  guide_req.set_item_code(req.item_code());
  v1::GetProvinceGuideResponse guide_resp;
  grpc::Status status = ProvinceGuide(guide_req, deadline, &guide_resp);
  if (!status.ok()) return status;
  const v1::Guide& guide = guide_resp.guide();
  resp->set_province_code(req.province_code());
  resp->set_item_code(req.item_code());
  resp->set_guide_version(guide.version());
  const LicenceTypeList& types = LicenceTypeList::National();
  for (const v1::MaterialRequirement& m : guide.materials()) {
    if (m.licence_types().empty()) continue;
    v1::MaterialLicenceEvidence* evidence = resp->add_materials();
    evidence->set_material_id(m.material_id());
    evidence->set_name_zh(m.name_zh());
    evidence->set_key(m.key());
    for (const std::string& code : m.licence_types()) {
      v1::AcceptableLicence* licence = evidence->add_licences();
      if (const v1::LicenceType* type = types.Find(code); type != nullptr) {
        *licence->mutable_type() = *type;
      } else {
        licence->mutable_type()->set_type_code(code);  // a newer release's type
      }
      if (licence->type().holder_kind() == v1::HOLDER_KIND_PERSON) {
        licence->set_suggested_issuing_province(registered_in);
      }
    }
  }
  return grpc::Status::OK;
}

// A routed application read between its start and its answer.
struct QueryServiceImpl::RoutedRead {
  grpc::CallbackServerContext* ctx;
  grpc::ServerUnaryReactor* reactor;
  const grpc::ByteBuffer* request;
  grpc::ByteBuffer* response;
  std::string origin;  // the verified caller's province
  absl::Time deadline;
  // The provinces to ask, in order, and the next one's index.
  std::vector<std::string> order;
  size_t next = 0;
};

grpc::ServerUnaryReactor* QueryServiceImpl::GetRoutedApplication(grpc::CallbackServerContext* ctx,
                                                                 const grpc::ByteBuffer* request,
                                                                 grpc::ByteBuffer* response) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  const auto refuse = [reactor](const absl::Status& s) {
    reactor->Finish(ToGrpcStatus(s));
    return reactor;
  };
  absl::StatusOr<Principal> who =
      VerifiedCaller(*ctx, CallerKinds::kOfficersAndNodes, Method("GetRoutedApplication"));
  if (!who.ok()) return refuse(who.status());
  absl::StatusOr<std::string> bytes = FlattenByteBuffer(*request);
  if (!bytes.ok()) return refuse(bytes.status());
  // GetRoutedApplicationRequest and the node's GetApplicationRequest are the
  // same message (application_id = 1): the request's bytes go to the node.
  absl::StatusOr<std::string> application_id = ReadStringField(*bytes, {1});
  if (!application_id.ok()) {
    reactor->Finish(UnparsedRequestStatus(Method("GetRoutedApplication").c_str()));
    return reactor;
  }
  absl::StatusOr<ApplicationIdParts> id = ParseApplicationId(*application_id);
  if (!id.ok()) return refuse(id.status());
  auto read = std::make_shared<RoutedRead>(
      RoutedRead{ctx, reactor, request, response, who->province, Deadline(*ctx), {}});
  // The handling province is authoritative; the accepting one has the same
  // history once events flowed back, so it answers when the handler cannot.
  read->order.push_back(id->handling_province);
  if (id->accepting_province != id->handling_province) {
    read->order.push_back(id->accepting_province);
  }
  AskNextProvince(std::move(read));
  return reactor;
}

void QueryServiceImpl::AskNextProvince(std::shared_ptr<RoutedRead> read) {
  const std::string province = read->order[read->next++];
  ForwardUnary(
      caller_, read->ctx,
      {province, kApplications, "GetApplication", read->deadline, {{kOriginMetadata, read->origin}}},
      read->request, read->response, [this, read, province](grpc::Status status) {
        if (status.ok()) {
          // GetApplicationResponse holds the application as field 1, as
          // GetRoutedApplicationResponse does; answered_by (2) is appended.
          *read->response = AppendStringField(*read->response, 2, province);
          read->reactor->Finish(status);
          return;
        }
        // NOT_FOUND at the handling node may mean "not delivered yet": ask
        // the accepting node too.
        const bool retry = status.error_code() == grpc::StatusCode::UNAVAILABLE ||
                           status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED ||
                           status.error_code() == grpc::StatusCode::NOT_FOUND;
        if (retry && read->next < read->order.size()) {
          read->response->Clear();
          AskNextProvince(read);
          return;
        }
        read->reactor->Finish(status);
      });
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

grpc::Status QueryServiceImpl::GetSatisfactionStats(grpc::ServerContext* ctx,
                                                    const v1::GetSatisfactionStatsRequest* req,
                                                    v1::GetSatisfactionStatsResponse* resp) {
  absl::StatusOr<Principal> who =
      VerifiedCaller(*ctx, CallerKinds::kOfficersAndNodes, Method("GetSatisfactionStats"));
  if (!who.ok()) return ToGrpcStatus(who.status());
  const auto before = [](const google::protobuf::Timestamp& a,
                         const google::protobuf::Timestamp& b) {
    return a.seconds() < b.seconds() || (a.seconds() == b.seconds() && a.nanos() < b.nanos());
  };
  if (!req->has_from() || !req->has_to() || !before(req->from(), req->to())) {
    return ToGrpcStatus(
        absl::InvalidArgumentError("from and to are required, with from before to"));
  }
  absl::Status s = absl::OkStatus();
  if (!req->item_code().empty()) s = ValidateItemCode("item_code", req->item_code());
  std::vector<std::string> provinces(req->provinces().begin(), req->provinces().end());
  for (size_t i = 0; s.ok() && i < provinces.size(); ++i) {
    s = ValidateProvinceCode(absl::StrCat("provinces[", i, "]"), provinces[i]);
  }
  if (!s.ok()) return ToGrpcStatus(s);
  if (provinces.empty()) provinces = caller_.pool->Provinces();
  std::sort(provinces.begin(), provinces.end());
  provinces.erase(std::unique(provinces.begin(), provinces.end()), provinces.end());
  v1::GetRatingStatsRequest node_req;
  *node_req.mutable_from() = req->from();
  *node_req.mutable_to() = req->to();
  node_req.set_item_code(req->item_code());
  // A node scans its finished applications for this report: allow it more
  // than a catalog read, within the caller's deadline.
  const absl::Duration per_node = std::max(options_.node_deadline, absl::Seconds(10));
  auto results = FanOut<v1::GetRatingStatsResponse>(
      caller_, provinces, kApplications, "GetRatingStats", per_node, Deadline(*ctx),
      [&](const NodeStubs& stubs, grpc::ClientContext* c, v1::GetRatingStatsResponse* r,
          std::function<void(grpc::Status)> done) {
        stubs.applications->async()->GetRatingStats(c, &node_req, r, std::move(done));
      });
  std::vector<v1::MissingProvince> missing;
  std::map<std::string, v1::RatingCounts> items;
  v1::RatingCounts total;
  for (auto& r : results) {
    // The first node error (e.g. INVALID_ARGUMENT for the period) is the caller's.
    if (r.status.error_code() == grpc::StatusCode::INVALID_ARGUMENT) return r.status;
    if (!r.status.ok()) {
      AddMissing(&missing, r.province, MissingReason(r.status));
      continue;
    }
    v1::ProvinceSatisfactionStats* p = resp->add_provinces();
    p->set_province_code(r.province);
    *p->mutable_total() = r.response.total();
    FinishRatingCounts(p->mutable_total());
    AddRatingCounts(r.response.total(), &total);
    for (const v1::ItemRatingStats& item : r.response.items()) {
      *p->add_items() = item;
      AddRatingCounts(item.counts(), &items[item.item_code()]);
    }
  }
  FinishRatingCounts(&total);
  *resp->mutable_total() = std::move(total);
  for (auto& [code, counts] : items) {
    v1::ItemRatingStats* item = resp->add_items();
    item->set_item_code(code);
    *item->mutable_counts() = std::move(counts);
  }
  caller_.metrics->FanOut("GetSatisfactionStats", Names(missing));
  for (auto& m : missing) *resp->add_missing_provinces() = std::move(m);
  return grpc::Status::OK;
}

}  // namespace tongban::gateway
