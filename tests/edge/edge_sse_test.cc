// Live status on the REST face, as a browser's EventSource or `curl -N`
// sees it: Server-Sent Events from GET /v1/applications/{id}/events on a
// real federation (gateway with the public edge, Hunan 430000 and Shanghai
// 310000, mTLS between them). The real `curl` binary streams; the test reads
// its output as it arrives and acts on what it saw (no sleeping): the
// history, a decision made in Shanghai arriving as an event, heartbeats with
// the resume point, a reconnection with Last-Event-ID that continues with
// the next event only, over HTTP/1.1 and HTTP/2; and the refusals with their
// HTTP statuses (401, 404 for another citizen's application, 400 for a
// malformed Last-Event-ID, 429 over the per-citizen watch limit).
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <memory>
#include <mutex>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "child_process.h"
#include "citizen_token.h"
#include "federation.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "node_process.h"
#include "resident_id.h"
#include "tongban/v1/application.grpc.pb.h"

namespace tongban::testing {
namespace {

using std::chrono::seconds;

constexpr char kHunan[] = "430000";
constexpr char kShanghai[] = "310000";

std::string Token(const std::string& citizen) { return TestCitizenToken(citizen); }

// `curl -N` as a child process whose output the test reads as it arrives.
class CurlStream {
 public:
  explicit CurlStream(std::vector<std::string> args) {
    int out[2];
    if (pipe(out) != 0) {
      ADD_FAILURE() << "pipe failed";
      return;
    }
    pid_ = fork();
    if (pid_ == 0) {
      dup2(out[1], 1);
      dup2(out[1], 2);
      close(out[0]);
      close(out[1]);
      int devnull = open("/dev/null", O_RDONLY);
      dup2(devnull, 0);
      std::vector<char*> argv;
      for (std::string& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      execvp(argv[0], argv.data());
      _exit(127);
    }
    close(out[1]);
    fd_ = out[0];
    reader_ = std::thread([this] {
      char buf[4096];
      for (;;) {
        ssize_t n = read(fd_, buf, sizeof(buf));
        if (n <= 0) break;
        std::lock_guard<std::mutex> lock(mu_);
        text_.append(buf, static_cast<size_t>(n));
        cv_.notify_all();
      }
      std::lock_guard<std::mutex> lock(mu_);
      eof_ = true;
      cv_.notify_all();
    });
  }
  ~CurlStream() {
    Kill();
    if (reader_.joinable()) reader_.join();
    if (fd_ >= 0) close(fd_);
  }
  // Waits until the output matches `pattern` (or curl ended / 60 s passed).
  bool WaitFor(const std::string& pattern) {
    const std::regex re(pattern);
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, seconds(60), [&] { return eof_ || std::regex_search(text_, re); });
    return std::regex_search(text_, re);
  }
  bool WaitEof() {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, seconds(60), [&] { return eof_; });
  }
  std::string text() {
    std::lock_guard<std::mutex> lock(mu_);
    return text_;
  }
  void Kill() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
      pid_ = -1;
    }
  }

 private:
  pid_t pid_ = -1;
  int fd_ = -1;
  std::thread reader_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::string text_;
  bool eof_ = false;
};

// The events' ids and actions, in order ("id: 3" … "APPLICATION_ACTION_ACCEPT").
struct SseEvent {
  std::string id;
  std::string type;
  std::string data;
};
std::vector<SseEvent> ParseEvents(const std::string& text) {
  std::vector<SseEvent> events;
  std::istringstream in(text);
  std::string line;
  SseEvent current;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.rfind("id: ", 0) == 0) current.id = line.substr(4);
    if (line.rfind("event: ", 0) == 0) current.type = line.substr(7);
    if (line.rfind("data: ", 0) == 0) current.data += line.substr(6);
    if (line.empty() && !current.type.empty()) {
      events.push_back(current);
      current = SseEvent();
    }
  }
  return events;
}

class EdgeSseTest : public ::testing::Test {
 protected:
  void SetUp() override {
    FederationOptions options;
    options.name = "edge-sse";
    options.provinces = {kHunan, kShanghai};
    options.public_edge = true;
    options.public_edge_extra = {"watch_heartbeat_seconds: 1", "max_watches_per_citizen: 2"};
    federation_ = std::make_unique<Federation>(options);
    std::string error;
    ASSERT_TRUE(federation_->Start(&error)) << "the federation did not start: " << error;
    citizen_ = MakeResidentId("43010219900307051");
    token_ = Token(citizen_);
  }
  void TearDown() override {
    if (HasFailure() && federation_ != nullptr) {
      std::cout << federation_->LogTails(3000) << std::endl;
      federation_->KeepWorkdir();
    }
  }

  std::string Url(const std::string& path) {
    return "https://" + federation_->https_address() + path;
  }
  std::vector<std::string> Curl() { return {"curl", "-sS", "--cacert", CertsDir() + "/ca/ca.pem"}; }

  // Files through POST /v1/applications; the id.
  std::string File() {
    std::string body =
        R"({"idempotencyKey":"sse-0001","acceptingProvince":"430000","handlingProvince":"310000",)"
        R"("itemCode":"GG00020600","applicant":{"name":"张三"},"materials":[)";
    const std::string sha(64, 'a');
    bool first = true;
    for (const char* m : {"M01", "M02", "M03", "M09"}) {
      body += std::string(first ? "" : ",") + R"({"materialId":")" + m + R"(","contentSha256":")" +
              sha + R"(","sizeBytes":"1000","mediaType":"application/pdf"})";
      first = false;
    }
    body += "]}";
    std::vector<std::string> args = Curl();
    args.insert(args.end(),
                {"--max-time", "30", "-H", "Authorization: Bearer " + token_, "-H",
                 "Content-Type: application/json", "--data-binary", body, Url("/v1/applications")});
    ProcessResult p = RunProcess(args);
    EXPECT_EQ(p.exit_code, 0) << p.err;
    std::smatch m;
    const std::regex id_re("\"applicationId\":\"(TB-[0-9-]+)\"");
    EXPECT_TRUE(std::regex_search(p.out, m, id_re)) << p.out;
    return m.size() > 1 ? m[1].str() : "";
  }

  grpc::Status Decide(const std::string& id, v1::ApplicationAction action) {
    auto stub = v1::ApplicationService::NewStub(
        FastChannel(federation_->node_address(kShanghai), "province/310000/officer/officer-01"));
    grpc::ClientContext ctx;
    ctx.set_deadline(DeadlineIn(10000));
    v1::DecideApplicationRequest req;
    req.set_application_id(id);
    req.set_action(action);
    v1::DecideApplicationResponse resp;
    return stub->DecideApplication(&ctx, req, &resp);
  }

  bool Delivered(const std::string& id) {
    auto stub = v1::ApplicationService::NewStub(
        FastChannel(federation_->node_address(kShanghai), "province/310000/officer/officer-01"));
    grpc::ClientContext ctx;
    ctx.set_deadline(DeadlineIn(5000));
    v1::GetApplicationRequest req;
    req.set_application_id(id);
    v1::GetApplicationResponse resp;
    return stub->GetApplication(&ctx, req, &resp).ok();
  }

  std::unique_ptr<CurlStream> Watch(const std::string& id, const std::string& http_version,
                                    const std::string& last_event_id = "") {
    std::vector<std::string> args = Curl();
    args.insert(args.end(), {"-N", "-i", http_version, "-H", "Authorization: Bearer " + token_});
    if (!last_event_id.empty()) args.insert(args.end(), {"-H", "Last-Event-ID: " + last_event_id});
    args.push_back(Url("/v1/applications/" + id + "/events"));
    return std::make_unique<CurlStream>(args);
  }

  // A request that answers at once: its status code and body.
  std::pair<int, std::string> Status(const std::string& path, const std::string& token,
                                     const std::vector<std::string>& headers = {}) {
    std::vector<std::string> args = Curl();
    args.insert(args.end(), {"--max-time", "30", "-w", "\n%{http_code}"});
    if (!token.empty()) args.insert(args.end(), {"-H", "Authorization: Bearer " + token});
    for (const std::string& h : headers) args.insert(args.end(), {"-H", h});
    args.push_back(Url(path));
    ProcessResult p = RunProcess(args);
    const size_t nl = p.out.rfind('\n');
    return {std::atoi(p.out.substr(nl + 1).c_str()), p.out.substr(0, nl)};
  }

  std::unique_ptr<Federation> federation_;
  std::string citizen_;
  std::string token_;
};

TEST_F(EdgeSseTest, EventsArriveAsTheyHappenAndLastEventIdResumes) {
  const std::string id = File();
  ASSERT_FALSE(id.empty());
  ASSERT_TRUE(WaitUntil(seconds(30), [&] { return Delivered(id); })) << "never delivered";

  // HTTP/1.1: the history, then Shanghai's decision as it happens.
  auto first = Watch(id, "--http1.1");
  ASSERT_TRUE(
      first->WaitFor("id: 1\nevent: application-event\ndata: [^\n]*APPLICATION_ACTION_SUBMIT"))
      << first->text();
  std::string head = first->text();
  for (char& c : head) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  EXPECT_NE(head.find("http/1.1 200"), std::string::npos) << head;
  EXPECT_NE(head.find("content-type: text/event-stream"), std::string::npos) << head;
  EXPECT_NE(head.find("retry: 3000"), std::string::npos) << head;
  ASSERT_TRUE(Decide(id, v1::APPLICATION_ACTION_ACCEPT).ok());
  ASSERT_TRUE(first->WaitFor("event: application-event\ndata: [^\n]*APPLICATION_ACTION_ACCEPT"))
      << first->text();
  ASSERT_TRUE(first->WaitFor("event: heartbeat")) << first->text();
  first->Kill();
  std::vector<SseEvent> seen = ParseEvents(first->text());
  std::string last;
  int expected = 1;
  for (const SseEvent& e : seen) {
    if (e.type == "application-event") {
      EXPECT_EQ(e.id, std::to_string(expected++)) << "consecutive ids";
      last = e.id;
    } else {
      EXPECT_EQ(e.type, "heartbeat");
      EXPECT_EQ(e.id, last) << "a heartbeat's id is the last event's";
      EXPECT_NE(e.data.find("\"heartbeat\":true"), std::string::npos) << e.data;
    }
  }
  ASSERT_FALSE(last.empty());

  // HTTP/2, reconnecting as EventSource does: only what follows.
  auto second = Watch(id, "--http2", last);
  ASSERT_TRUE(second->WaitFor("event: heartbeat")) << second->text();
  EXPECT_NE(second->text().find("HTTP/2 200"), std::string::npos) << second->text();
  ASSERT_TRUE(Decide(id, v1::APPLICATION_ACTION_START_REVIEW).ok());
  const std::string next = std::to_string(std::stoi(last) + 1);
  ASSERT_TRUE(second->WaitFor(
      "id: " + next + "\nevent: application-event\ndata: [^\n]*APPLICATION_ACTION_START_REVIEW"))
      << second->text();
  second->Kill();
  for (const SseEvent& e : ParseEvents(second->text())) {
    if (e.type == "application-event") {
      EXPECT_GE(std::stoi(e.id), std::stoi(next)) << "resumed events are never repeated";
    }
  }
}

TEST_F(EdgeSseTest, RefusalsAnswerWithTheirHttpStatus) {
  const std::string id = File();
  ASSERT_FALSE(id.empty());
  const std::string path = "/v1/applications/" + id + "/events";
  auto [no_token, body401] = Status(path, "");
  EXPECT_EQ(no_token, 401) << body401;
  auto [other, body404] = Status(path, Token(MakeResidentId("11010119900307447")));
  EXPECT_EQ(other, 404) << body404;
  auto [bad_id, body400] = Status(path, token_, {"Last-Event-ID: x"});
  EXPECT_EQ(bad_id, 400) << body400;
  EXPECT_NE(body400.find("Last-Event-ID"), std::string::npos) << body400;
  auto [beyond, body_beyond] = Status(path + "?afterSequence=999", token_);
  EXPECT_EQ(beyond, 400) << body_beyond;
  EXPECT_NE(body_beyond.find("OUT_OF_RANGE"), std::string::npos) << body_beyond;

  // Two watches per citizen here: the third is 429 naming the limit.
  auto a = Watch(id, "--http1.1");
  auto b = Watch(id, "--http2");
  ASSERT_TRUE(a->WaitFor("id: 1\n")) << a->text();
  ASSERT_TRUE(b->WaitFor("id: 1\n")) << b->text();
  auto [third, body429] = Status(path, token_);
  EXPECT_EQ(third, 429) << body429;
  EXPECT_NE(body429.find("public_edge.max_watches_per_citizen = 2"), std::string::npos) << body429;
  // A closed watch gives its place back (the gateway notices the closed
  // connection at its next write, a heartbeat).
  a->Kill();
  EXPECT_TRUE(WaitUntil(seconds(30), [&] {
    return MetricValue(HttpGet(federation_->gateway_metrics_address(), "/metrics"),
                       "tongban_edge_watches_open") == 1;
  }));
  auto c = Watch(id, "--http1.1");
  EXPECT_TRUE(c->WaitFor("id: 1\n")) << c->text();
}

}  // namespace
}  // namespace tongban::testing
