#include "bench_process.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"

namespace tongban::bench {
namespace {

// Children still running, readable from a signal handler (lock-free slots:
// pid, negated when the child leads its own process group).
constexpr int kMaxChildren = 256;
std::atomic<pid_t> g_children[kMaxChildren];

void Register(pid_t pid, bool group) {
  pid_t value = group ? -pid : pid;
  for (auto& slot : g_children) {
    pid_t empty = 0;
    if (slot.compare_exchange_strong(empty, value)) return;
  }
}

void Unregister(pid_t pid) {
  for (auto& slot : g_children) {
    pid_t v = slot.load();
    if (v == pid || v == -pid) slot.store(0);
  }
}

void KillAllAndExit(int) {
  // Only async-signal-safe calls here.
  for (auto& slot : g_children) {
    pid_t v = slot.load();
    if (v != 0) kill(v, SIGKILL);  // negative: the whole process group
  }
  const char msg[] = "\ntongban-bench: interrupted; children killed\n";
  ssize_t ignored = write(2, msg, sizeof(msg) - 1);
  (void)ignored;
  _exit(130);
}

// Fields after the ")" that ends the command name of /proc/<pid>/stat;
// [0] is field 3 (state).
std::vector<std::string> StatFields(pid_t pid) {
  std::string stat = ReadFileText("/proc/" + std::to_string(pid) + "/stat");
  size_t close = stat.rfind(')');
  if (close == std::string::npos) return {};
  return absl::StrSplit(stat.substr(close + 2), ' ', absl::SkipEmpty());
}

int64_t OwnTicks(const std::vector<std::string>& f) {
  int64_t utime = 0, stime = 0;
  if (f.size() < 13 || !absl::SimpleAtoi(f[11], &utime) || !absl::SimpleAtoi(f[12], &stime)) {
    return -1;
  }
  return utime + stime;
}

int64_t KbField(const std::string& path, const std::string& key) {
  std::istringstream in(ReadFileText(path));
  std::string line;
  while (std::getline(in, line)) {
    if (line.compare(0, key.size() + 1, key + ":") != 0) continue;
    int64_t kb = -1;
    std::string value(absl::StripAsciiWhitespace(line.substr(key.size() + 1)));
    std::vector<std::string> parts = absl::StrSplit(value, ' ', absl::SkipEmpty());
    if (!parts.empty() && absl::SimpleAtoi(parts[0], &kb)) return kb;
  }
  return -1;
}

bool CanBind(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool ok = bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  close(fd);
  return ok;
}

}  // namespace

std::unique_ptr<Child> Child::Spawn(std::string name, const std::vector<std::string>& argv,
                                    const std::string& log_path, bool own_group) {
  std::unique_ptr<Child> child(new Child());
  child->name_ = std::move(name);
  child->log_path_ = log_path;
  child->own_group_ = own_group;
  // Everything the child needs is prepared before fork: between fork and
  // exec only async-signal-safe calls are allowed (gRPC threads exist).
  std::vector<std::string> args = argv;
  std::vector<char*> cargv;
  for (auto& a : args) cargv.push_back(a.data());
  cargv.push_back(nullptr);
  int log_fd = open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  const pid_t parent = getpid();
  pid_t pid = fork();
  if (pid == 0) {
    if (own_group) setpgid(0, 0);
    // SIGTERM (not SIGKILL) so that a node still closes its store cleanly.
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent) _exit(126);  // the benchmark died before prctl
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    if (null_fd >= 0) dup2(null_fd, 0);
    if (log_fd >= 0) {
      dup2(log_fd, 1);
      dup2(log_fd, 2);
    }
    execv(cargv[0], cargv.data());
    _exit(127);
  }
  if (log_fd >= 0) close(log_fd);
  if (null_fd >= 0) close(null_fd);
  if (pid < 0) return nullptr;
  if (own_group) setpgid(pid, pid);  // also from the parent: no race with Stop()
  child->pid_ = pid;
  Register(pid, own_group);
  return child;
}

Child::~Child() {
  if (pid_ > 0) Stop(absl::Seconds(5));
}

bool Child::Running() {
  if (pid_ <= 0) return false;
  int status = 0;
  if (waitpid(pid_, &status, WNOHANG) == pid_) {
    exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    Unregister(pid_);
    if (own_group_) kill(-pid_, SIGKILL);  // stray workers of a dead master
    pid_ = -1;
    return false;
  }
  return true;
}

void Child::SignalTerm() {
  if (pid_ > 0) kill(pid_, SIGTERM);
}

int Child::AwaitExit(absl::Duration grace) {
  absl::Time deadline = absl::Now() + grace;
  while (Running()) {
    if (absl::Now() > deadline) {
      kill(own_group_ ? -pid_ : pid_, SIGKILL);
      int status = 0;
      waitpid(pid_, &status, 0);
      exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      Unregister(pid_);
      pid_ = -1;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return exit_code_;
}

std::string Child::LogTail(int max_bytes) const {
  std::string log = ReadFileText(log_path_);
  if (static_cast<int>(log.size()) > max_bytes) log = log.substr(log.size() - max_bytes);
  return log;
}

void InstallCleanupOnSignals() {
  struct sigaction sa {};
  sa.sa_handler = KillAllAndExit;
  sigemptyset(&sa.sa_mask);
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) sigaction(sig, &sa, nullptr);
  // A closed stdout pipe (| head) must not kill us before cleanup.
  signal(SIGPIPE, SIG_IGN);
}

int64_t CpuTicks(pid_t pid, bool with_children) {
  int64_t total = OwnTicks(StatFields(pid));
  if (total < 0 || !with_children) return total;
  DIR* proc = opendir("/proc");
  if (proc == nullptr) return total;
  const std::string parent = std::to_string(pid);
  while (dirent* e = readdir(proc)) {
    pid_t other = 0;
    if (!absl::SimpleAtoi(e->d_name, &other)) continue;
    std::vector<std::string> f = StatFields(other);
    if (f.size() > 1 && f[1] == parent) {
      int64_t t = OwnTicks(f);
      if (t > 0) total += t;
    }
  }
  closedir(proc);
  return total;
}

int64_t MachineBusyTicks() {
  std::string stat = ReadFileText("/proc/stat");
  std::vector<std::string> f = absl::StrSplit(stat.substr(0, stat.find('\n')), ' ', absl::SkipEmpty());
  int64_t busy = 0;
  // cpu user nice system ...: irq and softirq time is left out on both sides
  // (the kernel charges it to no process when it accounts it separately).
  for (size_t i : {1, 2, 3}) {
    int64_t v = 0;
    if (i < f.size() && absl::SimpleAtoi(f[i], &v)) busy += v;
  }
  return busy;
}

namespace {
std::mutex g_daemons_mu;
std::vector<pid_t> g_daemons;
}  // namespace

void CountDaemon(pid_t pid) {
  std::lock_guard<std::mutex> lock(g_daemons_mu);
  g_daemons.push_back(pid);
}

void ForgetDaemon(pid_t pid) {
  std::lock_guard<std::mutex> lock(g_daemons_mu);
  g_daemons.erase(std::remove(g_daemons.begin(), g_daemons.end(), pid), g_daemons.end());
}

int64_t BenchTreeTicks() {
  int64_t total = std::max<int64_t>(0, CpuTicks(getpid(), false));
  {
    std::lock_guard<std::mutex> lock(g_daemons_mu);
    for (pid_t d : g_daemons) total += std::max<int64_t>(0, CpuTicks(d, true));
  }
  for (auto& slot : g_children) {
    pid_t v = slot.load();
    if (v != 0) total += std::max<int64_t>(0, CpuTicks(v < 0 ? -v : v, v < 0));
  }
  return total;
}

double TicksToMicros(int64_t ticks) {
  static const double tick_us = 1e6 / static_cast<double>(sysconf(_SC_CLK_TCK));
  return static_cast<double>(ticks) * tick_us;
}

int64_t StatusKb(pid_t pid, const std::string& key) {
  return KbField("/proc/" + std::to_string(pid) + "/status", key);
}

int64_t SmapsRollupKb(pid_t pid, const std::string& key) {
  return KbField("/proc/" + std::to_string(pid) + "/smaps_rollup", key);
}

int FreePortRange(int count) {
  // Below the kernel's ephemeral range (32768+), so outgoing connections
  // do not take them meanwhile; a pseudo-random start avoids a concurrent run.
  int start = 20000 + static_cast<int>((getpid() * 97) % 10000);
  for (int base = start; base + count < 32000; base += count) {
    bool free = true;
    for (int p = base; free && p < base + count; ++p) free = CanBind(p) && !PortAccepts(p);
    if (free) return base;
  }
  return -1;
}

bool PortAccepts(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool ok = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  close(fd);
  return ok;
}

absl::Status WriteText(const std::string& path, const std::string& text) {
  std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp);
    out << text;
    if (!out) return absl::InternalError("cannot write " + tmp);
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    return absl::InternalError("cannot rename " + tmp);
  }
  return absl::OkStatus();
}

std::string ReadFileText(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string ReadyField(const std::string& line, const std::string& key) {
  size_t at = line.find(key + "=");
  if (at == std::string::npos) return "";
  size_t start = at + key.size() + 1;
  size_t end = line.find_first_of(" \n", start);
  return line.substr(start, end == std::string::npos ? std::string::npos : end - start);
}

std::string HttpGet(const std::string& address, const std::string& path) {
  size_t colon = address.rfind(':');
  if (colon == std::string::npos) return "";
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  timeval timeout{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(std::atoi(address.substr(colon + 1).c_str())));
  inet_pton(AF_INET, address.substr(0, colon).c_str(), &addr.sin_addr);
  std::string response;
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) {
    std::string request = "GET " + path + " HTTP/1.0\r\nHost: " + address + "\r\n\r\n";
    if (write(fd, request.data(), request.size()) == static_cast<ssize_t>(request.size())) {
      char buf[65536];
      ssize_t n;
      while ((n = read(fd, buf, sizeof(buf))) > 0) response.append(buf, n);
    }
  }
  close(fd);
  size_t body = response.find("\r\n\r\n");
  return body == std::string::npos ? "" : response.substr(body + 4);
}

int RunCommand(const std::string& command, const std::string& log_path) {
  std::string line = "( " + command + " ) >>'" + log_path + "' 2>&1 </dev/null";
  int rc = std::system(line.c_str());
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

}  // namespace tongban::bench
