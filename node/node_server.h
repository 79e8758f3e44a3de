// NodeServer assembles a running tongban-node from its config: the store,
// the demo catalog, the three tongban.v1 services, health, reflection,
// metrics and mTLS; and takes it down gracefully. main() only parses flags
// and waits for a signal.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "tongban/v1/node_config.pb.h"

namespace tongban::node {

class NodeServer {
 public:
  virtual ~NodeServer() = default;
  // Bound addresses (port 0 in the config resolved).
  virtual std::string grpc_address() const = 0;
  virtual std::string metrics_address() const = 0;
  // The plaintext grpc.health.v1 listener ("" when not configured).
  virtual std::string health_address() const = 0;
  // NOT_SERVING, then finishes in-flight calls within the configured grace,
  // then closes the store. Idempotent.
  virtual void Shutdown() = 0;
};

// Starts a node; fails with a message naming the problem (config, certificate
// identity, store, port) and leaves nothing running.
absl::StatusOr<std::unique_ptr<NodeServer>> StartNodeServer(const v1::NodeConfig& config);

}  // namespace tongban::node
