#include "rest_server.h"

#include <openssl/ssl.h>

#include <cstring>
#include <mutex>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "civetweb.h"
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

// An answer being put together.
struct Reply {
  int status = 200;
  HttpHeaders headers;
  std::string body;
  std::string content_type = "application/json; charset=utf-8";
};

void Fail(Reply* r, const grpc::Status& s, int http_status = 0) {
  r->status = http_status != 0 ? http_status : HttpStatusForGrpc(s.error_code());
  r->body = ErrorBodyJson(s);
  r->content_type = "application/json; charset=utf-8";
}

std::string Header(const mg_connection* conn, const char* name) {
  const char* v = mg_get_header(conn, name);
  return v == nullptr ? "" : v;
}

std::string MethodLabel(absl::string_view m) {
  return m == "GET" || m == "POST" || m == "OPTIONS" ? std::string(m) : "other";
}

// Reads the body, refusing more than `max` bytes (413) without buffering it.
bool ReadBody(mg_connection* conn, size_t max, std::string* body, Reply* reply) {
  const mg_request_info* info = mg_get_request_info(conn);
  auto too_large = [&] {
    Fail(reply,
         grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                      absl::StrCat("request body is larger than ", max,
                                   " bytes: materials are sent as metadata and SHA-256, not content")),
         413);
    reply->headers.push_back({"Connection", "close"});
    return false;
  };
  if (info->content_length > static_cast<long long>(max)) return too_large();
  char buf[8192];
  for (;;) {
    int n = mg_read(conn, buf, sizeof(buf));
    if (n <= 0) break;
    body->append(buf, static_cast<size_t>(n));
    if (body->size() > max) return too_large();
  }
  return true;
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
  absl::StatusOr<RestRouteTable> routes =
      RestRouteTable::ForService(*google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(
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

  static std::once_flag init;
  std::call_once(init, [] { mg_init_library(MG_FEATURES_TLS); });
  const RestServerOptions& o = server->options_;
  const std::string ports = absl::StrCat(o.listen_address, "s");  // 's': TLS
  const std::string threads = absl::StrCat(o.threads);
  const std::string keep_alive_ms = absl::StrCat(o.keep_alive_seconds * 1000);
  const char* config[] = {"listening_ports", ports.c_str(),
                          "num_threads", threads.c_str(),
                          "enable_keep_alive", "yes",
                          "keep_alive_timeout_ms", keep_alive_ms.c_str(),
                          "request_timeout_ms", "30000",
                          "max_request_size", "16384",  // request line + headers
                          "decode_url", "no",           // RestRouteTable decodes per segment
                          "decode_query_string", "no",
                          "tcp_nodelay", "1",
                          "ssl_protocol_version", "4",  // TLS 1.2 and newer
                          nullptr};
  mg_callbacks callbacks;
  std::memset(&callbacks, 0, sizeof(callbacks));
  callbacks.begin_request = &RestServer::OnRequest;
  callbacks.init_ssl = &RestServer::OnInitSsl;
  callbacks.log_message = &RestServer::OnLog;
  mg_init_data init_data;
  std::memset(&init_data, 0, sizeof(init_data));
  init_data.callbacks = &callbacks;
  init_data.user_data = server.get();
  init_data.configuration_options = config;
  mg_error_data error;
  char error_text[256] = {0};
  std::memset(&error, 0, sizeof(error));
  error.text = error_text;
  error.text_buffer_size = sizeof(error_text);
  server->ctx_ = mg_start2(&init_data, &error);
  if (server->ctx_ == nullptr) {
    return absl::UnavailableError(absl::StrCat("cannot serve HTTPS on ", o.listen_address, ": ",
                                               error_text[0] != '\0' ? error_text : "unknown error"));
  }
  mg_server_port bound[4];
  int n = mg_get_server_ports(server->ctx_, 4, bound);
  const size_t colon = o.listen_address.rfind(':');
  const std::string host = colon == std::string::npos ? "0.0.0.0" : o.listen_address.substr(0, colon);
  server->address_ = absl::StrCat(host, ":", n > 0 ? bound[0].port : 0);
  return server;
}

RestServer::~RestServer() { Stop(); }

void RestServer::Stop() {
  if (ctx_ != nullptr) {
    mg_stop(ctx_);
    ctx_ = nullptr;
  }
}

int RestServer::OnInitSsl(void* ssl_ctx, void* user_data) {
  auto* self = static_cast<RestServer*>(user_data);
  SSL_CTX* ctx = static_cast<SSL_CTX*>(ssl_ctx);
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  if (SSL_CTX_use_certificate_chain_file(ctx, self->options_.cert_file.c_str()) != 1 ||
      SSL_CTX_use_PrivateKey_file(ctx, self->options_.key_file.c_str(), SSL_FILETYPE_PEM) != 1 ||
      SSL_CTX_check_private_key(ctx) != 1) {
    self->log_->Error("edge.tls_setup_failed", {{"cert", self->options_.cert_file},
                                               {"key", self->options_.key_file}});
    return -1;
  }
  return 1;  // certificate set up here
}

int RestServer::OnLog(const mg_connection* conn, const char* message) {
  const mg_request_info* info = conn == nullptr ? nullptr : mg_get_request_info(conn);
  auto* self = info == nullptr ? nullptr : static_cast<RestServer*>(info->user_data);
  if (self != nullptr) self->log_->Warn("edge.http_error", {{"detail", message}});
  return 1;
}

int RestServer::OnRequest(mg_connection* conn) {
  const mg_request_info* info = mg_get_request_info(conn);
  static_cast<RestServer*>(info->user_data)->Serve(conn);
  return 1;  // handled: civetweb does nothing more with it
}

void RestServer::Serve(mg_connection* conn) {
  const absl::Time start = absl::Now();
  const mg_request_info* info = mg_get_request_info(conn);
  const std::string method = info->request_method == nullptr ? "" : info->request_method;
  const std::string path = info->local_uri_raw != nullptr ? info->local_uri_raw
                           : info->local_uri != nullptr   ? info->local_uri
                                                          : "";
  const std::string query = info->query_string == nullptr ? "" : info->query_string;
  const std::string origin = Header(conn, "Origin");
  std::string route_label = "unmatched";
  Reply reply;

  [&] {
    // CORS preflight: answered before authentication (browsers send no token with it).
    if (method == "OPTIONS") {
      const std::string wanted = Header(conn, "Access-Control-Request-Method");
      HttpHeaders cors = CorsPreflightHeaders(options_.cors, origin, wanted,
                                              Header(conn, "Access-Control-Request-Headers"));
      route_label = "preflight";
      if (wanted.empty() || cors.empty()) {
        Fail(&reply, grpc::Status(grpc::StatusCode::PERMISSION_DENIED,
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
      route_label = extra.path;
      if (method != extra.http_method) {
        Fail(&reply, grpc::Status(grpc::StatusCode::UNIMPLEMENTED,
                                  absl::StrCat(method, " is not allowed on ", path, "; allowed: ",
                                               extra.http_method)),
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
        Fail(&reply, grpc::Status(grpc::StatusCode::UNIMPLEMENTED,
                                  absl::StrCat(method, " is not allowed on ", path,
                                               "; allowed: ", allowed)),
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
    route_label = route.path;
    std::string body;
    if (route.has_body) {
      const std::string type = absl::AsciiStrToLower(Header(conn, "Content-Type"));
      if (!type.empty() && !absl::StartsWith(type, "application/json")) {
        Fail(&reply, grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                                  absl::StrCat("Content-Type ", type,
                                               " is not supported: send application/json")),
             415);
        return;
      }
      if (!ReadBody(conn, options_.max_request_bytes, &body, &reply)) return;
      const std::string encoding = absl::AsciiStrToLower(Header(conn, "Content-Encoding"));
      if (encoding == "gzip") {
        absl::StatusOr<std::string> plain = Gunzip(body, options_.max_request_bytes);
        if (!plain.ok()) {
          Fail(&reply, grpc::Status(plain.status().code() == absl::StatusCode::kResourceExhausted
                                        ? grpc::StatusCode::RESOURCE_EXHAUSTED
                                        : grpc::StatusCode::INVALID_ARGUMENT,
                                    absl::StrCat("request body: ", plain.status().message())),
               plain.status().code() == absl::StatusCode::kResourceExhausted ? 413 : 400);
          return;
        }
        body = std::move(*plain);
      } else if (!encoding.empty() && encoding != "identity") {
        Fail(&reply, grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                                  absl::StrCat("Content-Encoding ", encoding,
                                               " is not supported: send gzip or identity")),
             415);
        return;
      }
    }
    Admission admission = gate_->Admit(Header(conn, "Authorization"), route.anonymous,
                                       info->remote_addr, absl::Now() + options_.deadline);
    if (!admission.status.ok()) {
      Fail(&reply, admission.status);
      if (admission.status.error_code() == grpc::StatusCode::UNAUTHENTICATED) {
        // RFC 6750: say which scheme, and why a presented token was refused.
        std::string challenge = "Bearer realm=\"tongban\"";
        if (admission.token_presented) {
          std::string reason = admission.status.error_message();
          for (char& c : reason) {
            if (c == '"' || c == '\\' || static_cast<unsigned char>(c) < 0x20) c = '\'';
          }
          absl::StrAppend(&challenge, ", error=\"invalid_token\", error_description=\"", reason,
                          "\"");
        }
        reply.headers.push_back({"WWW-Authenticate", challenge});
      } else if (admission.status.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED) {
        reply.headers.push_back({"Retry-After", RetryAfterSeconds(admission.retry_after)});
      }
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
  }();

  HttpHeaders cors = method == "OPTIONS" ? HttpHeaders{} : CorsResponseHeaders(options_.cors, origin);
  for (auto& h : cors) reply.headers.push_back(std::move(h));
  if (reply.body.size() >= kGzipMinBytes && AcceptsGzip(Header(conn, "Accept-Encoding"))) {
    absl::StatusOr<std::string> zipped = Gzip(reply.body);
    if (zipped.ok()) {
      reply.body = std::move(*zipped);
      reply.headers.push_back({"Content-Encoding", "gzip"});
    }
  }
  if (!reply.body.empty() || reply.status != 204) {
    reply.headers.push_back({"Vary", "Accept-Encoding"});
  }
  mg_response_header_start(conn, reply.status);
  if (!reply.content_type.empty()) {
    mg_response_header_add(conn, "Content-Type", reply.content_type.c_str(), -1);
  }
  // Personal data: never cached by intermediaries or the browser.
  mg_response_header_add(conn, "Cache-Control", "no-store", -1);
  mg_response_header_add(conn, "X-Content-Type-Options", "nosniff", -1);
  for (const auto& [name, value] : reply.headers) {
    mg_response_header_add(conn, name.c_str(), value.c_str(), static_cast<int>(value.size()));
  }
  const std::string length = absl::StrCat(reply.body.size());
  mg_response_header_add(conn, "Content-Length", length.c_str(), -1);
  mg_response_header_send(conn);
  if (!reply.body.empty()) mg_write(conn, reply.body.data(), reply.body.size());
  metrics_->HttpHandled(MethodLabel(method), route_label, reply.status,
                        absl::ToDoubleSeconds(absl::Now() - start));
}

}  // namespace tongban::edge
