#include "directory_watcher.h"

#include <sys/stat.h>

#include "absl/strings/str_cat.h"
#include "gateway_config.h"

namespace tongban::gateway {

DirectoryWatcher::DirectoryWatcher(std::string path, absl::Duration poll, EventLog* log,
                                   OnChange on_change)
    : path_(std::move(path)), poll_(poll), log_(log), on_change_(std::move(on_change)) {}

DirectoryWatcher::~DirectoryWatcher() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

absl::Status DirectoryWatcher::Start() {
  absl::Status error;
  if (!LoadIfChanged(/*initial=*/true, &error)) return error;
  thread_ = std::thread([this] {
    for (;;) {
      {
        absl::MutexLock lock(&mu_);
        auto stopping = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return stopping_; };
        mu_.AwaitWithTimeout(absl::Condition(&stopping), poll_);
        if (stopping_) return;
      }
      absl::Status ignored;
      LoadIfChanged(/*initial=*/false, &ignored);
    }
  });
  return absl::OkStatus();
}

std::shared_ptr<const v1::FederationDirectory> DirectoryWatcher::Current() const {
  absl::MutexLock lock(&mu_);
  return current_;
}

bool DirectoryWatcher::LoadIfChanged(bool initial, absl::Status* error) {
  struct stat st {};
  if (stat(path_.c_str(), &st) != 0) {
    *error = absl::NotFoundError(absl::StrCat("cannot read directory_file ", path_));
    if (!initial) log_->Warn("directory.unreadable", {{"file", path_}});
    return false;
  }
  int64_t mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
  if (!initial && mtime_ns == seen_mtime_ns_ && st.st_size == seen_size_) return true;
  absl::StatusOr<v1::FederationDirectory> loaded = ReadDirectory(path_);
  seen_mtime_ns_ = mtime_ns;
  seen_size_ = st.st_size;
  if (!loaded.ok()) {
    *error = loaded.status();
    log_->Error("directory.invalid_kept_previous", {{"file", path_}, {"error", loaded.status().message()}});
    return false;
  }
  auto directory = std::make_shared<const v1::FederationDirectory>(std::move(*loaded));
  on_change_(*directory);
  {
    absl::MutexLock lock(&mu_);
    current_ = directory;
  }
  log_->Info(initial ? "directory.loaded" : "directory.reloaded",
             {{"file", path_},
              {"nodes", absl::StrCat(directory->nodes_size())},
              {"alliances", absl::StrCat(directory->alliances_size())}});
  return true;
}

}  // namespace tongban::gateway
