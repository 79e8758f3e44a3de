// The public edge's certificate is renewed without a restart: after the pair
// is swapped (atomically, through a "..data" symlink, as Kubernetes updates a
// mounted Secret and certs/issue.sh does), new HTTPS and public gRPC
// connections get the new certificate. A half-finished replacement
// (certificate and key that do not match) keeps the HTTPS face on the
// previous pair instead of breaking handshakes. (gRPC's own file watcher
// takes a mismatched pair as it is and fails handshakes until the key
// arrives: that is why renewals swap both files at once.)
#include <netdb.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "federation.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "tongban/v1/citizen.grpc.pb.h"
#include "x509_files.h"

namespace tongban::testing {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;

constexpr char kGatewayUri[] = "spiffe://tongban/gateway";
constexpr char kRenewedUri[] = "spiffe://tongban/province/430000";

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

// Replaces `path` atomically with `content` (write beside, then rename).
void Replace(const std::string& path, const std::string& content) {
  const std::string tmp = path + ".new";
  std::ofstream(tmp, std::ios::binary) << content;
  fs::rename(tmp, path);
}

std::string UriOf(X509* cert) {
  if (cert == nullptr) return "no certificate";
  std::vector<std::string> uris = x509::UriSans(cert);
  return uris.empty() ? "no URI SAN" : uris.front();
}

// The URI SAN of the certificate a new TLS connection to host:port is shown
// (verified against the test CA).
std::string HttpsPeerUri(const std::string& address) {
  const size_t colon = address.rfind(':');
  const std::string host = address.substr(0, colon), port = address.substr(colon + 1);
  addrinfo hints{}, *found = nullptr;
  hints.ai_socktype = SOCK_STREAM;
  if (getaddrinfo(host.c_str(), port.c_str(), &hints, &found) != 0) return "no address";
  int fd = socket(found->ai_family, found->ai_socktype, 0);
  const bool connected = connect(fd, found->ai_addr, found->ai_addrlen) == 0;
  freeaddrinfo(found);
  if (!connected) {
    close(fd);
    return "connect failed";
  }
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  SSL_CTX_load_verify_locations(ctx, (CertsDir() + "/ca/ca.pem").c_str(), nullptr);
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  SSL* ssl = SSL_new(ctx);
  SSL_set_fd(ssl, fd);
  SSL_set_tlsext_host_name(ssl, "localhost");
  std::string uri = "handshake failed";
  if (SSL_connect(ssl) == 1) {
    X509* peer = SSL_get1_peer_certificate(ssl);
    uri = UriOf(peer);
    X509_free(peer);
    SSL_shutdown(ssl);
  }
  ERR_clear_error();
  SSL_free(ssl);
  SSL_CTX_free(ctx);
  close(fd);
  return uri;
}

// The same over a new public gRPC connection, from the call's auth context.
std::string GrpcPeerUri(const std::string& address) {
  grpc::SslCredentialsOptions tls;
  tls.pem_root_certs = Slurp(CertsDir() + "/ca/ca.pem");
  grpc::ChannelArguments args;
  // A channel of its own: no subchannel (connection) shared with earlier calls.
  static int channel_number = 0;
  args.SetInt("tongban.test.channel", ++channel_number);
  args.SetSslTargetNameOverride("localhost");
  auto channel = grpc::CreateCustomChannel(address, grpc::SslCredentials(tls), args);
  auto stub = v1::CitizenService::NewStub(channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  v1::GetItemGuideRequest req;
  req.set_province_code("430000");
  req.set_item_code("GG00020600");
  v1::GetItemGuideResponse resp;
  grpc::Status s = stub->GetItemGuide(&ctx, req, &resp);
  if (!s.ok()) return "call failed: " + s.error_message();
  std::vector<grpc::string_ref> pems = ctx.auth_context()->FindPropertyValues("x509_pem_cert");
  if (pems.empty()) return "no peer certificate";
  BIO* bio = BIO_new_mem_buf(pems.front().data(), static_cast<int>(pems.front().size()));
  X509* cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  std::string uri = UriOf(cert);
  X509_free(cert);
  return uri;
}

// A directory laid out like a mounted Secret: cert.pem and key.pem are
// symlinks into "..data", itself a symlink to the current version.
class SecretDir {
 public:
  explicit SecretDir(std::string dir) : dir_(std::move(dir)) {}
  std::string cert() const { return dir_ + "/cert.pem"; }
  std::string key() const { return dir_ + "/key.pem"; }
  // Publishes a new version of both files in one rename.
  void Publish(const std::string& cert_pem, const std::string& key_pem) {
    const std::string version = dir_ + "/v" + std::to_string(++versions_);
    fs::create_directory(version);
    Replace(version + "/cert.pem", cert_pem);
    Replace(version + "/key.pem", key_pem);
    const std::string link = dir_ + "/..data.new";
    fs::create_directory_symlink(version, link);
    fs::rename(link, dir_ + "/..data");
    if (!fs::is_symlink(cert())) fs::create_symlink("..data/cert.pem", cert());
    if (!fs::is_symlink(key())) fs::create_symlink("..data/key.pem", key());
  }
  // Overwrites only the current version's certificate, in place.
  void OverwriteCertificate(const std::string& cert_pem) {
    Replace(dir_ + "/v" + std::to_string(versions_) + "/cert.pem", cert_pem);
  }

 private:
  const std::string dir_;
  int versions_ = 0;
};

std::string Pem(const std::string& identity, const char* file) {
  return Slurp(CertsDir() + "/" + identity + "/" + file);
}

TEST(EdgeCertificateTest, RenewedCertificateServesNewConnectionsWithoutRestart) {
  const std::string tls_dir = MakeTempDir("edge-tls");
  SecretDir secret(tls_dir);
  secret.Publish(Pem("gateway", "cert.pem"), Pem("gateway", "key.pem"));

  FederationOptions options;
  options.name = "edge-cert";
  options.provinces = {"430000"};
  options.public_edge = true;
  options.edge_cert_file = secret.cert();
  options.edge_key_file = secret.key();
  options.edge_tls_refresh_seconds = 1;
  Federation federation(options);
  std::string error;
  ASSERT_TRUE(federation.Start(&error)) << error;
  const std::string https = federation.https_address(), grpc = federation.public_grpc_address();
  ASSERT_EQ(HttpsPeerUri(https), kGatewayUri);
  ASSERT_EQ(GrpcPeerUri(grpc), kGatewayUri);

  // The renewal: within a few refresh periods, new connections on both faces
  // get the new certificate — no restart, the gateway still runs.
  secret.Publish(Pem("province/430000/node", "cert.pem"), Pem("province/430000/node", "key.pem"));
  std::string https_seen, grpc_seen;
  EXPECT_TRUE(WaitUntil(milliseconds(10000),
                        [&] {
                          https_seen = HttpsPeerUri(https);
                          return https_seen == kRenewedUri;
                        }))
      << "HTTPS still presents " << https_seen;
  EXPECT_TRUE(WaitUntil(milliseconds(10000),
                        [&] {
                          grpc_seen = GrpcPeerUri(grpc);
                          return grpc_seen == kRenewedUri;
                        }))
      << "public gRPC still presents " << grpc_seen;

  // A half-finished replacement: another certificate without its key. The
  // HTTPS face keeps presenting the pair it has; for a window of two refresh
  // periods every new connection still succeeds with it.
  secret.OverwriteCertificate(Pem("province/310000/node", "cert.pem"));
  const auto window_end = std::chrono::steady_clock::now() + milliseconds(2200);
  while (std::chrono::steady_clock::now() < window_end && !::testing::Test::HasFailure()) {
    EXPECT_EQ(HttpsPeerUri(https), kRenewedUri);
    std::this_thread::sleep_for(milliseconds(200));
  }
  EXPECT_TRUE(federation.gateway_running());
  if (::testing::Test::HasFailure()) {
    std::cout << federation.LogTails(3000) << std::endl;
    federation.KeepWorkdir();
  }
  fs::remove_all(tls_dir);
}

}  // namespace
}  // namespace tongban::testing
