// PlaintextHealthServer: a second listener that serves only grpc.health.v1,
// without TLS, for probes that cannot present a client certificate
// (Kubernetes' native gRPC liveness/readiness probes). It carries no data and
// no other service; bind it to a pod-local or cluster-internal address.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "grpcpp/server.h"

namespace tongban {

class PlaintextHealthServer final {
 public:
  // Listens on `address` (port 0 = pick one); starts NOT_SERVING.
  static absl::StatusOr<std::unique_ptr<PlaintextHealthServer>> Start(const std::string& address);

  // Bound address.
  const std::string& address() const { return address_; }
  // Mirrors the main server's status (SERVING / NOT_SERVING).
  void SetServing(bool serving);
  void Shutdown();

 private:
  std::unique_ptr<grpc::Server> server_;
  std::string address_;
};

}  // namespace tongban
