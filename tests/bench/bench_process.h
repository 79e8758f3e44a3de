// Process plumbing of tongban-bench: child processes started with
// fork/exec and never left behind, readiness by ready file or TCP port,
// and the /proc figures the benchmark reports (CPU ticks, VmRSS, smaps).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace tongban::bench {

// A process the benchmark started. Destruction stops it (SIGTERM, then
// SIGKILL), so an early return or an exception never leaves it running;
// prctl(PR_SET_PDEATHSIG) stops it even when the benchmark is killed.
class Child final {
 public:
  // Starts argv[0] with stdout and stderr appended to `log_path`. With
  // `own_group` the child leads a new process group and Stop() signals the
  // whole group (nginx: master and workers).
  static std::unique_ptr<Child> Spawn(std::string name, const std::vector<std::string>& argv,
                                      const std::string& log_path, bool own_group = false);
  ~Child();
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  const std::string& name() const { return name_; }
  pid_t pid() const { return pid_; }
  const std::string& log_path() const { return log_path_; }
  // False once it exited (reaps it); the exit code is then in exit_code().
  bool Running();
  int exit_code() const { return exit_code_; }
  // Sends SIGTERM (not waiting).
  void SignalTerm();
  // Waits up to `grace` for an exit (after SignalTerm), then SIGKILLs.
  // Returns the exit code, 128+signal when killed by a signal.
  int AwaitExit(absl::Duration grace);
  int Stop(absl::Duration grace) {
    SignalTerm();
    return AwaitExit(grace);
  }
  std::string LogTail(int max_bytes = 1500) const;

 private:
  Child() = default;
  std::string name_;
  std::string log_path_;
  pid_t pid_ = -1;
  bool own_group_ = false;
  int exit_code_ = -1;
};

// SIGINT/SIGTERM/SIGHUP to the benchmark SIGKILL every child still running
// (process groups included) and exit 130. Call once, before the first Spawn.
void InstallCleanupOnSignals();

// utime+stime of `pid` in clock ticks, plus its direct children's (nginx
// workers) when `with_children`. -1 when the process is gone.
int64_t CpuTicks(pid_t pid, bool with_children);
double TicksToMicros(int64_t ticks);
// Busy CPU ticks of the whole machine (/proc/stat), and of this process plus
// every child it started: their difference is load the benchmark did not cause.
int64_t MachineBusyTicks();
int64_t BenchTreeTicks();
// Counts a process the benchmark started but that is not its child (a server
// that daemonised, PostgreSQL's postmaster) and its direct children in
// BenchTreeTicks, so that its CPU is not mistaken for other load. Until
// ForgetDaemon(pid).
void CountDaemon(pid_t pid);
void ForgetDaemon(pid_t pid);
// A "Key:   123 kB" field of /proc/<pid>/status (VmRSS) or
// /proc/<pid>/smaps_rollup (Anonymous, Pss), in kB; -1 when unreadable.
int64_t StatusKb(pid_t pid, const std::string& key);
int64_t SmapsRollupKb(pid_t pid, const std::string& key);

// `count` consecutive free loopback ports starting at the returned base, or
// -1. Below the kernel's ephemeral range, so that outgoing connections made
// before the ports are bound cannot take them.
int FreePortRange(int count);
bool PortAccepts(int port);

// Text of a file ("" when missing).
std::string ReadFileText(const std::string& path);
// Writes `text` to `path` atomically (a temporary file, then rename).
absl::Status WriteText(const std::string& path, const std::string& text);
// "key=value" field of a ready file line.
std::string ReadyField(const std::string& line, const std::string& key);
// Body of GET http://<address><path> (HTTP/1.0 over a plain socket), "" on failure.
std::string HttpGet(const std::string& address, const std::string& path);
// Runs a shell command line, output to `log_path`; returns the exit code.
int RunCommand(const std::string& command, const std::string& log_path);

}  // namespace tongban::bench
