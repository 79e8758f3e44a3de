// The event-driven HTTPS server against hostile and ordinary clients, in
// process, on loopback, with the test PKI: framing, limits, timeouts,
// pipelining, HTTP/2, TLS suites and HSTS. Clients speak raw bytes over
// OpenSSL so that malformed requests reach the server exactly as written.
#include "https_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/notification.h"
#include "child_process.h"
#include "gtest/gtest.h"

namespace tongban::edge {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using tongban::testing::ProcessResult;
using tongban::testing::RunProcess;

std::string Certs() { return TONGBAN_TEST_CERTS_DIR; }

// A raw TCP (and optionally TLS) client with blocking I/O bounded by a
// receive timeout, so that no test waits forever.
class RawClient {
 public:
  struct Options {
    std::string source = "127.0.0.1";  // loopback has 127.0.0.0/8: distinct client addresses
    bool tls = true;
    int max_tls_version = 0;  // e.g. TLS1_2_VERSION
    std::string ciphers;      // TLS 1.2 cipher list
    milliseconds receive_timeout = milliseconds(20000);
  };

  RawClient() = default;
  ~RawClient() { Close(); }

  // False when TCP connect fails; `handshake_ok` tells about TLS.
  bool Connect(int port, const Options& o) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    if (fd_ < 0) return false;
    timeval tv{static_cast<time_t>(o.receive_timeout.count() / 1000),
               static_cast<suseconds_t>((o.receive_timeout.count() % 1000) * 1000)};
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    int one = 1;
    setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    sockaddr_in src{};
    src.sin_family = AF_INET;
    inet_pton(AF_INET, o.source.c_str(), &src.sin_addr);
    if (bind(fd_, reinterpret_cast<sockaddr*>(&src), sizeof src) != 0) return false;
    sockaddr_in dst{};
    dst.sin_family = AF_INET;
    dst.sin_port = htons(static_cast<uint16_t>(port));
    inet_pton(AF_INET, "127.0.0.1", &dst.sin_addr);
    if (connect(fd_, reinterpret_cast<sockaddr*>(&dst), sizeof dst) != 0) return false;
    if (!o.tls) return true;
    ctx_ = SSL_CTX_new(TLS_client_method());
    SSL_CTX_load_verify_locations(ctx_, (Certs() + "/ca/ca.pem").c_str(), nullptr);
    SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER, nullptr);
    if (o.max_tls_version != 0) SSL_CTX_set_max_proto_version(ctx_, o.max_tls_version);
    if (!o.ciphers.empty()) SSL_CTX_set_cipher_list(ctx_, o.ciphers.c_str());
    ssl_ = SSL_new(ctx_);
    SSL_set_fd(ssl_, fd_);
    handshake_ok_ = SSL_connect(ssl_) == 1;
    return true;
  }

  bool handshake_ok() const { return handshake_ok_; }

  // False once the peer has closed or reset.
  bool Send(const std::string& data) {
    size_t done = 0;
    while (done < data.size()) {
      const int n = ssl_ != nullptr
                        ? SSL_write(ssl_, data.data() + done, static_cast<int>(data.size() - done))
                        : static_cast<int>(send(fd_, data.data() + done, data.size() - done,
                                                MSG_NOSIGNAL));
      if (n <= 0) return false;
      done += static_cast<size_t>(n);
    }
    return true;
  }

  // Reads what arrives until the peer closes (true) or the receive timeout
  // passes (false), or `enough` says the bytes so far suffice (true).
  bool ReadUntilClosed(std::string* out,
                       const std::function<bool(const std::string&)>& enough = nullptr) {
    char buf[16384];
    for (;;) {
      if (enough && enough(*out)) return true;
      const int n = ssl_ != nullptr ? SSL_read(ssl_, buf, sizeof buf)
                                    : static_cast<int>(recv(fd_, buf, sizeof buf, 0));
      if (n > 0) {
        out->append(buf, static_cast<size_t>(n));
        continue;
      }
      if (ssl_ != nullptr) {
        const int e = SSL_get_error(ssl_, n);
        if (e == SSL_ERROR_ZERO_RETURN) return true;
        if (e == SSL_ERROR_SYSCALL && (errno == EAGAIN || errno == EWOULDBLOCK)) return false;
        return true;  // reset or EOF without close_notify: closed all the same
      }
      if (n == 0) return true;
      return !(errno == EAGAIN || errno == EWOULDBLOCK);
    }
  }

  void Close() {
    if (ssl_ != nullptr) SSL_free(ssl_);
    if (ctx_ != nullptr) SSL_CTX_free(ctx_);
    if (fd_ >= 0) ::close(fd_);
    ssl_ = nullptr;
    ctx_ = nullptr;
    fd_ = -1;
  }

 private:
  int fd_ = -1;
  SSL_CTX* ctx_ = nullptr;
  SSL* ssl_ = nullptr;
  bool handshake_ok_ = false;
};

// Complete HTTP/1.1 responses in `data` (by Content-Length), as status + body.
struct ParsedResponse {
  int status = 0;
  std::string head;
  std::string body;
};
std::vector<ParsedResponse> ParseResponses(const std::string& data) {
  std::vector<ParsedResponse> out;
  size_t at = 0;
  while (at < data.size()) {
    const size_t end = data.find("\r\n\r\n", at);
    if (end == std::string::npos) break;
    ParsedResponse r;
    r.head = data.substr(at, end - at);
    if (!absl::SimpleAtoi(r.head.substr(9, 3), &r.status)) break;
    size_t length = 0;
    for (absl::string_view line : absl::StrSplit(r.head, "\r\n")) {
      if (absl::StartsWithIgnoreCase(line, "content-length:")) {
        absl::SimpleAtoi(absl::StripAsciiWhitespace(line.substr(15)), &length);
      }
    }
    if (end + 4 + length > data.size()) break;
    r.body = data.substr(end + 4, length);
    out.push_back(std::move(r));
    at = end + 4 + length;
  }
  return out;
}

std::function<bool(const std::string&)> Responses(size_t n) {
  return [n](const std::string& data) { return ParseResponses(data).size() >= n; };
}

std::string Get(const std::string& path, const std::string& extra = "") {
  return "GET " + path + " HTTP/1.1\r\nHost: edge.test\r\n" + extra + "\r\n";
}

class HttpsServerTest : public ::testing::Test {
 protected:
  // Starts a server with `tune` applied to test-friendly options.
  void StartServer(const std::function<void(HttpsServerOptions&)>& tune = nullptr) {
    // A client writing to a connection the server closed gets EPIPE, not a signal.
    signal(SIGPIPE, SIG_IGN);
    absl::StatusOr<std::shared_ptr<WatchedKeyPair>> pair = WatchedKeyPair::Load(
        Certs() + "/gateway/cert.pem", Certs() + "/gateway/key.pem", absl::Seconds(60));
    ASSERT_TRUE(pair.ok()) << pair.status();
    HttpsServerOptions o;
    o.listen_address = "127.0.0.1:0";
    o.certificate = *pair;
    o.worker_threads = 4;
    // Long enough that an answer before them is not a timeout's doing.
    o.header_timeout = absl::Seconds(60);
    o.body_timeout = absl::Seconds(60);
    o.keep_alive_timeout = absl::Seconds(60);
    if (tune) tune(o);
    absl::StatusOr<std::unique_ptr<HttpsServer>> s = HttpsServer::Start(
        o,
        [this](const HttpRequest& r) {
          if (r.target == "/block") {
            ++blocked_;
            unblock_.WaitForNotification();
          }
          ++handled_;
          HttpResponse res;
          res.headers.emplace_back("Content-Type", "text/plain");
          res.body = absl::StrCat(r.method, " ", r.target, " ", r.body.size(), " ",
                                  r.http2 ? "h2" : "h1", " ", r.remote_address);
          return res;
        },
        [](int status, const std::string& message, const HttpRequest&) {
          HttpResponse res;
          res.status = status;
          res.body = message;
          return res;
        });
    ASSERT_TRUE(s.ok()) << s.status();
    server_ = std::move(*s);
    const std::string a = server_->address();
    ASSERT_TRUE(absl::SimpleAtoi(a.substr(a.rfind(':') + 1), &port_));
  }

  // One request on a fresh connection from `source`; the parsed answer.
  ParsedResponse Fetch(const std::string& request, const std::string& source = "127.0.0.1") {
    RawClient c;
    RawClient::Options o;
    o.source = source;
    EXPECT_TRUE(c.Connect(port_, o));
    EXPECT_TRUE(c.handshake_ok());
    EXPECT_TRUE(c.Send(request));
    std::string data;
    c.ReadUntilClosed(&data, Responses(1));
    std::vector<ParsedResponse> r = ParseResponses(data);
    return r.empty() ? ParsedResponse{} : r[0];
  }

  // Polls the server's statistics (the readiness signal for connection
  // bookkeeping, which happens on the server's threads).
  bool WaitFor(const std::function<bool(const HttpsServerStats&)>& done) {
    const auto deadline = std::chrono::steady_clock::now() + seconds(20);
    while (std::chrono::steady_clock::now() < deadline) {
      if (done(server_->stats())) return true;
      std::this_thread::sleep_for(milliseconds(20));
    }
    return false;
  }

  // A test that failed half-way must not leave handlers blocked in Stop.
  void TearDown() override {
    if (!unblock_.HasBeenNotified()) unblock_.Notify();
    server_.reset();
  }

  std::unique_ptr<HttpsServer> server_;
  int port_ = 0;
  std::atomic<int> handled_{0};
  std::atomic<int> blocked_{0};     // handlers waiting in /block
  absl::Notification unblock_;      // lets them answer
};

TEST_F(HttpsServerTest, KeepAliveRequestsAreServedWithHsts) {
  StartServer();
  RawClient c;
  ASSERT_TRUE(c.Connect(port_, {}));
  ASSERT_TRUE(c.handshake_ok());
  ASSERT_TRUE(c.Send(Get("/a")));
  std::string data;
  ASSERT_TRUE(c.ReadUntilClosed(&data, Responses(1)));
  ASSERT_TRUE(c.Send(Get("/b")));
  ASSERT_TRUE(c.ReadUntilClosed(&data, Responses(2)));
  std::vector<ParsedResponse> r = ParseResponses(data);
  ASSERT_EQ(r.size(), 2u) << data;
  EXPECT_EQ(r[0].status, 200);
  EXPECT_TRUE(absl::StartsWith(r[0].body, "GET /a 0 h1 127.0.0.1")) << r[0].body;
  EXPECT_TRUE(absl::StartsWith(r[1].body, "GET /b 0 h1")) << r[1].body;
  EXPECT_TRUE(absl::StrContains(r[0].head, "Strict-Transport-Security: max-age=31536000"))
      << r[0].head;
}

TEST_F(HttpsServerTest, PipelinedRequestsAreAnsweredInOrder) {
  StartServer();
  RawClient c;
  ASSERT_TRUE(c.Connect(port_, {}));
  const std::string post =
      "POST /second HTTP/1.1\r\nHost: edge.test\r\nContent-Length: 5\r\n\r\nhello";
  ASSERT_TRUE(c.Send(Get("/first") + post + Get("/third", "Connection: close\r\n")));
  std::string data;
  ASSERT_TRUE(c.ReadUntilClosed(&data));
  std::vector<ParsedResponse> r = ParseResponses(data);
  ASSERT_EQ(r.size(), 3u) << data;
  EXPECT_TRUE(absl::StartsWith(r[0].body, "GET /first 0")) << r[0].body;
  EXPECT_TRUE(absl::StartsWith(r[1].body, "POST /second 5")) << r[1].body;
  EXPECT_TRUE(absl::StartsWith(r[2].body, "GET /third 0")) << r[2].body;
}

// Every framing two parsers could read differently: 400 at once (long
// before any timeout of this server) and the connection closed, the
// handler never reached.
TEST_F(HttpsServerTest, AmbiguousFramingIs400AtOnceAndTheConnectionCloses) {
  StartServer();
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"two Content-Length values",
       "POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nabc"},
      {"the same Content-Length twice",
       "POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nab"},
      {"a Content-Length list", "POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 2, 2\r\n\r\nab"},
      {"space before the colon",
       "POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n"},
      {"signed Content-Length", "POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: +2\r\n\r\nab"},
      {"unknown transfer coding",
       "POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\nab"},
      {"chunked not last",
       "POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n"},
      {"Transfer-Encoding and Content-Length",
       "POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n"
       "0\r\n\r\n"},
      {"no Host", "GET /x HTTP/1.1\r\nAccept: */*\r\n\r\n"},
      {"two Hosts", "GET /x HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"},
      {"bare LF line ends", "GET /x HTTP/1.1\nHost: a\n\n"},
      {"absolute-form target", "GET http://evil.test/x HTTP/1.1\r\nHost: a\r\n\r\n"},
      {"Transfer-Encoding in HTTP/1.0",
       "POST /x HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"},
      {"a control character in a value", "GET /x HTTP/1.1\r\nHost: a\r\nX-A: b\x01c\r\n\r\n"},
      {"a malformed chunk size",
       "POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nab\r\n0\r\n\r\n"},
  };
  for (const auto& [name, request] : cases) {
    RawClient c;
    ASSERT_TRUE(c.Connect(port_, {}));
    ASSERT_TRUE(c.handshake_ok());
    ASSERT_TRUE(c.Send(request)) << name;
    std::string data;
    EXPECT_TRUE(c.ReadUntilClosed(&data)) << name << ": not closed before the client's deadline";
    std::vector<ParsedResponse> r = ParseResponses(data);
    ASSERT_EQ(r.size(), 1u) << name << ":\n" << data;
    EXPECT_EQ(r[0].status, 400) << name << ":\n" << data;
    EXPECT_FALSE(r[0].body.empty()) << name;
    EXPECT_TRUE(absl::StrContains(r[0].head, "Connection: close")) << name << ":\n" << data;
  }
  EXPECT_EQ(handled_, 0);
  // A well-framed chunked body is fine.
  ParsedResponse ok = Fetch(
      "POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n");
  EXPECT_EQ(ok.status, 200);
  EXPECT_TRUE(absl::StartsWith(ok.body, "POST /x 3")) << ok.body;
}

TEST_F(HttpsServerTest, HeadersOverTheLimitAre431AndTheRestIsNotRead) {
  StartServer([](HttpsServerOptions& o) { o.max_header_bytes = 16 * 1024; });
  RawClient c;
  ASSERT_TRUE(c.Connect(port_, {}));
  std::string request = "GET /x HTTP/1.1\r\nHost: a\r\n";
  // 8 MiB of headers in 1 KiB lines: the server answers after 16 KiB and
  // closes; the client's writes then fail instead of all 8 MiB going in.
  const std::string line = "X-Filler: " + std::string(1000, 'a') + "\r\n";
  ASSERT_TRUE(c.Send(request));
  size_t sent = request.size();
  for (int i = 0; i < 8 * 1024 && c.Send(line); ++i) sent += line.size();
  std::string data;
  c.ReadUntilClosed(&data);
  std::vector<ParsedResponse> r = ParseResponses(data);
  ASSERT_EQ(r.size(), 1u) << data.substr(0, 300);
  EXPECT_EQ(r[0].status, 431);
  EXPECT_LT(sent, 8u * 1024 * 1024) << "the server kept reading after the limit";
  EXPECT_EQ(server_->stats().bad_framing, 1);
}

TEST_F(HttpsServerTest, BodiesOverTheLimitAre413) {
  StartServer([](HttpsServerOptions& o) { o.max_body_bytes = 1024; });
  ParsedResponse declared =
      Fetch("POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 5000\r\n\r\n" + std::string(10, 'a'));
  EXPECT_EQ(declared.status, 413) << declared.body;
  ParsedResponse chunked =
      Fetch("POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n800\r\n" +
            std::string(0x800, 'a') + "\r\n0\r\n\r\n");
  EXPECT_EQ(chunked.status, 413) << chunked.body;
  EXPECT_EQ(handled_, 0);
}

// A client sending its headers one byte at a time is disconnected when the
// header timeout passes, with its request still incomplete.
TEST_F(HttpsServerTest, SlowHeadersAreCutOffAtTheHeaderTimeout) {
  StartServer([](HttpsServerOptions& o) { o.header_timeout = absl::Milliseconds(800); });
  RawClient c;
  ASSERT_TRUE(c.Connect(port_, {}));
  const std::string request = Get("/slow", "X-Padding: " + std::string(200, 'p') + "\r\n");
  size_t sent = 0;
  for (; sent < request.size(); ++sent) {
    if (!c.Send(request.substr(sent, 1))) break;
    std::this_thread::sleep_for(milliseconds(100));  // the slow client under test
  }
  std::string data;
  if (sent == request.size()) c.ReadUntilClosed(&data);
  EXPECT_LT(sent, request.size()) << "the whole header went in over "
                                  << request.size() * 100 / 1000 << " s";
  EXPECT_EQ(handled_, 0);
  EXPECT_TRUE(WaitFor([](const HttpsServerStats& s) { return s.timeouts >= 1; }));
}

TEST_F(HttpsServerTest, SlowBodiesAreCutOffAtTheBodyTimeout) {
  StartServer([](HttpsServerOptions& o) { o.body_timeout = absl::Milliseconds(800); });
  RawClient c;
  ASSERT_TRUE(c.Connect(port_, {}));
  ASSERT_TRUE(c.Send("POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 200\r\n\r\n"));
  int sent = 0;
  for (; sent < 200; ++sent) {
    if (!c.Send("b")) break;
    std::this_thread::sleep_for(milliseconds(100));  // the slow client under test
  }
  EXPECT_LT(sent, 200) << "the whole body went in over 20 s";
  EXPECT_EQ(handled_, 0);
  EXPECT_TRUE(WaitFor([](const HttpsServerStats& s) { return s.timeouts >= 1; }));
}

TEST_F(HttpsServerTest, IdleKeepAliveConnectionsAreClosed) {
  StartServer([](HttpsServerOptions& o) { o.keep_alive_timeout = absl::Milliseconds(500); });
  RawClient c;
  ASSERT_TRUE(c.Connect(port_, {}));
  ASSERT_TRUE(c.Send(Get("/a")));
  std::string data;
  ASSERT_TRUE(c.ReadUntilClosed(&data, Responses(1)));
  // Nothing more sent: the server closes within the client's deadline.
  EXPECT_TRUE(c.ReadUntilClosed(&data));
  EXPECT_EQ(ParseResponses(data).size(), 1u);
}

// With many idle TCP connections (no TLS even) and many slow clients open —
// more of each than there are worker threads — healthy clients are served.
TEST_F(HttpsServerTest, IdleAndSlowClientsDoNotStarveHealthyOnes) {
  constexpr int kHostile = 100;  // each kind; the server has 4 workers
  StartServer([](HttpsServerOptions& o) { o.max_connections_per_address = 1000; });
  std::vector<std::unique_ptr<RawClient>> idle, slow;
  for (int i = 0; i < kHostile; ++i) {
    auto c = std::make_unique<RawClient>();
    RawClient::Options o;
    o.source = "127.0.0.2";
    o.tls = false;
    ASSERT_TRUE(c->Connect(port_, o));
    idle.push_back(std::move(c));
  }
  for (int i = 0; i < kHostile; ++i) {
    auto c = std::make_unique<RawClient>();
    RawClient::Options o;
    o.source = "127.0.0.3";
    ASSERT_TRUE(c->Connect(port_, o));
    ASSERT_TRUE(c->handshake_ok());
    ASSERT_TRUE(c->Send("GET /slow HTTP/1.1\r\nHo"));  // and nothing more
    slow.push_back(std::move(c));
  }
  ASSERT_TRUE(WaitFor([](const HttpsServerStats& s) { return s.open_connections >= 2 * kHostile; }));
  for (int i = 0; i < 20; ++i) {
    ParsedResponse r = Fetch(Get("/healthy"));
    EXPECT_EQ(r.status, 200) << "healthy request " << i;
  }
  EXPECT_EQ(handled_, 20);
}

TEST_F(HttpsServerTest, ConnectionsPerAddressAreLimited) {
  StartServer([](HttpsServerOptions& o) { o.max_connections_per_address = 3; });
  std::vector<std::unique_ptr<RawClient>> held;
  RawClient::Options from4;
  from4.source = "127.0.0.4";
  for (int i = 0; i < 3; ++i) {
    held.push_back(std::make_unique<RawClient>());
    ASSERT_TRUE(held.back()->Connect(port_, from4));
    ASSERT_TRUE(held.back()->handshake_ok());
  }
  // The fourth from the same address is closed before TLS.
  RawClient fourth;
  ASSERT_TRUE(fourth.Connect(port_, from4));
  EXPECT_FALSE(fourth.handshake_ok());
  EXPECT_EQ(server_->stats().refused_address_limit, 1);
  // Another address is not held back.
  EXPECT_EQ(Fetch(Get("/other"), "127.0.0.5").status, 200);
  // When one closes, its place is free again.
  held.pop_back();
  ASSERT_TRUE(WaitFor([](const HttpsServerStats& s) { return s.open_connections == 2; }));
  RawClient again;
  ASSERT_TRUE(again.Connect(port_, from4));
  EXPECT_TRUE(again.handshake_ok());
}

TEST_F(HttpsServerTest, ConnectionsInAllAreLimited) {
  StartServer([](HttpsServerOptions& o) { o.max_connections = 2; });
  RawClient a, b, c;
  RawClient::Options o6, o7, o8;
  o6.source = "127.0.0.6";
  o7.source = "127.0.0.7";
  o8.source = "127.0.0.8";
  ASSERT_TRUE(a.Connect(port_, o6));
  ASSERT_TRUE(b.Connect(port_, o7));
  ASSERT_TRUE(c.Connect(port_, o8));
  EXPECT_TRUE(a.handshake_ok());
  EXPECT_TRUE(b.handshake_ok());
  EXPECT_FALSE(c.handshake_ok());
  EXPECT_EQ(server_->stats().refused_total_limit, 1);
}

TEST_F(HttpsServerTest, OnlyAeadSuitesOnTls12) {
  StartServer();
  RawClient cbc;
  RawClient::Options o;
  o.max_tls_version = TLS1_2_VERSION;
  o.ciphers = "ECDHE-ECDSA-AES128-SHA:ECDHE-RSA-AES128-SHA:ECDHE-ECDSA-AES256-SHA384:"
              "ECDHE-RSA-AES256-SHA384:AES128-SHA:AES128-SHA256";
  ASSERT_TRUE(cbc.Connect(port_, o));
  EXPECT_FALSE(cbc.handshake_ok()) << "a CBC suite was accepted";
  RawClient static_rsa;
  o.ciphers = "AES128-GCM-SHA256:AES256-GCM-SHA384";
  ASSERT_TRUE(static_rsa.Connect(port_, o));
  EXPECT_FALSE(static_rsa.handshake_ok()) << "a suite without forward secrecy was accepted";
  RawClient aead;
  o.ciphers = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256";
  ASSERT_TRUE(aead.Connect(port_, o));
  EXPECT_TRUE(aead.handshake_ok());
}

// HTTP/2 by ALPN, with curl (built with nghttp2 in Debian): GET and POST on
// one connection, HSTS, and the body limit.
TEST_F(HttpsServerTest, Http2ByAlpn) {
  StartServer([](HttpsServerOptions& o) { o.max_body_bytes = 1024; });
  const std::string url = absl::StrCat("https://127.0.0.1:", port_);
  ProcessResult p = RunProcess(
      {"curl", "-sS", "--http2", "--cacert", Certs() + "/ca/ca.pem", "-D", "-", "-w",
       "\n%{http_version} %{http_code} %{num_connects}\n", url + "/h2-get", "--next", "--http2",
       "--cacert", Certs() + "/ca/ca.pem", "-w", "\n%{http_version} %{http_code} %{num_connects}\n",
       "--data-binary", "hello", url + "/h2-post", "--next", "--http2", "--cacert",
       Certs() + "/ca/ca.pem", "-w", "\n%{http_version} %{http_code}\n", "--data-binary",
       std::string(2000, 'x'), url + "/h2-big"});
  ASSERT_EQ(p.exit_code, 0) << p.err << p.out;
  EXPECT_TRUE(absl::StrContains(p.out, "GET /h2-get 0 h2 127.0.0.1")) << p.out;
  EXPECT_TRUE(absl::StrContains(p.out, "POST /h2-post 5 h2")) << p.out;
  EXPECT_TRUE(absl::StrContains(p.out, "strict-transport-security: max-age=31536000")) << p.out;
  EXPECT_TRUE(absl::StrContains(p.out, "\n2 200 1\n")) << p.out;
  EXPECT_TRUE(absl::StrContains(p.out, "\n2 200 0\n")) << "not one connection:\n" << p.out;
  EXPECT_TRUE(absl::StrContains(p.out, "\n2 413\n")) << p.out;
  EXPECT_EQ(server_->stats().http2_connections, 1);
}

TEST_F(HttpsServerTest, Http2CanBeTurnedOff) {
  StartServer([](HttpsServerOptions& o) { o.http2 = false; });
  ProcessResult p = RunProcess({"curl", "-sS", "--http2", "--cacert", Certs() + "/ca/ca.pem",
                                "-w", "\n%{http_version}\n",
                                absl::StrCat("https://127.0.0.1:", port_, "/x")});
  ASSERT_EQ(p.exit_code, 0) << p.err;
  EXPECT_TRUE(absl::EndsWith(p.out, "\n1.1\n")) << p.out;
}

// An I/O thread may run a handler itself (no hand-off to a worker), but
// never the last one free: with both I/O threads' worth of handlers blocked
// (one on an I/O thread, one on a worker), new clients still get a TLS
// handshake and an answer.
TEST_F(HttpsServerTest, HandlersOnIoThreadsNeverTakeTheLastOne) {
  StartServer([](HttpsServerOptions& o) { o.io_threads = 2; });
  RawClient a, b;
  ASSERT_TRUE(a.Connect(port_, {}));
  ASSERT_TRUE(a.handshake_ok());
  ASSERT_TRUE(a.Send(Get("/block")));
  ASSERT_TRUE(WaitFor([&](const HttpsServerStats&) { return blocked_.load() == 1; }));
  ASSERT_TRUE(b.Connect(port_, {}));
  ASSERT_TRUE(b.handshake_ok());
  ASSERT_TRUE(b.Send(Get("/block")));
  ASSERT_TRUE(WaitFor([&](const HttpsServerStats&) { return blocked_.load() == 2; }));
  EXPECT_EQ(server_->stats().requests_inline, 1);  // the first; the second went to a worker

  for (int i = 0; i < 3; ++i) {
    ParsedResponse r = Fetch(Get("/free"));
    EXPECT_EQ(r.status, 200);
    EXPECT_TRUE(absl::StartsWith(r.body, "GET /free 0 h1")) << r.body;
  }
  unblock_.Notify();
  std::string da, db;
  ASSERT_TRUE(a.ReadUntilClosed(&da, Responses(1)));
  ASSERT_TRUE(b.ReadUntilClosed(&db, Responses(1)));
  EXPECT_TRUE(absl::StartsWith(ParseResponses(da).at(0).body, "GET /block 0 h1")) << da;
  EXPECT_TRUE(absl::StartsWith(ParseResponses(db).at(0).body, "GET /block 0 h1")) << db;
  EXPECT_EQ(server_->stats().requests, 5);
}

// With one I/O thread, every handler runs on a worker.
TEST_F(HttpsServerTest, OneIoThreadNeverRunsHandlers) {
  StartServer([](HttpsServerOptions& o) { o.io_threads = 1; });
  for (int i = 0; i < 3; ++i) EXPECT_EQ(Fetch(Get("/x")).status, 200);
  EXPECT_EQ(server_->stats().requests, 3);
  EXPECT_EQ(server_->stats().requests_inline, 0);
}

TEST_F(HttpsServerTest, StopFinishesAndClosesConnections) {
  StartServer();
  RawClient c;
  ASSERT_TRUE(c.Connect(port_, {}));
  ASSERT_TRUE(c.Send(Get("/a")));
  std::string data;
  ASSERT_TRUE(c.ReadUntilClosed(&data, Responses(1)));
  server_->Stop();
  EXPECT_TRUE(c.ReadUntilClosed(&data));
  EXPECT_EQ(server_->stats().open_connections, 0);
}

}  // namespace
}  // namespace tongban::edge
