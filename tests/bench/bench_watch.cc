// 8. Slow watch readers (issue 12, "a slow reader cannot hold memory"):
// citizens' apps that open WatchMyApplication on the public gRPC edge and
// stop reading, while the application's history grows by megabytes. The
// relay reads the next message from the node only when the previous one was
// written to the client (gateway/edge/watch_relay.h), and the node's stream
// holds a resume point, not a queue (node/service/application_watch.h): what
// a stalled reader can hold is bounded by the transport's flow-control
// windows, not by the history. Measured as RSS growth of the gateway and of
// the node while the history grows, against the unread bytes; a reading
// watcher of the same application proves every event was sent.
#include <sys/types.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "bench_process.h"
#include "bench_scenarios.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "tongban/v1/application.grpc.pb.h"
#include "tongban/v1/citizen.grpc.pb.h"

namespace tongban::bench {
namespace {

constexpr char kGatewayName[] = "watch";
constexpr int kSlowWatchers = 200;
constexpr int kEventPairs = 1000;  // ESCALATE + RESOLVE_ESCALATION each

// One TLS connection of its own per watcher, without BDP probing, so the
// client's receive window stays at gRPC's initial 64 KiB as a phone's would.
std::shared_ptr<grpc::Channel> WatcherChannel(const EdgeEndpoint& edge) {
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = ReadFileText(edge.ca_file);
  grpc::ChannelArguments args;
  args.SetInt("grpc.use_local_subchannel_pool", 1);
  args.SetInt("grpc.http2.bdp_probe", 0);
  args.SetSslTargetNameOverride("localhost");
  return grpc::CreateCustomChannel(edge.grpc_address, grpc::SslCredentials(ssl), args);
}

struct Watcher {
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<v1::CitizenService::Stub> stub;
  std::unique_ptr<grpc::ClientContext> context;
  std::unique_ptr<grpc::ClientReader<v1::WatchMyApplicationResponse>> reader;
};

int64_t RssKb(pid_t pid) { return StatusKb(pid, "VmRSS"); }

}  // namespace

void RunSlowWatchers(const BenchContext& ctx) {
  Federation& fed = *ctx.federation;
  const std::string certs_dir = fed.paths().certs_dir;
  Table& t = ctx.report->AddTable(
      absl::StrCat("8. Slow watch readers: ", kSlowWatchers,
                   " WatchMyApplication streams that stop reading while the history grows"),
      {"process", "RSS with watchers open (MB)", "RSS after the history grew (MB)",
       "growth (MB)", "growth per slow watcher (KB)", "unread per slow watcher (KB)"});
  auto failed = [&](const std::string& why) {
    Progress("watch: FAILED " + why);
    t.notes.push_back("Not measured: " + why);
  };
  const std::string fields = absl::StrFormat(
      "  grpc_max_connections_per_address: 1000\n"
      "  max_calls_in_flight_per_address: 1000\n"
      "  max_watches_per_citizen: %d\n",
      kSlowWatchers + 10);
  EdgeEndpoint edge;
  absl::StatusOr<absl::Duration> started =
      StartEdgeGateway(ctx, kGatewayName, PublicEdgeConfig(certs_dir, fields), &edge);
  if (!started.ok()) return failed(std::string(started.status().message()).substr(0, 400));
  std::vector<EdgeCitizen> citizens;
  if (absl::Status s = PrepareEdgeCitizens(ctx, edge, 1, &citizens); !s.ok()) {
    fed.StopGateway(kGatewayName);
    return failed(std::string(s.message()).substr(0, 400));
  }
  const EdgeCitizen& citizen = citizens.front();
  const pid_t gateway_pid = fed.gateway(kGatewayName).process->pid();
  const pid_t node_pid = fed.node(kHomeProvince).process->pid();

  v1::WatchMyApplicationRequest req;
  req.set_application_id(citizen.application_id);
  auto open = [&](Watcher& w) {
    w.channel = WatcherChannel(edge);
    w.stub = v1::CitizenService::NewStub(w.channel);
    w.context = std::make_unique<grpc::ClientContext>();
    w.context->AddMetadata("authorization", citizen.bearer);
    w.reader = w.stub->WatchMyApplication(w.context.get(), req);
  };
  // The reading watcher: counts the events it receives.
  Watcher reading;
  open(reading);
  std::atomic<int64_t> received{0};
  std::thread reader_thread([&] {
    v1::WatchMyApplicationResponse m;
    while (reading.reader->Read(&m)) {
      if (!m.heartbeat()) received.fetch_add(1);
    }
  });
  Progress(absl::StrCat("watch: opening ", kSlowWatchers, " watches that read their first message only"));
  std::vector<Watcher> slow(kSlowWatchers);
  for (Watcher& w : slow) {
    open(w);
    v1::WatchMyApplicationResponse first;
    if (!w.reader->Read(&first)) {  // the stream is open and served
      reading.context->TryCancel();
      reader_thread.join();
      fed.StopGateway(kGatewayName);
      return failed("a watch ended at once: " + w.reader->Finish().error_message());
    }
  }
  std::this_thread::sleep_for(std::chrono::seconds(2));
  const int64_t gateway_before = RssKb(gateway_pid), node_before = RssKb(node_pid);

  // The history grows: an officer escalates and resolves, 500-character notes.
  auto officer = v1::ApplicationService::NewStub(MakeChannel(
      fed.node(kHomeProvince).grpc_address,
      IdentityAt(certs_dir, absl::StrCat("province/", kHomeProvince, "/officer/officer-01"))));
  std::string note;
  for (int i = 0; i < 500; ++i) note += "办";
  const int64_t start_events = received.load();
  int64_t event_bytes = 0;
  Progress(absl::StrCat("watch: appending ", 2 * kEventPairs, " events of ~", note.size(),
                        " bytes each"));
  for (int i = 0; i < kEventPairs; ++i) {
    grpc::ClientContext c1, c2;
    v1::EscalateApplicationRequest esc;
    esc.set_application_id(citizen.application_id);
    esc.set_reason(note);
    v1::EscalateApplicationResponse e1;
    grpc::Status s = officer->EscalateApplication(&c1, esc, &e1);
    v1::ResolveEscalationRequest res;
    res.set_application_id(citizen.application_id);
    res.set_resolution(note);
    v1::ResolveEscalationResponse e2;
    if (s.ok()) s = officer->ResolveEscalation(&c2, res, &e2);
    if (!s.ok()) {
      t.notes.push_back(absl::StrCat("event ", 2 * i, " failed: ", s.error_message()));
      break;
    }
  }
  // Every event reached the reading watcher (the readiness signal).
  const int64_t want = start_events + 2 * kEventPairs;
  for (absl::Time end = absl::Now() + absl::Seconds(60); absl::Now() < end && received < want;) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  {
    grpc::ClientContext c;
    v1::GetApplicationRequest get;
    get.set_application_id(citizen.application_id);
    v1::GetApplicationResponse app;
    if (officer->GetApplication(&c, get, &app).ok()) {
      for (const auto& e : app.application().events()) event_bytes += e.ByteSizeLong();
    }
  }
  std::this_thread::sleep_for(std::chrono::seconds(2));
  const int64_t gateway_after = RssKb(gateway_pid), node_after = RssKb(node_pid);
  auto row = [&](const std::string& name, int64_t before, int64_t after) {
    t.rows.push_back({name, absl::StrFormat("%.1f", before / 1024.0),
                      absl::StrFormat("%.1f", after / 1024.0),
                      absl::StrFormat("%.1f", (after - before) / 1024.0),
                      absl::StrFormat("%.0f", static_cast<double>(after - before) / kSlowWatchers),
                      absl::StrFormat("%.0f", event_bytes / 1024.0)});
  };
  row("gateway (relay)", gateway_before, gateway_after);
  row(absl::StrCat("node ", kHomeProvince, " (stream)"), node_before, node_after);
  t.notes.push_back(absl::StrCat(
      "The reading watcher received ", received.load() - start_events, " of ", 2 * kEventPairs,
      " new events; the history is ", event_bytes / 1024, " KB, unread by every slow watcher. "
      "Were it buffered per slow watcher, ", kSlowWatchers, " of them would hold ",
      kSlowWatchers * event_bytes / (1024 * 1024), " MB."));
  Progress(absl::StrCat("watch: gateway ", gateway_before / 1024, " → ", gateway_after / 1024,
                        " MB, node ", node_before / 1024, " → ", node_after / 1024, " MB"));

  for (Watcher& w : slow) w.context->TryCancel();
  reading.context->TryCancel();
  reader_thread.join();
  for (Watcher& w : slow) (void)w.reader->Finish();
  (void)reading.reader->Finish();
  fed.StopGateway(kGatewayName);
}

}  // namespace tongban::bench
