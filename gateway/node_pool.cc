#include "node_pool.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/support/channel_arguments.h"
#include "replica_service_config.h"

namespace tongban::gateway {
namespace {

std::shared_ptr<const NodeStubs> MakeStubs(const v1::DirectoryNode& node,
                                           const std::shared_ptr<grpc::ChannelCredentials>& creds) {
  grpc::ChannelArguments args;
  // Keep the HTTP/2 connection warm and detect dead peers between calls.
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 20000);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 5000);
  args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  // Reconnect quickly after a node restarts instead of backing off for long.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 2000);
  // A province served by several replicas is one name that resolves to all
  // of them (a Kubernetes headless Service, or "ipv4:a,b,c"): spread the
  // calls over every replica instead of pinning one (pick_first), keep
  // calling the others while one restarts, and none that drains.
  args.SetServiceConfigJSON(kReplicaServiceConfig);
  if (!node.server_name().empty()) {
    args.SetString(GRPC_SSL_TARGET_NAME_OVERRIDE_ARG, node.server_name());
  }
  auto stubs = std::make_shared<NodeStubs>();
  stubs->province = node.province_code();
  stubs->address = node.address();
  stubs->channel = grpc::CreateCustomChannel(node.address(), creds, args);
  stubs->catalog = v1::CatalogService::NewStub(stubs->channel);
  stubs->applications = v1::ApplicationService::NewStub(stubs->channel);
  stubs->federation = v1::FederationService::NewStub(stubs->channel);
  stubs->licences = v1::LicenceService::NewStub(stubs->channel);
  stubs->generic = std::make_unique<grpc::GenericStub>(stubs->channel);
  stubs->health = grpc::health::v1::Health::NewStub(stubs->channel);
  // Watches on a connection of their own whose receive windows stay small:
  // a relay reads the next message from the node only when its client took
  // the last one, so what a slow reader leaves unread must wait at the node
  // (which keeps a resume point, not the messages) rather than in this
  // connection's buffers. BDP probing would grow every stream's window to
  // megabytes (measured: the whole unread history per slow watcher).
  grpc::ChannelArguments watch_args = args;
  watch_args.SetInt(GRPC_ARG_HTTP2_BDP_PROBE, 0);
  watch_args.SetInt(GRPC_ARG_HTTP2_STREAM_LOOKAHEAD_BYTES, kWatchStreamWindowBytes);
  stubs->watch_channel = grpc::CreateCustomChannel(node.address(), creds, watch_args);
  stubs->watches = v1::ApplicationService::NewStub(stubs->watch_channel);
  return stubs;
}

}  // namespace

NodePool::NodePool(CredentialsFor credentials, OutlierPolicy policy, const Clock* clock,
                   UpCallback on_change)
    : credentials_(std::move(credentials)),
      policy_(policy),
      clock_(clock),
      on_change_(std::move(on_change)) {}

NodePool::~NodePool() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (prober_.joinable()) prober_.join();
}

void NodePool::Update(const v1::FederationDirectory& directory) {
  std::map<std::string, std::shared_ptr<const NodeStubs>> next;
  {
    absl::MutexLock lock(&mu_);
    for (const v1::DirectoryNode& node : directory.nodes()) {
      auto it = nodes_.find(node.province_code());
      if (it != nodes_.end() && it->second->address == node.address()) {
        next[node.province_code()] = it->second;
      } else {
        next[node.province_code()] = MakeStubs(node, credentials_(node.province_code()));
        health_[node.province_code()] = Health();
      }
    }
    for (auto it = health_.begin(); it != health_.end();) {
      it = next.count(it->first) ? std::next(it) : health_.erase(it);
    }
    nodes_.swap(next);
  }
  for (const v1::DirectoryNode& node : directory.nodes()) {
    // Warm the channel now so the first query does not pay the handshake.
    Get(node.province_code())->channel->GetState(/*try_to_connect=*/true);
  }
}

std::shared_ptr<const NodeStubs> NodePool::Get(const std::string& province) const {
  absl::MutexLock lock(&mu_);
  auto it = nodes_.find(province);
  return it == nodes_.end() ? nullptr : it->second;
}

std::vector<std::string> NodePool::Provinces() const {
  absl::MutexLock lock(&mu_);
  std::vector<std::string> out;
  for (const auto& [province, stubs] : nodes_) out.push_back(province);
  return out;
}

absl::Status NodePool::Admit(const std::string& province) const {
  absl::MutexLock lock(&mu_);
  auto it = health_.find(province);
  if (it == health_.end()) {
    return absl::NotFoundError(absl::StrCat("province ", province, " has no node in the directory"));
  }
  if (clock_->Now() < it->second.ejected_until) {
    return absl::UnavailableError(absl::StrCat(
        "node ejected after ", policy_.eject_after_failures, " consecutive failures until ",
        absl::FormatTime("%H:%M:%E3S", it->second.ejected_until, absl::UTCTimeZone()),
        " (last error: ", it->second.last_error, ")"));
  }
  return absl::OkStatus();
}

void NodePool::EjectLocked(Health& h) {
  absl::Duration period =
      std::min(policy_.eject_max, policy_.eject_base * (1 << std::min(h.ejections, 10)));
  h.ejected_until = clock_->Now() + period;
  ++h.ejections;
}

void NodePool::Report(const std::string& province, grpc::StatusCode code,
                      const std::string& message) {
  const bool transport_failure =
      code == grpc::StatusCode::UNAVAILABLE || code == grpc::StatusCode::DEADLINE_EXCEEDED;
  bool notify = false;
  {
    absl::MutexLock lock(&mu_);
    auto it = health_.find(province);
    if (it == health_.end()) return;
    Health& h = it->second;
    if (!transport_failure) {
      notify = !h.up;
      h = Health();
    } else {
      h.last_error = message.substr(0, 200);
      if (++h.consecutive_failures >= policy_.eject_after_failures &&
          clock_->Now() >= h.ejected_until) {
        EjectLocked(h);
        notify = h.up;
        h.up = false;
      }
    }
  }
  if (notify && on_change_) on_change_(province, !transport_failure);
}

std::vector<v1::NodeStatus> NodePool::Status() const {
  absl::MutexLock lock(&mu_);
  std::vector<v1::NodeStatus> out;
  for (const auto& [province, stubs] : nodes_) {
    v1::NodeStatus s;
    s.set_province_code(province);
    s.set_address(stubs->address);
    auto it = health_.find(province);
    if (it != health_.end()) {
      s.set_up(it->second.up && clock_->Now() >= it->second.ejected_until);
      s.set_consecutive_failures(it->second.consecutive_failures);
      if (clock_->Now() < it->second.ejected_until) {
        s.set_ejected_until(absl::FormatTime(absl::RFC3339_sec, it->second.ejected_until,
                                             absl::UTCTimeZone()));
      }
      s.set_last_error(it->second.last_error);
    }
    out.push_back(std::move(s));
  }
  return out;
}

void NodePool::StartProber() { prober_ = std::thread([this] { ProbeLoop(); }); }

void NodePool::ProbeLoop() {
  for (;;) {
    std::vector<std::string> due;
    {
      absl::MutexLock lock(&mu_);
      // Wakes every 100 ms (or at once when stopping) to look for ended ejections.
      auto stopping = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return stopping_; };
      mu_.AwaitWithTimeout(absl::Condition(&stopping), absl::Milliseconds(100));
      if (stopping_) return;
      for (const auto& [province, h] : health_) {
        if (!h.up && clock_->Now() >= h.ejected_until) due.push_back(province);
      }
    }
    for (const std::string& province : due) Probe(province);
  }
}

void NodePool::Probe(const std::string& province) {
  std::shared_ptr<const NodeStubs> stubs = Get(province);
  if (stubs == nullptr) return;
  grpc::ClientContext ctx;
  ctx.set_deadline(absl::ToChronoTime(absl::Now() + policy_.probe_timeout));
  grpc::health::v1::HealthCheckRequest req;
  grpc::health::v1::HealthCheckResponse resp;
  grpc::Status s = stubs->health->Check(&ctx, req, &resp);
  if (s.ok() && resp.status() != grpc::health::v1::HealthCheckResponse::SERVING) {
    s = grpc::Status(grpc::StatusCode::UNAVAILABLE, "health check: NOT_SERVING");
  }
  if (s.ok()) {
    Report(province, grpc::StatusCode::OK, "");
    return;
  }
  // Still failing: a fresh, longer ejection.
  absl::MutexLock lock(&mu_);
  auto it = health_.find(province);
  if (it == health_.end()) return;
  it->second.last_error = s.error_message().substr(0, 200);
  EjectLocked(it->second);
}

}  // namespace tongban::gateway
