// Inside HttpsServer (https_server.cc, http2_session.cc): what a connection
// shares with the server. Not for other users.
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core/tcp_stream.hpp>

#include "https_server.h"
#include "worker_pool.h"

namespace tongban::edge {

namespace asio = boost::asio;
namespace beast = boost::beast;
using TlsStream = asio::ssl::stream<beast::tcp_stream>;

// Statistics as atomics (HttpsServerStats is the snapshot).
struct AtomicStats {
  std::atomic<int64_t> open_connections{0}, accepted{0}, refused_total_limit{0},
      refused_address_limit{0}, handshake_failures{0}, timeouts{0}, bad_framing{0}, overloaded{0},
      requests{0}, requests_inline{0}, http2_connections{0};
};

// A connection the server can ask to finish (at Stop).
class Connection {
 public:
  virtual ~Connection() = default;
  // Close once the answer being written (if any) is out. Thread-safe: it
  // posts to the connection's strand.
  virtual void Shutdown() = 0;
};

// What sessions use of the server.
class HttpsServer::Impl {
 public:
  Impl(HttpsServerOptions options, HttpHandler handler, HttpErrorResponder on_error);
  ~Impl();

  const HttpsServerOptions options;
  const HttpHandler handler;
  const HttpErrorResponder on_error;
  AtomicStats stats;
  WorkerPool workers;

  // Admission of a new connection from `address`; false (and counted) over a limit.
  bool Admit(const std::string& address);
  // The end of an admitted connection.
  void Release(const std::string& address);
  void Track(const std::shared_ptr<Connection>& c);
  void Untrack(Connection* c);
  bool stopping() const { return stopping_.load(); }
  // HSTS and the like: headers the server adds to every answer.
  const HttpHeaderList& fixed_headers() const { return fixed_headers_; }
  // Whether the calling I/O thread may run a handler itself rather than hand
  // the request to a worker: true for at most io_threads - 1 threads at a
  // time, so one I/O thread always remains to serve every other socket (the
  // way gRPC's synchronous server keeps a poller). Pair with LeaveInline.
  bool TryEnterInline() {
    if (inline_handlers_.fetch_add(1) < options.io_threads - 1) return true;
    inline_handlers_.fetch_sub(1);
    return false;
  }
  void LeaveInline() { inline_handlers_.fetch_sub(1); }

  absl::Status Listen();
  void Accept();
  void Stop();
  std::string address;

 private:
  friend class HttpsServer;
  // Declared before io_: handlers still queued when io_ is destroyed own
  // sessions, whose destructors give their place back here.
  std::atomic<bool> stopping_{false};
  std::atomic<int> inline_handlers_{0};
  bool stopped_ = false;
  std::mutex mu_;
  std::condition_variable all_closed_;
  std::unordered_map<std::string, int> per_address_;  // guarded by mu_
  int open_ = 0;                                      // guarded by mu_
  std::unordered_map<Connection*, std::weak_ptr<Connection>> live_;  // guarded by mu_
  HttpHeaderList fixed_headers_;
  asio::ssl::context tls_;
  asio::io_context io_;
  asio::ip::tcp::acceptor acceptor_;  // after io_, whose service it uses
  std::vector<std::thread> io_threads_;
};

// Releases an admitted connection's place when the connection ends.
class ConnectionTicket {
 public:
  ConnectionTicket(HttpsServer::Impl* server, std::string address)
      : server_(server), address_(std::move(address)) {}
  ~ConnectionTicket() { server_->Release(address_); }
  ConnectionTicket(const ConnectionTicket&) = delete;
  ConnectionTicket& operator=(const ConnectionTicket&) = delete;
  const std::string& address() const { return address_; }

 private:
  HttpsServer::Impl* const server_;
  const std::string address_;
};

// Starts serving HTTP/2 on a stream whose handshake chose h2 (http2_session.cc).
void StartHttp2Session(HttpsServer::Impl* server, TlsStream stream,
                       std::shared_ptr<ConnectionTicket> ticket);

}  // namespace tongban::edge
