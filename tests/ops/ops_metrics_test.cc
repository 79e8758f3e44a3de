// Monitoring checked with the real tools (ctest -R '^ops\.'):
//   ops.dashboard          docs/grafana/tongban-dashboard.json is JSON Grafana can import
//                          and every panel query parses (promtool check rules).
//   ops.metrics_lint       a real federation (3 nodes + gateway, mTLS) after traffic:
//                          every /metrics endpoint passes `promtool check metrics`.
//   ops.prometheus_scrape  a real Prometheus server scrapes that federation with the
//                          alert rules loaded: targets up, counters move with traffic,
//                          a killed node shows as down and TongbanNodeDown goes pending,
//                          every metric the alerts and the dashboard use exists.
// Prometheus and promtool come from the Debian package `prometheus`
// (common/bootstrap.sh); without them these tests fail, they never skip.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/time/civil_time.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "federation.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "node_process.h"
#include "node_test_data.h"
#include "tongban/v1/application.grpc.pb.h"
#include "tongban/v1/gateway.grpc.pb.h"

namespace tongban::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr char kHunan[] = "430000";
constexpr char kShanghai[] = "310000";
constexpr char kGuangdong[] = "440000";

constexpr char kNotInstalled[] =
    " is not installed. Install the Debian package: apt-get install -y "
    "--no-install-recommends prometheus (common/bootstrap.sh lists it in TONGBAN_PACKAGES).";

std::string Source(const std::string& relative) {
  return std::string(TONGBAN_SOURCE_DIR) + "/" + relative;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

bool WriteFile(const std::string& path, const std::string& content) {
  std::ofstream out(path, std::ios::trunc);
  out << content;
  return out.good();
}

std::string Tail(const std::string& s, size_t bytes = 3000) {
  return s.size() <= bytes ? s : "..." + s.substr(s.size() - bytes);
}

// The executable `name` on PATH; "" when there is none.
std::string FindOnPath(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path == nullptr ? "/usr/local/bin:/usr/bin:/bin" : path);
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    std::string candidate = (dir.empty() ? "." : dir) + "/" + name;
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return "";
}

std::string ShellQuote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}

struct CommandResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr
};

CommandResult RunCommand(const std::string& command) {
  CommandResult result;
  FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  if (pipe == nullptr) return result;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), pipe)) > 0) result.output.append(buf, n);
  int status = pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

bool ParseJson(const std::string& text, google::protobuf::Struct* out, std::string* error) {
  auto status = google::protobuf::util::JsonStringToMessage(text, out);
  if (!status.ok()) {
    *error = "invalid JSON (" + std::string(status.message()) + "): " + Tail(text, 300);
    return false;
  }
  return true;
}

// ---------------------------------------------------------------- HTTP

struct HttpResponse {
  int status = 0;  // 0: no answer
  std::string body;
};

// GET over HTTP/1.0 (the server closes the connection after the body), with
// a 10 s timeout on every socket operation.
HttpResponse HttpGetWithStatus(const std::string& address, const std::string& target) {
  HttpResponse response;
  size_t colon = address.rfind(':');
  if (colon == std::string::npos) return response;
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return response;
  timeval timeout{10, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(std::atoi(address.substr(colon + 1).c_str())));
  inet_pton(AF_INET, address.substr(0, colon).c_str(), &addr.sin_addr);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return response;
  }
  std::string request = "GET " + target + " HTTP/1.0\r\nHost: " + address + "\r\n\r\n";
  if (write(fd, request.data(), request.size()) != static_cast<ssize_t>(request.size())) {
    close(fd);
    return response;
  }
  std::string raw;
  char buf[65536];
  ssize_t n;
  while ((n = read(fd, buf, sizeof(buf))) > 0) raw.append(buf, n);
  close(fd);
  size_t end_of_head = raw.find("\r\n\r\n");
  if (raw.compare(0, 5, "HTTP/") != 0 || end_of_head == std::string::npos) return response;
  size_t space = raw.find(' ');
  response.status = std::atoi(raw.c_str() + space + 1);
  response.body = raw.substr(end_of_head + 4);
  return response;
}

std::string UrlEncode(const std::string& s) {
  static const char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

// A port free at the time of the call (the kernel's pick for port 0).
int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  int port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  close(fd);
  return port;
}

// ---------------------------------------------------------------- Prometheus

// One sample of an instant-query vector.
struct Sample {
  std::map<std::string, std::string> labels;
  double value = 0;
};

// A real `prometheus` server on 127.0.0.1:<free port>, its TSDB in `dir`.
// Killed with the test process too (PR_SET_PDEATHSIG), so a CTest timeout
// leaves nothing behind.
class PrometheusServer final {
 public:
  ~PrometheusServer() { Stop(); }

  bool Start(const std::string& binary, const std::string& config_file, const std::string& dir,
             std::string* error) {
    log_path_ = dir + "/prometheus.log";
    for (int attempt = 0; attempt < 3; ++attempt) {
      int port = FreePort();
      address_ = "127.0.0.1:" + std::to_string(port);
      std::vector<std::string> args = {binary,
                                        "--config.file=" + config_file,
                                        "--storage.tsdb.path=" + dir + "/data",
                                        "--web.listen-address=" + address_,
                                        "--log.level=info"};
      std::vector<char*> argv;  // built before fork: the child only execs
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      pid_ = fork();
      if (pid_ == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        int log = open(log_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
        dup2(log, STDOUT_FILENO);
        dup2(log, STDERR_FILENO);
        execv(argv[0], argv.data());
        _exit(127);
      }
      if (pid_ < 0) {
        *error = "fork failed";
        return false;
      }
      // Ready = answers /-/ready with 200 (TSDB open, rules loaded).
      const auto deadline = std::chrono::steady_clock::now() + seconds(30);
      while (std::chrono::steady_clock::now() < deadline) {
        int status = 0;
        if (waitpid(pid_, &status, WNOHANG) == pid_) {
          pid_ = -1;
          break;
        }
        if (HttpGetWithStatus(address_, "/-/ready").status == 200) return true;
        std::this_thread::sleep_for(milliseconds(100));
      }
      std::string log = ReadFile(log_path_);
      Stop();
      // Another process took the port between FreePort() and the bind: try another.
      if (log.find("address already in use") != std::string::npos) continue;
      *error = "prometheus did not become ready on " + address_ + "; its log:\n" + Tail(log);
      return false;
    }
    *error = "prometheus found no free port; its log:\n" + Tail(ReadFile(log_path_));
    return false;
  }

  void Stop() {
    if (pid_ <= 0) return;
    kill(pid_, SIGTERM);
    for (int i = 0; i < 100; ++i) {
      if (waitpid(pid_, nullptr, WNOHANG) == pid_) {
        pid_ = -1;
        return;
      }
      std::this_thread::sleep_for(milliseconds(50));
    }
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }

  const std::string& address() const { return address_; }
  std::string LogTail() const { return Tail(ReadFile(log_path_)); }

  // GET /api/v1/<path>: the response's "data", or false with *error.
  bool Api(const std::string& path, google::protobuf::Value* data, std::string* error) const {
    HttpResponse r = HttpGetWithStatus(address_, "/api/v1/" + path);
    if (r.status == 0) {
      *error = "no answer from prometheus at " + address_;
      return false;
    }
    google::protobuf::Struct json;
    if (!ParseJson(r.body, &json, error)) return false;
    auto status = json.fields().find("status");
    if (r.status != 200 || status == json.fields().end() ||
        status->second.string_value() != "success") {
      *error = "HTTP " + std::to_string(r.status) + ": " + Tail(r.body, 500);
      return false;
    }
    *data = json.fields().at("data");
    return true;
  }

  // An instant query that returns a vector.
  bool Query(const std::string& promql, std::vector<Sample>* samples, std::string* error) const {
    google::protobuf::Value data;
    if (!Api("query?query=" + UrlEncode(promql), &data, error)) return false;
    samples->clear();
    const auto& fields = data.struct_value().fields();
    if (fields.count("resultType") == 0 || fields.at("resultType").string_value() != "vector") {
      *error = promql + ": not a vector result";
      return false;
    }
    for (const auto& item : fields.at("result").list_value().values()) {
      Sample sample;
      for (const auto& [name, value] : item.struct_value().fields().at("metric").struct_value().fields()) {
        sample.labels[name] = value.string_value();
      }
      const auto& pair = item.struct_value().fields().at("value").list_value();
      sample.value = std::atof(pair.values(1).string_value().c_str());
      samples->push_back(std::move(sample));
    }
    return true;
  }

  // The value of a query expected to return exactly one sample; NaN otherwise.
  double Single(const std::string& promql, std::string* seen) const {
    std::vector<Sample> samples;
    std::string error;
    if (!Query(promql, &samples, &error)) {
      *seen = promql + ": " + error;
      return std::nan("");
    }
    *seen = promql + " -> " + std::to_string(samples.size()) + " samples";
    if (samples.size() != 1) return std::nan("");
    *seen += " = " + std::to_string(samples[0].value);
    return samples[0].value;
  }

 private:
  pid_t pid_ = -1;
  std::string address_;
  std::string log_path_;
};

// Metric names (not label names) that PromQL in `text` refers to: ours all
// start with tongban_, gRPC's with grpc_server_ / grpc_client_.
std::set<std::string> MetricNamesIn(const std::string& text) {
  static const std::regex kName(R"(\b(tongban_[a-z0-9_]+|grpc_(server|client)_[a-z0-9_]+)\b)");
  std::set<std::string> names;
  for (auto it = std::sregex_iterator(text.begin(), text.end(), kName);
       it != std::sregex_iterator(); ++it) {
    names.insert((*it)[1].str());
  }
  return names;
}

// ---------------------------------------------------------------- the dashboard

struct DashboardQuery {
  std::string panel;
  std::string expr;
};

bool LoadDashboard(google::protobuf::Struct* dashboard, std::string* error) {
  std::string text = ReadFile(Source("docs/grafana/tongban-dashboard.json"));
  if (text.empty()) {
    *error = "cannot read docs/grafana/tongban-dashboard.json";
    return false;
  }
  return ParseJson(text, dashboard, error);
}

std::vector<DashboardQuery> DashboardQueries(const google::protobuf::Struct& dashboard) {
  std::vector<DashboardQuery> out;
  for (const auto& panel : dashboard.fields().at("panels").list_value().values()) {
    const auto& p = panel.struct_value().fields();
    if (p.count("targets") == 0) continue;
    for (const auto& target : p.at("targets").list_value().values()) {
      const auto& t = target.struct_value().fields();
      out.push_back({p.at("title").string_value(),
                     t.count("expr") ? t.at("expr").string_value() : std::string()});
    }
  }
  return out;
}

TEST(OpsDashboard, IsImportableAndEveryQueryParses) {
  std::string promtool = FindOnPath("promtool");
  ASSERT_FALSE(promtool.empty()) << "promtool" << kNotInstalled;
  google::protobuf::Struct dashboard;
  std::string error;
  ASSERT_TRUE(LoadDashboard(&dashboard, &error)) << error;
  const auto& d = dashboard.fields();
  ASSERT_TRUE(d.count("schemaVersion") && d.count("panels") && d.count("templating") &&
              d.count("title") && d.count("uid"));
  EXPECT_GE(d.at("schemaVersion").number_value(), 36);
  EXPECT_LE(d.at("schemaVersion").number_value(), 39);

  // The data source is the variable DS_PROMETHEUS everywhere.
  std::set<std::string> variables;
  for (const auto& v : d.at("templating").struct_value().fields().at("list").list_value().values()) {
    const auto& f = v.struct_value().fields();
    variables.insert(f.at("name").string_value());
    if (f.at("name").string_value() == "DS_PROMETHEUS") {
      EXPECT_EQ(f.at("type").string_value(), "datasource");
      EXPECT_EQ(f.at("query").string_value(), "prometheus");
    }
  }
  EXPECT_TRUE(variables.count("DS_PROMETHEUS"));
  std::set<double> ids;
  int panels = 0;
  for (const auto& panel : d.at("panels").list_value().values()) {
    const auto& p = panel.struct_value().fields();
    EXPECT_TRUE(ids.insert(p.at("id").number_value()).second) << "duplicate panel id";
    if (p.at("type").string_value() == "row") continue;
    ++panels;
    const std::string title = p.at("title").string_value();
    ASSERT_TRUE(p.count("datasource") && p.count("targets") && p.count("gridPos")) << title;
    EXPECT_EQ(p.at("datasource").struct_value().fields().at("uid").string_value(),
              "${DS_PROMETHEUS}") << title;
    for (const auto& target : p.at("targets").list_value().values()) {
      EXPECT_EQ(target.struct_value().fields().at("datasource").struct_value().fields().at("uid")
                    .string_value(),
                "${DS_PROMETHEUS}") << title;
    }
  }
  EXPECT_GE(panels, 15);

  // Every query parses: as recording rules in a file for `promtool check rules`,
  // with Grafana's variables replaced by what they stand for.
  std::string rules = "groups:\n  - name: dashboard\n    rules:\n";
  int n = 0;
  for (const DashboardQuery& q : DashboardQueries(dashboard)) {
    ASSERT_FALSE(q.expr.empty()) << q.panel << ": a target without expr";
    std::string expr = std::regex_replace(q.expr, std::regex(R"(\$__rate_interval)"), "2m");
    expr = std::regex_replace(expr, std::regex(R"(\$job\b)"), "tongban-.*");
    EXPECT_EQ(expr.find('$'), std::string::npos) << q.panel << ": unknown variable in " << q.expr;
    rules += "      - record: dashboard:query_" + std::to_string(++n) + "\n        expr: |\n";
    std::stringstream lines(expr);
    std::string line;
    while (std::getline(lines, line)) rules += "          " + line + "\n";
  }
  std::string dir = MakeTempDir("ops-dashboard");
  ASSERT_TRUE(WriteFile(dir + "/dashboard-queries.yml", rules));
  CommandResult check = RunCommand(ShellQuote(promtool) + " check rules " +
                                   ShellQuote(dir + "/dashboard-queries.yml"));
  EXPECT_EQ(check.exit_code, 0) << check.output << "\n" << rules;
  if (!HasFailure()) {
    std::error_code ignored;
    std::filesystem::remove_all(dir, ignored);
  }
}

// ---------------------------------------------------------------- a federation

std::string Officer(const std::string& province) {
  return "province/" + province + "/officer/officer-01";
}

class OpsFederation : public ::testing::Test {
 protected:
  void SetUp() override {
    FederationOptions options;
    options.name = "ops";
    options.provinces = {kHunan, kShanghai, kGuangdong};
    // Every search is a live fan-out: a killed node is missing at once.
    options.catalog_cache = false;
    // The public edge's metrics are scraped and linted too.
    options.public_edge = true;
    federation_ = std::make_unique<Federation>(options);
    std::string error;
    ASSERT_TRUE(federation_->Start(&error)) << error;
  }

  void TearDown() override {
    if (HasFailure() && federation_ != nullptr) {
      std::cout << federation_->LogTails(3000) << std::endl;
      federation_->KeepWorkdir();
      std::cout << "kept " << federation_->workdir() << " for a post-mortem" << std::endl;
    }
  }

  std::unique_ptr<v1::ApplicationService::Stub> Apps(const std::string& province) {
    return v1::ApplicationService::NewStub(
        FastChannel(federation_->node_address(province), Officer(province)));
  }

  // A federation search through the gateway: the provinces missing from it.
  std::vector<std::string> Search() {
    auto query = v1::FederationQueryService::NewStub(
        FastChannel(federation_->gateway_address(), Officer(kHunan)));
    grpc::ClientContext ctx;
    ctx.set_deadline(DeadlineIn(10000));
    v1::SearchFederationRequest req;
    req.set_query("社会保障");
    req.set_page_size(50);
    v1::SearchFederationResponse resp;
    grpc::Status s = query->SearchFederation(&ctx, req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    std::vector<std::string> missing;
    for (const auto& m : resp.missing_provinces()) missing.push_back(m.province_code());
    return missing;
  }

  // Traffic that creates the series a quiet federation lacks: three filings at
  // Hunan (complete and deficient locally, one handled by Shanghai, so it is
  // forwarded), an escalation, a NOT_FOUND answer, a federation search. Waits
  // until the forwarded application reached Shanghai.
  void MakeTraffic() {
    auto apps = Apps(kHunan);
    auto submit = [&](const std::string& key, const std::string& handling,
                      const std::vector<std::string>& materials) {
      grpc::ClientContext ctx;
      ctx.set_deadline(DeadlineIn(10000));
      v1::SubmitApplicationResponse resp;
      grpc::Status s = apps->SubmitApplication(
          &ctx, Submission(key, kSocialSecurityCard, handling, materials), &resp);
      EXPECT_TRUE(s.ok()) << key << ": " << s.error_message();
      return resp.application();
    };
    v1::Application local = submit("ops-local-complete", kHunan, {"M01", "M02", "M03"});
    submit("ops-local-deficient", kHunan, {"M01", "M02"});
    submit("ops-cross-province", kShanghai, {"M01", "M02", "M03", "M09"});

    grpc::ClientContext escalate_ctx;
    v1::EscalateApplicationRequest escalate;
    escalate.set_application_id(local.application_id());
    escalate.set_reason("两地材料要求不一致");
    v1::EscalateApplicationResponse escalated;
    grpc::Status s = apps->EscalateApplication(&escalate_ctx, escalate, &escalated);
    EXPECT_TRUE(s.ok()) << s.error_message();

    grpc::ClientContext get_ctx;
    v1::GetApplicationRequest get;
    get.set_application_id("TB-430000-430000-20260101-99999999");
    v1::GetApplicationResponse got;
    EXPECT_EQ(apps->GetApplication(&get_ctx, get, &got).error_code(), grpc::StatusCode::NOT_FOUND);

    EXPECT_TRUE(Search().empty());

    const std::string hunan = federation_->node_metrics_address(kHunan);
    const std::string shanghai = federation_->node_metrics_address(kShanghai);
    std::string last;
    EXPECT_TRUE(WaitUntil(seconds(30), [&] {
      std::string h = HttpGet(hunan, "/metrics");
      std::string sh = HttpGet(shanghai, "/metrics");
      last = "Hunan outbox " + std::to_string(MetricValue(h, "tongban_outbox_depth")) +
             ", Shanghai received " +
             std::to_string(MetricValue(
                 sh, "tongban_federation_received_total{kind=\"application\",result=\"new\"}"));
      return MetricValue(h, "tongban_outbox_depth") == 0 &&
             MetricValue(sh, "tongban_federation_received_total{kind=\"application\","
                             "result=\"new\"}") >= 1;
    })) << "the forwarded application did not reach Shanghai: " << last;
  }

  std::unique_ptr<Federation> federation_;
};

// `promtool check metrics` on one endpoint: nothing printed, exit 0.
void ExpectPromtoolClean(const std::string& promtool, const std::string& name,
                         const std::string& exposition, const std::string& dir) {
  ASSERT_FALSE(exposition.empty()) << name << ": empty /metrics";
  std::string file = dir + "/" + name + ".prom";
  ASSERT_TRUE(WriteFile(file, exposition));
  CommandResult lint = RunCommand(ShellQuote(promtool) + " check metrics < " + ShellQuote(file));
  EXPECT_EQ(lint.exit_code, 0) << name << ": promtool check metrics failed:\n" << lint.output;
  EXPECT_EQ(lint.output, "") << name << ": promtool check metrics complains:\n" << lint.output;
}

// The standard process_* series every process exports (common/process_metrics.h).
void ExpectProcessSeries(const std::string& metrics, const std::string& who) {
  EXPECT_GT(MetricValue(metrics, "process_cpu_seconds_total"), 0) << who;
  EXPECT_GT(MetricValue(metrics, "process_resident_memory_bytes"), 1e6) << who;
  EXPECT_GT(MetricValue(metrics, "process_open_fds"), 3) << who;
  EXPECT_GT(MetricValue(metrics, "process_max_fds"), 0) << who;
  EXPECT_GT(MetricValue(metrics, "process_start_time_seconds"), 1.7e9) << who;
  EXPECT_GE(MetricValue(metrics, "process_threads"), 2) << who;
  // The heap allocator the build linked (CMakeLists.txt, tongban_server_allocator).
  EXPECT_NE(metrics.find("allocator=\"" TONGBAN_SERVER_ALLOCATOR "\""), std::string::npos)
      << who << ": tongban_build_info does not name " TONGBAN_SERVER_ALLOCATOR " as the allocator";
  // The allocator's own account of the heap (common/heap_metrics.h).
  EXPECT_GT(MetricValue(metrics, "tongban_heap_bytes{state=\"allocated\"}"), 1e5) << who;
  for (const char* state : {"free_thread_caches", "free_central_caches", "free_pages", "released"}) {
    EXPECT_GE(MetricValue(metrics, std::string("tongban_heap_bytes{state=\"") + state + "\"}"), 0)
        << who << ": no tongban_heap_bytes{state=\"" << state << "\"}";
  }
}

// The last `year` line of the shipped national calendar.
int LastShippedCalendarYear() {
  std::istringstream in(ReadFile(Source("common/working_days/cn-national.tsv")));
  std::string line;
  int last = 0;
  while (std::getline(in, line)) {
    if (line.rfind("year\t", 0) == 0) last = std::max(last, std::atoi(line.c_str() + 5));
  }
  return last;
}

// What TongbanCalendarNotCovering compares with: this year, or the next
// one in December (Prometheus's year() and month(), UTC).
int CalendarYearTheAlertWants() {
  const absl::CivilDay today = absl::ToCivilDay(absl::Now(), absl::UTCTimeZone());
  return static_cast<int>(today.year()) + (today.month() == 12 ? 1 : 0);
}

TEST_F(OpsFederation, MetricsLint) {
  std::string promtool = FindOnPath("promtool");
  ASSERT_FALSE(promtool.empty()) << "promtool" << kNotInstalled;
  MakeTraffic();
  const std::string dir = federation_->workdir();

  for (const std::string& province : federation_->provinces()) {
    std::string metrics = HttpGet(federation_->node_metrics_address(province), "/metrics");
    ExpectPromtoolClean(promtool, "node-" + province, metrics, dir);
    EXPECT_GT(MetricValue(metrics, "tongban_cert_expiry_timestamp_seconds{cert=\"own\"}"), 1.7e9)
        << province;
    EXPECT_GT(MetricValue(metrics, "tongban_cert_expiry_timestamp_seconds{cert=\"ca\"}"), 1.7e9)
        << province;
    EXPECT_EQ(MetricValue(metrics, "tongban_escalations_open"), province == kHunan ? 1 : 0)
        << province;
    ExpectProcessSeries(metrics, "node " + province);
  }
  // Hunan holds the three applications it accepted, none of them finished.
  std::string hunan = HttpGet(federation_->node_metrics_address(kHunan), "/metrics");
  double open = 0;
  for (const char* state :
       {"received", "pending_supplement", "accepted", "in_review", "waiting_for_materials"}) {
    double v = MetricValue(hunan, std::string("tongban_applications_open{state=\"") + state + "\"}");
    EXPECT_GE(v, 0) << state << " missing";
    open += v;
  }
  EXPECT_EQ(open, 3);

  std::string gateway = HttpGet(federation_->gateway_metrics_address(), "/metrics");
  ExpectPromtoolClean(promtool, "gateway", gateway, dir);
  EXPECT_GT(MetricValue(gateway, "tongban_cert_expiry_timestamp_seconds{cert=\"own\"}"), 1.7e9);
  EXPECT_GT(MetricValue(gateway, "tongban_cert_expiry_timestamp_seconds{cert=\"ca\"}"), 1.7e9);
  ExpectProcessSeries(gateway, "gateway");

  // A partial answer adds the series of missing provinces: still clean.
  federation_->KillNode(kGuangdong);
  EXPECT_TRUE(WaitUntil(seconds(10), [&] {
    return Search() == std::vector<std::string>{kGuangdong};
  }, milliseconds(200)));
  gateway = HttpGet(federation_->gateway_metrics_address(), "/metrics");
  EXPECT_GE(MetricValue(gateway, "tongban_gateway_fanout_missing_province_total{province=\"440000\"}"),
            1);
  EXPECT_GE(MetricValue(gateway, "tongban_gateway_fanout_partial_total{method=\"SearchFederation\"}"),
            1);
  ExpectPromtoolClean(promtool, "gateway-partial", gateway, dir);
}

TEST_F(OpsFederation, PrometheusScrape) {
  std::string binary = FindOnPath("prometheus");
  ASSERT_FALSE(binary.empty()) << "prometheus" << kNotInstalled;
  const auto started = std::chrono::steady_clock::now();

  // The scheme of docs/prometheus/prometheus.yml: one job per node, named
  // tongban-node-<code>; the alert rules loaded; everything every second.
  std::string config =
      "global: {scrape_interval: 1s, scrape_timeout: 1s, evaluation_interval: 1s}\n"
      "rule_files: [" + Source("docs/prometheus/tongban-alerts.yml") + "]\n"
      "scrape_configs:\n"
      "  - job_name: tongban-gateway\n"
      "    static_configs:\n"
      "      - targets: [\"" + federation_->gateway_metrics_address() + "\"]\n"
      "  - job_name: tongban-node\n"
      "    static_configs:\n";
  for (const std::string& province : federation_->provinces()) {
    config += "      - targets: [\"" + federation_->node_metrics_address(province) +
              "\"]\n        labels: {job: tongban-node-" + province + "}\n";
  }
  const std::string dir = federation_->workdir() + "/prometheus";
  mkdir(dir.c_str(), 0755);
  ASSERT_TRUE(WriteFile(dir + "/prometheus.yml", config));
  PrometheusServer prometheus;
  std::string error;
  ASSERT_TRUE(prometheus.Start(binary, dir + "/prometheus.yml", dir, &error)) << error;

  // Every target scraped successfully, under the job the alerts expect.
  std::set<std::string> expected_jobs = {"tongban-gateway"};
  for (const std::string& p : federation_->provinces()) expected_jobs.insert("tongban-node-" + p);
  std::string seen;
  ASSERT_TRUE(WaitUntil(seconds(60), [&] {
    google::protobuf::Value data;
    if (!prometheus.Api("targets?state=active", &data, &seen)) return false;
    std::set<std::string> up;
    seen.clear();
    for (const auto& t : data.struct_value().fields().at("activeTargets").list_value().values()) {
      const auto& f = t.struct_value().fields();
      const std::string job = f.at("labels").struct_value().fields().at("job").string_value();
      const std::string health = f.at("health").string_value();
      seen += job + "=" + health + " " + f.at("lastError").string_value() + "; ";
      if (health == "up") up.insert(job);
    }
    return up == expected_jobs;
  }, milliseconds(250))) << "targets: " << seen << "\n" << prometheus.LogTail();
  std::cout << "all targets up "
            << std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now() - started)
                   .count()
            << " ms after prometheus started" << std::endl;

  // The gateway routes to every node.
  for (const std::string& province : federation_->provinces()) {
    double v = 0;
    EXPECT_TRUE(WaitUntil(seconds(10), [&] {
      v = prometheus.Single("tongban_gateway_node_up{province=\"" + province + "\"}", &seen);
      return v == 1;
    }, milliseconds(250))) << seen;
  }

  // Counters move with traffic: compare with the values scraped before it.
  const std::string submitted = "sum(tongban_applications_submitted_total)";
  const std::string submit_calls =
      "sum(grpc_server_handled_total{grpc_method=\"SubmitApplication\", grpc_code=\"OK\"})";
  const std::string searches =
      "sum(grpc_server_handled_total{job=\"tongban-gateway\", grpc_method=\"SearchFederation\"})";
  const double submitted_before = prometheus.Single(submitted, &seen);
  ASSERT_FALSE(std::isnan(submitted_before)) << seen;
  const double submit_calls_before = prometheus.Single(submit_calls, &seen);
  ASSERT_FALSE(std::isnan(submit_calls_before)) << seen;
  const double searches_before = prometheus.Single(searches, &seen);
  ASSERT_FALSE(std::isnan(searches_before)) << seen;

  MakeTraffic();
  ASSERT_FALSE(HasFailure());
  std::map<std::string, double> now;
  auto all_seen = [&] {
    std::string s;
    for (const auto& [q, v] : now) s += q + " = " + std::to_string(v) + "\n";
    return s;
  };
  EXPECT_TRUE(WaitUntil(seconds(20), [&] {
    for (const std::string& q :
         {submitted, submit_calls, searches,
          std::string("sum(increase(tongban_applications_submitted_total{job=\"tongban-node-430000\"}[1m]))"),
          std::string("tongban_escalations_open{job=\"tongban-node-430000\"}"),
          std::string("sum(tongban_federation_received_total{job=\"tongban-node-310000\", "
                      "kind=\"application\", result=\"new\"})")}) {
      now[q] = prometheus.Single(q, &seen);
    }
    return now[submitted] >= submitted_before + 3 && now[submit_calls] >= submit_calls_before + 3 &&
           now[searches] >= searches_before + 1 &&
           now["sum(increase(tongban_applications_submitted_total{job=\"tongban-node-430000\"}[1m]))"] > 0 &&
           now["tongban_escalations_open{job=\"tongban-node-430000\"}"] == 1 &&
           now["sum(tongban_federation_received_total{job=\"tongban-node-310000\", "
               "kind=\"application\", result=\"new\"})"] >= 1;
  }, milliseconds(250))) << "before: submitted " << submitted_before << ", SubmitApplication OK "
                         << submit_calls_before << ", searches " << searches_before << "\nnow:\n"
                         << all_seen();

  // A node goes down: Prometheus sees it, TongbanNodeDown goes pending (it
  // fires after 2 minutes), the gateway counts the partial answer.
  federation_->KillNode(kGuangdong);
  EXPECT_TRUE(WaitUntil(seconds(10), [&] {
    return Search() == std::vector<std::string>{kGuangdong};
  }, milliseconds(200)));
  EXPECT_TRUE(WaitUntil(seconds(20), [&] {
    now.clear();
    for (const std::string& q :
         {std::string("up{job=\"tongban-node-440000\"}"),
          std::string("count(ALERTS{alertname=\"TongbanNodeDown\", job=\"tongban-node-440000\"})"),
          std::string("sum(tongban_gateway_fanout_missing_province_total{province=\"440000\"})")}) {
      now[q] = prometheus.Single(q, &seen);
    }
    return now["up{job=\"tongban-node-440000\"}"] == 0 &&
           now["count(ALERTS{alertname=\"TongbanNodeDown\", job=\"tongban-node-440000\"})"] == 1 &&
           now["sum(tongban_gateway_fanout_missing_province_total{province=\"440000\"})"] >= 1;
  }, milliseconds(250))) << all_seen();

  // Every metric the alerts and the dashboard use is one the federation exposes.
  google::protobuf::Value names_value;
  ASSERT_TRUE(prometheus.Api("label/__name__/values", &names_value, &error)) << error;
  std::set<std::string> names;
  for (const auto& v : names_value.list_value().values()) names.insert(v.string_value());
  google::protobuf::Struct dashboard;
  ASSERT_TRUE(LoadDashboard(&dashboard, &error)) << error;
  std::string dashboard_queries;
  for (const DashboardQuery& q : DashboardQueries(dashboard)) dashboard_queries += q.expr + "\n";
  for (const auto& [what, text] :
       std::vector<std::pair<std::string, std::string>>{
           {"docs/prometheus/tongban-alerts.yml",
            ReadFile(Source("docs/prometheus/tongban-alerts.yml"))},
           {"docs/grafana/tongban-dashboard.json", dashboard_queries}}) {
    std::set<std::string> used = MetricNamesIn(text);
    EXPECT_GE(used.size(), 5u) << what;
    for (const std::string& name : used) {
      EXPECT_TRUE(names.count(name)) << what << " uses " << name
                                     << ", which no Tongban process exposes";
    }
  }

  // Nothing else alerts: only what the killed node explains.
  std::vector<Sample> alerts;
  ASSERT_TRUE(prometheus.Query("ALERTS", &alerts, &error)) << error;
  std::set<std::string> explained = {"TongbanNodeDown", "TongbanGatewayNodeEjected",
                                     "TongbanFanoutPartialResults"};
  // The shipped working-day calendar ends with the last year the State
  // Council has published; in December (or later) the alert asking for the
  // next year's schedule is right to be pending, as on a real federation.
  if (LastShippedCalendarYear() < CalendarYearTheAlertWants()) {
    explained.insert("TongbanCalendarNotCovering");
  }
  for (const Sample& a : alerts) {
    EXPECT_TRUE(explained.count(a.labels.at("alertname")))
        << a.labels.at("alertname") << " is " << a.labels.at("alertstate") << " for "
        << a.labels.count("job") << " " << (a.labels.count("job") ? a.labels.at("job") : "");
  }
  std::cout << "prometheus test done in "
            << std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now() - started)
                   .count()
            << " ms" << std::endl;
}

}  // namespace
}  // namespace tongban::testing

// A filter that matches no test must fail (CTest runs these by name).
int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  int rc = RUN_ALL_TESTS();
  if (::testing::UnitTest::GetInstance()->test_to_run_count() == 0) {
    std::fprintf(stderr, "no test matched --gtest_filter\n");
    return 1;
  }
  return rc;
}
