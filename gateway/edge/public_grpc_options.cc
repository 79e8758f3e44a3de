#include "public_grpc_options.h"

#include <algorithm>

#include "grpc/grpc.h"
#include "grpcpp/impl/server_builder_plugin.h"
#include "grpcpp/resource_quota.h"

namespace tongban::edge {

void WithoutServerReflection::UpdateArguments(grpc::ChannelArguments* /*args*/) {}

void WithoutServerReflection::UpdatePlugins(
    std::vector<std::unique_ptr<grpc::ServerBuilderPlugin>>* plugins) {
  plugins->erase(std::remove_if(plugins->begin(), plugins->end(),
                                [](const std::unique_ptr<grpc::ServerBuilderPlugin>& p) {
                                  return p != nullptr && p->name() == kReflectionPluginName;
                                }),
                 plugins->end());
}

void ApplyPublicGrpcLimits(const v1::PublicEdgeConfig& e, grpc::ServerBuilder* builder) {
  // Calls in flight on one HTTP/2 connection; more wait in the client.
  builder->AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS, e.grpc_max_concurrent_streams());
  // TLS handshake and the client's HTTP/2 preface and SETTINGS must arrive
  // within this, or the connection is closed (slow or silent clients).
  builder->AddChannelArgument(GRPC_ARG_SERVER_HANDSHAKE_TIMEOUT_MS,
                              e.grpc_handshake_timeout_seconds() * 1000);
  // A connection without calls for this long gets GOAWAY and is closed;
  // gRPC clients reconnect transparently on their next call.
  builder->AddChannelArgument(GRPC_ARG_MAX_CONNECTION_IDLE_MS, e.grpc_idle_timeout_seconds() * 1000);
  // Every connection is closed (GOAWAY) after this age, so clients spread
  // over replicas again; calls in flight get a grace period.
  builder->AddChannelArgument(GRPC_ARG_MAX_CONNECTION_AGE_MS,
                              e.grpc_max_connection_age_seconds() * 1000);
  builder->AddChannelArgument(GRPC_ARG_MAX_CONNECTION_AGE_GRACE_MS, 30 * 1000);
  // The server pings a connection silent for 2 minutes and closes it when
  // no answer comes within 20 s (peers that vanished without a FIN).
  builder->AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, 120 * 1000);
  builder->AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 20 * 1000);
  // Client pings no more often than every 10 s without calls; two strikes
  // (gRPC's default) and the connection is closed with GOAWAY.
  builder->AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 10 * 1000);
  // Request metadata (headers) per call, as the HTTPS face: 16 KiB.
  builder->AddChannelArgument(GRPC_ARG_MAX_METADATA_SIZE, 16 * 1024);
  // Threads running handlers; a call beyond them is answered
  // RESOURCE_EXHAUSTED at once instead of queueing without bound.
  grpc::ResourceQuota quota("tongban-public-grpc");
  quota.SetMaxThreads(e.grpc_max_threads());
  builder->SetResourceQuota(quota);
}

}  // namespace tongban::edge
