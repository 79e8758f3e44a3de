// Builder options of the public gRPC port (CitizenService for citizens'
// apps, server-only TLS), which the open internet reaches:
//   - no server reflection there (the internal mTLS ports keep it): the
//     reflection plugin is registered process-wide, so the public builder
//     drops it with WithoutServerReflection;
//   - gRPC's own connection-level protections from PublicEdgeConfig: streams
//     per connection, idle and maximum connection age, handshake deadline,
//     keepalive policy and a thread limit (ApplyPublicGrpcLimits).
// Per-address connection limits live in PublicGrpcListener; see
// docs/public-api.md "The gRPC face" for the whole list.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "grpcpp/impl/server_builder_option.h"
#include "grpcpp/server_builder.h"
#include "tongban/v1/gateway_config.pb.h"

namespace tongban::edge {

// Removes the server reflection plugin ("proto_server_reflection") from the
// builder it is set on: builder.SetOption(std::make_unique<WithoutServerReflection>()).
class WithoutServerReflection final : public grpc::ServerBuilderOption {
 public:
  void UpdateArguments(grpc::ChannelArguments* args) override;
  void UpdatePlugins(std::vector<std::unique_ptr<grpc::ServerBuilderPlugin>>* plugins) override;
};

// The name gRPC 1.51's reflection plugin registers under.
inline constexpr char kReflectionPluginName[] = "proto_server_reflection";

// Channel arguments and thread limit of the public gRPC server from the
// (finished, see FinishGatewayConfig) public edge config.
void ApplyPublicGrpcLimits(const v1::PublicEdgeConfig& edge, grpc::ServerBuilder* builder);

}  // namespace tongban::edge
