#include "certs_test_util.h"

#include <openssl/bn.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <sys/wait.h>

#include <cstdio>
#include <fstream>
#include <thread>

#include "grpcpp/create_channel.h"
#include "grpcpp/grpcpp.h"
#include "tls_credentials.h"
#include "tongban/v1/catalog.grpc.pb.h"

namespace tongban::testing::certs {
namespace {

std::string Quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}

std::string SerialOf(X509* cert) {
  BIGNUM* bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), nullptr);
  char* hex = bn == nullptr ? nullptr : BN_bn2hex(bn);
  std::string out = hex == nullptr ? "" : hex;
  OPENSSL_free(hex);
  BN_free(bn);
  return out;
}

std::string SerialOfPem(const std::string& pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  X509* cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  if (cert == nullptr) return "";
  std::string serial = SerialOf(cert);
  X509_free(cert);
  return serial;
}

}  // namespace

std::string CopyPki(const std::string& prefix, const std::string& only_province) {
  std::string dir = MakeTempDir(prefix);
  if (dir.empty()) return "";
  std::string pki = dir + "/pki";
  if (Shell("cp -a " + Quote(CertsDir()) + " " + Quote(pki)) != 0) return "";
  // The copy must not share the fixture's lock file with other tests.
  std::remove((pki + "/.lock").c_str());
  if (!only_province.empty() &&
      Shell("find " + Quote(pki + "/province") + " -mindepth 1 -maxdepth 1 ! -name " +
            Quote(only_province) + " -exec rm -rf {} +") != 0) {
    return "";
  }
  return pki;
}

int Shell(const std::string& command, std::string* output) {
  FILE* p = popen((command + " 2>&1").c_str(), "r");
  if (p == nullptr) return -1;
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
  int status = pclose(p);
  if (output != nullptr) *output = out;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::string Script(const std::string& name) { return std::string(TONGBAN_CERTS_SCRIPTS_DIR) + "/" + name; }

std::string TongbanctlBinary() { return TONGBANCTL_BINARY; }

Tls TlsAt(const std::string& pki, const std::string& identity_dir, const std::string& crl_dir) {
  std::string dir = pki + "/" + identity_dir;
  return Tls{dir + "/cert.pem", dir + "/key.pem", pki + "/ca/ca.pem", crl_dir};
}

std::shared_ptr<grpc::Channel> WatchingChannel(const std::string& address, const Tls& tls) {
  v1::TlsFiles files;
  files.set_cert_file(tls.cert);
  files.set_key_file(tls.key);
  files.set_ca_file(tls.ca);
  files.set_crl_directory(tls.crl_dir);
  files.set_refresh_interval_seconds(1);
  grpc::ChannelArguments args;
  args.SetInt("grpc.use_local_subchannel_pool", 1);
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 500);
  return grpc::CreateCustomChannel(address, MakeChannelCredentials(files), args);
}

grpc::Status CatalogInfo(grpc::Channel* channel, std::string* server_serial) {
  auto stub = v1::CatalogService::NewStub(
      std::shared_ptr<grpc::Channel>(channel, [](grpc::Channel*) {}));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  v1::GetCatalogInfoResponse resp;
  grpc::Status s = stub->GetCatalogInfo(&ctx, v1::GetCatalogInfoRequest(), &resp);
  if (server_serial != nullptr) {
    server_serial->clear();
    std::shared_ptr<const grpc::AuthContext> auth = ctx.auth_context();
    if (auth != nullptr) {
      std::vector<grpc::string_ref> pem = auth->FindPropertyValues("x509_pem_cert");
      if (!pem.empty()) *server_serial = SerialOfPem(std::string(pem[0].data(), pem[0].size()));
    }
  }
  return s;
}

std::string SerialOfFile(const std::string& path) {
  std::ifstream in(path);
  std::string pem((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return SerialOfPem(pem);
}

std::unique_ptr<NodeProcess> StartNode(const std::string& pki, const std::string& workdir,
                                       const NodeTls& tls, const std::string& province) {
  Shell("mkdir -p " + Quote(workdir));
  std::string config = workdir + "/node.textproto";
  {
    std::ofstream out(config);
    out << "tls {\n  refresh_interval_seconds: " << tls.refresh_interval_seconds << "\n";
    if (tls.max_connection_age_seconds > 0) {
      out << "  max_connection_age_seconds: " << tls.max_connection_age_seconds << "\n";
    }
    if (!tls.crl_dir.empty()) out << "  crl_directory: \"" << tls.crl_dir << "\"\n";
    out << "}\n";
  }
  Tls files = TlsAt(pki, "province/" + province + "/node");
  NodeOptions options;
  options.province = province;
  options.demo_catalog = tls.demo_catalog;
  // Later flags win (absl): these replace the shared PKI's paths NodeProcess passes.
  options.extra_flags = {"--config=" + config, "--cert=" + files.cert, "--key=" + files.key,
                         "--ca=" + files.ca};
  return NodeProcess::Start(options, workdir);
}

bool WaitFor(std::chrono::milliseconds timeout, const std::function<bool()>& condition) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (condition()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

}  // namespace tongban::testing::certs
