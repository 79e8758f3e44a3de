// The forwarding guarantee (DESIGN.md §4-5): an acknowledged cross-province
// application is never lost and never processed twice, whatever crashes.
//
// Client threads file ≥ 2000 cross-province applications over three
// accepting → handling pairs while a chaos thread SIGKILLs and restarts (same
// database, same port) accepting nodes, the gateway and handling nodes at
// random moments. Every submission is retried with the SAME idempotency key
// until acknowledged. Once the chaos stops, every outbox must drain, and then
// every acknowledged id must exist exactly once at its handling node,
// delivered exactly once, and be marked DELIVERED at its accepting node.
//
// The same storm runs twice: over SQLite nodes, and with Shanghai served by
// three node replicas on one PostgreSQL database (issue 15), where the chaos
// also kills single replicas and every PostgreSQL connection of the
// province; Shanghai is there both a handling province (any replica takes a
// delivery) and an accepting one (a retry after a replica's death lands on
// another replica, which must answer with the same application; the outbox
// is claimed by one replica at a time).
//
// TONGBAN_CHAOS_SEED=<n> replays a run's random choices (printed at start).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "federation.h"
#include "gtest/gtest.h"
#include "grpcpp/grpcpp.h"
#include "node_process.h"
#include "node_test_data.h"
#include "postgres_test_server.h"
#include "store/postgres_connection.h"
#include "tongban/v1/application.grpc.pb.h"

namespace tongban::testing {
namespace {

using grpc::StatusCode;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr int kMaxSubmissions = 5000;  // bounds the run time
// Submissions are paced (100 a second over all clients) so that they span the
// whole chaos schedule (~30 s) instead of finishing before the first kill.
constexpr auto kSubmissionInterval = std::chrono::microseconds(10000);
constexpr int kClientThreads = 6;
constexpr auto kClientGiveUp = seconds(150);
constexpr auto kDrainTimeout = seconds(120);
constexpr char kShanghai[] = "310000";

struct Pair {
  std::string accepting;
  std::string handling;
  std::vector<std::string> materials;  // complete for the handling province's guide
};

// Kinds of chaos steps.
enum Kill { kAcceptingNode = 0, kGateway = 1, kHandlingNode = 2, kPostgresConnections = 3 };

struct Scenario {
  std::string name;
  std::vector<std::string> provinces;
  std::vector<Pair> pairs;
  std::vector<std::string> accepting_victims;
  std::vector<std::string> handling_victims;
  std::vector<Kill> kinds;  // each kills_per_kind times, shuffled
  int kills_per_kind = 3;
  int min_submissions = 2000;
  bool shanghai_on_postgres = false;  // three replicas of 310000 on one database
};

Scenario SqliteScenario() {
  Scenario s;
  s.name = "forwarding-guarantee";
  s.provinces = {"430000", "440000", "510000", "310000", "500000"};
  s.pairs = {
      {"430000", "310000", {"M01", "M02", "M03", "M09"}},  // Hunan → Shanghai (M09 key there)
      {"440000", "310000", {"M01", "M02", "M03", "M09"}},  // Guangdong → Shanghai
      {"510000", "500000", {"M01", "M02", "M03"}},         // Sichuan → Chongqing (no 容缺 there)
  };
  s.accepting_victims = {"430000", "440000", "510000"};
  s.handling_victims = {"310000", "500000"};
  s.kinds = {kAcceptingNode, kGateway, kHandlingNode};
  return s;
}

Scenario PostgresReplicasScenario() {
  Scenario s;
  s.name = "forwarding-guarantee-replicas";
  s.provinces = {"430000", "310000", "500000"};
  s.pairs = {
      {"430000", "310000", {"M01", "M02", "M03", "M09"}},  // Hunan → Shanghai's replicas
      {"310000", "500000", {"M01", "M02", "M03"}},         // Shanghai's replicas → Chongqing
  };
  s.accepting_victims = {"430000", "310000"};
  s.handling_victims = {"310000", "500000"};
  s.kinds = {kAcceptingNode, kGateway, kHandlingNode, kPostgresConnections};
  s.kills_per_kind = 2;
  s.min_submissions = 1500;
  s.shanghai_on_postgres = true;
  return s;
}

std::string Officer(const std::string& province, int n = 1) {
  return "province/" + province + "/officer/officer-0" + std::to_string(n);
}

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

// The sum of every sample of metric `name` (all label sets) in an exposition.
double SumOfSeries(const std::string& exposition, const std::string& name) {
  double sum = 0;
  std::istringstream in(exposition);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(name, 0) != 0 || line.size() <= name.size()) continue;
    const char next = line[name.size()];
    if (next != '{' && next != ' ') continue;
    sum += std::strtod(line.c_str() + line.rfind(' ') + 1, nullptr);
  }
  return sum;
}

bool Retryable(StatusCode code) {
  switch (code) {
    case StatusCode::UNAVAILABLE:         // process down, connection reset
    case StatusCode::DEADLINE_EXCEEDED:   // waited for a restart too long
    case StatusCode::CANCELLED:
    case StatusCode::ABORTED:
    case StatusCode::RESOURCE_EXHAUSTED:
    case StatusCode::UNKNOWN:             // stream torn down mid-call
    case StatusCode::INTERNAL:            // (RST_STREAM when the peer dies)
      return true;
    default:
      return false;
  }
}

// What the clients know about one idempotency key.
struct Ack {
  size_t pair = 0;
  std::string id;
  int attempts = 0;
  bool replayed_on_ack = false;  // acknowledged by a retry after an ambiguous failure
};

class ForwardingGuaranteeTest : public ::testing::Test {
 protected:
  // Starts the scenario's federation (fatal failure when it does not start).
  void StartFederation(Scenario scenario) {
    scenario_ = std::move(scenario);
    const char* env = std::getenv("TONGBAN_CHAOS_SEED");
    seed_ = env != nullptr ? std::strtoull(env, nullptr, 10)
                           : static_cast<uint64_t>(Clock::now().time_since_epoch().count());
    std::cout << "chaos seed " << seed_ << " (TONGBAN_CHAOS_SEED to replay)" << std::endl;
    FederationOptions options;
    options.name = scenario_.name;
    options.provinces = scenario_.provinces;
    options.eject_base_ms = 300;
    if (scenario_.shanghai_on_postgres) {
      auto database = node::testing::ScratchPostgresDatabase::Create();
      ASSERT_TRUE(database.ok()) << database.status();
      postgres_ = std::move(*database);
      options.postgres[kShanghai] = postgres_->conninfo();
      options.replicas[kShanghai] = 3;
      // A replica SIGKILLed while it holds outbox claims: the others take
      // them over after the lease (the shortest allowed).
      options.postgres_outbox_lease_seconds = 10;
    }
    federation_ = std::make_unique<Federation>(options);
    std::string error;
    ASSERT_TRUE(federation_->Start(&error)) << error;
    std::cout << "federation up in " << federation_->workdir() << std::endl;
  }

  // Ends every PostgreSQL session of the replicated province's database, as
  // a database failover or an administrator would; the replicas must
  // reconnect on their own. The number of sessions ended.
  int64_t KillPostgresConnections() {
    auto admin = node::PgConnection::Connect(postgres_->conninfo());
    if (!admin.ok()) {
      RecordError("cannot connect to PostgreSQL: " + std::string(admin.status().message()));
      return 0;
    }
    auto killed = (*admin)->Exec(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
        "WHERE datname = current_database() AND pid <> pg_backend_pid()");
    if (!killed.ok()) {
      RecordError("pg_terminate_backend: " + std::string(killed.status().message()));
      return 0;
    }
    return killed->Int64(0, 0);
  }

  void TearDown() override {
    stop_.store(true);
    if (chaos_.joinable()) chaos_.join();
    if (HasFailure() && federation_ != nullptr) {
      std::cout << federation_->LogTails(4000) << std::endl;
      federation_->KeepWorkdir();
      std::cout << "kept " << federation_->workdir() << " for a post-mortem" << std::endl;
    }
    federation_.reset();  // SIGKILLs everything; deletes the workdir unless kept
  }

  // Submits one key until acknowledged (or a non-retryable answer, or stop).
  void SubmitUntilAcked(v1::ApplicationService::Stub* stub, size_t pair_index,
                        const std::string& key) {
    const Pair& pair = scenario_.pairs[pair_index];
    v1::SubmitApplicationRequest req =
        Submission(key, kSocialSecurityCard, pair.handling, pair.materials);
    for (int attempt = 1;; ++attempt) {
      if (stop_.load() || Clock::now() > give_up_at_) {
        RecordError(key + ": gave up after " + std::to_string(attempt - 1) + " attempts");
        return;
      }
      grpc::ClientContext ctx;
      ctx.set_deadline(DeadlineIn(8000));
      ctx.set_wait_for_ready(true);  // a restarting node: wait for it (bounded by the deadline)
      v1::SubmitApplicationResponse resp;
      in_flight_[pair_index].fetch_add(1);
      grpc::Status s = stub->SubmitApplication(&ctx, req, &resp);
      in_flight_[pair_index].fetch_sub(1);
      if (s.ok()) {
        std::lock_guard<std::mutex> lock(mu_);
        auto [it, inserted] = acks_.try_emplace(key);
        if (!inserted) {
          errors_.push_back(key + " acknowledged twice by the clients (harness bug)");
          return;
        }
        it->second.pair = pair_index;
        it->second.id = resp.application().application_id();
        it->second.attempts = attempt;
        it->second.replayed_on_ack = resp.replayed();
        if (resp.replayed()) ++replayed_acks_;
        if (attempt > 1) ++acked_after_retry_;
        return;
      }
      if (!Retryable(s.error_code())) {
        RecordError(key + " attempt " + std::to_string(attempt) + ": " +
                    std::to_string(s.error_code()) + " " + s.error_message());
        return;
      }
      ++retries_;
      std::this_thread::sleep_for(milliseconds(20));  // retry pacing, not synchronisation
    }
  }

  void RecordError(const std::string& e) {
    std::lock_guard<std::mutex> lock(mu_);
    errors_.push_back(e);
  }

  void ClientLoop(int thread_index) {
    const size_t pair_index = static_cast<size_t>(thread_index) % scenario_.pairs.size();
    const Pair& pair = scenario_.pairs[pair_index];
    // Officer 01 or 02 of the accepting province (the idempotency scope is the
    // actor). A replicated province's address names all its replicas: every
    // call, retries included, goes to the next one.
    auto stub = v1::ApplicationService::NewStub(FastChannel(
        federation_->node_address(pair.accepting), Officer(pair.accepting, 1 + thread_index / 3)));
    for (;;) {
      int n = next_key_.fetch_add(1);
      if (n >= kMaxSubmissions || (n >= scenario_.min_submissions && chaos_done_.load()) ||
          stop_.load()) {
        return;
      }
      std::this_thread::sleep_until(started_at_ + n * kSubmissionInterval);  // pacing
      char key[64];
      std::snprintf(key, sizeof(key), "chaos-t%d-%06d", thread_index, n);
      SubmitUntilAcked(stub.get(), pair_index, key);
      submitted_.fetch_add(1);
    }
  }

  // Kills and restarts processes at random moments: kills_per_kind of each
  // kind of the scenario (an accepting node, the gateway, a handling node,
  // the PostgreSQL sessions), shuffled. A node of a replicated province is
  // one replica, chosen at random, while the others go on serving. An
  // accepting node is killed while a submission to it is in flight (the
  // moment is still random, but the kill then lands in the window between
  // receiving, committing and acknowledging a submission — the ambiguous
  // case the idempotency key exists for).
  void ChaosLoop() {
    std::mt19937_64 rng(seed_);
    std::vector<Kill> kinds;
    for (int i = 0; i < scenario_.kills_per_kind; ++i) {
      kinds.insert(kinds.end(), scenario_.kinds.begin(), scenario_.kinds.end());
    }
    std::shuffle(kinds.begin(), kinds.end(), rng);
    auto pause = [&](int lo_ms, int hi_ms) {
      // Interruptible wait between chaos steps (stop_ aborts the test).
      auto until = Clock::now() + milliseconds(std::uniform_int_distribution<int>(lo_ms, hi_ms)(rng));
      while (Clock::now() < until && !stop_.load()) std::this_thread::sleep_for(milliseconds(10));
    };
    pause(500, 1500);  // let the clients get going
    for (Kill kind : kinds) {
      if (stop_.load()) break;
      std::string victim = "gateway";
      if (kind == kAcceptingNode) {
        victim = scenario_.accepting_victims[rng() % scenario_.accepting_victims.size()];
      }
      if (kind == kHandlingNode) {
        victim = scenario_.handling_victims[rng() % scenario_.handling_victims.size()];
      }
      if (kind == kPostgresConnections) {
        const int64_t ended = KillPostgresConnections();
        kills_.fetch_add(1);
        {
          std::lock_guard<std::mutex> lock(mu_);
          kill_log_.push_back("postgres");
        }
        std::cout << "chaos: ended " << ended << " PostgreSQL sessions of " << kShanghai
                  << " (acked " << AckCount() << ")" << std::endl;
        pause(1000, 3000);
        continue;
      }
      const int replica = kind == kGateway ? 0 : static_cast<int>(rng() % federation_->replica_count(victim));
      if (kind == kAcceptingNode) {
        size_t pi = 0;
        while (scenario_.pairs[pi].accepting != victim) ++pi;
        auto until = Clock::now() + seconds(2);
        while (in_flight_[pi].load() == 0 && Clock::now() < until && !stop_.load()) {
          std::this_thread::yield();
        }
        // A submission takes a few ms (mostly the commit's fsync): land anywhere in it.
        std::this_thread::sleep_for(
            std::chrono::microseconds(std::uniform_int_distribution<int>(0, 4000)(rng)));
      }
      auto t0 = Clock::now();
      if (kind == kGateway) {
        federation_->KillGateway();
      } else {
        federation_->KillReplica(victim, replica);
      }
      kills_.fetch_add(1);
      pause(200, 1500);  // downtime
      std::string error;
      bool ok = kind == kGateway ? federation_->RestartGateway(&error)
                                 : federation_->RestartReplica(victim, replica, &error);
      const std::string role = kind == kAcceptingNode ? "accepting " : kind == kHandlingNode ? "handling " : "";
      if (federation_->replica_count(victim) > 1) victim += " replica " + std::to_string(replica);
      {
        std::lock_guard<std::mutex> lock(mu_);
        kill_log_.push_back(role + victim);
      }
      std::cout << "chaos: killed " << role << victim << ", back after "
                << Seconds(Clock::now() - t0) << " s (acked " << AckCount() << ")" << std::endl;
      if (!ok) {
        RecordError("restart of " + victim + " failed: " + error);
        stop_.store(true);
        break;
      }
      pause(1000, 3000);  // until the next kill
    }
    chaos_done_.store(true);
  }

  size_t AckCount() {
    std::lock_guard<std::mutex> lock(mu_);
    return acks_.size();
  }

  // Runs `fn(i)` for i in [0, n) on kClientThreads threads.
  static void ParallelFor(size_t n, const std::function<void(size_t, int)>& fn) {
    std::atomic<size_t> next{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < kClientThreads; ++t) {
      threads.emplace_back([&, t] {
        for (size_t i; (i = next.fetch_add(1)) < n;) fn(i, t);
      });
    }
    for (auto& th : threads) th.join();
  }

  // Submissions under chaos, then the checks (after StartFederation).
  void RunStormAndCheck();

  Scenario scenario_;
  uint64_t seed_ = 0;
  std::unique_ptr<node::testing::ScratchPostgresDatabase> postgres_;  // outlives federation_
  std::unique_ptr<Federation> federation_;
  std::thread chaos_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> chaos_done_{false};
  std::atomic<int> next_key_{0};
  std::atomic<int> submitted_{0};
  std::atomic<int> kills_{0};
  std::atomic<int> in_flight_[3] = {};  // submissions in flight per pair (at most 3 pairs)
  std::atomic<int> retries_{0};
  std::atomic<int> replayed_acks_{0};
  std::atomic<int> acked_after_retry_{0};
  Clock::time_point started_at_;
  Clock::time_point give_up_at_;
  std::mutex mu_;
  std::map<std::string, Ack> acks_;     // guarded by mu_
  std::vector<std::string> errors_;     // guarded by mu_
  std::vector<std::string> kill_log_;   // guarded by mu_
};

void ForwardingGuaranteeTest::RunStormAndCheck() {
  const auto start = Clock::now();
  started_at_ = start;
  give_up_at_ = start + kClientGiveUp;

  // ---- Phase 1: submissions under chaos.
  chaos_ = std::thread([this] { ChaosLoop(); });
  std::vector<std::thread> clients;
  for (int t = 0; t < kClientThreads; ++t) clients.emplace_back([this, t] { ClientLoop(t); });
  std::atomic<bool> clients_done{false};
  std::thread progress([&] {
    auto next = Clock::now() + seconds(3);
    while (!clients_done.load()) {
      std::this_thread::sleep_for(milliseconds(50));
      if (Clock::now() < next) continue;
      next += seconds(3);
      std::cout << "progress t=" << static_cast<int>(Seconds(Clock::now() - start))
                << "s acked " << AckCount() << ", retries " << retries_.load() << ", kills "
                << kills_.load() << std::endl;
    }
  });
  for (auto& c : clients) c.join();
  clients_done.store(true);
  progress.join();
  chaos_.join();
  const auto submitted_at = Clock::now();
  {
    std::lock_guard<std::mutex> lock(mu_);
    std::cout << "submissions done after " << Seconds(submitted_at - start) << " s: "
              << acks_.size() << " acknowledged, " << retries_.load() << " retried attempts, "
              << acked_after_retry_.load() << " acknowledged after a retry ("
              << replayed_acks_.load() << " of them replays of a write that survived the crash), "
              << kills_.load() << " kills" << std::endl;
    for (size_t i = 0; i < errors_.size() && i < 20; ++i) ADD_FAILURE() << errors_[i];
    ASSERT_TRUE(errors_.empty()) << errors_.size() << " client errors";
    ASSERT_GE(acks_.size(), static_cast<size_t>(scenario_.min_submissions));
    int accepting_kills = 0, gateway_kills = 0, handling_kills = 0, postgres_kills = 0;
    for (const auto& k : kill_log_) {
      accepting_kills += k.rfind("accepting", 0) == 0;
      handling_kills += k.rfind("handling", 0) == 0;
      gateway_kills += k == "gateway";
      postgres_kills += k == "postgres";
    }
    EXPECT_GE(accepting_kills, 2);
    EXPECT_GE(gateway_kills, 2);
    EXPECT_GE(handling_kills, 2);
    if (scenario_.shanghai_on_postgres) {
      EXPECT_GE(postgres_kills, 2);
    }
  }

  // ---- Phase 2: everything runs again; every outbox drains.
  std::map<std::string, double> depths;
  auto drained = [&] {
    bool all_zero = true;
    for (const std::string& p : federation_->provinces()) {
      double d = MetricValue(HttpGet(federation_->node_metrics_address(p), "/metrics"),
                             "tongban_outbox_depth");
      depths[p] = d;
      all_zero &= d == 0;
    }
    return all_zero;
  };
  auto last_print = Clock::now();
  bool ok = WaitUntil(kDrainTimeout, [&] {
    bool done = drained();
    if (!done && Clock::now() - last_print > seconds(5)) {
      last_print = Clock::now();
      std::cout << "draining:";
      for (const auto& [p, d] : depths) std::cout << " " << p << "=" << d;
      std::cout << std::endl;
    }
    return done;
  }, milliseconds(200));
  std::string depth_text;
  for (const auto& [p, d] : depths) depth_text += " " + p + "=" + std::to_string(d);
  ASSERT_TRUE(ok) << "outboxes not drained within 120 s:" << depth_text;
  std::cout << "all outboxes drained " << Seconds(Clock::now() - submitted_at)
            << " s after the last submission" << std::endl;

  std::vector<std::pair<std::string, Ack>> acked(acks_.begin(), acks_.end());

  // ---- Phase 3: a key maps to exactly one id; ids are unique.
  {
    std::set<std::string> ids;
    for (const auto& [key, ack] : acked) {
      EXPECT_TRUE(ids.insert(ack.id).second) << "id " << ack.id << " acknowledged for two keys";
    }
  }
  std::mutex fail_mu;
  std::vector<std::string> failures;
  auto fail = [&](const std::string& f) {
    std::lock_guard<std::mutex> lock(fail_mu);
    failures.push_back(f);
  };
  {
    std::vector<std::map<std::string, std::unique_ptr<v1::ApplicationService::Stub>>> stubs(
        kClientThreads);
    ParallelFor(acked.size(), [&](size_t i, int t) {
      const auto& [key, ack] = acked[i];
      const Pair& pair = scenario_.pairs[ack.pair];
      // The same officer as the original submission (the key's scope).
      int thread_index = std::atoi(key.c_str() + 7);  // "chaos-t<N>-..."
      std::string who = Officer(pair.accepting, 1 + thread_index / 3);
      auto& stub = stubs[t][who];
      if (stub == nullptr) {
        stub = v1::ApplicationService::NewStub(FastChannel(federation_->node_address(pair.accepting), who));
      }
      grpc::ClientContext ctx;
      ctx.set_deadline(DeadlineIn(10000));
      v1::SubmitApplicationResponse resp;
      grpc::Status s = stub->SubmitApplication(
          &ctx, Submission(key, kSocialSecurityCard, pair.handling, pair.materials), &resp);
      if (!s.ok()) {
        fail(key + " replay: " + s.error_message());
      } else if (!resp.replayed() || resp.application().application_id() != ack.id) {
        fail(key + " replay answered " + resp.application().application_id() +
             (resp.replayed() ? " (replayed)" : " (NEW)") + ", acknowledged as " + ack.id);
      }
    });
  }

  // ---- Phase 4: every acknowledged id is at its handling node exactly once
  // (delivered once), and DELIVERED at its accepting node.
  {
    std::vector<std::map<std::string, std::unique_ptr<v1::ApplicationService::Stub>>> stubs(
        kClientThreads);
    ParallelFor(acked.size(), [&](size_t i, int t) {
      const Ack& ack = acked[i].second;
      const Pair& pair = scenario_.pairs[ack.pair];
      for (const std::string& province : {pair.handling, pair.accepting}) {
        auto& stub = stubs[t][province];
        if (stub == nullptr) {
          stub = v1::ApplicationService::NewStub(
              FastChannel(federation_->node_address(province), Officer(province)));
        }
        grpc::ClientContext ctx;
        ctx.set_deadline(DeadlineIn(10000));
        v1::GetApplicationRequest req;
        req.set_application_id(ack.id);
        v1::GetApplicationResponse resp;
        grpc::Status s = stub->GetApplication(&ctx, req, &resp);
        if (!s.ok()) {
          fail(ack.id + " at " + province + ": " + s.error_message());
          continue;
        }
        const v1::Application& app = resp.application();
        int submits = 0, delivers = 0;
        for (const auto& e : app.events()) {
          submits += e.action() == v1::APPLICATION_ACTION_SUBMIT;
          delivers += e.action() == v1::APPLICATION_ACTION_DELIVER;
        }
        if (submits != 1 || delivers != 1 || app.events_size() != 2) {
          fail(ack.id + " at " + province + " has history " + app.ShortDebugString());
        }
        if (app.forwarding() != v1::FORWARDING_STATE_DELIVERED) {
          fail(ack.id + " at " + province + " forwarding " +
               v1::ForwardingState_Name(app.forwarding()));
        }
        if (app.state() != v1::APPLICATION_STATE_RECEIVED) {
          fail(ack.id + " at " + province + " state " + v1::ApplicationState_Name(app.state()));
        }
      }
    });
  }
  for (size_t i = 0; i < failures.size() && i < 20; ++i) ADD_FAILURE() << failures[i];
  EXPECT_TRUE(failures.empty()) << failures.size() << " per-application failures";

  // Listing the handling nodes: exactly the acknowledged ids of each pair,
  // none twice, none extra.
  for (size_t pi = 0; pi < scenario_.pairs.size(); ++pi) {
    const Pair& pair = scenario_.pairs[pi];
    std::set<std::string> expected;
    for (const auto& [key, ack] : acked) {
      if (ack.pair == pi) expected.insert(ack.id);
    }
    const std::string prefix = "TB-" + pair.accepting + "-" + pair.handling + "-";
    auto stub = v1::ApplicationService::NewStub(
        FastChannel(federation_->node_address(pair.handling), Officer(pair.handling)));
    std::multiset<std::string> listed;
    for (v1::ApplicationState state :
         {v1::APPLICATION_STATE_RECEIVED, v1::APPLICATION_STATE_PENDING_SUPPLEMENT}) {
      std::string token;
      for (int page = 0; page < 1000; ++page) {
        grpc::ClientContext ctx;
        ctx.set_deadline(DeadlineIn(10000));
        v1::ListApplicationsByStateRequest req;
        req.set_state(state);
        req.set_page_size(200);
        req.set_page_token(token);
        v1::ListApplicationsByStateResponse resp;
        grpc::Status s = stub->ListApplicationsByState(&ctx, req, &resp);
        ASSERT_TRUE(s.ok()) << s.error_message();
        for (const auto& a : resp.applications()) {
          if (a.application_id().rfind(prefix, 0) == 0) listed.insert(a.application_id());
        }
        token = resp.next_page_token();
        if (token.empty()) break;
      }
    }
    std::set<std::string> unique(listed.begin(), listed.end());
    EXPECT_EQ(listed.size(), unique.size()) << prefix << ": an id is listed twice";
    EXPECT_EQ(listed.size(), expected.size()) << prefix;
    EXPECT_TRUE(unique == expected) << prefix << ": listed and acknowledged ids differ";
    std::cout << prefix << ": " << expected.size() << " acknowledged, " << listed.size()
              << " at the handling node" << std::endl;
  }
  // How often the guarantee was actually exercised: deliveries the handling
  // node had already stored (an acknowledgement lost to a crash) and answered
  // already_delivered, as the accepting nodes logged them.
  int repeated = 0;
  for (const std::string& path : federation_->AllLogPaths()) {
    std::ifstream in(path);
    for (std::string line; std::getline(in, line);) {
      repeated += line.find("event=forwarding.delivered") != std::string::npos &&
                  line.find("kind=application") != std::string::npos &&
                  line.find("duplicate=true") != std::string::npos;
    }
  }
  std::cout << repeated << " deliveries were repeated after a lost acknowledgement and "
            << "answered already_delivered" << std::endl;
  std::cout << "total " << Seconds(Clock::now() - start) << " s" << std::endl;
}

TEST_F(ForwardingGuaranteeTest, NoAcknowledgedApplicationIsLostOrDuplicatedUnderChaos) {
  StartFederation(SqliteScenario());
  if (HasFatalFailure()) return;
  RunStormAndCheck();
}

// Issue 15: Shanghai as three node replicas on one PostgreSQL database.
TEST_F(ForwardingGuaranteeTest, ThreePostgresReplicasOfOneProvinceLoseAndDuplicateNothing) {
  StartFederation(PostgresReplicasScenario());
  if (HasFatalFailure()) return;
  // Every replica runs on the one database: each reports its outbox depth.
  for (int r = 0; r < federation_->replica_count(kShanghai); ++r) {
    EXPECT_NE(MetricValue(HttpGet(federation_->replica_metrics_address(kShanghai, r), "/metrics"),
                          "tongban_outbox_depth"),
              -1)
        << "replica " << r;
  }
  RunStormAndCheck();
  // The replicas shared the work (round robin at the clients and at the
  // gateway): each one, in its current incarnation, filed applications and
  // took deliveries.
  for (int r = 0; r < federation_->replica_count(kShanghai); ++r) {
    const std::string metrics =
        HttpGet(federation_->replica_metrics_address(kShanghai, r), "/metrics");
    const double filed = SumOfSeries(metrics, "tongban_applications_submitted_total");
    const double received = SumOfSeries(metrics, "tongban_federation_received_total");
    std::cout << "replica " << r << " of " << kShanghai << ": " << filed << " filed, " << received
              << " deliveries received since its last start" << std::endl;
    EXPECT_GT(filed + received, 0) << "replica " << r << " served nothing";
  }
}

}  // namespace
}  // namespace tongban::testing
