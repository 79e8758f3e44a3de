// NodePool: one long-lived mTLS channel per province node (HTTP/2, keepalive;
// never a handshake per call), and outlier handling: a node that fails
// `eject_after_failures` calls in a row is ejected for a back-off period
// (doubling per repeated ejection, capped) and probed with grpc.health.v1
// until it answers SERVING. Thread-safe; the directory can change at any time.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "clock.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/channel.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/security/credentials.h"
#include "tongban/v1/application.grpc.pb.h"
#include "tongban/v1/catalog.grpc.pb.h"
#include "tongban/v1/federation.grpc.pb.h"
#include "tongban/v1/gateway.pb.h"
#include "tongban/v1/gateway_config.pb.h"
#include "tongban/v1/licence.grpc.pb.h"

namespace tongban::gateway {

// Stubs of one node; shared so a call in flight keeps them alive across a
// directory change.
struct NodeStubs {
  std::string province;
  std::string address;
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<v1::CatalogService::Stub> catalog;
  std::unique_ptr<v1::ApplicationService::Stub> applications;
  std::unique_ptr<v1::FederationService::Stub> federation;
  // 免证办 for citizens (the public edge): Preview/ConfirmLicence, ListHolderDisclosures.
  std::unique_ptr<v1::LicenceService::Stub> licences;
  // Byte-forwarding calls (the relay), on the same channel.
  std::unique_ptr<grpc::GenericStub> generic;
  std::unique_ptr<grpc::health::v1::Health::Stub> health;
  // WatchApplication streams (the public watch relay), on a channel whose
  // per-stream receive window is kWatchStreamWindowBytes (node_pool.cc).
  std::shared_ptr<grpc::Channel> watch_channel;
  std::unique_ptr<v1::ApplicationService::Stub> watches;
};

// The most a relayed watch's stream may hold unread at the gateway (its
// HTTP/2 receive window on the node connection): a few events.
inline constexpr int kWatchStreamWindowBytes = 16 * 1024;

struct OutlierPolicy {
  int eject_after_failures = 3;
  absl::Duration eject_base = absl::Seconds(2);
  absl::Duration eject_max = absl::Seconds(60);
  absl::Duration probe_timeout = absl::Milliseconds(500);
};

class NodePool final {
 public:
  // Called with (province, up) whenever a node's availability changes.
  using UpCallback = std::function<void(const std::string&, bool)>;

  // Credentials for dialing one province's node: they must check that the
  // server's certificate names that province (ChannelCredentialsFactory).
  using CredentialsFor =
      std::function<std::shared_ptr<grpc::ChannelCredentials>(const std::string& province)>;

  NodePool(CredentialsFor credentials, OutlierPolicy policy, const Clock* clock,
           UpCallback on_change);
  ~NodePool();  // stops the prober

  // Replaces the set of nodes: new and moved nodes get a fresh channel,
  // unchanged ones keep theirs, removed ones are dropped.
  void Update(const v1::FederationDirectory& directory);

  // Stubs of a province; nullptr when it is not in the directory.
  std::shared_ptr<const NodeStubs> Get(const std::string& province) const;
  // Every province of the directory, in code order.
  std::vector<std::string> Provinces() const;

  // OK when calls may go to the node; UNAVAILABLE naming the ejection otherwise.
  absl::Status Admit(const std::string& province) const;
  // Reports a call's outcome. Only transport-level failures (UNAVAILABLE,
  // DEADLINE_EXCEEDED) count towards ejection: a node answering
  // NOT_FOUND or INVALID_ARGUMENT is healthy.
  void Report(const std::string& province, grpc::StatusCode code, const std::string& message);

  std::vector<v1::NodeStatus> Status() const;

  // Starts the prober thread (probes ejected nodes when their period ends).
  void StartProber();

 private:
  struct Health {
    int consecutive_failures = 0;
    int ejections = 0;  // in a row, for the back-off
    absl::Time ejected_until = absl::InfinitePast();
    std::string last_error;
    bool up = true;
  };
  void EjectLocked(Health& h) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ProbeLoop();
  void Probe(const std::string& province);

  const CredentialsFor credentials_;
  const OutlierPolicy policy_;
  const Clock* const clock_;
  const UpCallback on_change_;

  mutable absl::Mutex mu_;
  std::map<std::string, std::shared_ptr<const NodeStubs>> nodes_;  // guarded by mu_
  std::map<std::string, Health> health_;                          // guarded by mu_
  bool stopping_ = false;                                          // guarded by mu_
  std::thread prober_;
};

}  // namespace tongban::gateway
