// The container images that helm/images/build-images.sh builds from Debian
// packages (the images.build fixture), taken apart with umoci and started
// the way a container runtime would, without one: run-in-image.sh runs the
// image's entrypoint in its own root file system (chroot in a user and mount
// namespace), so nothing of the host's libraries is used. The node image
// must serve health, and the gateway image must route a call to it; both run
// as a non-root user and hold no shell.
#include <sys/stat.h>

#include <cstdlib>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "gateway_process.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "node_process.h"
#include "tongban/v1/gateway.grpc.pb.h"

namespace tongban::testing {
namespace {

constexpr char kProvince[] = "430000";
constexpr char kItem[] = "GG00020600";

bool Exists(const std::string& path) {
  struct stat st {};
  return lstat(path.c_str(), &st) == 0;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

int Shell(const std::string& command) {
  int rc = std::system(command.c_str());
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

class ImageTest : public ::testing::Test {
 protected:
  // The three images unpacked once: <dir>/<name>/rootfs and config.json.
  static void SetUpTestSuite() {
    dir_ = new std::string(MakeTempDir("images"));
    const std::string layout = *dir_ + "/layout";
    std::string setup = "mkdir -p '" + layout + "' && tar -xf '" TONGBAN_IMAGES_TAR "' -C '" +
                        layout + "'";
    for (const char* name : {"node", "gateway", "tongbanctl"}) {
      setup += std::string(" && umoci unpack --rootless --image '") + layout + ":" + name + "' '" +
               *dir_ + "/" + name + "' >/dev/null";
    }
    setup_rc_ = Shell(setup);
  }
  static void TearDownTestSuite() {
    Shell("rm -rf '" + *dir_ + "'");
    delete dir_;
  }
  void SetUp() override {
    ASSERT_EQ(setup_rc_, 0) << "could not unpack " TONGBAN_IMAGES_TAR " (images.build fixture)";
  }

  static std::string Rootfs(const std::string& name) { return *dir_ + "/" + name + "/rootfs"; }
  // The launcher words that run a command inside `name`'s image with the
  // source tree (certificates, demo catalog, test directories) visible.
  static std::vector<std::string> InImage(const std::string& name) {
    return {TONGBAN_RUN_IN_IMAGE, Rootfs(name), TONGBAN_SOURCE_ROOT};
  }
  // The runtime configuration umoci wrote from the image's config.
  static google::protobuf::Struct RuntimeConfig(const std::string& name) {
    google::protobuf::Struct config;
    EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(
                    ReadFile(*dir_ + "/" + name + "/config.json"), &config)
                    .ok());
    return config;
  }

  static std::string* dir_;
  static int setup_rc_;
};

std::string* ImageTest::dir_ = nullptr;
int ImageTest::setup_rc_ = -1;

TEST_F(ImageTest, ImagesRunAsANonRootUserAndHoldNoShellOrPackageManager) {
  for (const std::string name : {"node", "gateway", "tongbanctl"}) {
    const google::protobuf::Struct config = RuntimeConfig(name);
    const auto& process = config.fields().at("process").struct_value().fields();
    const auto& user = process.at("user").struct_value().fields();
    EXPECT_EQ(user.at("uid").number_value(), 10001) << name;
    EXPECT_EQ(user.at("gid").number_value(), 10001) << name;
    const std::string entrypoint = process.at("args").list_value().values(0).string_value();
    EXPECT_EQ(entrypoint.rfind("/usr/local/bin/", 0), 0u) << name << ": " << entrypoint;
    EXPECT_TRUE(Exists(Rootfs(name) + entrypoint)) << name;
    for (const char* absent : {"/bin/sh", "/usr/bin/sh", "/bin/bash", "/usr/bin/bash",
                               "/usr/bin/apt", "/usr/bin/apt-get"}) {
      EXPECT_FALSE(Exists(Rootfs(name) + absent)) << name << " holds " << absent;
    }
    if (name == "node") {
      EXPECT_TRUE(Exists(Rootfs(name) + "/usr/share/tongban/working_days/cn-national.tsv"));
      EXPECT_TRUE(Exists(Rootfs(name) + "/usr/share/tongban/demo_catalog"));
    }
    EXPECT_NE(ReadFile(Rootfs(name) + "/etc/tongban/runtime-packages").find("libgrpc++1.51"),
              std::string::npos)
        << name;
    // Every library the binary loads is in the image: --help runs in it
    // (absl's --help exits 1; a missing library would exit 127 before it).
    const std::string help = *dir_ + "/" + name + ".help";
    const int rc = Shell(std::string(TONGBAN_RUN_IN_IMAGE) + " '" + Rootfs(name) + "' '' " +
                         entrypoint + " --help >'" + help + "' 2>&1");
    EXPECT_TRUE(rc == 0 || rc == 1) << name << ": exit " << rc << ": " << ReadFile(help);
    EXPECT_NE(ReadFile(help).find("Usage"), std::string::npos) << name << ": " << ReadFile(help);
  }
}

TEST_F(ImageTest, NodeImageServesAndTheGatewayImageRoutesToIt) {
  NodeOptions node_options;
  node_options.province = kProvince;
  node_options.launcher = InImage("node");
  node_options.binary = "/usr/local/bin/tongban-node";
  // The calendar at the path the chart's config names inside the image.
  node_options.extra_flags = {"--calendar=/usr/share/tongban/working_days/cn-national.tsv"};
  const std::string workdir = MakeTempDir("image-federation");
  std::unique_ptr<NodeProcess> node = NodeProcess::Start(node_options, workdir + "/node");
  ASSERT_TRUE(node != nullptr && node->running())
      << (node ? node->ReadLog() : std::string("no process"));

  const Identity officer = IdentityAt(std::string("province/") + kProvince + "/officer/officer-01");
  {
    auto health = grpc::health::v1::Health::NewStub(MakeChannel(node->grpc_address(), &officer));
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    grpc::health::v1::HealthCheckRequest req;
    grpc::health::v1::HealthCheckResponse resp;
    grpc::Status s = health->Check(&ctx, req, &resp);
    ASSERT_TRUE(s.ok()) << s.error_message() << "\n" << node->ReadLog();
    EXPECT_EQ(resp.status(), grpc::health::v1::HealthCheckResponse::SERVING);
  }

  GatewayOptions gateway_options;
  gateway_options.directory_file = workdir + "/directory.textproto";
  std::ofstream(gateway_options.directory_file)
      << "nodes { province_code: \"" << kProvince << "\" address: \"" << node->grpc_address()
      << "\" }\n";
  gateway_options.launcher = InImage("gateway");
  gateway_options.binary = "/usr/local/bin/tongban-gateway";
  std::unique_ptr<GatewayProcess> gateway =
      GatewayProcess::Start(gateway_options, workdir + "/gateway");
  ASSERT_TRUE(gateway != nullptr && gateway->running())
      << (gateway ? gateway->ReadLog() : std::string("no process"));

  auto query = v1::FederationQueryService::NewStub(MakeChannel(gateway->grpc_address(), &officer));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  v1::GetProvinceGuideRequest req;
  req.set_province_code(kProvince);
  req.set_item_code(kItem);
  v1::GetProvinceGuideResponse resp;
  grpc::Status s = query->GetProvinceGuide(&ctx, req, &resp);
  ASSERT_TRUE(s.ok()) << s.error_message() << "\n" << gateway->ReadLog();
  EXPECT_EQ(resp.guide().province_code(), kProvince);
  EXPECT_EQ(resp.guide().item().item_code(), kItem);
  EXPECT_FALSE(resp.guide().item().name_zh().empty());

  EXPECT_EQ(gateway->Terminate(), 0) << gateway->ReadLog();
  EXPECT_EQ(node->Terminate(), 0) << node->ReadLog();
}

}  // namespace
}  // namespace tongban::testing
