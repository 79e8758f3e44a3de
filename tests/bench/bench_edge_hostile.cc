// Scenario 6: the public edge under hostile load (issue #11). Healthy REST
// clients (GetItemGuide, from 127.0.0.1) are measured on an edge gateway of
// their own, first alone, then while 1 000 idle TCP connections (connected,
// nothing sent, not even a TLS ClientHello) and 100 slow clients (TLS done,
// then one byte of a request header every few seconds, never finishing) are
// held open from other loopback addresses (127.0.0.2 …). The old
// thread-per-connection server stalled at 70 idle connections; the
// event-driven one should serve the healthy clients as before.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "bench_metrics.h"
#include "bench_scenarios.h"
#include "openssl/err.h"
#include "openssl/ssl.h"

namespace tongban::bench {
namespace {

constexpr char kGatewayName[] = "edge-hostile";
constexpr int kIdleConnections = 1000;
constexpr int kSlowClients = 100;
// Hostile connections per source address (127.0.0.2, .3, …): under the
// edge's default per-address limit (64), which the benchmark keeps.
constexpr int kPerAddress = 40;
// Every slow client sends its next header byte this often (the clients are
// spread evenly over the interval).
constexpr absl::Duration kSlowByteInterval = absl::Seconds(3);
// Header and handshake timeouts of the benchmark's edge: far longer than the
// scenario, so that no hostile connection is cut off while it is measured
// (the defaults, 10 s each, would close them all after 10 s).
constexpr int kHostileTimeoutMs = 120000;
// What the slow clients send, a byte at a time: a request that never gets
// to its blank line within the run.
constexpr char kSlowRequest[] =
    "GET /v1/provinces/430000/items/GG00020600/guide HTTP/1.1\r\nHost: localhost\r\n"
    "User-Agent: slow-loris-bench\r\nX-Padding: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

std::string SourceAddress(int index) { return absl::StrCat("127.0.0.", 2 + index / kPerAddress); }

// A TCP connection to host:port from `source` (port chosen at connect);
// -1 on failure, with `error` set.
int ConnectFrom(const std::string& source, const std::string& host, int port, std::string* error) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    *error = absl::StrCat("socket: ", std::strerror(errno));
    return -1;
  }
  const int one = 1;
  setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  sockaddr_in local{};
  local.sin_family = AF_INET;
  inet_pton(AF_INET, source.c_str(), &local.sin_addr);
  sockaddr_in remote{};
  remote.sin_family = AF_INET;
  remote.sin_port = htons(static_cast<uint16_t>(port));
  inet_pton(AF_INET, host.c_str(), &remote.sin_addr);
  if (bind(fd, reinterpret_cast<sockaddr*>(&local), sizeof(local)) != 0 ||
      connect(fd, reinterpret_cast<sockaddr*>(&remote), sizeof(remote)) != 0) {
    *error = absl::StrCat(source, " → ", host, ":", port, ": ", std::strerror(errno));
    close(fd);
    return -1;
  }
  return fd;
}

// True while the peer has neither closed nor reset the connection.
bool StillOpen(int fd) {
  pollfd p{fd, POLLRDHUP, 0};
  if (poll(&p, 1, 0) < 0) return false;
  return (p.revents & (POLLRDHUP | POLLHUP | POLLERR)) == 0;
}

// The hostile clients: idle TCP connections and slow TLS clients, with a
// thread feeding the slow ones a byte at a time until Close().
class HostileClients {
 public:
  HostileClients() {
    ctx_ = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_verify(ctx_, SSL_VERIFY_NONE, nullptr);  // hostile: no need to check
  }
  ~HostileClients() {
    Close();
    SSL_CTX_free(ctx_);
  }

  // Opens `idle` idle connections and `slow` slow clients (handshake and
  // first byte); returns the first failure, if any, and keeps what opened.
  absl::Status Open(const std::string& host, int port, int idle, int slow) {
    std::string error;
    int index = 0;
    for (int i = 0; i < idle; ++i, ++index) {
      const int fd = ConnectFrom(SourceAddress(index), host, port, &error);
      if (fd < 0) return absl::UnavailableError(absl::StrCat("idle connection ", i, ": ", error));
      idle_fds_.push_back(fd);
    }
    for (int i = 0; i < slow; ++i, ++index) {
      const int fd = ConnectFrom(SourceAddress(index), host, port, &error);
      if (fd < 0) return absl::UnavailableError(absl::StrCat("slow client ", i, ": ", error));
      SSL* ssl = SSL_new(ctx_);
      SSL_set_fd(ssl, fd);
      SSL_set_tlsext_host_name(ssl, "localhost");
      slow_.push_back({fd, ssl, 0, true});
      if (SSL_connect(ssl) != 1) {
        slow_.back().alive = false;
        const char* reason = ERR_reason_error_string(ERR_get_error());
        return absl::UnavailableError(absl::StrCat("slow client ", i, ": TLS handshake failed: ",
                                                   reason != nullptr ? reason : "closed"));
      }
      SendNextByte(&slow_.back());
    }
    feeder_ = std::thread([this] { Feed(); });
    return absl::OkStatus();
  }

  int idle_open() const {
    return static_cast<int>(std::count_if(idle_fds_.begin(), idle_fds_.end(), StillOpen));
  }
  int slow_open() const {
    int n = 0;
    for (const Slow& s : slow_) n += s.alive && StillOpen(s.fd) ? 1 : 0;
    return n;
  }
  int64_t bytes_sent() const { return bytes_sent_.load(); }

  void Close() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    if (feeder_.joinable()) feeder_.join();
    for (int fd : idle_fds_) close(fd);
    idle_fds_.clear();
    for (Slow& s : slow_) {
      SSL_free(s.ssl);
      close(s.fd);
    }
    slow_.clear();
  }

 private:
  struct Slow {
    int fd;
    SSL* ssl;
    size_t sent;
    bool alive;
  };

  void SendNextByte(Slow* s) {
    if (!s->alive) return;
    // Wrap around rather than ever finishing the header block.
    const size_t at = s->sent % (sizeof(kSlowRequest) - 1);
    if (SSL_write(s->ssl, kSlowRequest + at, 1) != 1) {
      s->alive = false;
      return;
    }
    ++s->sent;
    bytes_sent_.fetch_add(1);
  }

  // One byte per slow client per kSlowByteInterval, spread evenly.
  void Feed() {
    const absl::Duration step = kSlowByteInterval / std::max<size_t>(1, slow_.size());
    std::unique_lock<std::mutex> lock(mu_);
    for (size_t i = 0;; i = (i + 1) % slow_.size()) {
      if (cv_.wait_for(lock, absl::ToChronoNanoseconds(step), [this] { return stop_; })) return;
      SendNextByte(&slow_[i]);
    }
  }

  SSL_CTX* ctx_ = nullptr;
  std::vector<int> idle_fds_;
  std::vector<Slow> slow_;
  std::atomic<int64_t> bytes_sent_{0};
  std::thread feeder_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
};

// Raises this process's RLIMIT_NOFILE to its hard limit (children started
// afterwards, the edge gateway among them, inherit it). Returns the limit.
rlim_t RaiseFileLimit() {
  rlimit r{};
  if (getrlimit(RLIMIT_NOFILE, &r) != 0) return 0;
  if (r.rlim_cur < r.rlim_max) {
    r.rlim_cur = r.rlim_max;
    setrlimit(RLIMIT_NOFILE, &r);
    getrlimit(RLIMIT_NOFILE, &r);
  }
  return r.rlim_cur;
}

// The edge's connection figures from its /metrics.
struct EdgeCounts {
  double open = -1, accepted = -1, refused_address = -1, refused_total = -1;
  double closed_timeout = -1, closed_handshake = -1;
};

EdgeCounts ReadEdgeCounts(const GatewayHandle& gateway) {
  const std::string m = HttpGet(gateway.metrics_address, "/metrics");
  EdgeCounts c;
  c.open = MetricValue(m, "tongban_edge_https_connections");
  c.accepted = MetricValue(m, "tongban_edge_https_connections_accepted_total");
  c.refused_address = MetricValue(m, "tongban_edge_https_refused_total{reason=\"per_address\"}");
  c.refused_total = MetricValue(m, "tongban_edge_https_refused_total{reason=\"total\"}");
  c.closed_timeout = MetricValue(m, "tongban_edge_https_closed_total{reason=\"timeout\"}");
  c.closed_handshake = MetricValue(m, "tongban_edge_https_closed_total{reason=\"handshake\"}");
  return c;
}

std::string Delta(double after, double before) {
  return after < 0 || before < 0 ? "?" : Count(after - before);
}

int OpenFds(pid_t pid) {
  std::error_code ec;
  int n = 0;
  for (auto it = std::filesystem::directory_iterator(absl::StrCat("/proc/", pid, "/fd"), ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    ++n;
  }
  return ec ? -1 : n;
}

}  // namespace

void RunEdgeHostile(const BenchContext& ctx) {
  Federation& fed = *ctx.federation;
  const std::vector<int> concurrencies = {1, 16};
  const int max_clients = 16;
  Table& t = ctx.report->AddTable(
      "6. Public edge under hostile load: healthy REST GetItemGuide without and with 1 000 idle "
      "TCP connections + 100 slow-header clients",
      {"healthy clients", "hostile clients", "calls/s", "p50 ms", "p99 ms", "gateway µs/call",
       "other load", "errors"});
  Table& ratios = ctx.report->AddTable(
      "6b. Public edge under hostile load: healthy clients' latency, with ÷ without",
      {"healthy clients", "p99 without ms (better of the two)", "p99 with ms", "p99 with ÷ without",
       "p50 with ÷ without", "calls/s with ÷ without"});
  auto failed = [&](const std::string& why) {
    Progress("edge-hostile: FAILED " + why);
    t.notes.push_back("Not measured: " + why);
  };
  // 1 100 hostile sockets here and in the gateway, plus everything else.
  const rlim_t fd_limit = RaiseFileLimit();
  if (fd_limit < static_cast<rlim_t>(kIdleConnections + kSlowClients + 1024)) {
    return failed(absl::StrCat("RLIMIT_NOFILE is ", fd_limit, " (hard limit): too few for ",
                               kIdleConnections + kSlowClients, " hostile connections"));
  }
  signal(SIGPIPE, SIG_IGN);  // a slow client's write after the server closed
  Progress(absl::StrCat("starting gateway \"", kGatewayName,
                        "\" (public edge; handshake and header timeouts ", kHostileTimeoutMs,
                        " ms); RLIMIT_NOFILE ", fd_limit));
  const std::string fields = absl::StrFormat(
      "  https_handshake_timeout_ms: %d\n  https_header_timeout_ms: %d\n", kHostileTimeoutMs,
      kHostileTimeoutMs);
  EdgeEndpoint edge;
  absl::StatusOr<absl::Duration> started =
      StartEdgeGateway(ctx, kGatewayName, PublicEdgeConfig(fed.paths().certs_dir, fields), &edge);
  if (!started.ok()) return failed(std::string(started.status().message()).substr(0, 400));
  const GatewayHandle& gateway = fed.gateway(kGatewayName);
  const pid_t gateway_pid = gateway.process->pid();

  auto citizens = std::make_shared<std::vector<EdgeCitizen>>();
  if (absl::Status s = PrepareEdgeCitizens(ctx, edge, max_clients, citizens.get()); !s.ok()) {
    fed.StopGateway(kGatewayName);
    return failed(std::string(s.message()).substr(0, 400));
  }
  for (absl::Time end = absl::Now() + absl::Seconds(20); absl::Now() < end;) {
    if (CoresUsed(gateway_pid, absl::Milliseconds(500)) < 0.05) break;
  }
  const std::vector<CpuProbe> probes = {{"gateway", {gateway_pid}, false}};
  WorkerFactory healthy = RestGuideClients(edge, citizens);

  auto row = [&](int c, const std::string& hostile, const LoadResult& r) {
    auto it = r.cpu_us_per_call.find("gateway");
    t.rows.push_back({std::to_string(c), hostile, Count(r.calls_per_second), Fmt(r.p50_ms, 2),
                      Fmt(r.p99_ms, 2),
                      it == r.cpu_us_per_call.end() || r.calls == 0 ? "–" : Fmt(it->second, 0),
                      Fmt(r.foreign_cores, 2), Errors(r)});
  };
  std::vector<LoadResult> without, with;
  for (int c : concurrencies) {
    without.push_back(RunPoint(ctx, "edge-hostile: healthy REST GetItemGuide, no hostile clients",
                               c, healthy, probes));
    row(c, "none", without.back());
  }

  const EdgeCounts before = ReadEdgeCounts(gateway);
  const int fds_before = OpenFds(gateway_pid);
  Progress(absl::StrCat("edge-hostile: opening ", kIdleConnections, " idle TCP connections and ",
                        kSlowClients, " slow TLS clients from 127.0.0.2–127.0.0.",
                        1 + (kIdleConnections + kSlowClients + kPerAddress - 1) / kPerAddress,
                        " (", kPerAddress, " per address)"));
  const absl::Time open_start = absl::Now();
  HostileClients hostile;
  if (absl::Status s = hostile.Open(edge.https_host, edge.https_port, kIdleConnections,
                                    kSlowClients);
      !s.ok()) {
    hostile.Close();
    fed.StopGateway(kGatewayName);
    return failed(std::string(s.message()).substr(0, 400));
  }
  const absl::Duration open_time = absl::Now() - open_start;
  std::this_thread::sleep_for(std::chrono::seconds(1));
  const EdgeCounts held = ReadEdgeCounts(gateway);
  const int fds_held = OpenFds(gateway_pid);
  Progress(absl::StrCat("edge-hostile: opened in ", absl::ToInt64Milliseconds(open_time),
                        " ms; the edge reports ", Delta(held.open, before.open),
                        " more open connections, ", fds_held - fds_before, " more fds"));
  const absl::Time hostile_start = absl::Now();
  for (int c : concurrencies) {
    with.push_back(RunPoint(ctx,
                            absl::StrCat("edge-hostile: healthy REST GetItemGuide with ",
                                         kIdleConnections, " idle + ", kSlowClients, " slow"),
                            c, healthy, probes));
    row(c, absl::StrCat(Count(kIdleConnections), " idle + ", kSlowClients, " slow"), with.back());
  }
  const EdgeCounts end = ReadEdgeCounts(gateway);
  const int idle_open = hostile.idle_open();
  const int slow_open = hostile.slow_open();
  const absl::Duration hostile_time = absl::Now() - hostile_start;
  const int64_t slow_bytes = hostile.bytes_sent();
  hostile.Close();
  // The baseline again, now that they are gone: the machine is shared, so
  // the ratio is taken against the better (lower p99) of the two baselines.
  std::vector<LoadResult> after;
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  for (int c : concurrencies) {
    after.push_back(RunPoint(
        ctx, "edge-hostile: healthy REST GetItemGuide, hostile clients closed again", c, healthy,
        probes));
    row(c, "none (again, after closing them)", after.back());
  }
  fed.StopGateway(kGatewayName);

  for (size_t i = 0; i < concurrencies.size(); ++i) {
    const bool second_better = after[i].errors == 0 && after[i].calls > 0 &&
                               (without[i].errors > 0 || after[i].p99_ms < without[i].p99_ms);
    const LoadResult& a = second_better ? after[i] : without[i];
    const LoadResult& b = with[i];
    const bool ok = a.errors == 0 && b.errors == 0 && a.calls > 0 && b.calls > 0;
    const double p99_ratio = ok ? b.p99_ms / a.p99_ms : -1;
    ratios.rows.push_back(
        {std::to_string(concurrencies[i]), Fmt(a.p99_ms, 2), Fmt(b.p99_ms, 2),
         ok ? Fmt(p99_ratio, 2) + "×" : "–", ok ? Fmt(b.p50_ms / a.p50_ms, 2) + "×" : "–",
         ok ? Fmt(b.calls_per_second / a.calls_per_second, 2) + "×" : "–"});
    ctx.report->AddTarget(
        absl::StrCat("edge: healthy p99 with 1 000 idle + 100 slow clients ≤ 2× without (",
                     concurrencies[i], " client", concurrencies[i] > 1 ? "s" : "", ")"),
        ok ? absl::StrCat(Fmt(p99_ratio, 2), "× (", Fmt(b.p99_ms, 2), " vs ", Fmt(a.p99_ms, 2),
                          " ms)")
           : "not measured (errors)",
        ok && p99_ratio <= 2.0);
  }

  t.notes.push_back(absl::StrCat(
      "A gateway of its own (\"", kGatewayName, "\", started in ",
      absl::ToInt64Milliseconds(*started),
      " ms) with public_edge at its defaults (event-driven HTTPS server: 2 I/O threads, 64 "
      "handler threads, 64 connections per client address, 10 000 in all) except: TLS handshake "
      "and header timeouts ",
      kHostileTimeoutMs / 1000,
      " s (default 10 s; raised so that no hostile connection is cut off during the run) and the "
      "rate limit at its maximum. Healthy clients: closed loop from 127.0.0.1, one citizen "
      "(token) and one kept-alive httplib::SSLClient per thread, GET "
      "/v1/provinces/430000/items/GG00020600/guide. Hostile clients, from other loopback "
      "addresses (bind() before connect, ",
      kPerAddress, " per address: 127.0.0.2–127.0.0.",
      1 + (kIdleConnections + kSlowClients + kPerAddress - 1) / kPerAddress, "): ",
      Count(kIdleConnections), " idle TCP connections (connected, nothing sent, not even a TLS "
      "ClientHello) and ",
      kSlowClients,
      " slow clients (TLS handshake done, then one byte of an HTTP/1.1 request header every ",
      absl::FormatDuration(kSlowByteInterval),
      " each, spread evenly, never reaching the end of the headers). The hostile clients were "
      "opened in ",
      absl::ToInt64Milliseconds(open_time), " ms, 1 s before the first point with them."));
  t.notes.push_back(absl::StrCat(
      "Hostile connections the edge held: its tongban_edge_https_connections gauge went from ",
      Count(before.open), " to ", Count(held.open), " after opening them (+",
      Delta(held.open, before.open), "; gateway fds +", fds_held - fds_before, ") and read ",
      Count(end.open), " after the last point; over the ", Fmt(absl::ToDoubleSeconds(hostile_time), 0),
      " s with them the edge refused ", Delta(end.refused_address, before.refused_address),
      " (per address) + ", Delta(end.refused_total, before.refused_total),
      " (total) connections and closed ", Delta(end.closed_timeout, before.closed_timeout),
      " on a timeout and ", Delta(end.closed_handshake, before.closed_handshake),
      " on the handshake. Client side at the end: ", idle_open, " of ", kIdleConnections,
      " idle and ", slow_open, " of ", kSlowClients, " slow connections still open (not closed "
      "or reset by the server); the slow clients had sent ",
      slow_bytes, " header bytes in all."));
  ratios.notes.push_back(
      "The goal (issue #11): healthy clients' p99 with the hostile clients at most 2× the same "
      "load without them, in the same run. The load without them is measured before they are "
      "opened and again after they are closed; the ratios use the lower p99 of the two (the "
      "stricter baseline). Client, gateway and node share the machine's 2 cores; "
      "the hostile clients themselves cost almost nothing once open (the slow clients send "
      "~33 bytes/s in all).");
}

}  // namespace tongban::bench
