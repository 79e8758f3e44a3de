#include "public_grpc_listener.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace tongban::edge {

ConnectionTable::ConnectionTable(int max_total, int max_per_address, AliveCheck alive,
                                 std::chrono::steady_clock::duration min_full_recheck)
    : max_total_(static_cast<size_t>(max_total)),
      max_per_address_(static_cast<size_t>(max_per_address)),
      alive_(std::move(alive)),
      min_full_recheck_(min_full_recheck) {}

void ConnectionTable::Recheck(std::map<std::string, std::vector<Entry>>::iterator it) {
  std::vector<Entry>& entries = it->second;
  const size_t before = entries.size();
  entries.erase(std::remove_if(entries.begin(), entries.end(),
                               [this](const Entry& e) { return !alive_(e.fd, e.inode); }),
                entries.end());
  total_ -= before - entries.size();
  if (entries.empty()) by_address_.erase(it);
}

void ConnectionTable::Sweep() {
  for (auto it = by_address_.begin(); it != by_address_.end();) Recheck(it++);
}

size_t ConnectionTable::count(const std::string& address) const {
  auto it = by_address_.find(address);
  return it == by_address_.end() ? 0 : it->second.size();
}

ConnectionTable::Verdict ConnectionTable::Admit(const std::string& address, int fd, ino_t inode,
                                                std::chrono::steady_clock::time_point now) {
  auto it = by_address_.find(address);
  if (it != by_address_.end() && it->second.size() >= max_per_address_) {
    Recheck(it);
    it = by_address_.find(address);
    if (it != by_address_.end() && it->second.size() >= max_per_address_) {
      return Verdict::kOverAddressLimit;
    }
  }
  if (total_ >= max_total_) {
    // A full re-check costs one fstat per connection: under a flood of
    // refused connections, at most one per min_full_recheck_.
    if (now - last_full_recheck_ >= min_full_recheck_) {
      last_full_recheck_ = now;
      Sweep();
    }
    if (total_ >= max_total_) return Verdict::kOverTotalLimit;
  }
  by_address_[address].push_back({fd, inode});
  ++total_;
  return Verdict::kAdmitted;
}

bool SocketStillOpen(int fd, ino_t inode) {
  struct stat st;
  if (fstat(fd, &st) != 0) return false;  // EBADF: closed
  return S_ISSOCK(st.st_mode) && st.st_ino == inode;
}

std::string ClientAddressOf(const sockaddr* addr) {
  char text[INET6_ADDRSTRLEN] = {0};
  if (addr->sa_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(addr);
    inet_ntop(AF_INET, &in->sin_addr, text, sizeof(text));
  } else if (addr->sa_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(addr);
    if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) {
      inet_ntop(AF_INET, &in6->sin6_addr.s6_addr[12], text, sizeof(text));
    } else {
      inet_ntop(AF_INET6, &in6->sin6_addr, text, sizeof(text));
    }
  } else {
    return "unknown";
  }
  return text;
}

namespace {

// "host:port" / "[v6]:port" / ":port" → host ("" = any) and port.
bool SplitHostPort(const std::string& address, std::string* host, std::string* port) {
  const size_t colon = address.rfind(':');
  if (colon == std::string::npos) return false;
  *host = address.substr(0, colon);
  *port = address.substr(colon + 1);
  if (host->size() >= 2 && host->front() == '[' && host->back() == ']') {
    *host = host->substr(1, host->size() - 2);
  }
  int unused;
  return absl::SimpleAtoi(*port, &unused);
}

}  // namespace

absl::StatusOr<std::unique_ptr<PublicGrpcListener>> PublicGrpcListener::Listen(
    Options options, prometheus::Registry& registry) {
  std::string host, port;
  if (!SplitHostPort(options.listen_address, &host, &port)) {
    return absl::InvalidArgumentError(
        absl::StrCat("public_edge.grpc_address ", options.listen_address, " is not host:port"));
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  if (int rc = getaddrinfo(host.empty() ? nullptr : host.c_str(), port.c_str(), &hints, &found);
      rc != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "public_edge.grpc_address ", options.listen_address, ": ", gai_strerror(rc)));
  }
  int fd = socket(found->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  std::string error;
  if (fd >= 0) {
    const int one = 1, zero = 0;
    // SO_REUSEADDR as gRPC's own listener (restarts while old connections
    // sit in TIME_WAIT); no SO_REUSEPORT: two gateways must not share a port.
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (found->ai_family == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
    if (bind(fd, found->ai_addr, found->ai_addrlen) != 0 || listen(fd, SOMAXCONN) != 0) {
      error = std::strerror(errno);
      close(fd);
      fd = -1;
    }
  } else {
    error = std::strerror(errno);
  }
  freeaddrinfo(found);
  if (fd < 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen on public_edge.grpc_address ", options.listen_address, ": ",
                     error));
  }
  sockaddr_storage bound{};
  socklen_t len = sizeof(bound);
  getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &len);
  const int bound_port =
      ntohs(bound.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port
                                        : reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  const int wake = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake < 0) {
    close(fd);
    return absl::UnavailableError(absl::StrCat("eventfd: ", std::strerror(errno)));
  }
  return std::unique_ptr<PublicGrpcListener>(
      new PublicGrpcListener(std::move(options), fd, wake, bound_port, registry));
}

PublicGrpcListener::PublicGrpcListener(Options options, int listen_fd, int wake_fd, int port,
                                       prometheus::Registry& registry)
    : options_(std::move(options)),
      listen_fd_(listen_fd),
      wake_fd_(wake_fd),
      port_(port),
      open_(prometheus::BuildGauge()
                .Name("tongban_edge_grpc_connections")
                .Help("Connections of the public gRPC port handed to gRPC and still open "
                      "(re-checked every second and whenever a limit is reached).")
                .Register(registry)
                .Add({})),
      refused_per_address_(
          prometheus::BuildCounter()
              .Name("tongban_edge_grpc_connections_refused_total")
              .Help("Connections to the public gRPC port closed at once because a connection "
                    "limit was reached (reason: per_address or total).")
              .Register(registry)
              .Add({{"reason", "per_address"}})),
      refused_total_(prometheus::BuildCounter()
                         .Name("tongban_edge_grpc_connections_refused_total")
                         .Help("Connections to the public gRPC port closed at once because a "
                               "connection limit was reached (reason: per_address or total).")
                         .Register(registry)
                         .Add({{"reason", "total"}})),
      table_(options_.max_connections, options_.max_connections_per_address, SocketStillOpen) {}

PublicGrpcListener::~PublicGrpcListener() {
  Stop();
  close(wake_fd_);
}

void PublicGrpcListener::Start(
    std::unique_ptr<grpc::experimental::ExternalConnectionAcceptor> acceptor) {
  acceptor_ = std::move(acceptor);
  thread_ = std::thread([this] { Run(); });
}

void PublicGrpcListener::Stop() {
  std::lock_guard<std::mutex> lock(stop_mu_);
  if (stopped_) return;
  stopped_ = true;
  const uint64_t one = 1;
  (void)!write(wake_fd_, &one, sizeof(one));
  if (thread_.joinable()) thread_.join();
  close(listen_fd_);
  listen_fd_ = -1;
}

void PublicGrpcListener::Run() {
  auto next_sweep = std::chrono::steady_clock::now() + options_.sweep_interval;
  bool accept_paused = false;  // after EMFILE & co: retry at the next wake-up
  while (true) {
    pollfd fds[2] = {{wake_fd_, POLLIN, 0}, {listen_fd_, POLLIN, 0}};
    const auto now = std::chrono::steady_clock::now();
    int timeout_ms = static_cast<int>(
        std::chrono::duration_cast<std::chrono::milliseconds>(next_sweep - now).count());
    if (timeout_ms < 0) timeout_ms = 0;
    if (accept_paused) timeout_ms = std::min(timeout_ms, 100);
    const int ready = poll(fds, accept_paused ? 1 : 2, timeout_ms);
    if (ready < 0 && errno != EINTR) break;
    if (fds[0].revents != 0) break;  // Stop()
    accept_paused = false;
    if (ready > 0 && (fds[1].revents & POLLIN) != 0) {
      // Accepts what is pending, in batches so the sweep still runs.
      for (int i = 0; i < 256; ++i) {
        sockaddr_storage peer{};
        socklen_t len = sizeof(peer);
        const int fd = accept4(listen_fd_, reinterpret_cast<sockaddr*>(&peer), &len,
                               SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
          if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
            accept_paused = true;
          }
          break;  // EAGAIN: nothing more pending; ECONNABORTED & co: next round
        }
        struct stat st;
        if (fstat(fd, &st) != 0) {
          close(fd);
          continue;
        }
        const ConnectionTable::Verdict verdict =
            table_.Admit(ClientAddressOf(reinterpret_cast<sockaddr*>(&peer)), fd, st.st_ino,
                         std::chrono::steady_clock::now());
        if (verdict != ConnectionTable::Verdict::kAdmitted) {
          (verdict == ConnectionTable::Verdict::kOverAddressLimit ? refused_per_address_
                                                                  : refused_total_)
              .Increment();
          close(fd);
          continue;
        }
        const int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        grpc::experimental::ExternalConnectionAcceptor::NewConnectionParameters p;
        p.listener_fd = listen_fd_;
        p.fd = fd;
        acceptor_->HandleNewConnection(&p);  // gRPC owns fd from here
      }
      open_.Set(static_cast<double>(table_.total()));
    }
    if (std::chrono::steady_clock::now() >= next_sweep) {
      table_.Sweep();
      open_.Set(static_cast<double>(table_.total()));
      next_sweep = std::chrono::steady_clock::now() + options_.sweep_interval;
    }
  }
}

}  // namespace tongban::edge
