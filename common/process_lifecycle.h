// Start-up and stop plumbing shared by tongban-node and tongban-gateway:
// process-wide tuning, stop signals received in one place, the ready file
// that scripts and tests wait on, and the exit after a clean shutdown.
#pragma once

#include <signal.h>

#include <string>

#include "absl/flags/flag.h"

namespace tongban {

// Release-mode settings Debian's builds do not give us: abseil's mutex
// deadlock detection off (Debian builds abseil without NDEBUG, leaving a
// debugging aid on the request path) and two malloc arenas (glibc's
// per-thread arenas kept 40+ MB after a load burst; no measurable cost).
void TuneProcessForServing();

// Copies a non-empty string flag over a config field.
void OverrideFromFlag(std::string* field, const absl::Flag<std::string>& flag);

// Blocks SIGTERM and SIGINT in the calling thread and every thread it starts
// later, so that Wait() is the only receiver. Construct before any thread.
class StopSignals final {
 public:
  StopSignals();
  // Blocks until SIGTERM or SIGINT; returns the signal number.
  int Wait();

 private:
  sigset_t set_;
};

// Writes `line` to `path` through a temporary file and a rename, so a reader
// never sees half of it. No-op when `path` is empty.
void WriteReadyFile(const std::string& path, const std::string& line);

// Exits 0 without running static destructors: for use after the server has
// drained and the store is closed. Saves the ~2 s civetweb (the metrics HTTP
// server) spends joining idle threads, which would stretch every rolling restart.
[[noreturn]] void ExitAfterCleanShutdown();

}  // namespace tongban
