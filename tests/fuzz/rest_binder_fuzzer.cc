// Fuzz target: the public edge's REST binder (gateway/edge/rest_routes): the
// route table of tongban.v1.CitizenService matching a method and a raw path,
// and BindRequest filling the request message from the path parameters, the
// query string and the JSON body — what cpp-httplib hands over from the wire.
//
// Input (text, so seeds are readable): "<METHOD> <path>[?<query>]\n<body>".
// Without a space the whole first line is the path of a GET; without a
// newline the body is empty.
// Properties: no crash; a path matches at most through its own route's
// variables; a bound request serializes and prints as the edge's JSON.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/strings/string_view.h"
#include "fuzz_check.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/dynamic_message.h"
#include "google/protobuf/message.h"
#include "rest_routes.h"
#include "tongban/v1/citizen.grpc.pb.h"

namespace {

const tongban::edge::RestRouteTable& Routes() {
  static const auto* table = [] {
    // Through a message of citizen.proto, so the static library's object
    // that registers the file is linked in.
    const auto* service = tongban::v1::SearchGuidesRequest::descriptor()->file()->FindServiceByName(
        "CitizenService");
    FUZZ_CHECK(service != nullptr);
    auto routes = tongban::edge::RestRouteTable::ForService(*service);
    FUZZ_CHECK(routes.ok());
    return new tongban::edge::RestRouteTable(std::move(*routes));
  }();
  return *table;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const tongban::edge::RestRouteTable& routes = Routes();
  absl::string_view input(reinterpret_cast<const char*>(data), size);
  absl::string_view line = input;
  absl::string_view body;
  if (size_t nl = input.find('\n'); nl != absl::string_view::npos) {
    line = input.substr(0, nl);
    body = input.substr(nl + 1);
  }
  absl::string_view method = "GET";
  absl::string_view target = line;
  if (size_t sp = line.find(' '); sp != absl::string_view::npos) {
    method = line.substr(0, sp);
    target = line.substr(sp + 1);
  }
  absl::string_view path = target;
  absl::string_view query;
  if (size_t q = target.find('?'); q != absl::string_view::npos) {
    path = target.substr(0, q);
    query = target.substr(q + 1);
  }

  tongban::edge::RestRouteTable::Match match = routes.Find(method, path);
  if (match.route == nullptr) return 0;
  const tongban::edge::RestRoute& route = *match.route;
  FUZZ_CHECK(route.method != nullptr);
  FUZZ_CHECK(route.http_method == method);
  size_t variables = 0;
  for (const auto& seg : route.segments) variables += seg.variable ? 1 : 0;
  FUZZ_CHECK(match.path_params.size() == variables);

  const google::protobuf::Message* prototype =
      google::protobuf::MessageFactory::generated_factory()->GetPrototype(
          route.method->input_type());
  FUZZ_CHECK(prototype != nullptr);
  std::unique_ptr<google::protobuf::Message> request(prototype->New());
  absl::Status bound =
      tongban::edge::BindRequest(route, match.path_params, query, body, request.get());
  if (!bound.ok()) {
    FUZZ_CHECK(absl::IsInvalidArgument(bound));
    return 0;
  }
  std::string wire;
  FUZZ_CHECK(request->SerializeToString(&wire));
  absl::StatusOr<std::string> json = tongban::edge::ResponseJson(*request);
  FUZZ_CHECK(json.ok());
  return 0;
}
