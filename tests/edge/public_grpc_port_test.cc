// The public gRPC port against a real tongban-gateway process (public edge
// on, no nodes needed), with real clients:
//   - no server reflection there, while the internal mTLS port keeps it;
//   - a request that does not parse is INVALID_ARGUMENT naming the request
//     type, on the public and the internal port, and counted as
//     InvalidArgument (never Internal) in grpc_server_handled_total;
//   - connection limits per client address and in total: the connection
//     over a limit is closed at once, other addresses are served, a closed
//     connection frees its slot;
//   - a client that never completes its handshake is cut off at the
//     handshake timeout; a connection without calls at the idle timeout.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <functional>
#include <sstream>
#include <thread>

#include "gateway_process.h"
#include "google/protobuf/unknown_field_set.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "node_process.h"
#include "raw_grpc_call.h"

namespace tongban::testing {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

constexpr char kHealthCheck[] = "/grpc.health.v1.Health/Check";
constexpr char kReflection[] = "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo";

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

bool WaitFor(milliseconds timeout, const std::function<bool()>& condition) {
  const auto end = Clock::now() + timeout;
  while (true) {
    if (condition()) return true;
    if (Clock::now() >= end) return false;
    std::this_thread::sleep_for(milliseconds(50));  // polling interval, not synchronisation
  }
}

// A gateway with only the public gRPC face; `limits` are more
// public_edge keys.
std::unique_ptr<GatewayProcess> StartGateway(const std::string& name, const std::string& limits) {
  const std::string dir = MakeTempDir(name);
  const std::string certs = CertsDir();
  std::ofstream(dir + "/directory.textproto") << "# no nodes\n";
  std::ofstream(dir + "/gateway.textproto")
      << "public_edge {\n"
      << "  grpc_address: \"127.0.0.1:0\"\n"
      << "  cert_file: \"" << certs << "/gateway/cert.pem\"\n"
      << "  key_file: \"" << certs << "/gateway/key.pem\"\n"
      << "  tokens { issuer: \"https://id.tongban.dev\" audience: \"tongban-public-api\" "
      << "keys { kid: \"dev-1\" public_key_file: \"" << certs
      << "/citizen-tokens/public-key.pem\" } }\n"
      << limits << "}\n";
  GatewayOptions options;
  options.directory_file = dir + "/directory.textproto";
  options.config_file = dir + "/gateway.textproto";
  options.catalog_cache = false;
  return GatewayProcess::Start(options, dir + "/gw");
}

// A channel of its own (no connection shared with other channels) to the
// public port: server-only TLS, as citizens' apps connect.
std::shared_ptr<grpc::Channel> PublicChannel(const std::string& address) {
  grpc::SslCredentialsOptions tls;
  tls.pem_root_certs = Slurp(CertsDir() + "/ca/ca.pem");
  grpc::ChannelArguments args;
  static int channel_number = 0;
  args.SetInt("tongban.test.channel", ++channel_number);
  args.SetSslTargetNameOverride("localhost");
  return grpc::CreateCustomChannel(address, grpc::SslCredentials(tls), args);
}

double Metric(const GatewayProcess& gw, const std::string& series) {
  return MetricValue(HttpGet(gw.metrics_address(), "/metrics"), series);
}

std::string Handled(const std::string& service, const std::string& method,
                    const std::string& code) {
  return "grpc_server_handled_total{grpc_code=\"" + code + "\",grpc_method=\"" + method +
         "\",grpc_service=\"" + service + "\",grpc_type=\"unary\"}";
}

// Names of the services a reflection answer (ServerReflectionResponse with
// list_services_response) lists.
std::vector<std::string> ListedServices(const std::string& response) {
  std::vector<std::string> names;
  google::protobuf::UnknownFieldSet top;
  if (!top.ParseFromString(response)) return names;
  for (int i = 0; i < top.field_count(); ++i) {
    if (top.field(i).number() != 6 ||
        top.field(i).type() != google::protobuf::UnknownField::TYPE_LENGTH_DELIMITED) {
      continue;
    }
    google::protobuf::UnknownFieldSet list;
    list.ParseFromString(top.field(i).length_delimited());
    for (int j = 0; j < list.field_count(); ++j) {
      google::protobuf::UnknownFieldSet service;
      service.ParseFromString(list.field(j).length_delimited());
      for (int k = 0; k < service.field_count(); ++k) {
        if (service.field(k).number() == 1) names.push_back(service.field(k).length_delimited());
      }
    }
  }
  return names;
}

// ServerReflectionRequest{list_services: "*"}.
const std::string kListServices("\x3a\x01*", 3);
// Not a valid protobuf message: field 1 with wire type 7.
const std::string kGarbage("\x0f\x01\x02", 3);

TEST(PublicGrpcPortTest, NoReflectionOnThePublicPortTheInternalPortKeepsIt) {
  auto gw = StartGateway("public-grpc-reflection", "");
  ASSERT_TRUE(gw != nullptr && gw->running());
  ASSERT_FALSE(gw->public_grpc_address().empty());

  std::string reply;
  grpc::Status s = RawBidiOnce(PublicChannel(gw->public_grpc_address()), kReflection,
                               kListServices, &reply);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNIMPLEMENTED) << s.error_message();
  EXPECT_EQ(reply, "");
  // The public port itself serves (health).
  s = RawUnaryCall(PublicChannel(gw->public_grpc_address()), kHealthCheck, "");
  EXPECT_TRUE(s.ok()) << s.error_message();

  Identity officer = IdentityAt("province/430000/officer/officer-01");
  s = RawBidiOnce(MakeChannel(gw->grpc_address(), &officer), kReflection, kListServices, &reply);
  EXPECT_TRUE(s.ok()) << s.error_message();
  std::vector<std::string> services = ListedServices(reply);
  EXPECT_NE(std::find(services.begin(), services.end(), "tongban.v1.FederationQueryService"),
            services.end())
      << reply;
}

TEST(PublicGrpcPortTest, UnparseableRequestsAreInvalidArgumentAndNotServerFaults) {
  auto gw = StartGateway("public-grpc-garbage", "");
  ASSERT_TRUE(gw != nullptr && gw->running());

  grpc::Status s = RawUnaryCall(PublicChannel(gw->public_grpc_address()),
                                "/tongban.v1.CitizenService/SearchGuides", kGarbage);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s.error_message();
  EXPECT_NE(s.error_message().find("tongban.v1.SearchGuidesRequest"), std::string::npos)
      << s.error_message();

  Identity officer = IdentityAt("province/430000/officer/officer-01");
  s = RawUnaryCall(MakeChannel(gw->grpc_address(), &officer),
                   "/tongban.v1.FederationQueryService/SearchFederation", kGarbage);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s.error_message();
  EXPECT_NE(s.error_message().find("tongban.v1.SearchFederationRequest"), std::string::npos)
      << s.error_message();

  const std::string exposition = HttpGet(gw->metrics_address(), "/metrics");
  EXPECT_EQ(MetricValue(exposition, Handled("tongban.v1.CitizenService", "SearchGuides",
                                            "InvalidArgument")),
            1);
  EXPECT_EQ(MetricValue(exposition,
                        Handled("tongban.v1.CitizenService", "SearchGuides", "Internal")),
            -1);
  EXPECT_EQ(MetricValue(exposition, Handled("tongban.v1.FederationQueryService",
                                            "SearchFederation", "InvalidArgument")),
            1);
  EXPECT_EQ(MetricValue(exposition, Handled("tongban.v1.FederationQueryService",
                                            "SearchFederation", "Internal")),
            -1);
}

// A plain TCP connection from `source` (a loopback address) to `address`.
int ConnectFrom(const std::string& source, const std::string& address) {
  const size_t colon = address.rfind(':');
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in from{};
  from.sin_family = AF_INET;
  inet_pton(AF_INET, source.c_str(), &from.sin_addr);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(static_cast<uint16_t>(std::stoi(address.substr(colon + 1))));
  inet_pton(AF_INET, address.substr(0, colon).c_str(), &to.sin_addr);
  if (bind(fd, reinterpret_cast<sockaddr*>(&from), sizeof(from)) != 0 ||
      connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof(to)) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

// True when the server closes `fd` (EOF or reset) within `timeout`. The
// server sends nothing before the client's TLS hello, so any readability
// is the close.
bool ClosedWithin(int fd, milliseconds timeout) {
  pollfd p{fd, POLLIN, 0};
  if (poll(&p, 1, static_cast<int>(timeout.count())) <= 0) return false;
  char byte;
  return recv(fd, &byte, 1, MSG_DONTWAIT) <= 0;
}

TEST(PublicGrpcPortTest, ConnectionLimitsPerAddressAndInTotal) {
  auto gw = StartGateway("public-grpc-limits",
                         "  grpc_max_connections_per_address: 3\n"
                         "  grpc_max_connections: 5\n"
                         "  grpc_handshake_timeout_seconds: 60\n");
  ASSERT_TRUE(gw != nullptr && gw->running());
  const std::string address = gw->public_grpc_address();
  const std::string open = "tongban_edge_grpc_connections";
  const std::string per_address =
      "tongban_edge_grpc_connections_refused_total{reason=\"per_address\"}";
  const std::string total = "tongban_edge_grpc_connections_refused_total{reason=\"total\"}";

  // Three silent connections from 127.0.0.1 (they count from accept on,
  // before any TLS): the limit of that address.
  std::vector<int> held;
  for (int i = 0; i < 3; ++i) {
    held.push_back(ConnectFrom("127.0.0.1", address));
    ASSERT_GE(held.back(), 0);
  }
  ASSERT_TRUE(WaitFor(milliseconds(5000), [&] { return Metric(*gw, open) == 3; }))
      << Metric(*gw, open);
  // A fourth from the same address is closed at once; a gRPC client there
  // cannot connect.
  int fourth = ConnectFrom("127.0.0.1", address);
  ASSERT_GE(fourth, 0);
  EXPECT_TRUE(ClosedWithin(fourth, milliseconds(5000)));
  close(fourth);
  grpc::Status s = RawUnaryCall(PublicChannel(address), kHealthCheck, "", nullptr, 3000);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE) << s.error_message();
  EXPECT_GE(Metric(*gw, per_address), 2);

  // Other addresses are not affected, up to the total of 5.
  for (const char* other : {"127.0.0.2", "127.0.0.3"}) {
    held.push_back(ConnectFrom(other, address));
    ASSERT_GE(held.back(), 0);
  }
  ASSERT_TRUE(WaitFor(milliseconds(5000), [&] { return Metric(*gw, open) == 5; }))
      << Metric(*gw, open);
  EXPECT_FALSE(ClosedWithin(held.back(), milliseconds(200)));
  int sixth = ConnectFrom("127.0.0.4", address);
  ASSERT_GE(sixth, 0);
  EXPECT_TRUE(ClosedWithin(sixth, milliseconds(5000)));
  close(sixth);
  EXPECT_EQ(Metric(*gw, total), 1);

  // One of 127.0.0.1's connections closes: gRPC closes its side, and the
  // slot serves a real gRPC client from that address again.
  close(held.front());
  held.erase(held.begin());
  std::string last;
  EXPECT_TRUE(WaitFor(milliseconds(10000), [&] {
    grpc::Status h = RawUnaryCall(PublicChannel(address), kHealthCheck, "", nullptr, 2000);
    last = h.error_message();
    return h.ok();
  })) << last;
  for (int fd : held) close(fd);
  EXPECT_TRUE(gw->running());
}

TEST(PublicGrpcPortTest, SilentAndIdleConnectionsAreClosed) {
  auto gw = StartGateway("public-grpc-timeouts",
                         "  grpc_handshake_timeout_seconds: 1\n"
                         "  grpc_idle_timeout_seconds: 1\n");
  ASSERT_TRUE(gw != nullptr && gw->running());
  const std::string address = gw->public_grpc_address();

  // A client that connects and never says a word: closed at the handshake
  // timeout (1 s), not at once and not never.
  int silent = ConnectFrom("127.0.0.1", address);
  ASSERT_GE(silent, 0);
  const auto connected = Clock::now();
  EXPECT_FALSE(ClosedWithin(silent, milliseconds(500)));
  EXPECT_TRUE(ClosedWithin(silent, milliseconds(5000)));
  const auto after = std::chrono::duration_cast<milliseconds>(Clock::now() - connected);
  EXPECT_GE(after.count(), 900);
  close(silent);

  // A real client whose connection then stays without calls: the server
  // closes it after the idle timeout (the channel leaves READY, and the
  // connection count drops back to zero while the client still holds it).
  auto channel = PublicChannel(address);
  ASSERT_TRUE(RawUnaryCall(channel, kHealthCheck, "").ok());
  EXPECT_EQ(channel->GetState(false), GRPC_CHANNEL_READY);
  EXPECT_TRUE(WaitFor(milliseconds(8000),
                      [&] { return channel->GetState(false) != GRPC_CHANNEL_READY; }));
  EXPECT_TRUE(WaitFor(milliseconds(8000),
                      [&] { return Metric(*gw, "tongban_edge_grpc_connections") == 0; }))
      << Metric(*gw, "tongban_edge_grpc_connections");
  // The next call reconnects transparently.
  EXPECT_TRUE(RawUnaryCall(channel, kHealthCheck, "").ok());
}

}  // namespace
}  // namespace tongban::testing
