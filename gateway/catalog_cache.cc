#include "catalog_cache.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "item_search.h"

namespace tongban::gateway {

CatalogCache::CatalogCache(NodeCaller caller, const Clock* clock, EventLog* log,
                           absl::Duration refresh, absl::Duration node_deadline,
                           absl::Duration serve_stale)
    : caller_(caller),
      clock_(clock),
      log_(log),
      refresh_(refresh),
      node_deadline_(node_deadline),
      serve_stale_(serve_stale) {}

CatalogCache::~CatalogCache() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (refresher_.joinable()) refresher_.join();
}

void CatalogCache::Start() {
  refresher_ = std::thread([this] {
    for (;;) {
      RefreshAll();
      absl::MutexLock lock(&mu_);
      auto stopping = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return stopping_; };
      mu_.AwaitWithTimeout(absl::Condition(&stopping), refresh_);
      if (stopping_) return;
    }
  });
}

std::shared_ptr<const CatalogCache::Entry> CatalogCache::Fresh(const std::string& province) const {
  Copy copy = Usable(province);
  return copy.fresh ? std::move(copy.entry) : nullptr;
}

CatalogCache::Copy CatalogCache::Usable(const std::string& province) const {
  absl::MutexLock lock(&mu_);
  auto it = entries_.find(province);
  auto confirmed = confirmed_at_.find(province);
  if (it == entries_.end() || confirmed == confirmed_at_.end()) return {};
  const absl::Duration age = clock_->Now() - confirmed->second;
  if (age > serve_stale_) return {};
  return {it->second, age <= 3 * refresh_, confirmed->second};
}

int64_t CatalogCache::Version(const std::string& province) const {
  absl::MutexLock lock(&mu_);
  auto it = entries_.find(province);
  return it == entries_.end() ? 0 : it->second->version;
}

void CatalogCache::RefreshAll() {
  std::vector<std::string> provinces = caller_.pool->Provinces();
  {
    // A province that left the directory is not served from its old copy.
    absl::MutexLock lock(&mu_);
    for (auto it = entries_.begin(); it != entries_.end();) {
      if (std::binary_search(provinces.begin(), provinces.end(), it->first)) {
        ++it;
        continue;
      }
      confirmed_at_.erase(it->first);
      it = entries_.erase(it);
    }
  }
  v1::GetCatalogInfoRequest request;
  auto results = FanOut<v1::GetCatalogInfoResponse>(
      caller_, provinces, "tongban.v1.CatalogService", "GetCatalogInfo", node_deadline_,
      absl::Now() + node_deadline_,
      [&](const NodeStubs& stubs, grpc::ClientContext* ctx, v1::GetCatalogInfoResponse* resp,
          std::function<void(grpc::Status)> done) {
        stubs.catalog->async()->GetCatalogInfo(ctx, &request, resp, std::move(done));
      });
  for (const auto& r : results) {
    if (!r.status.ok()) continue;  // stays until it is no longer fresh
    {
      absl::MutexLock lock(&mu_);
      auto it = entries_.find(r.province);
      if (it != entries_.end() && it->second->version == r.response.catalog_version()) {
        confirmed_at_[r.province] = clock_->Now();
        continue;
      }
    }
    absl::Status s = Reload(r.province, r.response.catalog_version());
    if (!s.ok()) {
      log_->Warn("catalog_cache.reload_failed", {{"province", r.province}, {"error", s.message()}});
    }
  }
}

absl::Status CatalogCache::Reload(const std::string& province, int64_t version) {
  auto entry = std::make_shared<Entry>();
  entry->version = version;
  std::string token;
  do {
    v1::ListItemsRequest req;
    req.set_include_abolished(true);
    req.set_page_size(200);
    req.set_page_token(token);
    v1::ListItemsResponse resp;
    grpc::Status s = CallNode(
        caller_, province, "tongban.v1.CatalogService", "ListItems", absl::Now() + node_deadline_,
        [&](const NodeStubs& stubs, grpc::ClientContext* ctx, v1::ListItemsResponse* out) {
          return stubs.catalog->ListItems(ctx, req, out);
        },
        &resp);
    if (!s.ok()) return absl::UnavailableError(s.error_message());
    for (auto& g : *resp.mutable_guides()) entry->guides.push_back(std::move(g));
    token = resp.next_page_token();
  } while (!token.empty());
  for (const v1::Guide& g : entry->guides) {
    entry->name_zh_search.emplace_back(g.item().name_zh());
    entry->name_en_search.emplace_back(g.item().name_en());
    entry->guide_bytes.push_back(g.SerializeAsString());
  }
  log_->Info("catalog_cache.loaded", {{"province", province},
                                      {"version", absl::StrCat(version)},
                                      {"guides", absl::StrCat(entry->guides.size())}});
  absl::MutexLock lock(&mu_);
  entries_[province] = std::move(entry);
  confirmed_at_[province] = clock_->Now();
  return absl::OkStatus();
}

}  // namespace tongban::gateway
