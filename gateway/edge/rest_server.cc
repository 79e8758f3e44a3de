#include "rest_server.h"

#include <openssl/ssl.h>

#include <chrono>
#include <memory>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "httplib.h"
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
      {"CheckMaterials", MakeHandler(&CitizenApi::CheckMaterials)},
      {"SubmitMyApplication", MakeHandler(&CitizenApi::SubmitMyApplication)},
      {"ListMyApplications", MakeHandler(&CitizenApi::ListMyApplications)},
      {"GetMyApplication", MakeHandler(&CitizenApi::GetMyApplication)},
      {"SupplementMyMaterials", MakeHandler(&CitizenApi::SupplementMyMaterials)},
      {"WithdrawMyApplication", MakeHandler(&CitizenApi::WithdrawMyApplication)},
  };
}

}  // namespace

struct RestServer::Reply {
  int status = 200;
  HttpHeaders headers;
  std::string body;
  std::string content_type = "application/json; charset=utf-8";
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

  const RestServerOptions& o = server->options_;
  RestServer* self = server.get();
  if (o.certificate == nullptr) {
    return absl::InvalidArgumentError("the HTTPS edge needs a certificate");
  }
  // The TLS context is ours to set up: TLS 1.2 or newer, and the certificate
  // chosen at each handshake from the watched files.
  server->http_ = std::make_unique<httplib::SSLServer>([self](SSL_CTX& ctx) {
    SSL_CTX_set_min_proto_version(&ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(&ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
    // options_ (and so the pair) outlives http_, whose handshakes use it.
    self->options_.certificate->Install(&ctx);
    return true;
  });
  if (!server->http_->is_valid()) {
    return absl::InternalError("public_edge: cannot create the TLS context");
  }
  httplib::SSLServer& http = *server->http_;
  const int threads = o.threads;
  http.new_task_queue = [threads] { return new httplib::ThreadPool(static_cast<size_t>(threads)); };
  http.set_keep_alive_max_count(1000);
  http.set_keep_alive_timeout(o.keep_alive_seconds);
  http.set_read_timeout(std::chrono::seconds(30));
  http.set_write_timeout(std::chrono::seconds(30));
  http.set_tcp_nodelay(true);
  http.set_payload_max_length(o.max_request_bytes);
  auto serve = [self](const httplib::Request& req, httplib::Response& res) {
    self->Serve(req, res, req.body, BodyRead::kComplete);
  };
  // Bodies are read here, as a stream, so the limit holds for what is
  // parsed: a chunked upload or a small gzip body that inflates to megabytes
  // stops at max_request_bytes instead of being buffered whole first.
  auto serve_body = [self](const httplib::Request& req, httplib::Response& res,
                           const httplib::ContentReader& reader) {
    std::string body;
    const size_t max = self->options_.max_request_bytes;
    // A declared length over the limit is refused unread (httplib would
    // fail the read without telling why).
    uint64_t declared = 0;
    bool too_large =
        absl::SimpleAtoi(req.get_header_value("Content-Length"), &declared) && declared > max;
    bool read = !too_large && reader([&](const char* data, size_t length) {
      if (body.size() + length > max) {
        too_large = true;
        return false;
      }
      body.append(data, length);
      return true;
    });
    if (!read || too_large) {
      // Whatever is left of the body is not read: do not reuse the connection.
      res.set_header("Connection", "close");
    }
    self->Serve(
        req, res, body,
        too_large ? BodyRead::kTooLarge : (read ? BodyRead::kComplete : BodyRead::kUnreadable));
  };
  // Every method reaches Serve, which routes from the table (and answers
  // 404/405 itself); httplib only reads the request and writes the answer.
  const std::string any = ".*";
  http.Get(any, serve);
  http.Options(any, serve);
  http.Post(any, httplib::Server::HandlerWithContentReader(serve_body));
  http.Put(any, httplib::Server::HandlerWithContentReader(serve_body));
  http.Patch(any, httplib::Server::HandlerWithContentReader(serve_body));
  http.Delete(any, httplib::Server::HandlerWithContentReader(serve_body));
  // Answers httplib makes itself (413 body too large, 415 unknown
  // Content-Encoding, 400 malformed request) get the same JSON error body.
  http.set_error_handler(httplib::Server::HandlerWithResponse([self](const httplib::Request& req,
                                                                     httplib::Response& res) {
    // Serve's own answers (errors included) come with a body provider.
    if (!res.body.empty() || res.content_length_ > 0) {
      return httplib::Server::HandlerResponse::Unhandled;
    }
    grpc::StatusCode code = res.status == 413 ? grpc::StatusCode::RESOURCE_EXHAUSTED
                                              : grpc::StatusCode::INVALID_ARGUMENT;
    std::string message =
        res.status == 413
            ? absl::StrCat("request body is larger than ", self->options_.max_request_bytes,
                           " bytes: materials are sent as metadata and SHA-256, not content")
        : res.status == 415 ? "Content-Encoding is not supported: send gzip, br or none"
                            : absl::StrCat("malformed HTTP request (", res.status, ")");
    res.set_content(ErrorBodyJson(grpc::Status(code, message)), "application/json; charset=utf-8");
    // The headers of every answer (docs/public-api.md), and CORS so that a
    // browser app can read the error.
    res.set_header("Cache-Control", "no-store");
    res.set_header("X-Content-Type-Options", "nosniff");
    for (const auto& [name, value] :
         CorsResponseHeaders(self->options_.cors, req.get_header_value("Origin"))) {
      res.set_header(name.c_str(), value);
    }
    self->metrics_->HttpHandled(MethodLabel(req.method), "unmatched", res.status, 0);
    return httplib::Server::HandlerResponse::Handled;
  }));
  const size_t colon = o.listen_address.rfind(':');
  int port = 0;
  if (colon == std::string::npos || !absl::SimpleAtoi(o.listen_address.substr(colon + 1), &port)) {
    return absl::InvalidArgumentError(
        absl::StrCat("public_edge.https_address ", o.listen_address, " is not host:port"));
  }
  const std::string host = o.listen_address.substr(0, colon);
  if (port == 0) {
    port = http.bind_to_any_port(host);
  } else if (!http.bind_to_port(host, port)) {
    port = -1;
  }
  if (port <= 0) {
    return absl::UnavailableError(absl::StrCat("cannot serve HTTPS on ", o.listen_address));
  }
  server->address_ = absl::StrCat(host, ":", port);
  server->listener_ = std::thread([self] { self->http_->listen_after_bind(); });
  return server;
}

RestServer::~RestServer() { Stop(); }

void RestServer::Stop() {
  if (http_ == nullptr) return;
  http_->stop();  // closes the listener; requests in flight finish
  if (listener_.joinable()) listener_.join();
}

void RestServer::Serve(const httplib::Request& req, httplib::Response& res,
                       const std::string& request_body, BodyRead read) {
  const absl::Time start = absl::Now();
  std::string route_label = "unmatched";
  Reply reply;
  Answer(req, request_body, read, &reply, &route_label);
  Write(req, std::move(reply), res);
  metrics_->HttpHandled(MethodLabel(req.method), route_label, res.status,
                        absl::ToDoubleSeconds(absl::Now() - start));
}

void RestServer::Answer(const httplib::Request& req, const std::string& request_body, BodyRead read,
                        Reply* out, std::string* route_label) {
  Reply& reply = *out;
  const std::string& method = req.method;
  // The raw target: RestRouteTable decodes each path segment itself, so an
  // encoded '/' inside a value cannot change the route.
  const size_t question = req.target.find('?');
  const std::string path = req.target.substr(0, question);
  const std::string query = question == std::string::npos ? "" : req.target.substr(question + 1);
  auto header = [&req](const char* name) { return req.get_header_value(name); };
  const std::string origin = header("Origin");
  // CORS preflight: answered before authentication (browsers send no token with it).
  if (method == "OPTIONS") {
    const std::string wanted = header("Access-Control-Request-Method");
    HttpHeaders cors = CorsPreflightHeaders(options_.cors, origin, wanted,
                                            header("Access-Control-Request-Headers"));
    *route_label = "preflight";
    if (wanted.empty() || cors.empty()) {
      Fail(&reply,
           grpc::Status(grpc::StatusCode::PERMISSION_DENIED,
                        absl::StrCat("CORS preflight refused: origin \"", origin,
                                     "\" or the requested method/headers are not allowed")),
           403);
      return;
    }
    reply.status = 204;
    reply.headers = std::move(cors);
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
    // httplib inflates gzip and deflate (spelled so exactly) and anything
    // naming br; it hands any other coding over as is, which must not be
    // parsed as JSON.
    const std::string encoding = header("Content-Encoding");
    if (!encoding.empty() && encoding != "gzip" && encoding != "deflate" &&
        encoding.find("br") == std::string::npos && !absl::EqualsIgnoreCase(encoding, "identity")) {
      Fail(&reply,
           grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        absl::StrCat("Content-Encoding ", encoding,
                                     " is not supported: send gzip, br or identity")),
           415);
      return;
    }
    if (read == BodyRead::kTooLarge) {
      Fail(&reply,
           grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                        absl::StrCat("request body is larger than ", options_.max_request_bytes,
                                     " bytes (once decompressed): materials are sent as "
                                     "metadata and SHA-256, not content")),
           413);
      return;
    }
    if (read == BodyRead::kUnreadable) {
      Fail(&reply, grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                                "request body cannot be read: cut short, or not valid data "
                                "for its Content-Encoding"));
      return;
    }
    body = request_body;
  }
  Admission admission = gate_->Admit(header("Authorization"), route.anonymous, req.remote_addr,
                                     absl::Now() + options_.deadline);
  if (!admission.status.ok()) {
    Fail(&reply, admission.status);
    AddAdmissionHeaders(admission, header("Authorization"), &reply);
    return;
  }
  const Handler& handler = handlers_.at(route.method->name());
  std::unique_ptr<Message> request(handler.request_prototype->New());
  std::unique_ptr<Message> response(handler.response_prototype->New());
  absl::Status bound = BindRequest(route, match.path_params, query, body, request.get());
  if (!bound.ok()) {
    Fail(&reply, grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, std::string(bound.message())));
    return;
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

void RestServer::Write(const httplib::Request& req, Reply reply, httplib::Response& res) const {
  auto header = [&req](const char* name) { return req.get_header_value(name); };
  HttpHeaders cors = req.method == "OPTIONS" ? HttpHeaders{}
                                             : CorsResponseHeaders(options_.cors, header("Origin"));
  for (auto& h : cors) reply.headers.push_back(std::move(h));
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
  res.status = reply.status;
  // Personal data: never cached by intermediaries or the browser.
  res.set_header("Cache-Control", "no-store");
  res.set_header("X-Content-Type-Options", "nosniff");
  for (const auto& [name, value] : reply.headers) res.set_header(name.c_str(), value);
  if (!reply.content_type.empty()) {
    // Through a provider of known length, not set_content: httplib's own
    // compression (text/*, exact application/json) applies to set bodies
    // only, and would compress the edge's gzip again ("Content-Encoding:
    // gzip, gzip" or "gzip, br") and compress answers under 1 KiB.
    auto body = std::make_shared<const std::string>(std::move(reply.body));
    if (body->empty()) {
      res.set_content("", reply.content_type);
    } else {
      res.set_content_provider(body->size(), reply.content_type,
                               [body](size_t offset, size_t length, httplib::DataSink& sink) {
                                 return sink.write(body->data() + offset, length);
                               });
    }
  }
}

}  // namespace tongban::edge
