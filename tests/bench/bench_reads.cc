// Scenarios 1 (routed read) and 2 (fan-out search).
#include <signal.h>

#include <chrono>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "bench_metrics.h"
#include "bench_scenarios.h"
#include "tongban/v1/catalog.grpc.pb.h"
#include "tongban/v1/gateway.grpc.pb.h"

namespace tongban::bench {
namespace {

constexpr absl::Duration kCallDeadline = absl::Seconds(10);

void SetDeadline(grpc::ClientContext* c) {
  c->set_deadline(absl::ToChronoTime(absl::Now() + kCallDeadline));
}

// Thread i's client: its own channel to `address` as `identity`, then the call.
template <typename Service, typename Make>
WorkerFactory Clients(std::string address, Identity identity, Make make_call) {
  return [=](int) -> CallFn {
    std::shared_ptr<grpc::Channel> channel = MakeChannel(address, identity);
    if (!WaitConnected(channel, absl::Seconds(10))) return nullptr;
    std::shared_ptr<typename Service::Stub> stub(Service::NewStub(channel));
    return make_call(stub);
  };
}

WorkerFactory DirectGetGuide(const std::string& address, const Identity& officer) {
  return Clients<v1::CatalogService>(address, officer, [](auto stub) -> CallFn {
    return [stub](int64_t) {
      grpc::ClientContext c;
      SetDeadline(&c);
      v1::GetGuideRequest req;
      req.set_item_code(kItem);
      v1::GetGuideResponse resp;
      return stub->GetGuide(&c, req, &resp);
    };
  });
}

// A partial answer (provinces missing) counts as a failed call.
WorkerFactory GatewaySearch(const std::string& address, const Identity& officer) {
  return Clients<v1::FederationQueryService>(address, officer, [](auto stub) -> CallFn {
    return [stub](int64_t) {
      grpc::ClientContext c;
      SetDeadline(&c);
      v1::SearchFederationRequest req;
      req.set_query(kSearchQuery);
      v1::SearchFederationResponse resp;
      grpc::Status s = stub->SearchFederation(&c, req, &resp);
      if (s.ok() && resp.missing_provinces_size() > 0) {
        return grpc::Status(grpc::StatusCode::UNAVAILABLE,
                            absl::StrCat("partial: ", resp.missing_provinces_size(),
                                         " provinces missing, first ",
                                         resp.missing_provinces(0).province_code(), ": ",
                                         resp.missing_provinces(0).reason()));
      }
      if (s.ok() && resp.guides_size() == 0) {
        return grpc::Status(grpc::StatusCode::INTERNAL, "empty result");
      }
      return s;
    };
  });
}

WorkerFactory NodeSearch(const std::string& address, const Identity& officer) {
  return Clients<v1::CatalogService>(address, officer, [](auto stub) -> CallFn {
    return [stub](int64_t) {
      grpc::ClientContext c;
      SetDeadline(&c);
      v1::SearchItemsRequest req;
      req.set_query(kSearchQuery);
      v1::SearchItemsResponse resp;
      return stub->SearchItems(&c, req, &resp);
    };
  });
}

std::string Cpu(const LoadResult& r, const std::string& probe) {
  auto it = r.cpu_us_per_call.find(probe);
  return it == r.cpu_us_per_call.end() ? "–" : Fmt(it->second, 0);
}

double Ratio(double a, double b) { return b > 0 ? a / b : -1; }

// Until the gateway answers a search wholly from its cache (its hit counter
// grows by one per province served, the miss counter not at all).
bool AwaitCatalogCache(const GatewayHandle& gateway, const Identity& officer) {
  CallFn search = GatewaySearch(gateway.grpc_address, officer)(0);
  if (!search) return false;
  const std::string hit = "tongban_gateway_catalog_cache_total{result=\"hit\"}";
  const std::string miss = "tongban_gateway_catalog_cache_total{result=\"miss\"}";
  for (absl::Time end = absl::Now() + absl::Seconds(20); absl::Now() < end;) {
    std::string before = HttpGet(gateway.metrics_address, "/metrics");
    grpc::Status s = search(0);
    std::string after = HttpGet(gateway.metrics_address, "/metrics");
    if (s.ok() && MetricValue(after, miss) == MetricValue(before, miss) &&
        MetricValue(after, hit) - MetricValue(before, hit) >= 31) {
      return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  return false;
}

// Provinces the gateway's next search answers from a stale copy (-1 when
// the search failed).
int StaleProvinces(const GatewayHandle& gateway, const Identity& officer) {
  auto stub = v1::FederationQueryService::NewStub(MakeChannel(gateway.grpc_address, officer));
  grpc::ClientContext c;
  SetDeadline(&c);
  v1::SearchFederationRequest req;
  req.set_query(kSearchQuery);
  v1::SearchFederationResponse resp;
  if (!stub->SearchFederation(&c, req, &resp).ok()) return -1;
  return resp.stale_provinces_size();
}

bool AwaitStale(const GatewayHandle& gateway, const Identity& officer, bool stale) {
  for (absl::Time end = absl::Now() + absl::Seconds(30); absl::Now() < end;) {
    int n = StaleProvinces(gateway, officer);
    if (n >= 0 && (n > 0) == stale) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  return false;
}

}  // namespace

WorkerFactory GatewayGetGuide(const std::string& address, const Identity& officer) {
  return Clients<v1::FederationQueryService>(address, officer, [](auto stub) -> CallFn {
    return [stub](int64_t) {
      grpc::ClientContext c;
      SetDeadline(&c);
      v1::GetProvinceGuideRequest req;
      req.set_province_code(kHomeProvince);
      req.set_item_code(kItem);
      v1::GetProvinceGuideResponse resp;
      return stub->GetProvinceGuide(&c, req, &resp);
    };
  });
}

std::string Errors(const LoadResult& r) {
  if (r.errors == 0) return "0";
  return absl::StrCat(r.errors, " (", r.first_error.substr(0, 120), ")");
}

LoadResult RunPoint(const BenchContext& ctx, const std::string& label, int concurrency,
                    const WorkerFactory& factory, const std::vector<CpuProbe>& probes) {
  LoadResult r;
  r.concurrency = concurrency;
  // One call first: a path that does not work is reported, not loaded for seconds.
  CallFn probe = factory(0);
  grpc::Status first = probe ? probe(0) : grpc::Status(grpc::StatusCode::UNAVAILABLE, "no connection");
  if (!first.ok()) {
    r.errors = 1;
    r.first_error = absl::StrCat(first.error_code(), " ", first.error_message());
    Progress(absl::StrCat(label, ", ", concurrency, " clients: FAILED ", r.first_error));
    return r;
  }
  LoadOptions options = ctx.load;
  options.concurrency = concurrency;
  for (int attempt = 1; attempt <= ctx.max_attempts; ++attempt) {
    LoadResult a = RunClosedLoop(options, factory, probes);
    Progress(absl::StrCat(label, ", ", concurrency, " clients: ", Fmt(a.calls_per_second, 0),
                          " calls/s, p50 ", Fmt(a.p50_ms, 2), " ms, p99 ", Fmt(a.p99_ms, 2),
                          " ms, errors ", Errors(a), "; other load ", Fmt(a.foreign_cores, 2),
                          " cores", attempt > 1 ? absl::StrCat(" (attempt ", attempt, ")") : ""));
    if (attempt == 1 || a.foreign_cores < r.foreign_cores) r = a;
    if (a.foreign_cores <= ctx.quiet_cores) break;
  }
  NoteReportedPoint(r);
  return r;
}

void RunRoutedReads(const BenchContext& ctx, const NginxProxy* nginx) {
  const Federation& fed = *ctx.federation;
  const Identity officer =
      IdentityAt(fed.paths().certs_dir, absl::StrCat("province/", kHomeProvince, "/officer/officer-01"));
  const NodeHandle& node = fed.node(kHomeProvince);
  const GatewayHandle& gateway = fed.gateway("gateway");
  std::vector<CpuProbe> probes = {{"node", {node.process->pid()}, false},
                                  {"gateway", {gateway.process->pid()}, false}};
  struct Path {
    std::string name;
    WorkerFactory factory;
    std::vector<std::string> cpu;  // probes that take part in this path
  };
  std::vector<Path> paths = {
      {"direct (CatalogService.GetGuide)", DirectGetGuide(node.grpc_address, officer), {"node"}},
      {"gateway (GetProvinceGuide)", GatewayGetGuide(gateway.grpc_address, officer),
       {"node", "gateway"}},
  };
  if (nginx != nullptr) {
    probes.push_back({"nginx", {nginx->master_pid()}, true});
    paths.push_back({"nginx grpc_pass, upstream keepalive",
                     DirectGetGuide(absl::StrCat("127.0.0.1:", nginx->keepalive_port()), officer),
                     {"node", "nginx"}});
    paths.push_back({"nginx grpc_pass, connection per call",
                     DirectGetGuide(absl::StrCat("127.0.0.1:", nginx->plain_port()), officer),
                     {"node", "nginx"}});
  }
  Table& t = ctx.report->AddTable(
      "1. Routed read: guide GG00020600 of 430000 (one client thread = one channel = one connection)",
      {"path", "clients", "calls/s", "p50 ms", "p99 ms", "node µs/call", "gateway µs/call",
       "nginx µs/call", "client µs/call", "other load", "errors"});
  // results[path][concurrency index]
  std::vector<std::vector<LoadResult>> results(paths.size());
  for (int c : ctx.concurrencies) {
    for (size_t p = 0; p < paths.size(); ++p) {
      LoadResult r = RunPoint(ctx, paths[p].name, c, paths[p].factory, probes);
      auto cpu = [&](const std::string& probe) {
        for (const auto& used : paths[p].cpu) {
          if (used == probe) return Cpu(r, probe);
        }
        return std::string("–");
      };
      t.rows.push_back({paths[p].name, std::to_string(c), Count(r.calls_per_second),
                        Fmt(r.p50_ms, 2), Fmt(r.p99_ms, 2), cpu("node"), cpu("gateway"),
                        cpu("nginx"), Cpu(r, "client"), Fmt(r.foreign_cores, 2), Errors(r)});
      results[p].push_back(r);
    }
  }
  t.notes.push_back(
      "Closed loop: each client thread has its own mTLS channel (its own HTTP/2 connection) and "
      "sends its next call when the previous one returns. Client, gateway, node and nginx share "
      "the machine's 2 cores; CPU µs/call = (utime+stime growth in the measured window) / calls. "
      "The node sees officer-01 directly, the gateway's certificate through the gateway, and "
      "nginx's officer-02 certificate through nginx. \"other load\": cores used during the "
      "window by processes the benchmark did not start (the machine is shared).");
  Table& ratios = ctx.report->AddTable(
      "1b. Routed read: throughput ratios",
      {"clients", "gateway / direct", "gateway / nginx (keepalive)",
       "gateway / nginx (connection per call)"});
  for (size_t i = 0; i < ctx.concurrencies.size(); ++i) {
    const int c = ctx.concurrencies[i];
    double direct = results[0][i].calls_per_second;
    double routed = results[1][i].calls_per_second;
    double gd = Ratio(routed, direct);
    double gk = nginx ? Ratio(routed, results[2][i].calls_per_second) : -1;
    double gp = nginx ? Ratio(routed, results[3][i].calls_per_second) : -1;
    ratios.rows.push_back({std::to_string(c), Fmt(gd, 2) + "×", Fmt(gk, 2) + "×", Fmt(gp, 2) + "×"});
    ctx.report->AddTarget(absl::StrCat("routed read ≥ 0.6× direct, ", c, " clients"),
                          absl::StrCat(Fmt(gd, 2), "× (", Count(routed), " vs ", Count(direct),
                                       " calls/s)"),
                          gd >= 0.6);
    // The node's own cost of a guide read, on the direct path.
    auto cpu_of = [&](const LoadResult& r, const std::string& probe) {
      auto it = r.cpu_us_per_call.find(probe);
      return it == r.cpu_us_per_call.end() ? -1.0 : it->second;
    };
    const double node_us = cpu_of(results[0][i], "node");
    ctx.report->AddTarget(absl::StrCat("node CPU per cached guide read ≤ 50 µs, ", c, " clients"),
                          absl::StrCat(Fmt(node_us, 0), " µs"), node_us >= 0 && node_us <= 50);
    if (nginx == nullptr) continue;
    if (c >= 16) {
      ctx.report->AddTarget(
          absl::StrCat("routed read ≥ 1.0× nginx (upstream keepalive), ", c, " clients"),
          absl::StrCat(Fmt(gk, 2), "× (vs ", Count(results[2][i].calls_per_second), " calls/s)"),
          gk >= 1.0);
    }
    const double gateway_us = cpu_of(results[1][i], "gateway");
    const double nginx_us = cpu_of(results[2][i], "nginx");
    const double cpu_ratio = gateway_us >= 0 && nginx_us > 0 ? gateway_us / nginx_us : -1;
    ctx.report->AddTarget(
        absl::StrCat("gateway CPU per routed call ≤ 1.2× nginx (keepalive), ", c, " clients"),
        absl::StrCat(Fmt(cpu_ratio, 2), "× (", Fmt(gateway_us, 0), " vs ", Fmt(nginx_us, 0),
                     " µs)"),
        cpu_ratio >= 0 && cpu_ratio <= 1.2);
  }
  if (nginx != nullptr) {
    ratios.notes.push_back(absl::StrCat(
        nginx->version(), ", worker_processes auto (2), access log off, keepalive_requests "
        "raised to 10 000 000 (the default 1 000 makes the client re-handshake every 1 000 calls). "
        "\"keepalive\": `upstream { keepalive 128; }` + `grpc_pass grpcs://upstream` — nginx "
        "reuses TLS connections to the node, one call at a time per connection (it does not "
        "multiplex upstream). \"connection per call\": `grpc_pass grpcs://127.0.0.1:PORT` as "
        "briefed, a new TLS connection (session resumed when possible) to the node per call."));
  }
}

void RunFanOut(const BenchContext& ctx) {
  Federation& fed = *ctx.federation;
  const Identity officer =
      IdentityAt(fed.paths().certs_dir, absl::StrCat("province/", kHomeProvince, "/officer/officer-01"));
  Progress("starting a second gateway with --no_catalog_cache");
  absl::StatusOr<absl::Duration> cold_start = fed.StartGateway("gateway-cold", false, false);
  const GatewayHandle& cached = fed.gateway("gateway");
  if (!AwaitCatalogCache(cached, officer)) {
    Progress("WARNING: the gateway's catalog cache did not serve all 31 provinces within 20 s");
  }
  std::vector<pid_t> node_pids;
  for (const NodeHandle& n : fed.nodes()) node_pids.push_back(n.process->pid());
  std::vector<CpuProbe> probes = {{"gateway", {cached.process->pid()}, false},
                                  {"nodes", node_pids, false}};
  if (cold_start.ok()) {
    probes.push_back({"gateway-cold", {fed.gateway("gateway-cold").process->pid()}, false});
  }
  const int c = ctx.fanout_concurrency;
  LoadResult with_cache = RunPoint(ctx, "SearchFederation, catalog cache", c,
                                   GatewaySearch(cached.grpc_address, officer), probes);
  LoadResult cold;
  if (cold_start.ok()) {
    cold = RunPoint(ctx, "SearchFederation, cold (--no_catalog_cache)", c,
                    GatewaySearch(fed.gateway("gateway-cold").grpc_address, officer), probes);
  } else {
    cold.errors = 1;
    cold.first_error = std::string(cold_start.status().message()).substr(0, 200);
  }
  LoadResult single = RunPoint(ctx, "SearchItems at one node", c,
                               NodeSearch(fed.node(kHomeProvince).grpc_address, officer), probes);
  if (cold_start.ok()) fed.StopGateway("gateway-cold");

  // One node frozen (SIGSTOP: connections open, nothing answered), as a hung
  // province looks to the gateway: searches go on from its cached catalog,
  // marked stale, instead of waiting for the per-node deadline.
  const NodeHandle& frozen_node = fed.node(kFrozenProvince);
  Progress(absl::StrCat("freezing node ", kFrozenProvince, " (SIGSTOP)"));
  kill(frozen_node.process->pid(), SIGSTOP);
  LoadResult frozen;
  if (AwaitStale(cached, officer, true)) {
    frozen = RunPoint(ctx, "SearchFederation, one node frozen", c,
                      GatewaySearch(cached.grpc_address, officer), probes);
  } else {
    frozen.errors = 1;
    frozen.first_error = "the gateway never served the frozen province stale within 30 s";
  }
  kill(frozen_node.process->pid(), SIGCONT);
  if (!AwaitStale(cached, officer, false)) {
    Progress("WARNING: the thawed province was still served stale after 30 s");
  }

  // How big the answers are, for the reader.
  std::string answer_size = "?";
  {
    auto stub = v1::FederationQueryService::NewStub(MakeChannel(cached.grpc_address, officer));
    grpc::ClientContext cctx;
    SetDeadline(&cctx);
    v1::SearchFederationRequest req;
    req.set_query(kSearchQuery);
    v1::SearchFederationResponse resp;
    if (stub->SearchFederation(&cctx, req, &resp).ok()) {
      answer_size = absl::StrCat(resp.guides_size(), " guides, ", resp.ByteSizeLong(), " bytes",
                                 resp.next_page_token().empty() ? "" : ", more pages");
    }
  }
  Table& t = ctx.report->AddTable(
      absl::StrCat("2. Fan-out search `SearchFederation {\"query\":\"", kSearchQuery,
                   "\"}` over 31 nodes, ", c, " clients"),
      {"path", "calls/s", "p50 ms", "p99 ms", "gateway µs/call", "31 nodes µs/call",
       "client µs/call", "other load", "errors"});
  auto row = [&](const std::string& name, const LoadResult& r, const std::string& gateway_probe) {
    auto cpu = [&](const std::string& probe) { return probe.empty() ? "–" : Cpu(r, probe); };
    t.rows.push_back({name, Count(r.calls_per_second), Fmt(r.p50_ms, 2), Fmt(r.p99_ms, 2),
                      cpu(gateway_probe), Cpu(r, "nodes"), Cpu(r, "client"),
                      Fmt(r.foreign_cores, 2), Errors(r)});
  };
  row("gateway, catalog cache (default)", with_cache, "gateway");
  row("gateway, cold (`--no_catalog_cache`: 31 live SearchItems per call)", cold,
      cold_start.ok() ? "gateway-cold" : "");
  row(absl::StrCat("gateway, catalog cache, node ", kFrozenProvince,
                   " frozen (SIGSTOP; served stale)"),
      frozen, "gateway");
  row("baseline: one node's SearchItems, direct", single, "");
  t.notes.push_back(absl::StrCat(
      "Each answer is the first page of matching guides (", answer_size,
      "); a partial answer (a province missing) counts as an error. "
      "Cold gateway start-up: ",
      cold_start.ok() ? absl::StrCat(absl::ToInt64Milliseconds(*cold_start), " ms") : "failed", "."));
  auto target = [&](const std::string& name, const LoadResult& r, const LoadResult& base,
                    const std::string& base_name, double limit) {
    double ratio = Ratio(r.p99_ms, base.p99_ms);
    ctx.report->AddTarget(
        absl::StrCat("fan-out p99 ≤ ", Fmt(limit, 1), "× ", base_name, " (", name, ")"),
        absl::StrCat(Fmt(r.p99_ms, 2), " vs ", Fmt(base.p99_ms, 2), " ms (", Fmt(ratio, 2), "×)"),
        r.calls > 0 && r.errors == 0 && ratio >= 0 && ratio <= limit);
  };
  target("catalog cache", with_cache, single, "one node's p99", 1.5);
  target("cold", cold, single, "one node's p99", 5);
  target("one node frozen", frozen, with_cache, "the same search's p99 with no node frozen", 2);
}

}  // namespace tongban::bench
