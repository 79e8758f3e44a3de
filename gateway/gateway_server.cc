#include "gateway_server.h"

#include <atomic>
#include <thread>

#include "absl/strings/str_cat.h"
#include "catalog_cache.h"
#include "cert_expiry_gauge.h"
#include "heap_metrics.h"
#include "process_metrics.h"
#include "citizen_api.h"
#include "citizen_gate.h"
#include "citizen_grpc_service.h"
#include "citizen_token.h"
#include "directory_watcher.h"
#include "edge_metrics.h"
#include "gateway_metrics.h"
#include "grpc/health/v1/health.pb.h"
#include "grpc_server_metrics.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/grpcpp.h"
#include "grpcpp/health_check_service_interface.h"
#include "heap_allocator.h"
#include "https_server_metrics.h"
#include "node_pool.h"
#include "peer_identity.h"
#include "plaintext_health_server.h"
#include "public_grpc_listener.h"
#include "public_grpc_options.h"
#include "prometheus/exposer.h"
#include "prometheus/registry.h"
#include "query_service.h"
#include "rate_limiter.h"
#include "relay_service.h"
#include "rest_server.h"
#include "server_setup.h"
#include "structured_log.h"
#include "tls_credentials.h"
#include "watched_key_pair.h"

namespace tongban::gateway {
namespace {

constexpr char kVersion[] = "0.1.0";

class RunningGateway final : public GatewayServer {
 public:
  ~RunningGateway() override { Shutdown(); }
  std::string grpc_address() const override { return grpc_address_; }
  std::string metrics_address() const override { return metrics_address_; }
  std::string health_address() const override {
    return health_ == nullptr ? "" : health_->address();
  }
  std::string https_address() const override { return rest_ == nullptr ? "" : rest_->address(); }
  std::string public_grpc_address() const override { return public_grpc_address_; }

  void Shutdown() override {
    if (shut_down_.exchange(true)) return;
    if (server_ == nullptr) return;
    log_->Info("gateway.draining", {{"drain_delay_ms", absl::StrCat(drain_delay_ms_)}});
    server_->GetHealthCheckService()->SetServingStatus(false);
    if (health_ != nullptr) health_->SetServing(false);
    if (public_server_ != nullptr) public_server_->GetHealthCheckService()->SetServingStatus(false);
    if (rest_ != nullptr) rest_->SetServing(false);
    // Balancers and clients watching health see NOT_SERVING before we stop
    // accepting; calls arriving meanwhile are still served.
    std::this_thread::sleep_for(std::chrono::milliseconds(drain_delay_ms_));
    const absl::Time grace = absl::Now() + absl::Seconds(grace_seconds_);
    // Open watches end now (OK: their apps resume at another replica) rather
    // than hold the shutdown for the grace period.
    if (watch_limits_ != nullptr) watch_limits_->DrainAll();
    // Our accept loop stops first: gRPC would not close a connection handed
    // to it once shut down.
    if (public_listener_ != nullptr) public_listener_->Stop();
    if (public_server_ != nullptr) public_server_->Shutdown(absl::ToChronoTime(grace));
    if (rest_ != nullptr) rest_->Stop();  // waits for requests in flight
    // Watches end with their servers; their relays finish right after.
    if (watch_limits_ != nullptr) watch_limits_->WaitAllClosed(absl::Seconds(5));
    server_->Shutdown(absl::ToChronoTime(grace));
    server_->Wait();
    if (public_server_ != nullptr) public_server_->Wait();
    if (health_ != nullptr) health_->Shutdown();
    log_->Info("gateway.stopped");
  }

  std::unique_ptr<EventLog> log_;
  SystemClock clock_;
  std::shared_ptr<prometheus::Registry> registry_;
  std::unique_ptr<prometheus::Exposer> exposer_;
  // process_* series; the exposer holds collectables by weak_ptr.
  std::shared_ptr<ProcessMetrics> process_metrics_ = std::make_shared<ProcessMetrics>();
  std::shared_ptr<HeapMetrics> heap_metrics_ = std::make_shared<HeapMetrics>();
  std::unique_ptr<GrpcServerMetrics> server_metrics_;
  std::unique_ptr<GatewayMetrics> metrics_;
  std::shared_ptr<CertExpiryGauge> cert_expiry_;
  std::unique_ptr<NodePool> pool_;
  std::unique_ptr<DirectoryWatcher> directory_;
  std::unique_ptr<CatalogCache> cache_;
  std::unique_ptr<QueryServiceImpl> query_;
  std::unique_ptr<RelayServiceImpl> relay_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<PlaintextHealthServer> health_;  // only with health_address
  // The public edge (only with public_edge addresses).
  std::unique_ptr<CitizenTokenVerifier> token_verifier_;
  std::unique_ptr<edge::RateLimiter> rate_limiter_;
  std::unique_ptr<edge::EdgeMetrics> edge_metrics_;
  // Watch streams of both faces: outlives the API and the servers, whose
  // watches hold places in it until they end.
  std::unique_ptr<edge::WatchLimits> watch_limits_;
  std::unique_ptr<edge::CitizenApi> citizen_api_;
  std::unique_ptr<edge::CallsInFlight> calls_in_flight_;  // both faces
  std::unique_ptr<edge::CitizenGate> citizen_gate_;
  std::unique_ptr<edge::CitizenGrpcService> citizen_grpc_;
  std::unique_ptr<grpc::Server> public_server_;
  // Accepts for public_server_ (per-address connection limits); stopped
  // before it.
  std::unique_ptr<edge::PublicGrpcListener> public_listener_;
  std::unique_ptr<edge::RestServer> rest_;
  // rest_'s connection counts at /metrics; destroyed before rest_ (the
  // exposer holds it weakly and skips it once gone).
  std::shared_ptr<edge::HttpsServerCollector> https_collector_;
  std::string public_grpc_address_;
  std::string grpc_address_;
  std::string metrics_address_;
  int drain_delay_ms_ = 500;
  int grace_seconds_ = 10;
  std::atomic<bool> shut_down_{false};
};

absl::Status CheckGatewayIdentity(const v1::GatewayConfig& config) {
  absl::Status files = CheckTlsFiles(config.tls());
  if (!files.ok()) return files;
  absl::StatusOr<std::string> uri = ReadCertificateUri(config.tls().cert_file());
  if (!uri.ok()) return uri.status();
  absl::StatusOr<Principal> p = ParseSpiffeId(*uri);
  if (!p.ok() || p->kind != Principal::Kind::kGateway) {
    return absl::FailedPreconditionError(
        absl::StrCat("certificate ", config.tls().cert_file(), " names ", *uri,
                     ", not the gateway (spiffe://tongban/gateway)"));
  }
  return absl::OkStatus();
}

// The public edge: citizen tokens, rate limit, CitizenApi, and its HTTPS and
// public gRPC listeners. Only the citizen API is served there.
absl::Status StartPublicEdge(const v1::GatewayConfig& config, RunningGateway* gw,
                             NodeCaller caller) {
  const v1::PublicEdgeConfig& e = config.public_edge();
  if (e.https_address().empty() && e.grpc_address().empty()) return absl::OkStatus();
  absl::StatusOr<std::unique_ptr<CitizenTokenVerifier>> verifier =
      CitizenTokenVerifier::FromConfig(e.tokens(), &gw->clock_);
  if (!verifier.ok()) {
    return absl::Status(verifier.status().code(),
                        absl::StrCat("public_edge.tokens: ", verifier.status().message()));
  }
  gw->token_verifier_ = std::move(*verifier);
  // Read once here: refuse to start on a pair that does not read or match,
  // rather than fail every handshake later. The HTTPS face presents it;
  // gRPC's own file watcher reads the same files for the public gRPC face.
  absl::StatusOr<std::shared_ptr<edge::WatchedKeyPair>> pair = edge::WatchedKeyPair::Load(
      e.cert_file(), e.key_file(), absl::Seconds(e.tls_refresh_seconds()));
  if (!pair.ok()) return pair.status();
  edge::RateLimiter::Options limits;
  limits.per_second = e.rate_limit_per_second();
  limits.burst = e.rate_limit_burst();
  gw->rate_limiter_ = std::make_unique<edge::RateLimiter>(&gw->clock_, limits);
  gw->edge_metrics_ = std::make_unique<edge::EdgeMetrics>(*gw->registry_);
  edge::CitizenApiOptions api_options;
  api_options.node_deadline = absl::Milliseconds(config.node_deadline_ms());
  gw->watch_limits_ = std::make_unique<edge::WatchLimits>(
      e.max_watches_per_citizen() > 0 ? e.max_watches_per_citizen() : 5,
      e.max_watches() > 0 ? e.max_watches() : 10000, gw->registry_.get());
  api_options.watches = gw->watch_limits_.get();
  if (e.watch_heartbeat_seconds() > 0)
    api_options.watch_heartbeat_seconds = e.watch_heartbeat_seconds();
  if (e.watch_max_stream_seconds() > 0) {
    api_options.watch_max_stream = absl::Seconds(e.watch_max_stream_seconds());
  }
  gw->citizen_api_ = std::make_unique<edge::CitizenApi>(caller, gw->query_.get(), api_options);
  gw->calls_in_flight_ =
      std::make_unique<edge::CallsInFlight>(e.max_calls_in_flight_per_address());
  gw->citizen_gate_ = std::make_unique<edge::CitizenGate>(
      gw->token_verifier_.get(), gw->rate_limiter_.get(), gw->edge_metrics_.get());

  if (!e.grpc_address().empty()) {
    gw->citizen_grpc_ = std::make_unique<edge::CitizenGrpcService>(
        gw->citizen_api_.get(), gw->citizen_gate_.get(), gw->calls_in_flight_.get());
    const auto* d = google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(
        v1::CitizenService::service_full_name());
    if (d != nullptr) gw->server_metrics_->InitService(*d);
    // Our own accept loop counts connections per client address (gRPC has
    // no such limit) and hands the admitted ones to the server.
    edge::PublicGrpcListener::Options listen;
    listen.listen_address = e.grpc_address();
    listen.max_connections = e.grpc_max_connections();
    listen.max_connections_per_address = e.grpc_max_connections_per_address();
    absl::StatusOr<std::unique_ptr<edge::PublicGrpcListener>> listener =
        edge::PublicGrpcListener::Listen(std::move(listen), *gw->registry_);
    if (!listener.ok()) return listener.status();
    gw->public_listener_ = std::move(*listener);
    grpc::ServerBuilder builder;
    std::unique_ptr<grpc::experimental::ExternalConnectionAcceptor> acceptor =
        builder.experimental().AddExternalConnectionAcceptor(
            grpc::ServerBuilder::experimental_type::ExternalConnectionType::FROM_FD,
            MakePublicServerCredentials(e.cert_file(), e.key_file(), e.tls_refresh_seconds()));
    // Reflection stays on the internal mTLS port only: here it would show
    // the internal node-to-node and config schemas to anyone.
    builder.SetOption(std::make_unique<edge::WithoutServerReflection>());
    edge::ApplyPublicGrpcLimits(e, &builder);
    builder.SetMaxReceiveMessageSize(e.max_request_bytes());
    builder.RegisterService(gw->citizen_grpc_.get());
    std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>>
        interceptors;
    interceptors.push_back(gw->server_metrics_->MakeInterceptorFactory());
    builder.experimental().SetInterceptorCreators(std::move(interceptors));
    gw->public_server_ = builder.BuildAndStart();
    if (gw->public_server_ == nullptr) {
      return absl::UnavailableError(
          absl::StrCat("cannot start the public gRPC server on ", e.grpc_address()));
    }
    gw->public_listener_->Start(std::move(acceptor));
    gw->public_grpc_address_ = BoundAddress(e.grpc_address(), gw->public_listener_->port());
  }
  if (!e.https_address().empty()) {
    edge::RestServerOptions rest;
    edge::HttpsServerOptions& https = rest.https;
    https.listen_address = e.https_address();
    https.certificate = std::move(*pair);
    https.worker_threads = e.https_threads();
    https.io_threads = e.https_io_threads();
    https.max_connections = e.https_max_connections();
    https.max_connections_per_address = e.https_max_connections_per_address();
    https.handshake_timeout = absl::Milliseconds(e.https_handshake_timeout_ms());
    https.keep_alive_timeout = absl::Seconds(e.https_keep_alive_seconds());
    https.header_timeout = absl::Milliseconds(e.https_header_timeout_ms());
    https.body_timeout = absl::Milliseconds(e.https_body_timeout_ms());
    https.write_timeout = absl::Milliseconds(e.https_body_timeout_ms());
    https.max_header_bytes = static_cast<size_t>(e.https_max_header_bytes());
    https.max_body_bytes = static_cast<size_t>(e.max_request_bytes());
    https.http2 = !e.https_disable_http2();
    https.hsts_max_age_seconds = std::max(0, e.https_hsts_max_age_seconds());
    rest.calls = gw->calls_in_flight_.get();
    rest.cors.allowed_origins.assign(e.cors_allowed_origins().begin(),
                                     e.cors_allowed_origins().end());
    if (!e.cors_allowed_headers().empty()) {  // FinishGatewayConfig fills in the defaults
      rest.cors.allowed_headers.assign(e.cors_allowed_headers().begin(),
                                       e.cors_allowed_headers().end());
    }
    absl::StatusOr<std::unique_ptr<edge::RestServer>> server =
        edge::RestServer::Start(std::move(rest), gw->citizen_api_.get(), gw->citizen_gate_.get(),
                                gw->edge_metrics_.get(), gw->log_.get());
    if (!server.ok()) return server.status();
    gw->rest_ = std::move(*server);
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<GatewayServer>> StartGatewayServer(const v1::GatewayConfig& config) {
  auto gw = std::make_unique<RunningGateway>();
  gw->log_ = std::make_unique<EventLog>("gateway");
  gw->drain_delay_ms_ = config.drain_delay_ms();
  gw->grace_seconds_ = config.shutdown_grace_seconds();
  absl::Status identity = CheckGatewayIdentity(config);
  if (!identity.ok()) return identity;

  gw->registry_ = std::make_shared<prometheus::Registry>();
  gw->server_metrics_ = std::make_unique<GrpcServerMetrics>(*gw->registry_);
  gw->metrics_ = std::make_unique<GatewayMetrics>(*gw->registry_);
  prometheus::BuildGauge()
      .Name("tongban_build_info")
      .Help("Build and identity of this process (value 1).")
      .Register(*gw->registry_)
      .Add({{"component", "gateway"}, {"version", kVersion}, {"allocator", HeapAllocatorName()}})
      .Set(1);
  // tongban_cert_expiry_timestamp_seconds{cert}, re-read at every scrape:
  // certificates are renewed without a restart.
  CertExpiryGauge::Files expiring{{"own", config.tls().cert_file()},
                                  {"ca", config.tls().ca_file()}};
  // The public edge's certificate (from a public CA) expires on its own schedule.
  if (!config.public_edge().cert_file().empty()) {
    expiring.push_back({"edge", config.public_edge().cert_file()});
  }
  gw->cert_expiry_ = std::make_shared<CertExpiryGauge>(expiring, ReadCertificateNotAfter);

  OutlierPolicy policy;
  policy.eject_after_failures = config.eject_after_failures();
  policy.eject_base = absl::Milliseconds(config.eject_base_ms());
  GatewayMetrics* metrics = gw->metrics_.get();
  EventLog* log = gw->log_.get();
  // Each node's channel checks that the server names the province the
  // directory entry is for; a refusal is logged with both identities.
  auto credentials = std::make_shared<ChannelCredentialsFactory>(
      config.tls(), [log](const std::string& message) {
        log->Warn("node.identity_refused", {{"reason", message}});
      });
  auto credentials_for = [credentials](const std::string& province) {
    return credentials->For(NodeSpiffeId(province));
  };
  gw->pool_ = std::make_unique<NodePool>(credentials_for, policy, &gw->clock_,
                                         [metrics, log](const std::string& province, bool up) {
                                           metrics->NodeUp(province, up);
                                           if (up) {
                                             log->Info("node.reinstated", {{"province", province}});
                                           } else {
                                             log->Warn("node.ejected", {{"province", province}});
                                           }
                                         });
  NodePool* pool = gw->pool_.get();
  gw->directory_ = std::make_unique<DirectoryWatcher>(
      config.directory_file(), absl::Milliseconds(config.directory_poll_ms()), log,
      [pool, metrics](const v1::FederationDirectory& d) {
        pool->Update(d);
        for (const auto& n : d.nodes()) metrics->NodeUp(n.province_code(), true);
      });
  absl::Status loaded = gw->directory_->Start();
  if (!loaded.ok()) return loaded;
  pool->StartProber();

  NodeCaller caller{pool, metrics};
  gw->cache_ = std::make_unique<CatalogCache>(caller, &gw->clock_, log,
                                              absl::Milliseconds(config.catalog_refresh_ms()),
                                              absl::Milliseconds(config.node_deadline_ms()),
                                              absl::Seconds(config.catalog_serve_stale_seconds()));
  if (!config.disable_catalog_cache()) gw->cache_->Start();
  QueryOptions options;
  options.node_deadline = absl::Milliseconds(config.node_deadline_ms());
  options.budget = absl::Milliseconds(config.relay_budget_ms());
  options.use_cache = !config.disable_catalog_cache();
  gw->query_ =
      std::make_unique<QueryServiceImpl>(caller, gw->cache_.get(), gw->directory_.get(), options);
  gw->relay_ = std::make_unique<RelayServiceImpl>(caller, options.budget);

  for (const char* service : {v1::FederationQueryService::service_full_name(),
                              v1::FederationService::service_full_name()}) {
    const auto* d = google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(service);
    if (d != nullptr) gw->server_metrics_->InitService(*d);
  }
  (void)grpc::health::v1::HealthCheckResponse::descriptor();  // for reflection, see node_server.cc
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  int port = 0;
  ServerSetup setup;
  setup.listen_address = config.listen_address();
  setup.tls = config.tls();
  setup.max_message_bytes = config.max_message_bytes();
  setup.max_threads = 512;
  setup.name = "tongban-gateway";
  ConfigureServerBuilder(setup, &builder, &port);
  builder.RegisterService(gw->query_.get());
  builder.RegisterService(gw->relay_.get());
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> interceptors;
  interceptors.push_back(gw->server_metrics_->MakeInterceptorFactory());
  builder.experimental().SetInterceptorCreators(std::move(interceptors));
  gw->server_ = builder.BuildAndStart();
  if (gw->server_ == nullptr || port == 0) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", config.listen_address()));
  }
  gw->grpc_address_ = BoundAddress(config.listen_address(), port);
  if (absl::Status edge = StartPublicEdge(config, gw.get(), caller); !edge.ok()) {
    gw->Shutdown();
    return edge;
  }
  if (!config.metrics_address().empty()) {
    try {
      gw->exposer_ = std::make_unique<prometheus::Exposer>(config.metrics_address());
    } catch (const std::exception& e) {
      gw->Shutdown();
      return absl::UnavailableError(
          absl::StrCat("cannot serve metrics on ", config.metrics_address(), ": ", e.what()));
    }
    gw->exposer_->RegisterCollectable(gw->registry_);
    gw->exposer_->RegisterCollectable(gw->cert_expiry_);
    gw->exposer_->RegisterCollectable(gw->process_metrics_);
    gw->exposer_->RegisterCollectable(gw->heap_metrics_);
    if (gw->rest_ != nullptr) {
      edge::RestServer* rest = gw->rest_.get();
      gw->https_collector_ =
          std::make_shared<edge::HttpsServerCollector>([rest] { return rest->stats(); });
      gw->exposer_->RegisterCollectable(gw->https_collector_);
    }
    gw->metrics_address_ =
        BoundAddress(config.metrics_address(), gw->exposer_->GetListeningPorts().front());
  }
  if (!config.health_address().empty()) {
    absl::StatusOr<std::unique_ptr<PlaintextHealthServer>> health =
        PlaintextHealthServer::Start(config.health_address());
    if (!health.ok()) {
      gw->Shutdown();
      return health.status();
    }
    gw->health_ = std::move(*health);
  }
  gw->server_->GetHealthCheckService()->SetServingStatus(true);
  if (gw->health_ != nullptr) gw->health_->SetServing(true);
  if (gw->public_server_ != nullptr)
    gw->public_server_->GetHealthCheckService()->SetServingStatus(true);
  gw->log_->Info("gateway.serving", {{"grpc", gw->grpc_address_},
                                     {"https", gw->https_address()},
                                     {"public_grpc", gw->public_grpc_address_},
                                     {"metrics", gw->metrics_address_},
                                     {"nodes", absl::StrCat(pool->Provinces().size())},
                                     {"catalog_cache", options.use_cache ? "on" : "off"}});
  return std::unique_ptr<GatewayServer>(std::move(gw));
}

}  // namespace tongban::gateway
