// The REST/JSON face of CitizenService over HTTPS, on cpp-httplib (Debian's
// libcpp-httplib, built against the system OpenSSL 3; docs/public-api.md
// says why not civetweb). Routes come from the http_route options
// (RestRouteTable); every request passes CitizenGate; bodies are proto3
// JSON; errors are {code, message, details}; CORS, gzip, size limits and
// Retry-After follow http_conventions.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "citizen_api.h"
#include "citizen_gate.h"
#include "edge_metrics.h"
#include "http_conventions.h"
#include "rest_routes.h"
#include "structured_log.h"
#include "watched_key_pair.h"

namespace httplib {
class SSLServer;
class ContentReader;
struct Request;
struct Response;
}  // namespace httplib

namespace tongban::edge {

struct RestServerOptions {
  std::string listen_address;  // "host:port"; port 0 = pick one
  // The certificate and key presented to apps (watched for renewals).
  std::shared_ptr<WatchedKeyPair> certificate;
  int threads = 64;
  int keep_alive_seconds = 30;
  size_t max_request_bytes = 64 * 1024;
  CorsPolicy cors;
  absl::Duration deadline = absl::Seconds(10);  // of each request's node calls
};

class RestServer {
 public:
  // Pointers are not owned and must outlive the server.
  static absl::StatusOr<std::unique_ptr<RestServer>> Start(RestServerOptions options,
                                                           CitizenApi* api, const CitizenGate* gate,
                                                           EdgeMetrics* metrics, EventLog* log);
  ~RestServer();

  std::string address() const { return address_; }
  // /healthz answers 503 once draining starts.
  void SetServing(bool serving) { serving_ = serving; }
  // Waits for in-flight requests; idempotent.
  void Stop();

  // An answer being put together (defined in rest_server.cc).
  struct Reply;

  // How one route's request and response messages are made and answered.
  struct Handler {
    const google::protobuf::Message* request_prototype;
    const google::protobuf::Message* response_prototype;
    std::function<grpc::Status(CitizenApi&, const CitizenCaller&, const google::protobuf::Message&,
                               google::protobuf::Message*)>
        invoke;
  };

 private:
  RestServer(RestServerOptions options, RestRouteTable routes, CitizenApi* api,
             const CitizenGate* gate, EdgeMetrics* metrics, EventLog* log);
  // What came of reading a request body.
  enum class BodyRead { kComplete, kTooLarge, kUnreadable };
  // `body` is the request body (already read, inflated and within the limit
  // when `read` is kComplete).
  void Serve(const httplib::Request& req, httplib::Response& res, const std::string& body,
             BodyRead read);
  // What to answer: preflight, /openapi.json and /healthz, or a routed call.
  void Answer(const httplib::Request& req, const std::string& body, BodyRead read, Reply* reply,
              std::string* route_label);
  // Common headers, CORS, gzip, and the body handed to httplib.
  void Write(const httplib::Request& req, Reply reply, httplib::Response& res) const;

  const RestServerOptions options_;
  const RestRouteTable routes_;
  std::map<std::string, Handler> handlers_;  // by method name
  CitizenApi* const api_;
  const CitizenGate* const gate_;
  EdgeMetrics* const metrics_;
  EventLog* const log_;
  std::string address_;
  std::atomic<bool> serving_{true};
  std::unique_ptr<httplib::SSLServer> http_;
  std::thread listener_;
};

}  // namespace tongban::edge
