// GuideResolver: the guide of (province, item) that a pre-check must use.
// The node's own province comes from its store (authoritative). Another
// province's guide comes from the node's cache in the store (seeded from the
// published demo catalog, refreshed through the gateway): when a gateway is
// configured and the cached copy was not checked within `revalidate_after`,
// the resolver asks the handling node for a newer version (FetchGuide with
// cached_version) and keeps the cache when the gateway cannot be reached.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "clock.h"
#include "service/federation_client.h"
#include "store/catalog_store.h"

namespace tongban::node {

class GuideResolver final {
 public:
  // `remote` may be null (no gateway): then cached guides are used as they are.
  GuideResolver(std::string own_province, CatalogStore* store, FederationClient* remote,
                const Clock* clock, absl::Duration revalidate_after);

  using GuidePtr = std::shared_ptr<const v1::Guide>;

  // NOT_FOUND when the province does not implement the item (as far as known);
  // UNAVAILABLE when the guide is not cached and the gateway cannot be reached.
  // Guides are kept in memory after the first read (every submission needs
  // one): the node's own until Invalidate, others' until `revalidate_after`.
  absl::StatusOr<GuidePtr> Resolve(const std::string& province, const std::string& item_code);

  // Resolve's answer when it needs no read (no store, no gateway): the guide
  // in memory while fresh, else nullptr. For threads that must not block.
  GuidePtr InMemory(const std::string& province, const std::string& item_code);

  // Forgets the in-memory copy (called after the node's own guide is amended).
  void Invalidate(const std::string& province, const std::string& item_code);

  // How long an own guide is kept in memory; InfiniteDuration (the default)
  // = until Invalidate. Several replicas on one database (PostgreSQL) set a
  // short one: another replica's amendment reaches this one within it.
  // Set before serving.
  void set_own_guide_ttl(absl::Duration ttl) { own_guide_ttl_ = ttl; }

 private:
  absl::StatusOr<GuidePtr> Revalidate(const std::string& province, const std::string& item_code,
                                      absl::StatusOr<v1::Guide> cached);
  GuidePtr Remember(const std::string& province, const std::string& item_code, v1::Guide guide);

  const std::string own_province_;
  CatalogStore* const store_;       // not owned
  FederationClient* const remote_;  // not owned; may be null
  const Clock* const clock_;        // not owned
  const absl::Duration revalidate_after_;
  absl::Duration own_guide_ttl_ = absl::InfiniteDuration();
  absl::Mutex mu_;
  // When each (province, item) was last confirmed with its owner; guarded by mu_.
  std::map<std::pair<std::string, std::string>, absl::Time> checked_at_;
  // When each guide was put in memory; guarded by mu_.
  std::map<std::pair<std::string, std::string>, absl::Time> remembered_at_;
  // Parsed guides by (province, item); guarded by mu_.
  std::map<std::pair<std::string, std::string>, GuidePtr> memory_;
};

}  // namespace tongban::node
