#include "node_server.h"

#include <malloc.h>

#include <atomic>
#include <chrono>
#include <set>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "catalog/demo_catalog.h"
#include "service/demo_licences.h"
#include "cert_expiry_gauge.h"
#include "heap_metrics.h"
#include "process_metrics.h"
#include "clock.h"
#include "grpc_server_metrics.h"
#include "grpc/health/v1/health.pb.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/health_check_service_interface.h"
#include "grpcpp/grpcpp.h"
#include "peer_identity.h"
#include "plaintext_health_server.h"
#include "prometheus/exposer.h"
#include "prometheus/registry.h"
#include "service/application_events.h"
#include "service/application_service.h"
#include "service/authz_policy.h"
#include "service/catalog_service.h"
#include "service/clock_monitor.h"
#include "service/joint_coordinator.h"
#include "service/federation_client.h"
#include "service/federation_service.h"
#include "service/guide_resolver.h"
#include "service/licence_registry.h"
#include "service/licence_service.h"
#include "service/node_admin_service.h"
#include "service/node_metrics.h"
#include "service/notifying_application_store.h"
#include "service/outbox_forwarder.h"
#include "node_stores.h"
#include "structured_log.h"
#include "server_setup.h"
#include "tls_credentials.h"
#include "working_day_calendar.h"

#include <fstream>

namespace tongban::node {
namespace {

constexpr char kVersion[] = "0.1.0";
// Filings that must block, on SQLite: rare (a guide not in memory, 多地联办).
constexpr int kBlockingFilingThreads = 4;
// Filings waiting for a thread at most; more are refused (UNAVAILABLE).
constexpr int kBlockingFilingQueue = 1024;

// The node's identity is its certificate's; the config must agree with it.
absl::StatusOr<std::string> CheckIdentity(const v1::NodeConfig& config) {
  absl::Status files = CheckTlsFiles(config.tls());
  if (!files.ok()) return files;
  absl::StatusOr<std::string> uri = ReadCertificateUri(config.tls().cert_file());
  if (!uri.ok()) return uri.status();
  absl::StatusOr<Principal> principal = ParseSpiffeId(*uri);
  if (!principal.ok() || principal->kind != Principal::Kind::kNode) {
    return absl::FailedPreconditionError(absl::StrCat(
        "certificate ", config.tls().cert_file(), " names ", *uri,
        ", which is not a province node identity (spiffe://tongban/province/<code>)"));
  }
  if (principal->province != config.province_code()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "certificate ", config.tls().cert_file(), " belongs to province ", principal->province,
        " but the config says province_code ", config.province_code(),
        ": a node serves only the province its certificate names"));
  }
  return *uri;
}

class RunningNode final : public NodeServer {
 public:
  ~RunningNode() override { Shutdown(); }
  std::string grpc_address() const override { return grpc_address_; }
  std::string metrics_address() const override { return metrics_address_; }
  std::string health_address() const override {
    return health_ == nullptr ? "" : health_->address();
  }

  void Shutdown() override {
    if (shut_down_.exchange(true)) return;
    log_->Info("node.stopping", {{"grace_seconds", absl::StrCat(grace_seconds_)}});
    if (server_ != nullptr) {
      // Report NOT_SERVING first so balancers and the gateway stop sending.
      server_->GetHealthCheckService()->SetServingStatus(false);
      if (health_ != nullptr) health_->SetServing(false);
      // Clients watching health (round robin over replicas) stop picking us;
      // calls arriving meanwhile are still served.
      std::this_thread::sleep_for(std::chrono::milliseconds(drain_delay_ms_));
      server_->Shutdown(absl::ToChronoTime(absl::Now() + absl::Seconds(grace_seconds_)));
      server_->Wait();
    }
    if (blocking_filings_ != nullptr) blocking_filings_->Drain();
    // No handler writes any more; finish (or time out) the deliveries in
    // flight and record them while the store is still open.
    if (forwarder_ != nullptr) forwarder_->Stop();
    if (clock_monitor_ != nullptr) clock_monitor_->Stop();
    if (joint_ != nullptr) joint_->Stop();
    stores_.Close();
    if (health_ != nullptr) health_->Shutdown();
    log_->Info("node.stopped");
  }

  // Members in construction order; destroyed in reverse.
  std::unique_ptr<EventLog> log_;
  std::unique_ptr<Clock> clock_;
  std::unique_ptr<WorkingDayCalendar> calendar_;
  NodeStores stores_;  // the databases; catalog_ and applications_ are taken from it
  std::unique_ptr<CatalogStore> catalog_;
  // Declared before the store that notifies it, so that it outlives it.
  std::unique_ptr<ApplicationWatchHub> watch_hub_;
  std::unique_ptr<ApplicationStore> applications_;
  std::shared_ptr<prometheus::Registry> registry_;
  std::unique_ptr<prometheus::Exposer> exposer_;
  // process_* series; the exposer holds collectables by weak_ptr.
  std::shared_ptr<ProcessMetrics> process_metrics_ = std::make_shared<ProcessMetrics>();
  std::shared_ptr<HeapMetrics> heap_metrics_ = std::make_shared<HeapMetrics>();
  std::unique_ptr<GrpcServerMetrics> grpc_metrics_;
  std::unique_ptr<NodeMetrics> node_metrics_;
  std::shared_ptr<StoreGauges> store_gauges_;
  std::shared_ptr<CertExpiryGauge> cert_expiry_;
  std::unique_ptr<AuthzPolicy> authz_;
  std::unique_ptr<FederationClient> federation_;
  std::unique_ptr<GuideResolver> guides_;
  std::unique_ptr<CatalogServiceImpl> catalog_service_;
  std::unique_ptr<JointCoordinator> joint_;
  // Filings that must block (application_service.h); outlives the service.
  std::unique_ptr<WorkerPool> blocking_filings_;
  std::unique_ptr<ApplicationServiceImpl> application_service_;
  std::unique_ptr<FederationServiceImpl> federation_service_;
  std::unique_ptr<NodeAdminServiceImpl> admin_service_;
  std::unique_ptr<LicenceStore> licence_store_;
  std::unique_ptr<LicenceRegistry> licences_;
  std::unique_ptr<LicenceServiceImpl> licence_service_;
  std::unique_ptr<signing::RecordSigner> signer_;
  std::unique_ptr<signing::RecordVerifier> verifier_;
  std::unique_ptr<OutboxForwarder> forwarder_;  // only with a gateway
  std::unique_ptr<ClockMonitor> clock_monitor_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<PlaintextHealthServer> health_;  // only with health_address
  std::string grpc_address_;
  std::string metrics_address_;
  int grace_seconds_ = 10;
  int drain_delay_ms_ = 500;
  std::atomic<bool> shut_down_{false};
};

}  // namespace

absl::StatusOr<std::unique_ptr<NodeServer>> StartNodeServer(const v1::NodeConfig& config) {
  auto node = std::make_unique<RunningNode>();
  node->log_ = std::make_unique<EventLog>(absl::StrCat("node-", config.province_code()));
  node->grace_seconds_ = config.shutdown_grace_seconds();
  node->drain_delay_ms_ = config.drain_delay_ms();
  absl::StatusOr<std::string> identity = CheckIdentity(config);
  if (!identity.ok()) return identity.status();
  const v1::TimeLimitConfig& limits = config.time_limits();
  if (limits.test_only_clock_offset_seconds() != 0) {
    node->clock_ = std::make_unique<OffsetClock>(absl::Seconds(limits.test_only_clock_offset_seconds()));
    node->log_->Warn("clock.test_only_offset",
                     {{"seconds", absl::StrCat(limits.test_only_clock_offset_seconds())}});
  } else {
    node->clock_ = std::make_unique<SystemClock>();
  }
  // Time limits are counted in working days: without a calendar the node
  // would count wrong, so it does not start.
  absl::StatusOr<WorkingDayCalendar> calendar = WorkingDayCalendar::FromFiles(
      std::vector<std::string>(limits.calendar_files().begin(), limits.calendar_files().end()));
  if (!calendar.ok()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "time_limits.calendar_files: cannot load the working-day calendar: ",
        calendar.status().message(), " (docs/working-days.md)"));
  }
  node->calendar_ = std::make_unique<WorkingDayCalendar>(*std::move(calendar));
  node->log_->Info("calendar.loaded",
                   {{"files", absl::StrJoin(limits.calendar_files(), ",")},
                    {"last_covered_year", absl::StrCat(node->calendar_->LastCoveredYear())}});

  // Metrics first so the store's commit hook has somewhere to report.
  node->registry_ = std::make_shared<prometheus::Registry>();
  node->grpc_metrics_ = std::make_unique<GrpcServerMetrics>(*node->registry_);
  node->node_metrics_ =
      std::make_unique<NodeMetrics>(*node->registry_, config.province_code(), kVersion);

  NodeMetrics* metrics = node->node_metrics_.get();
  absl::StatusOr<NodeStores> stores = OpenNodeStores(
      config, *node->clock_,
      [metrics](absl::Duration latency, int batch) {
        metrics->Commit(absl::ToDoubleSeconds(latency), batch);
      },
      [metrics](const absl::Status& failure) { metrics->StorageFailure(failure); });
  if (!stores.ok()) return stores.status();
  node->stores_ = *std::move(stores);
  node->catalog_ = std::move(node->stores_.catalog);
  node->licence_store_ = std::move(node->stores_.licences);
  // Open WatchApplication streams are woken by every committed write.
  // (0s are the defaults FinishNodeConfig fills in, for configs built in code.)
  const v1::WatchConfig& watch = config.watch();
  node->watch_hub_ = std::make_unique<ApplicationWatchHub>(
      node->clock_.get(), watch.max_watches() > 0 ? watch.max_watches() : 10000);
  node->applications_ = std::make_unique<NotifyingApplicationStore>(
      std::move(node->stores_.applications), node->watch_hub_.get());
  if (!config.demo_catalog_dir().empty()) {
    std::string summary;
    absl::Status seeded =
        SeedDemoCatalogIfEmpty(config.demo_catalog_dir(), *node->catalog_, &summary);
    if (!seeded.ok()) return seeded;
    if (!summary.empty()) {
      node->log_->Info("catalog.seeded", {{"summary", summary}});
      // Seeding parsed ~1700 guides; hand the freed heap back so an idle node stays small.
      malloc_trim(0);
    }
  }

  // Re-read at every scrape: certificates are renewed without a restart.
  node->cert_expiry_ = std::make_shared<CertExpiryGauge>(
      CertExpiryGauge::Files{{"own", config.tls().cert_file()}, {"ca", config.tls().ca_file()}},
      ReadCertificateNotAfter);

  node->authz_ = std::make_unique<AuthzPolicy>(AuthzPolicy::ForNode(config.province_code()));
  node->authz_->set_extension_approvers(std::set<std::string>(
      limits.extension_approvers().begin(), limits.extension_approvers().end()));
  if (!config.gateway_address().empty()) {
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 30000);
    // After a gateway outage, resume forwarding within seconds (gRPC's default
    // reconnect back-off grows to 120 s).
    args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 2000);
    // The gateway must present spiffe://tongban/gateway: any other member of
    // the federation CA at that address is refused at the handshake.
    EventLog* log = node->log_.get();
    auto credentials = MakeChannelCredentials(
        config.tls(), std::string(kGatewaySpiffeId), [log](const std::string& message) {
          log->Warn("gateway.identity_refused", {{"reason", message}});
        });
    auto channel = grpc::CreateCustomChannel(config.gateway_address(), credentials, args);
    node->federation_ = std::make_unique<GatewayFederationClient>(channel, absl::Seconds(5));
  }
  if (node->federation_ != nullptr) {
    node->forwarder_ = std::make_unique<OutboxForwarder>(
        node->applications_.get(), node->federation_.get(), node->clock_.get(), metrics,
        node->log_.get(), OutboxForwarder::Options{});
  } else {
    node->log_->Warn("forwarding.disabled",
                     {{"reason", "outbox entries will wait: no gateway_address configured"}});
  }
  OutboxForwarder* forwarder = node->forwarder_.get();
  std::function<void()> on_outbox_written;
  if (forwarder != nullptr) on_outbox_written = [forwarder] { forwarder->Notify(); };
  node->guides_ = std::make_unique<GuideResolver>(config.province_code(), node->catalog_.get(),
                                                  node->federation_.get(), node->clock_.get(),
                                                  absl::Seconds(30));
  node->catalog_service_ = std::make_unique<CatalogServiceImpl>(
      node->authz_.get(), node->catalog_.get(), node->clock_.get(), node->log_.get());
  GuideResolver* resolver = node->guides_.get();
  const std::string own = config.province_code();
  node->catalog_service_->set_on_guide_changed(
      [resolver, own](const std::string& item) { resolver->Invalidate(own, item); });
  if (config.has_postgres()) {
    // Replicas share the database: an amendment made at another replica
    // reaches this one's in-memory guides (pre-checks, GetGuide answers)
    // within a second, as the gateway's catalog cache sees it.
    node->guides_->set_own_guide_ttl(absl::Seconds(1));
    node->catalog_service_->set_guide_answer_ttl(absl::Seconds(1));
  }
  // Records are signed with the node's mTLS key and verified against the
  // federation CA and CRLs the TLS layer uses (both re-read on renewal).
  absl::StatusOr<std::unique_ptr<signing::RecordSigner>> signer =
      signing::RecordSigner::Create(config.tls().key_file(), config.tls().cert_file());
  if (!signer.ok()) return signer.status();
  node->signer_ = *std::move(signer);
  absl::StatusOr<std::unique_ptr<signing::RecordVerifier>> verifier =
      signing::RecordVerifier::Create(config.tls().ca_file(), config.tls().crl_directory());
  if (!verifier.ok()) return verifier.status();
  node->verifier_ = *std::move(verifier);
  JointCoordinatorDeps joint;
  joint.own_province = own;
  joint.applications = node->applications_.get();
  joint.guides = node->guides_.get();
  joint.clock = node->clock_.get();
  joint.calendar = node->calendar_.get();
  joint.signer = node->signer_.get();
  joint.log = node->log_.get();
  joint.metrics = metrics;
  joint.on_outbox_written = on_outbox_written;
  node->joint_ = std::make_unique<JointCoordinator>(std::move(joint));
  JointCoordinator* coordinator = node->joint_.get();
  if (forwarder != nullptr) {
    // A task's DELIVER (its province has it) shows in the joint history now.
    ApplicationStore* store = node->applications_.get();
    forwarder->set_on_task_delivered([coordinator, store](const std::string& id) {
      absl::StatusOr<v1::Application> app = store->GetApplication(id, /*with_events=*/false);
      if (app.ok()) coordinator->TaskChanged(*app);
    });
  }
  // Threads for filings that must block: PostgreSQL's (every filing: one
  // transaction each, as many as its connection pool holds), or on SQLite a
  // guide to fetch or a 多地联办 item; beyond the queue, UNAVAILABLE.
  node->blocking_filings_ = std::make_unique<WorkerPool>(
      config.has_postgres() ? config.postgres().pool_size() : kBlockingFilingThreads,
      kBlockingFilingQueue);
  ApplicationServiceDeps deps;
  deps.blocking_filings = node->blocking_filings_.get();
  deps.joint = coordinator;
  deps.authz = node->authz_.get();
  deps.signer = node->signer_.get();
  deps.verifier = node->verifier_.get();
  deps.applications = node->applications_.get();
  deps.catalog = node->catalog_.get();
  deps.guides = node->guides_.get();
  deps.clock = node->clock_.get();
  deps.metrics = metrics;
  deps.log = node->log_.get();
  deps.on_outbox_written = on_outbox_written;
  deps.calendar = node->calendar_.get();
  deps.rating_default_after_days = config.rating().default_after_days();
  deps.rectification_working_days = config.rating().rectification_working_days();
  deps.watch_hub = node->watch_hub_.get();
  if (watch.heartbeat_seconds() > 0) {
    deps.watch.default_heartbeat = absl::Seconds(watch.heartbeat_seconds());
  }
  if (watch.max_stream_seconds() > 0) {
    deps.watch.max_stream = absl::Seconds(watch.max_stream_seconds());
  }
  if (watch.poll_ms() > 0) deps.watch.poll = absl::Milliseconds(watch.poll_ms());
  node->application_service_ = std::make_unique<ApplicationServiceImpl>(deps);
  node->federation_service_ = std::make_unique<FederationServiceImpl>(
      node->authz_.get(), node->applications_.get(), node->catalog_.get(), node->clock_.get(), metrics,
      node->log_.get(), *identity, node->signer_.get(), node->verifier_.get(),
      node->calendar_.get());
  ClockMonitor::Options monitor;
  monitor.due_soon_working_days = limits.due_soon_working_days();
  monitor.refresh_interval = absl::Seconds(limits.refresh_interval_seconds());
  monitor.escalate_overdue = limits.escalate_overdue();
  ApplicationServiceImpl* app_service = node->application_service_.get();
  node->clock_monitor_ = std::make_unique<ClockMonitor>(
      own, node->applications_.get(), node->calendar_.get(), node->clock_.get(),
      node->log_.get(), *node->registry_, monitor,
      [app_service](const std::string& id, const std::string& reason) {
        return app_service->EscalateAsNode(id, reason);
      });
  node->federation_service_->set_on_outbox_written(on_outbox_written);
  node->federation_service_->set_on_application_changed(
      [coordinator](const v1::Application& app) { coordinator->TaskChanged(app); });
  node->federation_service_->set_rectification_working_days(
      config.rating().rectification_working_days());
  // The province's operators: outbox and dead letters (tongbanctl outbox).
  NodeAdminServiceDeps admin;
  admin.own_province = own;
  admin.applications = node->applications_.get();
  admin.clock = node->clock_.get();
  admin.log = node->log_.get();
  signing::RecordSigner* signer_for_admin = node->signer_.get();
  admin.seal_event = [signer_for_admin](const v1::Application& app, v1::ApplicationEvent* e) {
    return SealEvent(app, signer_for_admin, e);
  };
  admin.on_outbox_written = on_outbox_written;
  node->admin_service_ = std::make_unique<NodeAdminServiceImpl>(std::move(admin));
  // 电子证照: this province's register, signed with the node's key.
  LicenceRegistryDeps licence_deps;
  licence_deps.own_province = own;
  licence_deps.store = node->licence_store_.get();
  licence_deps.signer = node->signer_.get();
  licence_deps.clock = node->clock_.get();
  licence_deps.types = &LicenceTypeList::National();
  licence_deps.verifier = node->verifier_.get();
  licence_deps.metrics = metrics;
  node->licences_ = std::make_unique<LicenceRegistry>(std::move(licence_deps));
  LicenceServiceDeps licence_service;
  licence_service.registry = node->licences_.get();
  licence_service.federation = node->federation_.get();
  licence_service.guides = node->guides_.get();
  licence_service.verifier = node->verifier_.get();
  licence_service.clock = node->clock_.get();
  licence_service.log = node->log_.get();
  licence_service.applications = node->applications_.get();
  node->licence_service_ = std::make_unique<LicenceServiceImpl>(licence_service);
  node->federation_service_->set_licences(node->licences_.get());
  node->federation_service_->set_guide_answers(
      [catalog = node->catalog_service_.get()](const std::string& item_code) {
        return catalog->GuideAnswer(item_code);
      });
  if (!config.demo_catalog_dir().empty()) {
    std::string summary;
    absl::Status seeded =
        SeedDemoLicencesIfEmpty(config.demo_catalog_dir(), *node->licence_store_,
                                *node->licences_, &summary);
    if (!seeded.ok()) return seeded;
    if (!summary.empty()) node->log_->Info("licences.seeded", {{"summary", summary}});
  }

  for (const auto* service : {v1::CatalogService::service_full_name(),
                              v1::ApplicationService::service_full_name(),
                              v1::FederationService::service_full_name(),
                              v1::NodeAdminService::service_full_name(),
                              v1::LicenceService::service_full_name()}) {
    const auto* descriptor =
        google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(service);
    if (descriptor != nullptr) node->grpc_metrics_->InitService(*descriptor);
  }

  // The built-in health service is advertised by reflection, so its schema
  // must be in the descriptor pool (Debian's gRPC does not ship it): touching
  // the descriptor links our copy of grpc/health/v1/health.proto in.
  (void)grpc::health::v1::HealthCheckResponse::descriptor();
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  int port = 0;
  ServerSetup setup;
  setup.listen_address = config.listen_address();
  setup.tls = config.tls();
  setup.max_message_bytes = config.max_message_bytes();
  setup.max_threads = 256;
  setup.name = "tongban-node";
  ConfigureServerBuilder(setup, &builder, &port);
  builder.RegisterService(node->catalog_service_.get());
  builder.RegisterService(node->application_service_.get());
  builder.RegisterService(node->federation_service_.get());
  builder.RegisterService(node->admin_service_.get());
  builder.RegisterService(node->licence_service_.get());
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> interceptors;
  interceptors.push_back(node->grpc_metrics_->MakeInterceptorFactory());
  builder.experimental().SetInterceptorCreators(std::move(interceptors));
  node->server_ = builder.BuildAndStart();
  if (node->server_ == nullptr || port == 0) {
    node->stores_.Close();
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", config.listen_address(), " (in use or not local?)"));
  }
  node->grpc_address_ = BoundAddress(config.listen_address(), port);

  if (!config.metrics_address().empty()) {
    try {
      // prometheus-cpp reports a failed bind by throwing; keep it inside.
      node->exposer_ = std::make_unique<prometheus::Exposer>(config.metrics_address());
    } catch (const std::exception& e) {
      node->Shutdown();
      return absl::UnavailableError(absl::StrCat("cannot serve metrics on ",
                                                 config.metrics_address(), ": ", e.what()));
    }
    node->store_gauges_ =
        std::make_shared<StoreGauges>(node->applications_.get(), node->clock_.get());
    node->exposer_->RegisterCollectable(node->registry_);
    node->exposer_->RegisterCollectable(node->store_gauges_);
    node->exposer_->RegisterCollectable(node->cert_expiry_);
    node->exposer_->RegisterCollectable(node->process_metrics_);
    node->exposer_->RegisterCollectable(node->heap_metrics_);
    node->metrics_address_ = BoundAddress(config.metrics_address(),
                                  node->exposer_->GetListeningPorts().front());
  }
  if (!config.health_address().empty()) {
    absl::StatusOr<std::unique_ptr<PlaintextHealthServer>> health =
        PlaintextHealthServer::Start(config.health_address());
    if (!health.ok()) {
      node->Shutdown();
      return health.status();
    }
    node->health_ = std::move(*health);
  }
  node->server_->GetHealthCheckService()->SetServingStatus(true);
  if (node->health_ != nullptr) node->health_->SetServing(true);
  node->log_->Info("node.serving", {{"province", config.province_code()},
                                    {"grpc", node->grpc_address_},
                                    {"metrics", node->metrics_address_},
                                    {"identity", *identity}});
  if (node->forwarder_ != nullptr) node->forwarder_->Start();
  // The gauges hold real values from the first scrape; a failed first
  // refresh is logged and retried at the next interval.
  (void)node->clock_monitor_->RefreshNow();
  node->clock_monitor_->Start();
  // Finishes the 多地联办 steps a stop interrupted, then sweeps periodically.
  node->joint_->Start();
  return std::unique_ptr<NodeServer>(std::move(node));
}

}  // namespace tongban::node
