// GuideResolver: the guide of (province, item) that a pre-check must use.
// The node's own province comes from its store (authoritative). Another
// province's guide comes from the node's cache in the store (seeded from the
// published demo catalog, refreshed through the gateway): when a gateway is
// configured and the cached copy was not checked within `revalidate_after`,
// the resolver asks the handling node for a newer version (FetchGuide with
// cached_version) and keeps the cache when the gateway cannot be reached.
#pragma once

#include <map>
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

  // NOT_FOUND when the province does not implement the item (as far as known);
  // UNAVAILABLE when the guide is not cached and the gateway cannot be reached.
  absl::StatusOr<v1::Guide> Resolve(const std::string& province, const std::string& item_code);

 private:
  absl::StatusOr<v1::Guide> Revalidate(const std::string& province, const std::string& item_code,
                                       absl::StatusOr<v1::Guide> cached);

  const std::string own_province_;
  CatalogStore* const store_;       // not owned
  FederationClient* const remote_;  // not owned; may be null
  const Clock* const clock_;        // not owned
  const absl::Duration revalidate_after_;
  absl::Mutex mu_;
  // When each (province, item) was last confirmed with its owner; guarded by mu_.
  std::map<std::pair<std::string, std::string>, absl::Time> checked_at_;
};

}  // namespace tongban::node
