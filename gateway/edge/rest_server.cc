#include "rest_server.h"

#include <chrono>
#include <memory>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "request_body_decoding.h"
#include "request_id.h"
#include "sse_watch_stream.h"
#include "structured_log.h"
#include "openapi_document.h"
#include "openapi_embedded.h"
#include "tongban/v1/citizen.grpc.pb.h"

namespace tongban::edge {
namespace {

using google::protobuf::Message;

// Below this, compressing costs more than it saves.
constexpr size_t kGzipMinBytes = 1024;

template <typename Request, typename Response>
RestServer::Handler MakeHandler(grpc::Status (CitizenApi::*call)(const CitizenCaller&,
                                                                 const Request&, Response*)) {
  RestServer::Handler h;
  h.request_prototype = &Request::default_instance();
  h.response_prototype = &Response::default_instance();
  h.invoke = [call](CitizenApi& api, const CitizenCaller& caller, const Message& req,
                    Message* resp) {
    return (api.*call)(caller, static_cast<const Request&>(req), static_cast<Response*>(resp));
  };
  return h;
}

std::map<std::string, RestServer::Handler> Handlers() {
  return {
      {"SearchGuides", MakeHandler(&CitizenApi::SearchGuides)},
      {"FindWhereToFile", MakeHandler(&CitizenApi::FindWhereToFile)},
      {"GetItemGuide", MakeHandler(&CitizenApi::GetItemGuide)},
      {"FindLicenceEvidence", MakeHandler(&CitizenApi::FindLicenceEvidence)},
      {"PreviewMyLicence", MakeHandler(&CitizenApi::PreviewMyLicence)},
      {"ConfirmMyLicence", MakeHandler(&CitizenApi::ConfirmMyLicence)},
      {"ListMyLicenceDisclosures", MakeHandler(&CitizenApi::ListMyLicenceDisclosures)},
      {"CheckMaterials", MakeHandler(&CitizenApi::CheckMaterials)},
      {"SubmitMyApplication", MakeHandler(&CitizenApi::SubmitMyApplication)},
      {"ListMyApplications", MakeHandler(&CitizenApi::ListMyApplications)},
      {"GetMyApplication", MakeHandler(&CitizenApi::GetMyApplication)},
      {"SupplementMyMaterials", MakeHandler(&CitizenApi::SupplementMyMaterials)},
      {"WithdrawMyApplication", MakeHandler(&CitizenApi::WithdrawMyApplication)},
      {"RateMyApplication", MakeHandler(&CitizenApi::RateMyApplication)},
      {"WatchMyApplication",
       RestServer::Handler{&v1::WatchMyApplicationRequest::default_instance(),
                           &v1::WatchMyApplicationResponse::default_instance(), nullptr,
                           /*server_streaming=*/true}},
  };
}

}  // namespace

struct RestServer::Reply {
  int status = 200;
  HttpHeaders headers;
  std::string body;
  std::string content_type = "application/json; charset=utf-8";
  // A streamed answer (Server-Sent Events): `body` is unused.
  std::shared_ptr<HttpBodyStream> stream;
};

namespace {

using Reply = RestServer::Reply;

void Fail(Reply* r, const grpc::Status& s, int http_status = 0) {
  r->status = http_status != 0 ? http_status : HttpStatusForGrpc(s.error_code());
  r->body = ErrorBodyJson(s);
  r->content_type = "application/json; charset=utf-8";
}

std::string MethodLabel(absl::string_view m) {
  return m == "GET" || m == "POST" || m == "OPTIONS" ? std::string(m) : "other";
}

// 401: the scheme and, for a refused bearer token, why (RFC 6750); 429: when to retry.
void AddAdmissionHeaders(const Admission& admission, const std::string& authorization,
                         Reply* reply) {
  if (admission.status.error_code() == grpc::StatusCode::UNAUTHENTICATED) {
    std::string challenge = "Bearer realm=\"tongban\"";
    // RFC 6750 §3.1: another scheme (Basic) carries no bearer credentials,
    // so no error code.
    const bool bearer =
        absl::StartsWithIgnoreCase(absl::StripLeadingAsciiWhitespace(authorization), "bearer");
    if (admission.token_presented && bearer) {
      std::string reason = admission.status.error_message();
      for (char& c : reason) {
        if (c == '"' || c == '\\' || static_cast<unsigned char>(c) < 0x20) c = '\'';
      }
      absl::StrAppend(&challenge, ", error=\"invalid_token\", error_description=\"", reason, "\"");
    }
    reply->headers.push_back({"WWW-Authenticate", challenge});
  } else if (admission.status.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED) {
    reply->headers.push_back({"Retry-After", RetryAfterSeconds(admission.retry_after)});
  }
}

}  // namespace

RestServer::RestServer(RestServerOptions options, RestRouteTable routes, CitizenApi* api,
                       const CitizenGate* gate, EdgeMetrics* metrics, EventLog* log)
    : options_(std::move(options)),
      routes_(std::move(routes)),
      handlers_(Handlers()),
      api_(api),
      gate_(gate),
      metrics_(metrics),
      log_(log) {}

absl::StatusOr<std::unique_ptr<RestServer>> RestServer::Start(RestServerOptions options,
                                                              CitizenApi* api,
                                                              const CitizenGate* gate,
                                                              EdgeMetrics* metrics, EventLog* log) {
  absl::StatusOr<RestRouteTable> routes = RestRouteTable::ForService(
      *google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(
          v1::CitizenService::service_full_name()));
  if (!routes.ok()) return routes.status();
  std::unique_ptr<RestServer> server(
      new RestServer(std::move(options), std::move(*routes), api, gate, metrics, log));
  // A route without a handler (or the reverse) is a build mistake: refuse to start.
  for (const RestRoute& r : server->routes_.routes()) {
    if (server->handlers_.count(r.method->name()) == 0) {
      return absl::InternalError(absl::StrCat("route ", r.path, " has no handler"));
    }
  }
  if (server->handlers_.size() != server->routes_.routes().size()) {
    return absl::InternalError("a REST handler has no route in citizen.proto");
  }
  for (const RestRoute& r : server->routes_.routes()) {
    metrics->InitRoute(r.http_method, r.path, r.success_status);
  }

  RestServer* self = server.get();
  absl::StatusOr<std::unique_ptr<HttpsServer>> https = HttpsServer::Start(
      server->options_.https, [self](const HttpRequest& req) { return self->Serve(req); },
      [self](int status, const std::string& message, const HttpRequest& req) {
        return self->ServerError(status, message, req);
      });
  if (!https.ok()) return https.status();
  server->https_ = std::move(*https);
  return server;
}

RestServer::~RestServer() { Stop(); }

void RestServer::Stop() {
  if (https_ != nullptr) https_->Stop();
}

HttpResponse RestServer::Serve(const HttpRequest& req) {
  const absl::Time start = absl::Now();
  // Every answer carries the request id, and this thread's log lines too.
  const std::string request_id = ChooseRequestId(req.Header("x-request-id"), req.Header("traceparent"));
  ScopedRequestId scope(request_id);
  std::string route_label = "unmatched";
  Reply reply;
  Answer(req, request_id, &reply, &route_label);
  reply.headers.push_back({"X-Request-Id", request_id});
  HttpResponse res = Write(req, std::move(reply));
  metrics_->HttpHandled(MethodLabel(req.method), route_label, res.status,
                        absl::ToDoubleSeconds(absl::Now() - start));
  return res;
}

HttpResponse RestServer::ServerError(int status, const std::string& message,
                                     const HttpRequest& req) {
  const grpc::StatusCode code = status == 413 || status == 431 || status == 503
                                    ? (status == 503 ? grpc::StatusCode::UNAVAILABLE
                                                     : grpc::StatusCode::RESOURCE_EXHAUSTED)
                                    : grpc::StatusCode::INVALID_ARGUMENT;
  Reply reply;
  Fail(&reply, grpc::Status(code, message), status);
  reply.headers.push_back(
      {"X-Request-Id", ChooseRequestId(req.Header("x-request-id"), req.Header("traceparent"))});
  HttpResponse res = Write(req, std::move(reply));
  metrics_->HttpHandled(MethodLabel(req.method), "unmatched", res.status, 0);
  return res;
}

void RestServer::Answer(const HttpRequest& req, const std::string& request_id, Reply* out,
                        std::string* route_label) {
  Reply& reply = *out;
  const std::string& method = req.method;
  // The raw target: RestRouteTable decodes each path segment itself, so an
  // encoded '/' inside a value cannot change the route.
  const size_t question = req.target.find('?');
  const std::string path = req.target.substr(0, question);
  const std::string query = question == std::string::npos ? "" : req.target.substr(question + 1);
  auto header = [&req](const char* name) { return req.Header(absl::AsciiStrToLower(name)); };
  const std::string origin = header("Origin");
  // CORS preflight: answered before authentication (browsers send no token with it).
  if (method == "OPTIONS") {
    CorsDecision cors = CorsPreflight(options_.cors, origin, header("Access-Control-Request-Method"),
                                      header("Access-Control-Request-Headers"));
    *route_label = "preflight";
    if (!cors.allowed()) {
      Fail(&reply, grpc::Status(grpc::StatusCode::PERMISSION_DENIED, cors.message), 403);
      return;
    }
    reply.status = 204;
    reply.headers = std::move(cors.headers);
    reply.content_type.clear();
    return;
  }
  for (const ExtraRoute& extra : EdgeExtraRoutes()) {
    if (path != extra.path) continue;
    *route_label = extra.path;
    if (method != extra.http_method) {
      Fail(&reply,
           grpc::Status(
               grpc::StatusCode::UNIMPLEMENTED,
               absl::StrCat(method, " is not allowed on ", path, "; allowed: ", extra.http_method)),
           405);
      reply.headers.push_back({"Allow", extra.http_method});
      return;
    }
    reply.content_type = extra.content_type;
    if (extra.path == "/openapi.json") {
      reply.body = std::string(EmbeddedOpenApiJson());
    } else if (serving_) {
      reply.body = "ok\n";
    } else {
      reply.status = 503;
      reply.body = "draining\n";
    }
    return;
  }
  RestRouteTable::Match match = routes_.Find(method, path);
  if (match.route == nullptr) {
    if (!match.allowed_methods.empty()) {
      const std::string allowed = absl::StrJoin(match.allowed_methods, ", ");
      Fail(&reply,
           grpc::Status(grpc::StatusCode::UNIMPLEMENTED,
                        absl::StrCat(method, " is not allowed on ", path, "; allowed: ", allowed)),
           405);
      reply.headers.push_back({"Allow", allowed});
    } else {
      Fail(&reply, grpc::Status(grpc::StatusCode::NOT_FOUND,
                                absl::StrCat("no route for ", method, " ", path,
                                             ": the routes are listed in /openapi.json")));
    }
    return;
  }
  const RestRoute& route = *match.route;
  *route_label = route.path;
  std::string body;
  if (route.has_body) {
    const std::string type = absl::AsciiStrToLower(header("Content-Type"));
    if (!type.empty() && !absl::StartsWith(type, "application/json")) {
      Fail(&reply,
           grpc::Status(
               grpc::StatusCode::INVALID_ARGUMENT,
               absl::StrCat("Content-Type ", type, " is not supported: send application/json")),
           415);
      return;
    }
    // Bodies arrive as sent; gzip, deflate and br are inflated here, only
    // up to the limit (a small body that inflates to megabytes stops there).
    absl::StatusOr<std::string> decoded =
        DecodeBody(header("Content-Encoding"), req.body, options_.https.max_body_bytes);
    if (!decoded.ok()) {
      const bool too_large = decoded.status().code() == absl::StatusCode::kResourceExhausted;
      const bool unsupported = decoded.status().code() == absl::StatusCode::kUnimplemented;
      Fail(&reply,
           grpc::Status(too_large ? grpc::StatusCode::RESOURCE_EXHAUSTED
                                  : grpc::StatusCode::INVALID_ARGUMENT,
                        std::string(decoded.status().message())),
           too_large ? 413 : unsupported ? 415 : 400);
      return;
    }
    body = std::move(*decoded);
  }
  std::optional<CallsInFlight::Slot> slot;
  if (options_.calls != nullptr && !(slot = options_.calls->TryAcquire(req.remote_address))) {
    Fail(&reply, TooManyCallsInFlight(req.remote_address, options_.calls->per_address()));
    reply.headers.push_back({"Retry-After", "1"});
    return;
  }
  Admission admission = gate_->Admit(header("Authorization"), route.anonymous, req.remote_address,
                                     absl::Now() + options_.deadline);
  if (!admission.status.ok()) {
    Fail(&reply, admission.status);
    AddAdmissionHeaders(admission, header("Authorization"), &reply);
    return;
  }
  admission.caller.request_id = request_id;
  admission.caller.idempotency_key = header("Idempotency-Key");
  const Handler& handler = handlers_.at(route.method->name());
  std::unique_ptr<Message> request(handler.request_prototype->New());
  std::unique_ptr<Message> response(handler.response_prototype->New());
  absl::Status bound = BindRequest(route, match.path_params, query, body, request.get());
  if (!bound.ok()) {
    Fail(&reply, grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, std::string(bound.message())));
    return;
  }
  if (handler.server_streaming) {
    return AnswerWatch(req, admission.caller,
                       static_cast<v1::WatchMyApplicationRequest*>(request.get()), &reply);
  }
  grpc::Status status = handler.invoke(*api_, admission.caller, *request, response.get());
  if (!status.ok()) {
    Fail(&reply, status);
    return;
  }
  absl::StatusOr<std::string> json = ResponseJson(*response);
  if (!json.ok()) {
    Fail(&reply, grpc::Status(grpc::StatusCode::INTERNAL, "cannot encode the response"));
    return;
  }
  reply.status = route.success_status;
  reply.body = std::move(*json);
}

void RestServer::AnswerWatch(const HttpRequest& req, const CitizenCaller& caller,
                             v1::WatchMyApplicationRequest* request, Reply* reply) {
  // EventSource reconnects with Last-Event-ID: the last sequence it received.
  const std::string last_event_id(absl::StripAsciiWhitespace(req.Header("last-event-id")));
  if (!last_event_id.empty()) {
    int64_t after = 0;
    if (!absl::SimpleAtoi(last_event_id, &after) || after < 0) {
      Fail(reply, grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                               "Last-Event-ID must be the id of the last event received (a "
                               "sequence, 0 or more)"));
      return;
    }
    if (request->after_sequence() != 0 && request->after_sequence() != after) {
      Fail(reply, grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                               "after_sequence differs from the Last-Event-ID header: send the "
                               "resume point once, or the same in both"));
      return;
    }
    request->set_after_sequence(after);
  }
  auto stream = std::make_shared<SseWatchStream>(api_->options().watches);
  std::shared_ptr<WatchRelay> relay;
  grpc::Status started = api_->StartWatch(caller, *request, stream.get(), &relay);
  if (!started.ok()) {
    Fail(reply, started);
    if (started.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED) {
      reply->headers.push_back({"Retry-After", "1"});
    }
    return;
  }
  stream->SetRelay(std::move(relay));
  // The node refuses at once (not found, out of range, its limit) and
  // otherwise sends the history first: an answer it gives before any event
  // is answered with its HTTP status rather than as an event of a 200 stream.
  grpc::Status refused = stream->WaitFirst(absl::Seconds(2));
  if (!refused.ok()) {
    Fail(reply, refused);
    return;
  }
  reply->status = 200;
  reply->content_type = "text/event-stream; charset=utf-8";
  // Proxies (nginx) must pass events on as they come, not buffer them.
  reply->headers.push_back({"X-Accel-Buffering", "no"});
  reply->stream = std::move(stream);
}

HttpResponse RestServer::Write(const HttpRequest& req, Reply reply) const {
  auto header = [&req](const char* name) { return req.Header(absl::AsciiStrToLower(name)); };
  HttpHeaders cors = req.method == "OPTIONS" ? HttpHeaders{}
                                             : CorsResponseHeaders(options_.cors, header("Origin"));
  for (auto& h : cors) reply.headers.push_back(std::move(h));
  if (reply.stream != nullptr) {
    HttpResponse res;
    res.status = reply.status;
    res.headers.push_back({"Cache-Control", "no-store"});
    res.headers.push_back({"X-Content-Type-Options", "nosniff"});
    for (auto& h : reply.headers) res.headers.push_back(std::move(h));
    res.headers.push_back({"Content-Type", reply.content_type});
    res.stream = std::move(reply.stream);
    return res;
  }
  if (reply.body.size() >= kGzipMinBytes && AcceptsGzip(header("Accept-Encoding"))) {
    absl::StatusOr<std::string> zipped = Gzip(reply.body);
    if (zipped.ok()) {
      reply.body = std::move(*zipped);
      reply.headers.push_back({"Content-Encoding", "gzip"});
    }
  }
  if (!reply.body.empty() || reply.status != 204) {
    reply.headers.push_back({"Vary", "Accept-Encoding"});
  }
  HttpResponse res;
  res.status = reply.status;
  // Personal data: never cached by intermediaries or the browser.
  res.headers.push_back({"Cache-Control", "no-store"});
  res.headers.push_back({"X-Content-Type-Options", "nosniff"});
  for (auto& h : reply.headers) res.headers.push_back(std::move(h));
  if (!reply.content_type.empty() && !reply.body.empty()) {
    res.headers.push_back({"Content-Type", reply.content_type});
  }
  res.body = std::move(reply.body);
  return res;
}

}  // namespace tongban::edge
