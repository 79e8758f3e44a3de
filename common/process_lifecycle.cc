#include "process_lifecycle.h"

#include <malloc.h>
#include <pthread.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>

#include "absl/synchronization/mutex.h"

namespace tongban {

void TuneProcessForServing() {
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  mallopt(M_ARENA_MAX, 2);
}

void OverrideFromFlag(std::string* field, const absl::Flag<std::string>& flag) {
  std::string value = absl::GetFlag(flag);
  if (!value.empty()) *field = value;
}

StopSignals::StopSignals() {
  sigemptyset(&set_);
  sigaddset(&set_, SIGTERM);
  sigaddset(&set_, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set_, nullptr);
}

int StopSignals::Wait() {
  int signal_number = 0;
  sigwait(&set_, &signal_number);
  return signal_number;
}

void WriteReadyFile(const std::string& path, const std::string& line) {
  if (path.empty()) return;
  const std::string tmp = path + ".tmp";
  std::ofstream(tmp) << line << "\n";
  std::rename(tmp.c_str(), path.c_str());
}

void ExitAfterCleanShutdown() {
  std::fflush(nullptr);
  std::_Exit(0);
}

}  // namespace tongban
