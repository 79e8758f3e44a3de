// DirectoryWatcher: keeps the federation directory current. Checks the file
// every `poll` and, when its modification time or size changed and the new
// content is valid, publishes it (a bad edit is logged and the previous
// directory stays in force, so a typo never takes the federation down).
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "structured_log.h"
#include "tongban/v1/gateway_config.pb.h"

namespace tongban::gateway {

class DirectoryWatcher final {
 public:
  using OnChange = std::function<void(const v1::FederationDirectory&)>;

  DirectoryWatcher(std::string path, absl::Duration poll, EventLog* log, OnChange on_change);
  ~DirectoryWatcher();

  // Loads the file once (an error here stops start-up) and starts watching.
  absl::Status Start();
  std::shared_ptr<const v1::FederationDirectory> Current() const;

 private:
  bool LoadIfChanged(bool initial, absl::Status* error);

  const std::string path_;
  const absl::Duration poll_;
  EventLog* const log_;
  const OnChange on_change_;

  mutable absl::Mutex mu_;
  std::shared_ptr<const v1::FederationDirectory> current_;  // guarded by mu_
  int64_t seen_mtime_ns_ = -1;                              // watcher thread only
  int64_t seen_size_ = -1;                                  // watcher thread only
  bool stopping_ = false;                                   // guarded by mu_
  std::thread thread_;
};

}  // namespace tongban::gateway
