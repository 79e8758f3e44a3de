// GatewayServer assembles a running tongban-gateway from its config: node
// pool, directory watcher, catalog cache, the query and relay services,
// health, reflection, metrics and mTLS; and drains it gracefully.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "tongban/v1/gateway_config.pb.h"

namespace tongban::gateway {

class GatewayServer {
 public:
  virtual ~GatewayServer() = default;
  virtual std::string grpc_address() const = 0;
  virtual std::string metrics_address() const = 0;
  // The plaintext grpc.health.v1 listener ("" when not configured).
  virtual std::string health_address() const = 0;
  // The public edge's HTTPS and public gRPC listeners ("" when off).
  virtual std::string https_address() const = 0;
  virtual std::string public_grpc_address() const = 0;
  // NOT_SERVING, waits drain_delay so balancers notice, then lets in-flight
  // calls finish within the grace period. Idempotent.
  virtual void Shutdown() = 0;
};

absl::StatusOr<std::unique_ptr<GatewayServer>> StartGatewayServer(const v1::GatewayConfig& config);

}  // namespace tongban::gateway
