// CatalogCache: every node's catalog kept in the gateway, keyed by the node's
// catalog version. A refresher asks each node for its version every
// `refresh` (one cheap call per node) and re-reads a catalog only when its
// version changed, so repeated searches do not fan out, and an amended or
// abolished item is visible within one refresh interval. A province's entry
// counts as fresh only while its version was confirmed recently; a node that
// stops answering is served from its last confirmed copy, marked stale, for
// `serve_stale` (a frozen node must not hold every search for the per-node
// deadline: issue #14), and named as missing after that.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "clock.h"
#include "item_search.h"
#include "node_call.h"
#include "structured_log.h"
#include "tongban/v1/catalog.pb.h"

namespace tongban::gateway {

class CatalogCache final {
 public:
  struct Entry {
    int64_t version = 0;
    std::vector<v1::Guide> guides;  // item_code order, abolished included
    // guides[i]'s name_zh and name_en normalised, with their byte pairs
    // (item_search.h), made once per load so a search neither normalises
    // 1 700 names per call nor compares strings with most of them.
    std::vector<SearchableName> name_zh_search;
    std::vector<SearchableName> name_en_search;
    // guides[i] serialized, spliced into search answers as it is.
    std::vector<std::string> guide_bytes;
  };

  // A province's copy as a search may use it.
  struct Copy {
    std::shared_ptr<const Entry> entry;  // nullptr: none usable
    bool fresh = false;                  // confirmed within 3 refresh intervals
    absl::Time confirmed_at;             // when its version was last confirmed
  };

  CatalogCache(NodeCaller caller, const Clock* clock, EventLog* log, absl::Duration refresh,
               absl::Duration node_deadline,
               absl::Duration serve_stale = absl::Hours(24));
  ~CatalogCache();

  void Start();
  // The province's catalog if its version was confirmed within 3 refresh
  // intervals; nullptr otherwise (not loaded yet, or the node stopped answering).
  std::shared_ptr<const Entry> Fresh(const std::string& province) const;
  // The province's copy: fresh as above, or stale (confirmed longer ago,
  // but within `serve_stale`), or none.
  Copy Usable(const std::string& province) const;
  // The last confirmed version (0 when never).
  int64_t Version(const std::string& province) const;
  // One refresh round now (also used by tests and at start-up).
  void RefreshAll();

 private:
  absl::Status Reload(const std::string& province, int64_t version);

  const NodeCaller caller_;
  const Clock* const clock_;
  EventLog* const log_;
  const absl::Duration refresh_;
  const absl::Duration node_deadline_;
  const absl::Duration serve_stale_;

  mutable absl::Mutex mu_;
  std::map<std::string, std::shared_ptr<const Entry>> entries_;  // guarded by mu_
  // When each province's version was last confirmed; guarded by mu_.
  std::map<std::string, absl::Time> confirmed_at_;
  bool stopping_ = false;  // guarded by mu_
  std::thread refresher_;
};

}  // namespace tongban::gateway
