// PublicGrpcListener: the public gRPC port's own accept loop, so that the
// port has the HTTPS face's connection limits — a total and a per-client-
// address one — which gRPC 1.51 does not offer. It listens, accepts, counts
// the connections of each client address and closes at once a connection
// over a limit (before any TLS work); the others are handed to the gRPC
// server (ServerBuilder::experimental().AddExternalConnectionAcceptor),
// which owns them from then on: TLS, HTTP/2, calls, and closing them.
//
// Learning that gRPC closed a connection: gRPC tells nothing, so the table
// remembers each handed-over connection as (descriptor number, socket
// inode). The connection is open exactly as long as that descriptor still
// refers to that socket: fstat() gives EBADF once gRPC closed it, or another
// inode once the number was reused. The table re-checks an address's
// connections before refusing it one more, all connections before refusing
// on the total (at most once per 50 ms), and every sweep_interval for the
// gauge. Nothing of gRPC's is touched; a slot is freed at the latest when
// the next connection needs it.
#pragma once

#include <sys/socket.h>
#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "grpcpp/server_builder.h"
#include "prometheus/counter.h"
#include "prometheus/gauge.h"
#include "prometheus/registry.h"

namespace tongban::edge {

// Connections handed to gRPC, by client address. Not thread-safe: used by
// the listener's thread only (and by tests).
class ConnectionTable final {
 public:
  // Whether descriptor `fd` still refers to the socket with inode `inode`.
  using AliveCheck = std::function<bool(int fd, ino_t inode)>;
  enum class Verdict { kAdmitted, kOverAddressLimit, kOverTotalLimit };

  ConnectionTable(int max_total, int max_per_address, AliveCheck alive,
                  std::chrono::steady_clock::duration min_full_recheck =
                      std::chrono::milliseconds(50));

  // Records the connection when both limits allow it (after dropping the
  // closed ones they would refuse on), else records nothing.
  Verdict Admit(const std::string& address, int fd, ino_t inode,
                std::chrono::steady_clock::time_point now);
  // Drops every closed connection.
  void Sweep();
  size_t total() const { return total_; }
  size_t count(const std::string& address) const;

 private:
  struct Entry {
    int fd;
    ino_t inode;
  };
  // Drops the closed connections of one address; erases it when none is left.
  void Recheck(std::map<std::string, std::vector<Entry>>::iterator it);

  const size_t max_total_;
  const size_t max_per_address_;
  const AliveCheck alive_;
  const std::chrono::steady_clock::duration min_full_recheck_;
  std::chrono::steady_clock::time_point last_full_recheck_;
  std::map<std::string, std::vector<Entry>> by_address_;
  size_t total_ = 0;
};

// The check for real descriptors (fstat).
bool SocketStillOpen(int fd, ino_t inode);

// "203.0.113.7", "2001:db8::1" (IPv4-mapped IPv6 addresses as IPv4).
std::string ClientAddressOf(const sockaddr* addr);

class PublicGrpcListener final {
 public:
  struct Options {
    std::string listen_address;  // "host:port", "[v6]:port"; port 0 = any
    int max_connections = 10000;
    int max_connections_per_address = 64;
    std::chrono::milliseconds sweep_interval{1000};
  };

  // Binds and listens now (so a busy port fails start-up and the bound port
  // is known before the gRPC server is built); accepts nothing until Start.
  // Metrics are registered in `registry`:
  //   tongban_edge_grpc_connections (open connections handed to gRPC)
  //   tongban_edge_grpc_connections_refused_total{reason="per_address"|"total"}
  static absl::StatusOr<std::unique_ptr<PublicGrpcListener>> Listen(
      Options options, prometheus::Registry& registry);
  ~PublicGrpcListener();  // Stop()s

  int port() const { return port_; }

  // Starts the accept thread, which hands connections to `acceptor`. Call
  // after the server that made the acceptor started.
  void Start(std::unique_ptr<grpc::experimental::ExternalConnectionAcceptor> acceptor);
  // Stops accepting and closes the listening socket; connections already
  // handed over stay gRPC's. Call before shutting the gRPC server down (it
  // would not close a connection handed to it after that). Idempotent.
  void Stop();

 private:
  PublicGrpcListener(Options options, int listen_fd, int wake_fd, int port,
                     prometheus::Registry& registry);
  void Run();
  void AcceptReady();

  const Options options_;
  int listen_fd_;
  const int wake_fd_;  // eventfd: Stop() wakes the thread
  const int port_;
  prometheus::Gauge& open_;
  prometheus::Counter& refused_per_address_;
  prometheus::Counter& refused_total_;
  std::unique_ptr<grpc::experimental::ExternalConnectionAcceptor> acceptor_;
  ConnectionTable table_;  // used by thread_ only
  std::thread thread_;
  std::mutex stop_mu_;  // serializes Stop()
  bool stopped_ = false;  // guarded by stop_mu_
};

}  // namespace tongban::edge
