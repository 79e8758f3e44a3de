// 9. 电子证照 through the gateway (issue 13: "evidence fetch and yes/no
// verification through the gateway (calls/s and p99, ratio to a routed read
// in the same run); this path must be as cheap as a routed read plus one
// signature check").
//
// Every licence path is a LicencePath measured by MeasureLicencePaths next
// to the same run's routed reads, with the issuing node's disclosure log
// audited per point (a check adds one row, a fetch two).
//
// Paths, all answered by the issuing node 510000 (Sichuan) for a Hunan asker:
//   (a)  routed read: FederationQueryService.GetProvinceGuide(510000,
//        GG00020600) as a Hunan officer at the gateway — the reads
//        scenario's routed read, one hop through the gateway to one node;
//   (a') the relay's own read: FederationService.FetchGuide(510000,
//        GG00020600) at the gateway as Hunan's node — the relay code,
//        caller kind and node service that CheckLicence uses;
//   (b)  LicenceService.VerifyLicence at Hunan's node by a Hunan officer for
//        Sichuan's MZ01 J510107-2019-000123 of 430102199001011238: officer →
//        node 430000 → gateway → node 510000 (sign + durable append) and back;
//   (c)  FederationService.CheckLicence at the gateway as Hunan's node: one
//        hop like (a), so (c) − (a') is the issuing node's work and (b) − (c)
//        the asking node's extra hop;
//   (d)  the fetch (免证办) as one operation: LicenceService.PreviewLicence at
//        Hunan's node by a Hunan officer (→ gateway FetchLicencePreview →
//        510000 signs a grant and appends a PREVIEW), then ConfirmLicence
//        with that grant (→ gateway ReleaseLicence → 510000 verifies the
//        grant, appends a RELEASE and returns the signed licence, which node
//        430000 verifies before answering).
#include <sqlite3.h>
#include <sys/resource.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "bench_metrics.h"
#include "bench_process.h"
#include "bench_scenarios.h"
#include "licence_signing.h"
#include "record_signing.h"
#include "rusage_cpu.h"
#include "tongban/v1/federation.grpc.pb.h"
#include "tongban/v1/gateway.grpc.pb.h"
#include "tongban/v1/licence.grpc.pb.h"

namespace tongban::bench {
namespace {

// The demo licence (node/demo_catalog/licences.tsv): Sichuan issued 张伟's
// marriage certificate; 张伟 is a Hunan resident.
constexpr char kIssuingProvince[] = "510000";
constexpr char kLicenceType[] = "MZ01";
constexpr char kLicenceNumber[] = "J510107-2019-000123";
constexpr char kLicenceHolder[] = "430102199001011238";
constexpr char kPurpose[] = "tongban-bench: 核验结婚证 (yes/no check)";
constexpr char kRequester[] = "spiffe://tongban/province/430000/officer/officer-01";
constexpr char kChecksFamily[] = "tongban_licence_checks_total";
constexpr char kFetchesFamily[] = "tongban_licence_fetches_total";
// The fetch's use: Shanghai's guide of this item takes MZ01 for material M03.
constexpr char kUseItem[] = "QR00070104";
constexpr char kUseMaterial[] = "M03";
constexpr absl::Duration kCallDeadline = absl::Seconds(10);
constexpr int kSigningIterations = 2000;

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

// Every call a path made during a point: the first probe call, the warm-up,
// every attempt's window and the calls that ended after a window closed.
// The disclosure audit compares these with the issuing node's counters.
struct CallCount {
  std::atomic<int64_t> ok{0};
  std::atomic<int64_t> failed{0};
};

WorkerFactory Counted(WorkerFactory inner, std::shared_ptr<CallCount> count) {
  return [inner = std::move(inner), count](int index) -> CallFn {
    CallFn call = inner(index);
    if (!call) return nullptr;
    return [call = std::move(call), count](int64_t sequence) {
      grpc::Status s = call(sequence);
      (s.ok() ? count->ok : count->failed).fetch_add(1, std::memory_order_relaxed);
      return s;
    };
  };
}

// (a) The reads scenario's routed read, for the issuing province's guide.
WorkerFactory RoutedGuideRead(const std::string& gateway, const Identity& officer) {
  return Clients<v1::FederationQueryService>(gateway, officer, [](auto stub) -> CallFn {
    return [stub](int64_t) {
      grpc::ClientContext c;
      SetDeadline(&c);
      v1::GetProvinceGuideRequest req;
      req.set_province_code(kIssuingProvince);
      req.set_item_code(kItem);
      v1::GetProvinceGuideResponse resp;
      grpc::Status s = stub->GetProvinceGuide(&c, req, &resp);
      if (s.ok() && resp.guide().province_code() != kIssuingProvince) {
        return grpc::Status(grpc::StatusCode::INTERNAL, "answer without the guide");
      }
      return s;
    };
  });
}

// (a') The relay's read, as a node: the whole guide every time (no cached_version).
WorkerFactory RelayedGuideFetch(const std::string& gateway, const Identity& node) {
  return Clients<v1::FederationService>(gateway, node, [](auto stub) -> CallFn {
    return [stub](int64_t) {
      grpc::ClientContext c;
      SetDeadline(&c);
      v1::FetchGuideRequest req;
      req.set_province_code(kIssuingProvince);
      req.set_item_code(kItem);
      v1::FetchGuideResponse resp;
      grpc::Status s = stub->FetchGuide(&c, req, &resp);
      if (s.ok() && resp.guide().province_code() != kIssuingProvince) {
        return grpc::Status(grpc::StatusCode::INTERNAL, "answer without the guide");
      }
      return s;
    };
  });
}

// Only "matched, VALID, with a disclosure id" counts as a successful check:
// anything else would measure a different path.
grpc::Status ExpectValid(const grpc::Status& s, const v1::VerifyLicenceResponse& resp) {
  if (!s.ok()) return s;
  if (!resp.matched() || resp.status() != v1::LICENCE_STATUS_VALID ||
      !absl::StartsWith(resp.disclosure_id(), absl::StrCat(kIssuingProvince, "-d-"))) {
    return grpc::Status(grpc::StatusCode::INTERNAL,
                        absl::StrCat("unexpected answer: matched=", resp.matched(),
                                     " status=", resp.status(), " disclosure_id=",
                                     resp.disclosure_id()));
  }
  return s;
}

// (b) The officer's check at their own node, relayed by it.
WorkerFactory OfficerVerify(const std::string& node, const Identity& officer) {
  return Clients<v1::LicenceService>(node, officer, [](auto stub) -> CallFn {
    return [stub](int64_t) {
      grpc::ClientContext c;
      SetDeadline(&c);
      v1::VerifyLicenceRequest req;
      req.set_issuing_province(kIssuingProvince);
      req.set_type_code(kLicenceType);
      req.set_number(kLicenceNumber);
      req.set_holder_id(kLicenceHolder);
      req.set_purpose(kPurpose);
      v1::VerifyLicenceResponse resp;
      grpc::Status s = stub->VerifyLicence(&c, req, &resp);
      return ExpectValid(s, resp);
    };
  });
}

// (c) The asking node's relayed call, made by the benchmark with its identity.
WorkerFactory NodeCheck(const std::string& gateway, const Identity& node) {
  return Clients<v1::FederationService>(gateway, node, [](auto stub) -> CallFn {
    return [stub](int64_t) {
      grpc::ClientContext c;
      SetDeadline(&c);
      v1::CheckLicenceRequest req;
      req.set_issuing_province(kIssuingProvince);
      req.set_type_code(kLicenceType);
      req.set_number(kLicenceNumber);
      req.set_holder_id(kLicenceHolder);
      req.set_purpose(kPurpose);
      req.set_requester(kRequester);
      v1::VerifyLicenceResponse resp;
      grpc::Status s = stub->CheckLicence(&c, req, &resp);
      return ExpectValid(s, resp);
    };
  });
}

// (d) The officer's fetch at their own node: preview, then confirm with the
// grant. One operation; only a signed licence of the holder counts.
WorkerFactory OfficerFetch(const std::string& node, const Identity& officer) {
  return Clients<v1::LicenceService>(node, officer, [](auto stub) -> CallFn {
    return [stub](int64_t) {
      v1::PreviewLicenceResponse preview;
      {
        grpc::ClientContext c;
        SetDeadline(&c);
        v1::PreviewLicenceRequest req;
        req.set_issuing_province(kIssuingProvince);
        req.set_type_code(kLicenceType);
        req.set_holder_id(kLicenceHolder);
        req.mutable_use()->set_item_code(kUseItem);
        req.mutable_use()->set_handling_province(kRemoteProvince);
        req.mutable_use()->set_material_id(kUseMaterial);
        grpc::Status s = stub->PreviewLicence(&c, req, &preview);
        if (!s.ok()) return s;
        if (preview.preview().grant().grant_id().empty()) {
          return grpc::Status(grpc::StatusCode::INTERNAL, "preview without a grant");
        }
      }
      grpc::ClientContext c;
      SetDeadline(&c);
      v1::ConfirmLicenceRequest req;
      *req.mutable_grant() = preview.preview().grant();
      req.set_confirm(true);
      v1::ConfirmLicenceResponse resp;
      grpc::Status s = stub->ConfirmLicence(&c, req, &resp);
      if (s.ok() && (resp.declined() || resp.licence().content().holder_id() != kLicenceHolder ||
                     resp.licence().signature().ByteSizeLong() == 0)) {
        return grpc::Status(grpc::StatusCode::INTERNAL, "confirmation without the signed licence");
      }
      return s;
    };
  });
}

// ---- The issuing node's disclosure log, read from outside ----------------

// Sum of every series of a counter family (all label values).
double FamilySum(const std::string& exposition, const std::string& family) {
  std::istringstream in(exposition);
  std::string line;
  double sum = 0;
  bool found = false;
  const std::string prefix = family + "{";
  while (std::getline(in, line)) {
    if (line.compare(0, prefix.size(), prefix) != 0) continue;
    size_t space = line.rfind(' ');
    if (space == std::string::npos) continue;
    sum += std::strtod(line.c_str() + space + 1, nullptr);
    found = true;
  }
  return found ? sum : -1;
}

struct DbLog {
  int64_t rows = -1;
  int64_t record_bytes = -1;
  std::string error;
};

// Rows of licence_disclosures in the node's SQLite store, read through a
// read-only connection of our own (WAL: the node keeps writing meanwhile).
DbLog ReadDisclosureTable(const std::string& db_path, std::string* last_record = nullptr) {
  DbLog out;
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(db_path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
    out.error = absl::StrCat("cannot open ", db_path, ": ", db ? sqlite3_errmsg(db) : "no memory");
    sqlite3_close(db);
    return out;
  }
  sqlite3_busy_timeout(db, 5000);
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v2(db,
                         "SELECT count(*), coalesce(sum(length(record)), 0) FROM licence_disclosures",
                         -1, &stmt, nullptr) == SQLITE_OK &&
      sqlite3_step(stmt) == SQLITE_ROW) {
    out.rows = sqlite3_column_int64(stmt, 0);
    out.record_bytes = sqlite3_column_int64(stmt, 1);
  } else {
    out.error = sqlite3_errmsg(db);
  }
  sqlite3_finalize(stmt);
  if (last_record != nullptr && out.error.empty()) {
    stmt = nullptr;
    if (sqlite3_prepare_v2(db, "SELECT record FROM licence_disclosures ORDER BY sequence DESC LIMIT 1",
                           -1, &stmt, nullptr) == SQLITE_OK &&
        sqlite3_step(stmt) == SQLITE_ROW) {
      const void* blob = sqlite3_column_blob(stmt, 0);
      last_record->assign(static_cast<const char*>(blob),
                          static_cast<size_t>(sqlite3_column_bytes(stmt, 0)));
    }
    sqlite3_finalize(stmt);
  }
  sqlite3_close(db);
  return out;
}

struct IssuerSnapshot {
  absl::Time at;
  double checks = -1;       // every tongban_licence_checks_total series
  double previews = -1;     // tongban_licence_fetches_total{step="preview"}
  double releases = -1;     // tongban_licence_fetches_total{step="release"}
  double cpu_seconds = -1;  // process_cpu_seconds_total
  Histogram commit_seconds;  // the store's group commits
  Histogram commit_batch;
  DbLog db;
};

IssuerSnapshot SnapshotIssuer(const NodeHandle& node) {
  IssuerSnapshot s;
  s.at = absl::Now();
  const std::string metrics = HttpGet(node.metrics_address, "/metrics");
  s.checks = FamilySum(metrics, kChecksFamily);
  s.previews = MetricValue(metrics, absl::StrCat(kFetchesFamily, "{step=\"preview\"}"));
  s.releases = MetricValue(metrics, absl::StrCat(kFetchesFamily, "{step=\"release\"}"));
  s.cpu_seconds = MetricValue(metrics, "process_cpu_seconds_total");
  s.commit_seconds = Histogram::Parse(metrics, "tongban_store_commit_seconds", "");
  s.commit_batch = Histogram::Parse(metrics, "tongban_store_commit_batch_size", "");
  s.db = ReadDisclosureTable(node.dir + "/node.db");
  return s;
}

// ---- Paths and their measurement -----------------------------------------

struct LicencePath {
  std::string key;   // "(a)", "(b)" …: how the tables and docs name it
  std::string name;
  WorkerFactory factory;
  std::vector<std::string> cpu;  // probes this path runs through
  bool logs = false;             // each successful call appends one disclosure
  bool fetch = false;            // … or two: PREVIEW + RELEASE (one preview, one release)
};

struct Audit {
  int64_t ok = 0, failed = 0;  // every call of the point (CallCount)
  double checks = -1;          // growth of tongban_licence_checks_total at the issuer
  double previews = -1;        // growth of tongban_licence_fetches_total{step="preview"}
  double releases = -1;        // … {step="release"}
  int64_t rows = -1;           // growth of licence_disclosures
  int64_t record_bytes = -1;
  double issuer_cpu_seconds = -1;  // growth of process_cpu_seconds_total
  double seconds = 0;              // the whole point, first scrape to last
  Histogram commit_seconds;        // the issuer's store commits during the point
  Histogram commit_batch;
  std::string db_error;
  bool consistent = false;     // checks == (logs ? ok : 0), fetches == (fetch ? ok : 0),
                               // rows == ok per check, 2 × ok per fetch
};

struct PathPoint {
  LoadResult r;
  Audit audit;
};

double CpuOf(const LoadResult& r, const std::string& probe) {
  auto it = r.cpu_us_per_call.find(probe);
  return it == r.cpu_us_per_call.end() ? -1.0 : it->second;
}

// CPU of every process the path runs through, client included.
double MachineCpu(const LoadResult& r, const LicencePath& p) {
  double sum = CpuOf(r, "client");
  for (const std::string& probe : p.cpu) sum += std::max(0.0, CpuOf(r, probe));
  return r.calls > 0 ? sum : -1;
}

double Ratio(double a, double b) { return a >= 0 && b > 0 ? a / b : -1; }
std::string X(double ratio) { return ratio < 0 ? "–" : Fmt(ratio, 2) + "×"; }

PathPoint MeasurePath(const BenchContext& ctx, const NodeHandle& issuer, const LicencePath& path,
                      int clients, const std::vector<CpuProbe>& probes) {
  auto count = std::make_shared<CallCount>();
  const IssuerSnapshot before = SnapshotIssuer(issuer);
  PathPoint p;
  p.r = RunPoint(ctx, absl::StrCat(path.key, " ", path.name), clients,
                 Counted(path.factory, count), probes);
  const IssuerSnapshot after = SnapshotIssuer(issuer);
  Audit& a = p.audit;
  a.ok = count->ok.load();
  a.failed = count->failed.load();
  if (before.checks >= 0 && after.checks >= 0) a.checks = after.checks - before.checks;
  if (before.previews >= 0 && after.previews >= 0) a.previews = after.previews - before.previews;
  if (before.releases >= 0 && after.releases >= 0) a.releases = after.releases - before.releases;
  if (before.cpu_seconds >= 0 && after.cpu_seconds >= 0) {
    a.issuer_cpu_seconds = after.cpu_seconds - before.cpu_seconds;
  }
  if (before.db.rows >= 0 && after.db.rows >= 0) {
    a.rows = after.db.rows - before.db.rows;
    a.record_bytes = after.db.record_bytes - before.db.record_bytes;
  }
  a.db_error = !before.db.error.empty() ? before.db.error : after.db.error;
  a.seconds = absl::ToDoubleSeconds(after.at - before.at);
  a.commit_seconds = after.commit_seconds.Minus(before.commit_seconds);
  a.commit_batch = after.commit_batch.Minus(before.commit_batch);
  const int64_t want_checks = path.logs ? a.ok : 0;
  const int64_t want_fetches = path.fetch ? a.ok : 0;
  const int64_t want_rows = want_checks + 2 * want_fetches;
  a.consistent = a.checks >= 0 && a.rows >= 0 && a.previews >= 0 && a.releases >= 0 &&
                 static_cast<int64_t>(a.checks) == want_checks &&
                 static_cast<int64_t>(a.previews) == want_fetches &&
                 static_cast<int64_t>(a.releases) == want_fetches && a.rows == want_rows;
  if (!a.consistent) {
    const std::string message = absl::StrCat(
        "DISCLOSURE LOG MISMATCH at ", kIssuingProvince, ", ", path.key, " ", path.name, ", ",
        clients, " clients: ", a.ok, " successful calls (", a.failed, " failed) but ",
        kChecksFamily, " grew by ", Fmt(a.checks, 0), " (expected ", want_checks, "), ",
        kFetchesFamily, " preview/release by ", Fmt(a.previews, 0), "/", Fmt(a.releases, 0),
        " (expected ", want_fetches, " each) and licence_disclosures by ", a.rows,
        " rows (expected ", want_rows, ")", a.db_error.empty() ? "" : "; " + a.db_error);
    Progress("ERROR: " + message);
    std::cerr << "tongban-bench: " << message << "\n";
  }
  return p;
}

// Measures `paths` at every count of `clients`, after the baselines (keys
// "(a)" and "(a')", which must be the first two paths), and fills the tables
// of section `section`: the points, the ratios to the baselines, and the
// disclosure audit. Returns results[path][clients index].
std::vector<std::vector<PathPoint>> MeasureLicencePaths(const BenchContext& ctx,
                                                        const std::string& section,
                                                        const std::string& title,
                                                        const std::vector<LicencePath>& paths,
                                                        const std::vector<int>& clients) {
  const Federation& fed = *ctx.federation;
  const NodeHandle& asker = fed.node(kHomeProvince);
  const NodeHandle& issuer = fed.node(kIssuingProvince);
  const GatewayHandle& gateway = fed.gateway("gateway");
  const std::vector<CpuProbe> probes = {{"asking node", {asker.process->pid()}, false},
                                        {"gateway", {gateway.process->pid()}, false},
                                        {"issuing node", {issuer.process->pid()}, false}};
  std::vector<std::vector<PathPoint>> results(paths.size());
  for (int c : clients) {
    for (size_t p = 0; p < paths.size(); ++p) {
      results[p].push_back(MeasurePath(ctx, issuer, paths[p], c, probes));
    }
  }

  Table& t = ctx.report->AddTable(
      absl::StrCat(section, ". ", title),
      {"path", "clients", "calls/s", "p50 ms", "p99 ms", "node 430000 µs/call",
       "gateway µs/call", "node 510000 µs/call", "client µs/call", "all µs/call", "other load",
       "errors"});
  for (size_t i = 0; i < clients.size(); ++i) {
    for (size_t p = 0; p < paths.size(); ++p) {
      const LoadResult& r = results[p][i].r;
      auto cpu = [&](const std::string& probe) {
        for (const std::string& used : paths[p].cpu) {
          if (used == probe) return Fmt(CpuOf(r, probe), 0);
        }
        return std::string("–");
      };
      t.rows.push_back({absl::StrCat(paths[p].key, " ", paths[p].name), std::to_string(clients[i]),
                        Count(r.calls_per_second), Fmt(r.p50_ms, 2), Fmt(r.p99_ms, 2),
                        cpu("asking node"), cpu("gateway"), cpu("issuing node"),
                        Fmt(CpuOf(r, "client"), 0), Fmt(MachineCpu(r, paths[p]), 0),
                        Fmt(r.foreign_cores, 2), Errors(r)});
    }
  }
  t.notes.push_back(absl::StrCat(
      "Closed loop, one mTLS channel (HTTP/2 connection) per client thread. CPU µs/call = "
      "utime+stime growth of each process in the window ÷ calls; \"all\" = every process the path "
      "runs through, client included (client, nodes and gateway share the 2 cores, so calls/s "
      "follows \"all\"). The federation's other ", fed.nodes().size() - 2,
      " nodes run idle. (a) and (a') read the guide of ", kItem, " of ", kIssuingProvince,
      "; the checks ask about ", kIssuingProvince, "-", kLicenceType, "-", kLicenceNumber,
      " of ", kLicenceHolder, " and count only \"matched, VALID\" answers. For (d) a \"call\" is "
      "one fetch: PreviewLicence then ConfirmLicence(confirm) with its grant (use ", kUseItem,
      " at ", kRemoteProvince, ", material ", kUseMaterial, "), timed as a pair; only the "
      "holder's signed licence counts."));

  Table& ratios = ctx.report->AddTable(
      absl::StrCat(section, "b. Licence paths ÷ the routed reads of the same run"),
      {"path", "clients", "calls/s ÷ (a)", "p99 ÷ (a)", "all CPU/call ÷ (a)", "calls/s ÷ (a')",
       "p99 ÷ (a')", "all CPU/call ÷ (a')"});
  for (size_t i = 0; i < clients.size(); ++i) {
    const LoadResult& a = results[0][i].r;
    const LoadResult& a2 = results[1][i].r;
    for (size_t p = 2; p < paths.size(); ++p) {
      const LoadResult& r = results[p][i].r;
      const double cpu = MachineCpu(r, paths[p]);
      ratios.rows.push_back(
          {absl::StrCat(paths[p].key, " ", paths[p].name), std::to_string(clients[i]),
           X(Ratio(r.calls_per_second, a.calls_per_second)), X(Ratio(r.p99_ms, a.p99_ms)),
           X(Ratio(cpu, MachineCpu(a, paths[0]))),
           X(Ratio(r.calls_per_second, a2.calls_per_second)), X(Ratio(r.p99_ms, a2.p99_ms)),
           X(Ratio(cpu, MachineCpu(a2, paths[1])))});
    }
  }

  Table& log = ctx.report->AddTable(
      absl::StrCat(section, "c. Disclosure log at ", kIssuingProvince,
                   ": every successful check and fetch recorded?"),
      {"path", "clients", "log rows/s (window)", "successful calls (whole point)", "failed",
       absl::StrCat(kChecksFamily, " growth"),
       absl::StrCat(kFetchesFamily, " growth (preview / release)"),
       "licence_disclosures rows added",
       "all logged", "node 510000 CPU µs per call (process_cpu_seconds_total)",
       "record bytes per row"});
  bool all_consistent = true;
  for (size_t i = 0; i < clients.size(); ++i) {
    for (size_t p = 0; p < paths.size(); ++p) {
      const PathPoint& pp = results[p][i];
      const Audit& a = pp.audit;
      all_consistent = all_consistent && a.consistent;
      const double per_call_us =
          a.issuer_cpu_seconds >= 0 && a.ok > 0 ? a.issuer_cpu_seconds * 1e6 / a.ok : -1;
      log.rows.push_back(
          {absl::StrCat(paths[p].key, " ", paths[p].name), std::to_string(clients[i]),
           paths[p].logs    ? Count(pp.r.calls_per_second)
           : paths[p].fetch ? Count(2 * pp.r.calls_per_second)
                            : "0 (not a check)",
           Count(a.ok), Count(a.failed), Fmt(a.checks, 0),
           absl::StrCat(Fmt(a.previews, 0), " / ", Fmt(a.releases, 0)),
           a.rows < 0 ? "–" : Count(a.rows),
           a.consistent ? "yes" : "**NO — MISMATCH**", Fmt(per_call_us, 0),
           (paths[p].logs || paths[p].fetch) && a.rows > 0 ? Fmt(static_cast<double>(a.record_bytes) / a.rows, 0)
                                       : "–"});
    }
  }
  log.notes.push_back(absl::StrCat(
      "\"Successful calls\" counts every call of the point at the client (the first probe call, "
      "the warm-up, every attempt and the calls that ended after a window), so it must equal the "
      "growth of ", kChecksFamily, " (every series) scraped from ", kIssuingProvince,
      "'s /metrics before and after the point, and the rows added to its licence_disclosures "
      "table (read through a read-only SQLite connection of the benchmark); a fetch (preview + "
      "confirm) must instead grow ", kFetchesFamily, "{step=\"preview\"} and {step=\"release\"} "
      "by one each and add two rows (PREVIEW + RELEASE); the routed reads must add none. Log "
      "rows/s = the window's successful checks/s, or 2 × its fetches/s. CPU per call from process_cpu_seconds_total is over the whole point (10 ms resolution), the "
      "table above's µs/call over the window only. Record bytes: the serialized, signed "
      "LicenceDisclosure stored per row (the row's columns and its three indexes come on top)."));
  Table& store = ctx.report->AddTable(
      absl::StrCat(section, "d. The issuing node's store writer (group commit) during each point"),
      {"path", "clients", "commits", "writes per commit (mean)", "commit ms (mean)",
       "commit ms (p99 ≤)", "writer busy (commit time ÷ point time)"});
  for (size_t i = 0; i < clients.size(); ++i) {
    for (size_t p = 0; p < paths.size(); ++p) {
      const Audit& a = results[p][i].audit;
      const bool any = a.commit_seconds.count > 0;
      store.rows.push_back(
          {absl::StrCat(paths[p].key, " ", paths[p].name), std::to_string(clients[i]),
           Count(a.commit_seconds.count), any ? Fmt(a.commit_batch.Mean(), 1) : "–",
           any ? Fmt(a.commit_seconds.Mean() * 1000, 2) : "–",
           any ? Fmt(a.commit_seconds.QuantileUpperBound(0.99) * 1000, 1) : "–",
           a.seconds > 0 ? Fmt(a.commit_seconds.sum / a.seconds, 2) : "–"});
    }
  }
  store.notes.push_back(absl::StrCat(
      "From ", kIssuingProvince, "'s tongban_store_commit_seconds (BEGIN to the end of COMMIT, "
      "fsync of the WAL included; synchronous=FULL) and tongban_store_commit_batch_size, "
      "scraped before and after each point (warm-up and every attempt included). One writer "
      "thread commits: \"writer busy\" near 1 means checks queue for it."));
  ctx.report->AddTarget(
      absl::StrCat("every successful licence check and fetch is in ", kIssuingProvince,
                   "'s disclosure log (counters = calls; rows = checks + 2 × fetches)"),
      all_consistent ? "yes, at every point" : "**NO: mismatch (see the disclosure log table)**",
      all_consistent);
  return results;
}

// ---- In-process signing reference -----------------------------------------

struct Cost {
  double wall_us = -1;
  double cpu_us = -1;
};

template <typename Fn>
Cost MeasureInProcess(int n, Fn fn) {
  for (int i = 0; i < n / 10 + 1; ++i) {
    if (!fn()) return {};
  }
  const double cpu0 = RusageCpuSeconds(RUSAGE_THREAD);
  const absl::Time t0 = absl::Now();
  for (int i = 0; i < n; ++i) {
    if (!fn()) return {};
  }
  Cost c;
  c.wall_us = absl::ToDoubleMicroseconds(absl::Now() - t0) / n;
  c.cpu_us = (RusageCpuSeconds(RUSAGE_THREAD) - cpu0) * 1e6 / n;
  return c;
}

// A disclosure as LicenceRegistry::Check builds it for path (b).
v1::LicenceDisclosure SampleDisclosure() {
  v1::LicenceDisclosure d;
  d.set_disclosure_id(absl::StrCat(kIssuingProvince, "-d-", std::string(32, 'a')));
  d.set_issuing_province(kIssuingProvince);
  d.set_kind(v1::DISCLOSURE_KIND_CHECK);
  d.set_type_code(kLicenceType);
  d.set_number(kLicenceNumber);
  d.set_holder_id(kLicenceHolder);
  d.set_licence_id(signing::LicenceId(kIssuingProvince, kLicenceType, kLicenceNumber));
  d.set_requester_province(kHomeProvince);
  d.set_requester(kRequester);
  d.set_purpose(kPurpose);
  d.mutable_at()->set_seconds(absl::ToUnixSeconds(absl::Now()));
  d.set_matched(true);
  d.set_status(v1::LICENCE_STATUS_VALID);
  return d;
}

struct SigningReference {
  Cost sign, verify, both;
  size_t signed_bytes = 0;
  std::string error;
  std::string last_logged;  // verdict on the newest row of the issuer's log
};

SigningReference MeasureDisclosureSigning(const BenchContext& ctx) {
  SigningReference out;
  const Federation& fed = *ctx.federation;
  const Identity node =
      IdentityAt(fed.paths().certs_dir, absl::StrCat("province/", kIssuingProvince, "/node"));
  auto signer = signing::RecordSigner::Create(node.key, node.cert);
  auto verifier = signing::RecordVerifier::Create(node.ca);
  if (!signer.ok() || !verifier.ok()) {
    out.error = !signer.ok() ? signer.status().ToString() : verifier.status().ToString();
    return out;
  }
  const v1::LicenceDisclosure unsigned_record = SampleDisclosure();
  v1::LicenceDisclosure signed_record = unsigned_record;
  if (absl::Status s = signing::SignDisclosure(**signer, &signed_record); !s.ok()) {
    out.error = s.ToString();
    return out;
  }
  out.signed_bytes = signed_record.ByteSizeLong();
  const absl::Time now = absl::Now();
  out.sign = MeasureInProcess(kSigningIterations, [&] {
    v1::LicenceDisclosure d = unsigned_record;
    return signing::SignDisclosure(**signer, &d).ok();
  });
  out.verify = MeasureInProcess(kSigningIterations, [&] {
    return signing::VerifyDisclosure(**verifier, signed_record, now, signing::VerifyMode::kReceiving)
        .ok();
  });
  out.both = MeasureInProcess(kSigningIterations, [&] {
    v1::LicenceDisclosure d = unsigned_record;
    return signing::SignDisclosure(**signer, &d).ok() &&
           signing::VerifyDisclosure(**verifier, d, now, signing::VerifyMode::kReceiving).ok();
  });
  if (out.sign.cpu_us < 0 || out.verify.cpu_us < 0 || out.both.cpu_us < 0) {
    out.error = "a signature or its verification failed while measured";
  }
  // The newest record the node stored during the load verifies offline.
  std::string blob;
  DbLog db = ReadDisclosureTable(fed.node(kIssuingProvince).dir + "/node.db", &blob);
  v1::LicenceDisclosure last;
  if (!db.error.empty()) {
    out.last_logged = "not read: " + db.error;
  } else if (blob.empty() || !last.ParseFromString(blob)) {
    out.last_logged = "not read: no parsable row";
  } else {
    absl::Status v = signing::VerifyDisclosure(**verifier, last, absl::Now(),
                                               signing::VerifyMode::kHistorical);
    out.last_logged = absl::StrCat(last.disclosure_id(), " (asked by ", last.requester_province(),
                                   ", ", last.ByteSizeLong(), " bytes): ",
                                   v.ok() ? "signature verifies" : v.ToString());
  }
  return out;
}

// The two baselines every licence section starts with (MeasureLicencePaths
// expects them first): one hop through the gateway to the issuing node.
std::vector<LicencePath> RoutedReadBaselines(const Federation& fed) {
  const std::string& certs = fed.paths().certs_dir;
  const std::string gateway = fed.gateway("gateway").grpc_address;
  return {
      {"(a)", "routed read: GetProvinceGuide via the gateway (officer 430000)",
       RoutedGuideRead(gateway, IdentityAt(certs, absl::StrCat("province/", kHomeProvince,
                                                               "/officer/officer-01"))),
       {"gateway", "issuing node"}, false},
      {"(a')", "relayed read: FederationService.FetchGuide via the gateway (node 430000)",
       RelayedGuideFetch(gateway, IdentityAt(certs, absl::StrCat("province/", kHomeProvince,
                                                                 "/node"))),
       {"gateway", "issuing node"}, false},
  };
}

}  // namespace

void RunLicenceChecks(const BenchContext& ctx) {
  const Federation& fed = *ctx.federation;
  const std::string& certs = fed.paths().certs_dir;
  const std::string gateway = fed.gateway("gateway").grpc_address;
  const Identity officer =
      IdentityAt(certs, absl::StrCat("province/", kHomeProvince, "/officer/officer-01"));
  const Identity asking_node = IdentityAt(certs, absl::StrCat("province/", kHomeProvince, "/node"));
  std::vector<LicencePath> paths = RoutedReadBaselines(fed);
  paths.push_back({"(b)", "VerifyLicence at node 430000 (officer) → gateway → 510000",
                   OfficerVerify(fed.node(kHomeProvince).grpc_address, officer),
                   {"asking node", "gateway", "issuing node"}, true});
  paths.push_back({"(c)", "CheckLicence via the gateway (node 430000)",
                   NodeCheck(gateway, asking_node), {"gateway", "issuing node"}, true});
  paths.push_back({"(d)", "fetch = PreviewLicence + ConfirmLicence at node 430000 (officer)",
                   OfficerFetch(fed.node(kHomeProvince).grpc_address, officer),
                   {"asking node", "gateway", "issuing node"}, false, true});
  Progress("licences: yes/no checks and fetches of 510000's licence by 430000, next to routed "
           "reads");
  std::vector<std::vector<PathPoint>> results = MeasureLicencePaths(
      ctx, "9",
      "电子证照 yes/no check and fetch through the gateway vs a routed read (asker 430000, "
      "issuer 510000)",
      paths, ctx.licence_concurrencies);

  Progress("licences: SignDisclosure + VerifyDisclosure in-process");
  const SigningReference sig = MeasureDisclosureSigning(ctx);
  Table& s = ctx.report->AddTable(
      "9e. One disclosure signature in-process (reference; one thread of tongban-bench)",
      {"operation", "wall µs", "CPU µs"});
  s.rows = {
      {"SignDisclosure (digest + ECDSA P-256 with 510000's node key)", Fmt(sig.sign.wall_us, 1),
       Fmt(sig.sign.cpu_us, 1)},
      {"VerifyDisclosure (signer certificate cached)", Fmt(sig.verify.wall_us, 1),
       Fmt(sig.verify.cpu_us, 1)},
      {"SignDisclosure + VerifyDisclosure", Fmt(sig.both.wall_us, 1), Fmt(sig.both.cpu_us, 1)},
  };
  s.notes.push_back(absl::StrCat(
      kSigningIterations, " iterations each after a warm-up, CPU from getrusage(RUSAGE_THREAD); "
      "the test PKI's node certificate, no CRL. Signed record: ", sig.signed_bytes,
      " bytes. Newest row of 510000's log after the load: ", sig.last_logged, ".",
      sig.error.empty() ? "" : " ERROR: " + sig.error));

  // The bar: a check costs a routed read plus one signature (sign
  // and verify, generously), in CPU of every process on the path.
  for (size_t i = 0; i < ctx.licence_concurrencies.size(); ++i) {
    const int c = ctx.licence_concurrencies[i];
    const double read = MachineCpu(results[0][i].r, paths[0]);
    if (read < 0 || sig.both.cpu_us < 0) continue;
    const double budget = read + sig.both.cpu_us;
    for (size_t p = 2; p < paths.size(); ++p) {
      if (!paths[p].logs) continue;  // the bar is the check's; a fetch is two calls
      const double check = MachineCpu(results[p][i].r, paths[p]);
      ctx.report->AddTarget(
          absl::StrCat(paths[p].key, " CPU per check ≤ (a) routed read + one sign+verify, ", c,
                       " clients"),
          absl::StrCat(Fmt(check, 0), " vs ", Fmt(read, 0), " + ", Fmt(sig.both.cpu_us, 0), " = ",
                       Fmt(budget, 0), " µs (", X(Ratio(check, budget)), ")"),
          check >= 0 && results[p][i].r.errors == 0 && check <= budget);
    }
  }
}

}  // namespace tongban::bench
