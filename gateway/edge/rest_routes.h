// REST routes of a public service, derived from its methods' standard
// google.api.http annotations (protos/google/api/http.proto) and the
// tongban.v1 anonymous / success_status options (protos/tongban/v1/
// api_options.proto), and the binding of an HTTP request (path parameters,
// query string, JSON body) to the request message through protobuf's
// reflection and proto3 JSON mapping.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/message.h"

namespace tongban::edge {

struct PathSegment {
  bool variable = false;
  std::string text;  // literal text, or the bound field's name
};

struct RestRoute {
  const google::protobuf::MethodDescriptor* method = nullptr;
  std::string http_method;  // "GET" or "POST"
  std::string path;         // the template as written in the proto
  std::vector<PathSegment> segments;
  std::string verb;  // the ":verb" of the last segment, without ':'; "" = none
  bool has_body = false;
  bool anonymous = false;
  int success_status = 200;
};

using PathParams = std::vector<std::pair<std::string, std::string>>;  // field name, decoded value

class RestRouteTable {
 public:
  // INVALID_ARGUMENT naming the method when one has no google.api.http
  // rule, a pattern other than get, post or custom GET/POST,
  // additional_bindings or a response_body, a malformed template, a variable that is not a
  // top-level singular string field, a body on GET, a body other than "*"
  // or none, a success_status outside 2xx, a message or map field outside
  // the path of a route without a body (a query string cannot carry it), or
  // collides with another (some request path would match both).
  static absl::StatusOr<RestRouteTable> ForService(
      const google::protobuf::ServiceDescriptor& service);

  struct Match {
    const RestRoute* route = nullptr;
    PathParams path_params;
    // When no route matched: the methods the path does answer (405 when
    // non-empty, 404 when empty).
    std::vector<std::string> allowed_methods;
  };
  // `path` without the query string, still percent-encoded.
  Match Find(absl::string_view http_method, absl::string_view path) const;

  const std::vector<RestRoute>& routes() const { return routes_; }

 private:
  std::vector<RestRoute> routes_;
};

// Fills `request` (cleared first) from the path parameters, the query
// string (routes without a body: singular and repeated scalar fields,
// lowerCamelCase or proto names, enums by name, percent-decoded UTF-8,
// '+' = space) and the JSON body (routes with body "*": proto3 JSON, unknown
// fields refused, empty = {}; no query parameters). INVALID_ARGUMENT naming
// the parameter or field at fault; INTERNAL when `request` is not the
// route's request type.
absl::Status BindRequest(const RestRoute& route, const PathParams& path_params,
                         absl::string_view query_string, absl::string_view body,
                         google::protobuf::Message* request);

// The edge's proto3 JSON of a response (lowerCamelCase names, enums by name,
// fields with default values included so clients see every field): what
// MessageToJsonString prints with always_print_primitive_fields, by the
// cheaper printer of proto_json_writer.h where it covers the type.
absl::StatusOr<std::string> ResponseJson(const google::protobuf::Message& message);

}  // namespace tongban::edge
