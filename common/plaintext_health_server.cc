#include "plaintext_health_server.h"

#include "absl/strings/str_cat.h"
#include "grpcpp/health_check_service_interface.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server_builder.h"

namespace tongban {

absl::StatusOr<std::unique_ptr<PlaintextHealthServer>> PlaintextHealthServer::Start(
    const std::string& address) {
  grpc::EnableDefaultHealthCheckService(true);
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(address, grpc::InsecureServerCredentials(), &port);
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  auto health = std::unique_ptr<PlaintextHealthServer>(new PlaintextHealthServer());
  health->server_ = builder.BuildAndStart();
  if (health->server_ == nullptr || port == 0) {
    return absl::UnavailableError(absl::StrCat("cannot listen on health address ", address));
  }
  size_t colon = address.rfind(':');
  health->address_ = absl::StrCat(address.substr(0, colon), ":", port);
  health->SetServing(false);
  return health;
}

void PlaintextHealthServer::SetServing(bool serving) {
  server_->GetHealthCheckService()->SetServingStatus(serving);
}

void PlaintextHealthServer::Shutdown() {
  server_->Shutdown();
  server_->Wait();
}

}  // namespace tongban
