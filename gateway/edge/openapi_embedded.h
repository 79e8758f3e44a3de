// The OpenAPI document of the public API, generated from citizen.proto at
// build time (tongban-openapi --cc_out) and compiled into the gateway, which
// serves it at /openapi.json.
#pragma once

#include <string_view>

namespace tongban::edge {

std::string_view EmbeddedOpenApiJson();

}  // namespace tongban::edge
