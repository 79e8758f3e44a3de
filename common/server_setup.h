// The federation's gRPC server settings in one place, for the node and the
// gateway alike: an mTLS listener that refuses to share its port, recycled
// connections (so certificates and CRLs are re-checked), a few polling
// threads kept between bursts, message-size limits and a bound on handler
// threads.
#pragma once

#include <string>

#include "grpcpp/server_builder.h"
#include "tongban/v1/node_config.pb.h"

namespace tongban {

struct ServerSetup {
  std::string listen_address;  // host:port (port 0 = pick one)
  v1::TlsFiles tls;
  int max_message_bytes = 4 * 1024 * 1024;
  int max_threads = 256;       // sync handlers may block (group commit, node calls)
  int max_pollers = 4;         // sync threads kept between bursts (server_setup.cc)
  std::string name;            // resource quota name, e.g. "tongban-node"
};

// Adds the listener and the settings to `builder`; `*port` receives the
// bound port once the server is built (0 when binding failed).
void ConfigureServerBuilder(const ServerSetup& setup, grpc::ServerBuilder* builder, int* port);

// "host:port" from a configured address and the port actually bound.
std::string BoundAddress(const std::string& configured, int port);

}  // namespace tongban
