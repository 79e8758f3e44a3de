// Scenario 7: the node's store on PostgreSQL (issue 15, docs/postgresql.md).
// One durable PostgreSQL server (fsync and synchronous_commit on) on a unix
// socket, started and removed by the scenario with tests/store/pg_test_server.sh;
// in the same run and on the same machine: province 430000 as one node on
// SQLite, as 1 replica on PostgreSQL and as 3 replicas on one PostgreSQL
// database, each on a fresh store with the demo catalog. For each: durable
// local submissions (clients spread over the replicas round robin, as a
// headless Service does) and routed reads through a gateway of its own whose
// directory lists the replicas. pgbench's single-row INSERT commits on the
// same server are the reference for what the database alone can do.
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "bench_metrics.h"
#include "bench_scenarios.h"

namespace tongban::bench {
namespace {

constexpr absl::Duration kReadyTimeout = absl::Seconds(60);
constexpr int kClients = 16;

std::string PgBin(const std::string& tool) {
  const char* dir = getenv("TONGBAN_PG_BIN");
  return absl::StrCat(dir != nullptr ? dir : "/usr/lib/postgresql/15/bin", "/", tool);
}

std::string Field(const std::string& text, const std::string& key) {
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (absl::ConsumePrefix(&line, key + "=")) return std::string(line);
  }
  return "";
}

// The throwaway server; the destructor stops it and removes its files.
class PostgresServer {
 public:
  static absl::StatusOr<std::unique_ptr<PostgresServer>> Start(const BenchContext& ctx) {
    auto server = std::unique_ptr<PostgresServer>(new PostgresServer());
    const BenchPaths& paths = ctx.federation->paths();
    server->script_ = paths.pg_server_script;
    server->state_ = paths.work_dir + "/postgres.state";
    server->log_ = paths.work_dir + "/postgres-script.log";
    // Durable like a production server. Its files go to $TMPDIR, not the
    // work dir: as root the server runs as user postgres, which cannot enter
    // the work dir (mode 0700).
    if (RunCommand(absl::StrCat("TONGBAN_PG_DURABLE=1 '", server->script_, "' start '",
                                server->state_, "'"),
                   server->log_) != 0) {
      return absl::UnavailableError(absl::StrCat("PostgreSQL did not start (", server->log_,
                                                 "): ", ReadFileText(server->log_)));
    }
    server->started_ = true;
    const std::string state = ReadFileText(server->state_);
    server->conninfo_ = Field(state, "conninfo");
    const std::string dir = Field(state, "dir");
    std::string pid_line = ReadFileText(dir + "/data/postmaster.pid");
    pid_line = pid_line.substr(0, pid_line.find('\n'));
    if (!absl::SimpleAtoi(pid_line, &server->postmaster_)) {
      return absl::InternalError("no postmaster.pid in " + dir + "/data");
    }
    CountDaemon(server->postmaster_);
    return server;
  }
  ~PostgresServer() {
    if (postmaster_ > 0) ForgetDaemon(postmaster_);
    if (started_) RunCommand(absl::StrCat("'", script_, "' stop '", state_, "'"), log_);
  }

  const std::string& conninfo() const { return conninfo_; }
  pid_t postmaster() const { return postmaster_; }

  // Runs SQL as the superuser in database `db` (psql); false on failure.
  bool Sql(const std::string& db, const std::string& sql) const {
    return RunCommand(absl::StrCat("'", PgBin("psql"), "' -X -q -v ON_ERROR_STOP=1 '", conninfo_,
                                   " dbname=", db, "' -c '", sql, "'"),
                      log_) == 0;
  }

  // pgbench: single-row INSERT commits/s at `clients` for 3 s; -1 on failure.
  double PgbenchInserts(const std::string& work_dir, int clients) const {
    const std::string script = work_dir + "/pgbench-insert.sql";
    if (!WriteText(script, "INSERT INTO bench_rows(client, at) VALUES (:client_id, now());\n").ok()) {
      return -1;
    }
    const std::string out = work_dir + "/pgbench.log";
    unlink(out.c_str());
    if (RunCommand(absl::StrCat("'", PgBin("pgbench"), "' -n -c ", clients, " -j 2 -T 3 -f '",
                                script, "' '", conninfo_, " dbname=pgbench'"),
                   out) != 0) {
      return -1;
    }
    for (absl::string_view line : absl::StrSplit(ReadFileText(out), '\n')) {
      if (!absl::ConsumePrefix(&line, "tps = ")) continue;
      double tps = 0;
      if (absl::SimpleAtod(line.substr(0, line.find(' ')), &tps)) return tps;
    }
    return -1;
  }

 private:
  PostgresServer() = default;
  std::string script_, state_, log_, conninfo_;
  bool started_ = false;
  pid_t postmaster_ = -1;
};

// One configuration of province 430000: its node processes.
struct Province {
  std::string label;
  std::vector<NodeHandle> replicas;
  std::string ReplicaList() const {
    if (replicas.size() == 1) return replicas.front().grpc_address;
    std::vector<std::string> hosts;
    for (const NodeHandle& n : replicas) hosts.push_back(n.grpc_address);
    return "ipv4:" + absl::StrJoin(hosts, ",");
  }
  std::vector<pid_t> Pids() const {
    std::vector<pid_t> pids;
    for (const NodeHandle& n : replicas) pids.push_back(n.process->pid());
    return pids;
  }
  void Stop() {
    for (NodeHandle& n : replicas) n.process->SignalTerm();
    for (NodeHandle& n : replicas) n.process->AwaitExit(absl::Seconds(15));
  }
};

// Starts `count` replicas of kHomeProvince at once on `store_config` (text
// format of NodeConfig: a postgres block, or "" for SQLite in the replica's
// directory), each on any free port, and waits for every ready file.
absl::StatusOr<Province> StartProvince(const BenchContext& ctx, const std::string& label,
                                       const std::string& tag, int count,
                                       const std::string& store_config) {
  const Federation& fed = *ctx.federation;
  const BenchPaths& paths = fed.paths();
  Province p;
  p.label = label;
  const Identity id = IdentityAt(paths.certs_dir, absl::StrCat("province/", kHomeProvince, "/node"));
  for (int i = 0; i < count; ++i) {
    NodeHandle n;
    n.province = kHomeProvince;
    n.dir = absl::StrCat(paths.work_dir, "/store-", tag, "-", i);
    mkdir(n.dir.c_str(), 0755);
    std::vector<std::string> argv = {
        paths.node_binary,
        absl::StrCat("--province=", kHomeProvince),
        "--listen=127.0.0.1:0",
        "--metrics_listen=127.0.0.1:0",
        "--gateway=" + fed.gateway("gateway").grpc_address,
        "--demo_catalog=" + paths.demo_catalog_dir,
        "--cert=" + id.cert,
        "--key=" + id.key,
        "--ca=" + id.ca,
        "--ready_file=" + n.dir + "/ready",
    };
    if (store_config.empty()) {
      argv.push_back("--database=" + n.dir + "/node.db");
    } else {
      absl::Status written = WriteText(n.dir + "/node.textproto", store_config);
      if (!written.ok()) return written;
      argv.push_back("--config=" + n.dir + "/node.textproto");
    }
    n.process = Child::Spawn(absl::StrCat("node ", kHomeProvince, " ", tag, "-", i), argv,
                             n.dir + "/node.log");
    if (n.process == nullptr) return absl::InternalError("fork failed");
    p.replicas.push_back(std::move(n));
  }
  const absl::Time start = absl::Now();
  for (NodeHandle& n : p.replicas) {
    for (;;) {
      std::string line = ReadFileText(n.dir + "/ready");
      if (!line.empty()) {
        n.grpc_address = ReadyField(line, "grpc");
        n.metrics_address = ReadyField(line, "metrics");
        break;
      }
      if (!n.process->Running()) {
        std::string tail = n.process->LogTail();
        p.Stop();
        return absl::InternalError(absl::StrCat(n.process->name(), " exited: ", tail));
      }
      if (absl::Now() - start > kReadyTimeout) {
        p.Stop();
        return absl::DeadlineExceededError(n.process->name() + " not ready");
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }
  return p;
}

struct StoreRow {
  LoadResult submissions;
  LoadResult reads;
  std::string failure;  // set when the configuration could not be measured
};

StoreRow Measure(const BenchContext& ctx, const Province& p, const std::string& tag,
                 const std::vector<CpuProbe>& extra_probes) {
  StoreRow row;
  const BenchPaths& paths = ctx.federation->paths();
  const Identity officer =
      IdentityAt(paths.certs_dir, absl::StrCat("province/", kHomeProvince, "/officer/officer-01"));
  std::vector<CpuProbe> probes = {{"node", p.Pids(), false}};
  probes.insert(probes.end(), extra_probes.begin(), extra_probes.end());
  row.submissions = RunPoint(
      ctx, absl::StrCat("SubmitApplication, ", p.label), kClients,
      SubmitterAt(p.ReplicaList(), p.replicas.size() > 1, officer,
                  absl::StrCat("pg", ctx.run_id, "-", tag), kHomeProvince, {"M01", "M02", "M03"}),
      probes);

  // A gateway of its own whose directory names only this province's replicas.
  const std::string directory = absl::StrCat(paths.work_dir, "/directory-", tag, ".textproto");
  absl::Status written = WriteText(
      directory, absl::StrCat("nodes { province_code: \"", kHomeProvince, "\" address: \"",
                              p.ReplicaList(), "\" server_name: \"localhost\" }\n"));
  const std::string gateway = "gateway-" + tag;
  auto started = written.ok() ? ctx.federation->StartGateway(gateway, true, false, "", directory)
                              : absl::StatusOr<absl::Duration>(written);
  if (!started.ok()) {
    row.failure = absl::StrCat("gateway: ", started.status().message());
    return row;
  }
  std::vector<CpuProbe> read_probes = probes;
  read_probes.push_back({"gateway", {ctx.federation->gateway(gateway).process->pid()}, false});
  row.reads = RunPoint(ctx, absl::StrCat("GetProvinceGuide via gateway, ", p.label), kClients,
                       GatewayGetGuide(ctx.federation->gateway(gateway).grpc_address, officer),
                       read_probes);
  ctx.federation->StopGateway(gateway);
  return row;
}

std::string Ratio(double a, double b) { return b > 0 && a > 0 ? Fmt(a / b, 2) + "×" : "–"; }

}  // namespace

void RunPostgres(const BenchContext& ctx) {
  Table& t = ctx.report->AddTable(
      absl::StrCat("7. The store on PostgreSQL: province 430000 as 1 node on SQLite, 1 and 3 "
                   "replicas on one PostgreSQL database (", kClients, " clients)"),
      {"store", "submissions/s", "p99 ms", "node µs/sub", "PostgreSQL µs/sub", "routed reads/s",
       "p99 ms", "node µs/read", "other load", "errors"});
  Progress("postgres: starting a durable PostgreSQL server (fsync, synchronous_commit on)");
  auto server = PostgresServer::Start(ctx);
  if (!server.ok()) {
    t.notes.push_back(absl::StrCat("Not measured: ", server.status().message()));
    Progress(absl::StrCat("postgres: ", server.status().message()));
    return;
  }
  PostgresServer& pg = **server;
  const std::vector<CpuProbe> pg_probe = {{"postgres", {pg.postmaster()}, true}};

  struct Config {
    std::string label, tag;
    int replicas;
    bool postgres;
  };
  const std::vector<Config> configs = {{"SQLite, 1 node", "sqlite", 1, false},
                                       {"PostgreSQL, 1 replica", "pg1", 1, true},
                                       {"PostgreSQL, 3 replicas", "pg3", 3, true}};
  std::vector<StoreRow> rows;
  for (const Config& c : configs) {
    std::string store_config;
    if (c.postgres) {
      const std::string db = "tongban_bench_" + c.tag;
      if (!pg.Sql("postgres", "CREATE DATABASE " + db)) {
        rows.push_back({{}, {}, "CREATE DATABASE failed"});
        continue;
      }
      store_config = absl::StrCat("# Written by tongban-bench.\npostgres { conninfo: \"",
                                  absl::CEscape(absl::StrCat(pg.conninfo(), " dbname=", db)),
                                  "\" }\n");
    }
    Progress(absl::StrCat("postgres: starting 430000 as ", c.label));
    auto p = StartProvince(ctx, c.label, c.tag, c.replicas, store_config);
    if (!p.ok()) {
      rows.push_back({{}, {}, std::string(p.status().message())});
      continue;
    }
    rows.push_back(Measure(ctx, *p, c.tag, c.postgres ? pg_probe : std::vector<CpuProbe>{}));
    p->Stop();
  }

  for (size_t i = 0; i < configs.size(); ++i) {
    const StoreRow& r = rows[i];
    if (!r.failure.empty() && r.submissions.calls == 0) {
      t.rows.push_back({configs[i].label, "–", "–", "–", "–", "–", "–", "–", "–", r.failure});
      continue;
    }
    auto pg_us = [&](const LoadResult& l) {
      auto it = l.cpu_us_per_call.find("postgres");
      return it == l.cpu_us_per_call.end() ? std::string("–") : Fmt(it->second, 0);
    };
    t.rows.push_back({configs[i].label, Count(r.submissions.calls_per_second),
                      Fmt(r.submissions.p99_ms, 2), Fmt(r.submissions.cpu_us_per_call.at("node"), 0),
                      pg_us(r.submissions), Count(r.reads.calls_per_second), Fmt(r.reads.p99_ms, 2),
                      r.reads.calls > 0 ? Fmt(r.reads.cpu_us_per_call.at("node"), 0) : "–",
                      Fmt(std::max(r.submissions.foreign_cores, r.reads.foreign_cores), 2),
                      absl::StrCat(Errors(r.submissions), " / ", Errors(r.reads),
                                   r.failure.empty() ? "" : " " + r.failure)});
  }
  if (rows.size() == 3) {
    t.rows.push_back({"PostgreSQL 1 replica ÷ SQLite",
                      Ratio(rows[1].submissions.calls_per_second, rows[0].submissions.calls_per_second),
                      "", "", "", Ratio(rows[1].reads.calls_per_second, rows[0].reads.calls_per_second),
                      "", "", "", ""});
    t.rows.push_back({"PostgreSQL 3 replicas ÷ 1 replica",
                      Ratio(rows[2].submissions.calls_per_second, rows[1].submissions.calls_per_second),
                      "", "", "", Ratio(rows[2].reads.calls_per_second, rows[1].reads.calls_per_second),
                      "", "", "", ""});
  }

  // The database alone: single-row INSERT commits on the same server.
  std::string reference = "pgbench did not run";
  if (pg.Sql("postgres", "CREATE DATABASE pgbench") &&
      pg.Sql("pgbench", "CREATE TABLE bench_rows (client int, at timestamptz)")) {
    Progress("postgres: pgbench single-row INSERT commits at 1 and 16 clients");
    const double one = pg.PgbenchInserts(ctx.federation->paths().work_dir, 1);
    const double sixteen = pg.PgbenchInserts(ctx.federation->paths().work_dir, kClients);
    reference = absl::StrCat("pgbench on the same server, single-row INSERT commits: ",
                             Count(one), "/s at 1 client, ", Count(sixteen), "/s at ", kClients,
                             " clients");
  }
  t.notes.push_back(
      "Each submission is acknowledged after its transaction committed (SQLite: WAL, "
      "synchronous=FULL, group commit; PostgreSQL: fsync and synchronous_commit on, pool of 8 "
      "connections per replica). Replicas share one PostgreSQL server on this 2-core machine, "
      "so 3 replicas measure correctness and spread, not added capacity: on one machine they "
      "compete for the same two cores. Submissions go round robin over the replicas (as a "
      "headless Service spreads them); routed reads through a gateway whose directory lists "
      "the replicas. PostgreSQL µs/sub: postmaster and its backends.");
  t.notes.push_back(reference + ".");
}

}  // namespace tongban::bench
