// tongban-gateway's configuration (GatewayConfig in
// protos/tongban/v1/gateway_config.proto) with defaults filled in and values
// checked, and the federation directory file it watches.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "tongban/v1/gateway_config.pb.h"

namespace tongban::gateway {

absl::StatusOr<v1::GatewayConfig> ReadGatewayConfig(const std::string& path);
absl::StatusOr<v1::GatewayConfig> FinishGatewayConfig(v1::GatewayConfig config);

// Reads and checks a directory: province codes valid and unique, addresses set.
absl::StatusOr<v1::FederationDirectory> ReadDirectory(const std::string& path);

}  // namespace tongban::gateway
