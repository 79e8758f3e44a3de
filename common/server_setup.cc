#include "server_setup.h"

#include "absl/strings/str_cat.h"
#include "grpcpp/resource_quota.h"
#include "tls_credentials.h"

namespace tongban {

void ConfigureServerBuilder(const ServerSetup& setup, grpc::ServerBuilder* builder, int* port) {
  builder->AddListeningPort(setup.listen_address, MakeServerCredentials(setup.tls), port);
  // gRPC sets SO_REUSEPORT by default: a second process on the same port
  // would start "successfully" and silently take half the traffic.
  builder->AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  // Recycle connections (tls.max_connection_age_seconds) so each is
  // re-authenticated with the current certificates and CRLs.
  SetMaxConnectionAge(setup.tls, builder);
  // Keep polling threads alive between bursts: with the defaults (1..2
  // pollers) the sync server created and destroyed ~850 threads/s under load
  // (tongban-bench), about a third of the gateway's CPU per routed call.
  builder->SetSyncServerOption(grpc::ServerBuilder::SyncServerOption::MIN_POLLERS, 2);
  builder->SetSyncServerOption(grpc::ServerBuilder::SyncServerOption::MAX_POLLERS, 64);
  builder->SetMaxReceiveMessageSize(setup.max_message_bytes);
  builder->SetMaxSendMessageSize(setup.max_message_bytes);
  grpc::ResourceQuota quota(setup.name);
  quota.SetMaxThreads(setup.max_threads);
  builder->SetResourceQuota(quota);
}

std::string BoundAddress(const std::string& configured, int port) {
  size_t colon = configured.rfind(':');
  std::string host = colon == std::string::npos ? configured : configured.substr(0, colon);
  return absl::StrCat(host, ":", port);
}

}  // namespace tongban
