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
  // A sync handler's thread, once its call is done, stays as a poller while
  // there are fewer than MAX_POLLERS of them, and a poller only exits when
  // there are more (gRPC's ThreadManager): so MAX_POLLERS is how many threads
  // a burst leaves behind for good. gRPC's default (1..2) created and
  // destroyed ~850 threads/s under load when the gateway's routed calls were
  // sync. The hot paths are on the callback API now; of what stays sync (a
  // node's SearchItems, DeliverApplication, reads of applications), the
  // fan-out's SearchItems was measured as fast with 4 (tongban-bench,
  // 2026-12-07: 6 653 vs 6 534 calls/s at 16 clients), and the 64 used
  // before left a node with 19 idle pollers after the bench's load, each
  // keeping its stack and its allocator cache (docs/performance.md, "Memory
  // after load").
  builder->SetSyncServerOption(grpc::ServerBuilder::SyncServerOption::MIN_POLLERS, 2);
  builder->SetSyncServerOption(grpc::ServerBuilder::SyncServerOption::MAX_POLLERS,
                               setup.max_pollers);
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
