#include "guide_resolver.h"

#include "absl/strings/str_cat.h"

namespace tongban::node {

GuideResolver::GuideResolver(std::string own_province, CatalogStore* store,
                             FederationClient* remote, const Clock* clock,
                             absl::Duration revalidate_after)
    : own_province_(std::move(own_province)),
      store_(store),
      remote_(remote),
      clock_(clock),
      revalidate_after_(revalidate_after) {}

GuideResolver::GuidePtr GuideResolver::Remember(const std::string& province,
                                                const std::string& item_code, v1::Guide guide) {
  auto ptr = std::make_shared<const v1::Guide>(std::move(guide));
  absl::MutexLock lock(&mu_);
  memory_[{province, item_code}] = ptr;
  remembered_at_[{province, item_code}] = clock_->Now();
  return ptr;
}

void GuideResolver::Invalidate(const std::string& province, const std::string& item_code) {
  absl::MutexLock lock(&mu_);
  memory_.erase({province, item_code});
}

GuideResolver::GuidePtr GuideResolver::InMemory(const std::string& province,
                                                const std::string& item_code) {
  const bool authoritative = province == own_province_ || remote_ == nullptr;
  absl::MutexLock lock(&mu_);
  auto it = memory_.find({province, item_code});
  if (it == memory_.end()) return nullptr;
  auto checked = checked_at_.find({province, item_code});
  const bool own_fresh = own_guide_ttl_ == absl::InfiniteDuration() ||
                         clock_->Now() - remembered_at_[{province, item_code}] < own_guide_ttl_;
  if ((authoritative && own_fresh) ||
      (!authoritative && checked != checked_at_.end() &&
       clock_->Now() - checked->second < revalidate_after_)) {
    return it->second;
  }
  return nullptr;
}

absl::StatusOr<GuideResolver::GuidePtr> GuideResolver::Resolve(const std::string& province,
                                                               const std::string& item_code) {
  if (GuidePtr kept = InMemory(province, item_code)) return kept;
  const bool authoritative = province == own_province_ || remote_ == nullptr;
  absl::StatusOr<v1::Guide> cached = store_->GetGuide(province, item_code);
  if (authoritative) {
    if (absl::IsNotFound(cached.status())) {
      return absl::NotFoundError(absl::StrCat("province ", province, " does not implement item ",
                                              item_code, " (no guide in its catalog)"));
    }
    if (!cached.ok()) return cached.status();
    return Remember(province, item_code, std::move(*cached));
  }
  if (!cached.ok() && !absl::IsNotFound(cached.status())) return cached.status();
  return Revalidate(province, item_code, std::move(cached));
}

absl::StatusOr<GuideResolver::GuidePtr> GuideResolver::Revalidate(
    const std::string& province, const std::string& item_code, absl::StatusOr<v1::Guide> cached) {
  v1::FetchGuideRequest request;
  request.set_province_code(province);
  request.set_item_code(item_code);
  if (cached.ok()) request.set_cached_version(cached->version());
  absl::StatusOr<v1::FetchGuideResponse> fetched = remote_->FetchGuide(request);
  if (!fetched.ok()) {
    if (absl::IsNotFound(fetched.status())) {
      return absl::NotFoundError(absl::StrCat("province ", province, " does not implement item ",
                                              item_code, ": ", fetched.status().message()));
    }
    // The gateway or the handling node is unreachable: a cached guide is
    // better than refusing the applicant at the window.
    if (cached.ok()) return std::make_shared<const v1::Guide>(std::move(*cached));
    return absl::UnavailableError(absl::StrCat("the guide of item ", item_code, " at province ",
                                               province, " is not cached here and could not be "
                                               "fetched through the gateway: ",
                                               fetched.status().message()));
  }
  v1::Guide guide;
  if (fetched->not_modified() && cached.ok()) {
    guide = std::move(*cached);
  } else {
    guide = fetched->guide();
    absl::Status put = store_->PutGuides({guide});
    if (!put.ok()) return put;
  }
  GuidePtr ptr = Remember(province, item_code, std::move(guide));
  absl::MutexLock lock(&mu_);
  checked_at_[{province, item_code}] = clock_->Now();
  return ptr;
}

}  // namespace tongban::node
