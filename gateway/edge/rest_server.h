// The REST/JSON face of CitizenService over HTTPS, on the event-driven
// HttpsServer (https_server.h: HTTP/1.1 and HTTP/2, connection and time
// limits). Routes come from the proto's HTTP annotations (RestRouteTable);
// every request passes CitizenGate; bodies are proto3 JSON; errors are
// {code, message, details}; CORS, gzip, size limits and Retry-After follow
// http_conventions.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "calls_in_flight.h"
#include "citizen_api.h"
#include "citizen_gate.h"
#include "edge_metrics.h"
#include "http_conventions.h"
#include "https_server.h"
#include "rest_routes.h"
#include "structured_log.h"
#include "watched_key_pair.h"

namespace tongban::edge {

struct RestServerOptions {
  // Listen address, certificate, connection and time limits; its
  // max_body_bytes is the limit on the body once decompressed too.
  HttpsServerOptions https;
  CorsPolicy cors;
  // Calls in flight per client address, shared with the gRPC face (not
  // owned; null = no limit).
  CallsInFlight* calls = nullptr;
  absl::Duration deadline = absl::Seconds(10);  // of each request's node calls
};

class RestServer {
 public:
  // Pointers are not owned and must outlive the server.
  static absl::StatusOr<std::unique_ptr<RestServer>> Start(RestServerOptions options,
                                                           CitizenApi* api, const CitizenGate* gate,
                                                           EdgeMetrics* metrics, EventLog* log);
  ~RestServer();

  std::string address() const { return https_ == nullptr ? "" : https_->address(); }
  HttpsServerStats stats() const { return https_ == nullptr ? HttpsServerStats{} : https_->stats(); }
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
    // A server-streaming method (WatchMyApplication): answered as
    // Server-Sent Events (sse_watch_stream.h) instead of `invoke`.
    bool server_streaming = false;
  };

 private:
  RestServer(RestServerOptions options, RestRouteTable routes, CitizenApi* api,
             const CitizenGate* gate, EdgeMetrics* metrics, EventLog* log);
  // A request handed over by the HTTPS server (on a worker thread).
  HttpResponse Serve(const HttpRequest& req);
  // An answer the HTTPS server makes itself (bad framing, limits, capacity).
  HttpResponse ServerError(int status, const std::string& message, const HttpRequest& req);
  // What to answer: preflight, /openapi.json and /healthz, or a routed call.
  void Answer(const HttpRequest& req, const std::string& request_id, Reply* reply,
              std::string* route_label);
  // WatchMyApplication as Server-Sent Events: the resume point from
  // Last-Event-ID, then the relay started into the reply's stream.
  void AnswerWatch(const HttpRequest& req, const CitizenCaller& caller,
                   v1::WatchMyApplicationRequest* request, Reply* reply);
  // Common headers, CORS and gzip.
  HttpResponse Write(const HttpRequest& req, Reply reply) const;

  const RestServerOptions options_;
  const RestRouteTable routes_;
  std::map<std::string, Handler> handlers_;  // by method name
  CitizenApi* const api_;
  const CitizenGate* const gate_;
  EdgeMetrics* const metrics_;
  EventLog* const log_;
  std::atomic<bool> serving_{true};
  std::unique_ptr<HttpsServer> https_;
};

}  // namespace tongban::edge
