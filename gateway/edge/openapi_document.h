// The OpenAPI 3 document of the public API, generated from the same
// descriptors (with their comments) as the REST routes, so a route cannot
// exist without its documentation.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/descriptor.pb.h"

namespace tongban::edge {

// Routes the edge serves besides the service's methods.
struct ExtraRoute {
  std::string http_method;
  std::string path;
  std::string summary;
  std::string content_type;  // of the success response
};
// GET /openapi.json (this document) and GET /healthz.
const std::vector<ExtraRoute>& EdgeExtraRoutes();

// `descriptors` must include the service's file, its imports and source
// info (protoc --include_imports --include_source_info). The JSON is
// deterministic (object keys sorted): the same set gives the same bytes.
absl::StatusOr<std::string> BuildOpenApiDocument(
    const google::protobuf::FileDescriptorSet& descriptors, absl::string_view service_full_name);

}  // namespace tongban::edge
