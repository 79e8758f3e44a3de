// An event-driven HTTPS server for the public edge: Boost.Asio for sockets
// and TLS, Boost.Beast's parser for HTTP/1.1, nghttp2 for HTTP/2 (ALPN h2).
// docs/public-api.md ("The HTTPS server") compares it with the alternatives.
//
// No thread is held by a connection: a few I/O threads multiplex every
// socket, and only a complete request is handed to a bounded pool of worker
// threads (the handler may block on node calls). Every phase has a limit:
// connections in all and per client address, TLS handshake, idle keep-alive,
// request headers (time and size), request body (time and size), writing
// the answer. Framing that two parsers could read differently is refused
// with 400 at once and the connection closed (RFC 9112 §6.3, §11.2).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "watched_key_pair.h"

namespace tongban::edge {

using HttpHeaderList = std::vector<std::pair<std::string, std::string>>;

// One complete request, as either protocol carried it.
struct HttpRequest {
  std::string method;  // "GET", ...
  std::string target;  // origin-form path and query, raw (percent-encoded)
  HttpHeaderList headers;  // names in lower case, in arrival order
  std::string body;        // as received (Content-Encoding not undone)
  std::string remote_address;  // the peer's IP address, no port
  bool http2 = false;

  // The first value of header `name` (lower case), or "".
  std::string Header(absl::string_view name) const;
};

// Takes the chunks of a response body that is written over time (Server-
// Sent Events). Thread-safe; given to HttpBodyStream::Start.
class HttpStreamWriter {
 public:
  virtual ~HttpStreamWriter() = default;
  // Sends `chunk` (not empty). `done(true)` runs once it was handed to the
  // connection (HTTP/2: within the client's flow-control window), or
  // `done(false)` when the connection or stream is gone; always exactly
  // once, on an I/O thread. At most one Write is outstanding: the next one
  // only after `done`. A chunk the client does not take within the write
  // timeout ends the connection (HTTP/1.1) or the stream (HTTP/2).
  virtual void Write(std::string chunk, std::function<void(bool ok)> done) = 0;
  // Ends the body after the last chunk (and lets an HTTP/1.1 connection
  // carry on with its next request). No Write after it.
  virtual void End() = 0;
};

// A response body produced over time. The server calls Start once the
// status and headers are on their way, and Cancel (instead of waiting for
// End) when the client went away or the server stops; both on an I/O
// thread, Cancel at most once and never before Start.
class HttpBodyStream {
 public:
  virtual ~HttpBodyStream() = default;
  virtual void Start(std::shared_ptr<HttpStreamWriter> writer) = 0;
  virtual void Cancel() = 0;
};

struct HttpResponse {
  int status = 200;
  HttpHeaderList headers;  // not hop-by-hop ones: the server writes those
  std::string body;
  // Set: the body is this stream (and `body` is ignored): HTTP/1.1 sends it
  // chunked (HTTP/1.0: until the connection closes), HTTP/2 as DATA frames.
  std::shared_ptr<HttpBodyStream> stream;
};

// Answers a request; runs on a worker thread and may block.
using HttpHandler = std::function<HttpResponse(const HttpRequest&)>;
// An answer the server makes itself (400 bad framing, 408, 413, 431, 503
// over capacity): `status` and a message a person can act on; `request` is
// what was read of the request (headers may be empty). Must not block.
using HttpErrorResponder =
    std::function<HttpResponse(int status, const std::string& message, const HttpRequest& request)>;

struct HttpsServerOptions {
  std::string listen_address;  // "host:port"; port 0 = pick one
  std::shared_ptr<WatchedKeyPair> certificate;
  int io_threads = 2;      // threads multiplexing the sockets
  int worker_threads = 64;  // threads running the handler
  // Complete requests waiting for a worker; beyond that, 503 at once.
  int max_queued_requests = 1024;
  int max_connections = 10000;
  int max_connections_per_address = 64;
  absl::Duration handshake_timeout = absl::Seconds(10);
  absl::Duration keep_alive_timeout = absl::Seconds(30);  // idle between requests
  absl::Duration header_timeout = absl::Seconds(10);  // first byte → end of headers
  absl::Duration body_timeout = absl::Seconds(30);    // end of headers → end of body
  absl::Duration write_timeout = absl::Seconds(30);
  size_t max_header_bytes = 16 * 1024;  // request line and header fields together
  size_t max_body_bytes = 64 * 1024;
  int max_requests_per_connection = 1000;  // HTTP/1.1 keep-alive; then Connection: close
  bool http2 = true;                       // offer h2 in ALPN
  int http2_max_concurrent_streams = 100;
  // Strict-Transport-Security max-age on every answer; 0 = no header.
  int64_t hsts_max_age_seconds = 31536000;
};

// Counts for metrics and tests (monotonic, except open_connections).
struct HttpsServerStats {
  int64_t open_connections = 0;
  int64_t accepted = 0;
  int64_t refused_total_limit = 0;
  int64_t refused_address_limit = 0;
  int64_t handshake_failures = 0;  // including handshake timeouts
  int64_t timeouts = 0;            // idle, header, body or write timeouts
  int64_t bad_framing = 0;         // 400/413/431 from the server itself
  int64_t overloaded = 0;          // 503: no worker free and the queue full
  int64_t requests = 0;            // handed to the handler
  int64_t requests_inline = 0;     // ... of which run on an I/O thread (HTTP/1.1)
  int64_t http2_connections = 0;
};

class HttpsServer {
 public:
  // Binds and starts serving. The handler and responder must outlive the
  // server.
  static absl::StatusOr<std::unique_ptr<HttpsServer>> Start(HttpsServerOptions options,
                                                            HttpHandler handler,
                                                            HttpErrorResponder on_error);
  ~HttpsServer();
  HttpsServer(const HttpsServer&) = delete;
  HttpsServer& operator=(const HttpsServer&) = delete;

  std::string address() const;
  HttpsServerStats stats() const;
  // Stops accepting, lets requests in flight finish, closes every
  // connection; idempotent.
  void Stop();

  class Impl;

 private:
  explicit HttpsServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace tongban::edge
