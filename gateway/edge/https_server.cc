#include "https_server.h"

#include <openssl/ssl.h>

#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <optional>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "https_connection.h"

namespace tongban::edge {

namespace http = beast::http;
using tcp = asio::ip::tcp;

std::string HttpRequest::Header(absl::string_view name) const {
  for (const auto& [n, v] : headers) {
    if (n == name) return v;
  }
  return "";
}

namespace {

// ---------------------------------------------------------------------------
// Framing rules beyond what Beast's parser enforces (RFC 9112).

bool IsTchar(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) ||
         std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

// Why the request head cannot be served unambiguously, or "" when it can.
std::string FramingProblem(const http::request_parser<http::string_body>& parser) {
  const auto& m = parser.get();
  int hosts = 0, lengths = 0, codings = 0;
  for (const auto& f : m) {
    const http::field name = f.name();
    if (name == http::field::host) ++hosts;
    if (name == http::field::content_length) ++lengths;
    if (name == http::field::transfer_encoding) ++codings;
    for (char c : f.name_string()) {
      if (!IsTchar(c)) return "a header field name holds a character outside RFC 9110 tokens";
    }
    for (char c : f.value()) {
      const auto u = static_cast<unsigned char>(c);
      if ((u < 0x20 && c != '\t') || u == 0x7f) {
        return absl::StrCat("header ", std::string(f.name_string()),
                            " holds a control character");
      }
    }
  }
  if (m.version() >= 11 && hosts != 1) {
    return hosts == 0 ? "the Host header is missing (RFC 9112 §3.2)"
                      : "more than one Host header (RFC 9112 §3.2)";
  }
  if (lengths > 1 || m[http::field::content_length].find(',') != beast::string_view::npos) {
    return "more than one Content-Length (RFC 9112 §6.3)";
  }
  if (codings > 0) {
    if (m.version() < 11) return "Transfer-Encoding in an HTTP/1.0 request (RFC 9112 §6.1)";
    if (lengths > 0) return "both Transfer-Encoding and Content-Length (RFC 9112 §6.1)";
    if (codings > 1 ||
        !absl::EqualsIgnoreCase(absl::StripAsciiWhitespace(std::string(m[http::field::transfer_encoding])),
                                "chunked")) {
      return "Transfer-Encoding other than exactly \"chunked\" is not supported";
    }
  }
  const beast::string_view target = m.target();
  const bool origin_form = !target.empty() && target.front() == '/';
  const bool asterisk = target == "*" && m.method() == http::verb::options;
  if (!origin_form && !asterisk) {
    return "the request target is not a path (origin-form, RFC 9112 §3.2.1)";
  }
  return "";
}

// The status and message for a parse error of Beast's.
std::pair<int, std::string> ParseErrorAnswer(const beast::error_code& ec, size_t header_limit,
                                             size_t body_limit) {
  if (ec == http::error::header_limit) {
    return {431, absl::StrCat("request line and headers exceed ", header_limit, " bytes")};
  }
  if (ec == http::error::body_limit) {
    return {413, absl::StrCat("request body is larger than ", body_limit,
                              " bytes: materials are sent as metadata and SHA-256, not content")};
  }
  if (ec == http::error::bad_content_length) {
    return {400, "Content-Length is not one decimal number, or conflicts with another framing "
                 "header (RFC 9112 §6.3)"};
  }
  if (ec == http::error::bad_transfer_encoding) {
    return {400, "Transfer-Encoding conflicts with another framing header (RFC 9112 §6.1)"};
  }
  if (ec == http::error::buffer_overflow) {
    return {400, "too much pipelined data ahead of the answers"};
  }
  return {400, absl::StrCat("malformed HTTP/1.1 request: ", ec.message())};
}

std::string PeerAddress(const tcp::socket& socket) {
  beast::error_code ec;
  const tcp::endpoint peer = socket.remote_endpoint(ec);
  if (ec) return "";
  asio::ip::address a = peer.address();
  if (a.is_v6() && a.to_v6().is_v4_mapped()) {
    a = asio::ip::make_address_v4(asio::ip::v4_mapped, a.to_v6());
  }
  return a.to_string();
}

// ---------------------------------------------------------------------------
// HTTP/1.1: one request at a time; pipelined requests wait in the buffer
// and are answered in order.

class Http1Session : public Connection, public std::enable_shared_from_this<Http1Session> {
 public:
  Http1Session(HttpsServer::Impl* server, TlsStream stream, std::shared_ptr<ConnectionTicket> ticket)
      : server_(server),
        o_(server->options),
        stream_(std::move(stream)),
        ticket_(std::move(ticket)),
        buffer_(o_.max_header_bytes + o_.max_body_bytes + 64 * 1024) {}
  ~Http1Session() override { server_->Untrack(this); }

  void Start() { ReadRequest(); }

  void Shutdown() override {
    auto self = shared_from_this();
    asio::post(stream_.get_executor(), [self] {
      self->closing_ = true;
      // A streamed answer ends when its producer stops: ask it to.
      if (self->streaming_) self->CancelBody();
      if (self->busy_ || self->closed_) return;  // closes after its answer
      // Idle, a read pending: no TLS close_notify exchange (it would wait
      // behind that read), just the socket.
      self->closed_ = true;
      self->tcp().close();
    });
  }

 private:
  beast::tcp_stream& tcp() { return beast::get_lowest_layer(stream_); }

  void ReadRequest() {
    if (closing_ || server_->stopping()) return Close();
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(o_.max_header_bytes));
    parser_->body_limit(o_.max_body_bytes);
    if (buffer_.size() > 0) return ReadHeader();
    // Idle between requests: the keep-alive timeout runs until a first byte.
    tcp().expires_after(absl::ToChronoMilliseconds(o_.keep_alive_timeout));
    auto self = shared_from_this();
    stream_.async_read_some(buffer_.prepare(4096), [self](beast::error_code ec, size_t n) {
      if (ec) {
        if (ec == beast::error::timeout) ++self->server_->stats.timeouts;
        return self->Close();
      }
      self->buffer_.commit(n);
      self->ReadHeader();
    });
  }

  void ReadHeader() {
    busy_ = true;
    tcp().expires_after(absl::ToChronoMilliseconds(o_.header_timeout));
    auto self = shared_from_this();
    http::async_read_header(stream_, buffer_, *parser_, [self](beast::error_code ec, size_t) {
      self->OnHeader(ec);
    });
  }

  // A read that failed: a timeout closes, a parse error is refused. False
  // when the read succeeded.
  bool ReadFailed(beast::error_code ec) {
    if (!ec) return false;
    if (ec == beast::error::timeout) {
      ++server_->stats.timeouts;
      Close();
      return true;
    }
    auto [status, message] = ParseErrorAnswer(ec, o_.max_header_bytes, o_.max_body_bytes);
    Refuse(status, message);
    return true;
  }

  void OnHeader(beast::error_code ec) {
    if (ReadFailed(ec)) return;
    if (std::string problem = FramingProblem(*parser_); !problem.empty()) {
      return Refuse(400, problem);
    }
    if (parser_->is_done()) return Dispatch();
    tcp().expires_after(absl::ToChronoMilliseconds(o_.body_timeout));
    auto self = shared_from_this();
    auto read_body = [self] {
      http::async_read(self->stream_, self->buffer_, *self->parser_,
                       [self](beast::error_code ec, size_t) { self->OnBody(ec); });
    };
    if (absl::EqualsIgnoreCase(std::string(parser_->get()[http::field::expect]), "100-continue") &&
        parser_->get().version() >= 11) {
      static const std::string kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
      asio::async_write(stream_, asio::buffer(kContinue),
                        [self, read_body](beast::error_code ec, size_t) {
                          if (ec) return self->Close();
                          read_body();
                        });
      return;
    }
    read_body();
  }

  void OnBody(beast::error_code ec) {
    if (ReadFailed(ec)) return;
    Dispatch();
  }

  HttpRequest TakeRequest() {
    HttpRequest r;
    http::request<http::string_body> m = parser_->release();
    r.method = std::string(m.method_string());
    r.target = std::string(m.target());
    for (const auto& f : m) {
      r.headers.emplace_back(absl::AsciiStrToLower(std::string(f.name_string())),
                             std::string(f.value()));
    }
    r.body = std::move(m.body());
    r.remote_address = ticket_->address();
    version_ = m.version();
    keep_alive_ = m.keep_alive();
    return r;
  }

  void Dispatch() {
    ++requests_;
    tcp().expires_never();
    auto request = std::make_shared<HttpRequest>(TakeRequest());
    if (requests_ >= o_.max_requests_per_connection) keep_alive_ = false;
    ++server_->stats.requests;
    // Run here when another I/O thread is free to serve the other sockets:
    // the request then skips two thread hand-offs (to a worker and back to
    // an I/O thread for the write), most of what a call costs the gateway at
    // low load. Only this connection waits meanwhile, and it has nothing
    // else to do: the next request is read after this answer (HTTP/1.1).
    if (server_->TryEnterInline()) {
      ++server_->stats.requests_inline;
      HttpResponse response = server_->handler(*request);
      server_->LeaveInline();
      return Write(std::move(response), !keep_alive_);
    }
    auto self = shared_from_this();
    const bool queued = server_->workers.TryPost([self, request] {
      HttpResponse response = self->server_->handler(*request);
      asio::post(self->stream_.get_executor(), [self, r = std::move(response)]() mutable {
        self->Write(std::move(r), !self->keep_alive_);
      });
    });
    if (!queued) {
      ++server_->stats.overloaded;
      HttpResponse busy = server_->on_error(
          503, "the edge is at capacity: retry after the time in Retry-After", *request);
      busy.headers.emplace_back("Retry-After", "1");
      Write(std::move(busy), !keep_alive_);
    }
  }

  // A refusal of the request as framed: the rest of the connection cannot be
  // read reliably, so it closes after the answer.
  void Refuse(int status, const std::string& message) {
    ++server_->stats.bad_framing;
    HttpRequest partial;
    if (parser_) {
      for (const auto& f : parser_->get()) {
        partial.headers.emplace_back(absl::AsciiStrToLower(std::string(f.name_string())),
                                     std::string(f.value()));
      }
      partial.method = std::string(parser_->get().method_string());
    }
    partial.remote_address = ticket_->address();
    version_ = 11;
    Write(server_->on_error(status, message, partial), /*close=*/true);
  }

  void Write(HttpResponse r, bool close) {
    if (r.stream != nullptr) return WriteStreamed(std::move(r), close);
    busy_ = true;
    close = close || closing_ || server_->stopping();
    auto res = std::make_shared<http::response<http::string_body>>();
    res->result(static_cast<unsigned>(r.status));
    res->version(version_ >= 11 ? 11 : 10);
    for (const auto& [name, value] : server_->fixed_headers()) res->set(name, value);
    for (auto& [name, value] : r.headers) res->insert(name, value);
    res->body() = std::move(r.body);
    res->keep_alive(!close);
    res->prepare_payload();
    tcp().expires_after(absl::ToChronoMilliseconds(o_.write_timeout));
    auto self = shared_from_this();
    http::async_write(stream_, *res, [self, res, close](beast::error_code ec, size_t) {
      self->busy_ = false;
      if (ec) {
        if (ec == beast::error::timeout) ++self->server_->stats.timeouts;
        return self->Close();
      }
      if (close) return self->Close();
      self->ReadRequest();
    });
  }

  // A streamed body (HttpBodyStream): the head now, chunked (HTTP/1.0: the
  // connection delimits it), then each chunk as its producer writes it.
  void WriteStreamed(HttpResponse r, bool close) {
    busy_ = true;
    streaming_ = true;
    body_cancelled_ = false;
    body_started_ = false;
    chunked_ = version_ >= 11;
    stream_close_ = close || !chunked_ || closing_ || server_->stopping();
    struct Head {
      http::response<http::empty_body> res;
      std::optional<http::response_serializer<http::empty_body>> serializer;
    };
    auto head = std::make_shared<Head>();
    head->res.result(static_cast<unsigned>(r.status));
    head->res.version(chunked_ ? 11 : 10);
    for (const auto& [name, value] : server_->fixed_headers()) head->res.set(name, value);
    for (auto& [name, value] : r.headers) head->res.insert(name, value);
    head->res.keep_alive(!stream_close_);
    if (chunked_) head->res.chunked(true);
    head->serializer.emplace(head->res);
    body_ = std::move(r.stream);
    // Between chunks no read or write of ours is pending to keep the session
    // alive (the producer's writer holds it weakly): hold it until the end.
    streaming_self_ = shared_from_this();
    tcp().expires_after(absl::ToChronoMilliseconds(o_.write_timeout));
    auto self = shared_from_this();
    http::async_write_header(
        stream_, *head->serializer, [self, head](beast::error_code ec, size_t) {
          self->tcp().expires_never();
          // The producer starts in every case, so that it always gets Start
          // before Cancel, and ends through End.
          std::shared_ptr<HttpBodyStream> body = self->body_;
          self->body_started_ = true;
          body->Start(std::make_shared<Writer>(self));
          if (ec || self->body_cancelled_) {  // failed, or Shutdown while the head was written
            self->body_cancelled_ = true;
            body->Cancel();
          }
          if (ec) {
            if (ec == beast::error::timeout) ++self->server_->stats.timeouts;
            return self->Close();
          }
        });
  }

  // The producer's side of a streamed body: hops onto the connection's strand.
  class Writer final : public HttpStreamWriter {
   public:
    explicit Writer(const std::shared_ptr<Http1Session>& session) : session_(session) {}
    void Write(std::string chunk, std::function<void(bool)> done) override {
      std::shared_ptr<Http1Session> s = session_.lock();
      if (s == nullptr) return done(false);
      asio::post(s->stream_.get_executor(),
                 [s, chunk = std::move(chunk), done = std::move(done)]() mutable {
                   s->WriteChunk(std::move(chunk), std::move(done));
                 });
    }
    void End() override {
      std::shared_ptr<Http1Session> s = session_.lock();
      if (s == nullptr) return;
      asio::post(s->stream_.get_executor(), [s] { s->EndStreamed(); });
    }

   private:
    std::weak_ptr<Http1Session> session_;
  };

  void WriteChunk(std::string chunk, std::function<void(bool)> done) {
    if (closed_ || !streaming_) return done(false);
    chunk_buffer_ =
        chunked_ ? absl::StrCat(absl::Hex(chunk.size()), "\r\n", chunk, "\r\n") : std::move(chunk);
    tcp().expires_after(absl::ToChronoMilliseconds(o_.write_timeout));
    auto self = shared_from_this();
    asio::async_write(stream_, asio::buffer(chunk_buffer_),
                      [self, done = std::move(done)](beast::error_code ec, size_t) {
                        self->tcp().expires_never();
                        if (ec) {
                          if (ec == beast::error::timeout) ++self->server_->stats.timeouts;
                          done(false);
                          self->CancelBody();
                          return self->Close();
                        }
                        done(true);
                      });
  }

  void EndStreamed() {
    if (!streaming_) return;
    streaming_ = false;
    body_.reset();
    // The caller (a posted handler) holds a reference of its own.
    streaming_self_.reset();
    if (closed_) return;
    if (!chunked_) {
      busy_ = false;
      return Close();
    }
    static const std::string kLastChunk = "0\r\n\r\n";
    tcp().expires_after(absl::ToChronoMilliseconds(o_.write_timeout));
    auto self = shared_from_this();
    asio::async_write(stream_, asio::buffer(kLastChunk), [self](beast::error_code ec, size_t) {
      self->busy_ = false;
      if (ec || self->stream_close_ || self->closing_ || self->server_->stopping()) {
        return self->Close();
      }
      self->ReadRequest();
    });
  }

  // Tells a streamed body's producer to stop (once); it then calls End.
  void CancelBody() {
    if (body_ == nullptr || body_cancelled_) return;
    body_cancelled_ = true;
    if (!body_started_) return;  // cancelled once started (WriteStreamed)
    std::shared_ptr<HttpBodyStream> body = body_;
    body->Cancel();
  }

  // TLS close_notify, then the socket; bounded in time (a peer that never
  // answers the close_notify does not keep it open).
  void Close() {
    CancelBody();
    if (closed_) return;
    closed_ = true;
    // Every caller holds a reference of its own; the producer still ends
    // through End (EndStreamed then finds the session closed).
    streaming_self_.reset();
    tcp().expires_after(std::chrono::seconds(2));
    auto self = shared_from_this();
    stream_.async_shutdown([self](beast::error_code) {
      beast::error_code ignored;
      self->tcp().socket().shutdown(tcp::socket::shutdown_both, ignored);
      self->tcp().close();
    });
  }

  HttpsServer::Impl* const server_;
  const HttpsServerOptions& o_;
  TlsStream stream_;
  std::shared_ptr<ConnectionTicket> ticket_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  unsigned version_ = 11;
  bool keep_alive_ = true;
  bool busy_ = false;     // a request is being read, handled or answered
  bool closing_ = false;  // Shutdown asked
  bool closed_ = false;
  int requests_ = 0;
  // A streamed answer (HttpBodyStream) in progress.
  bool streaming_ = false;
  bool chunked_ = true;
  bool stream_close_ = false;  // close the connection after it
  bool body_cancelled_ = false;
  bool body_started_ = false;
  std::shared_ptr<HttpBodyStream> body_;
  std::shared_ptr<Http1Session> streaming_self_;  // while streaming_ and not closed
  std::string chunk_buffer_;                      // the chunk being written (one at a time)
};

// The TLS handshake, bounded in time; then HTTP/1.1 or HTTP/2 by ALPN.
void Handshake(HttpsServer::Impl* server, std::shared_ptr<TlsStream> stream,
               std::shared_ptr<ConnectionTicket> ticket) {
  beast::get_lowest_layer(*stream).expires_after(
      absl::ToChronoMilliseconds(server->options.handshake_timeout));
  stream->async_handshake(
      asio::ssl::stream_base::server, [server, stream, ticket](beast::error_code ec) {
        if (ec) {
          ++server->stats.handshake_failures;
          beast::get_lowest_layer(*stream).close();
          return;
        }
        beast::get_lowest_layer(*stream).expires_never();
        const unsigned char* alpn = nullptr;
        unsigned int alpn_length = 0;
        SSL_get0_alpn_selected(stream->native_handle(), &alpn, &alpn_length);
        const bool h2 = alpn_length == 2 && alpn[0] == 'h' && alpn[1] == '2';
        if (h2) {
          ++server->stats.http2_connections;
          StartHttp2Session(server, std::move(*stream), ticket);
          return;
        }
        auto session = std::make_shared<Http1Session>(server, std::move(*stream), ticket);
        server->Track(session);
        session->Start();
      });
}

// ALPN: h2 when offered (and enabled), else http/1.1; no ALPN is HTTP/1.1.
int SelectAlpn(SSL*, const unsigned char** out, unsigned char* out_length, const unsigned char* in,
               unsigned int in_length, void* arg) {
  const bool http2 = arg != nullptr;
  const unsigned char* chosen = nullptr;
  for (unsigned int i = 0; i < in_length;) {
    const unsigned int n = in[i];
    if (i + 1 + n > in_length) break;
    const absl::string_view proto(reinterpret_cast<const char*>(in + i + 1), n);
    if (http2 && proto == "h2") {
      chosen = in + i;
      break;
    }
    if (proto == "http/1.1" && chosen == nullptr) chosen = in + i;
    i += 1 + n;
  }
  if (chosen == nullptr) return SSL_TLSEXT_ERR_NOACK;
  *out = chosen + 1;
  *out_length = chosen[0];
  return SSL_TLSEXT_ERR_OK;
}

}  // namespace

// ---------------------------------------------------------------------------
// The server

HttpsServer::Impl::Impl(HttpsServerOptions o, HttpHandler h, HttpErrorResponder e)
    : options(std::move(o)),
      handler(std::move(h)),
      on_error(std::move(e)),
      workers(options.worker_threads, options.max_queued_requests),
      tls_(asio::ssl::context::tls_server),
      acceptor_(io_) {
  if (options.hsts_max_age_seconds > 0) {
    fixed_headers_.emplace_back("Strict-Transport-Security",
                                absl::StrCat("max-age=", options.hsts_max_age_seconds));
  }
}

HttpsServer::Impl::~Impl() { Stop(); }

bool HttpsServer::Impl::Admit(const std::string& address) {
  std::lock_guard<std::mutex> lock(mu_);
  if (open_ >= options.max_connections) {
    ++stats.refused_total_limit;
    return false;
  }
  int& mine = per_address_[address];
  if (mine >= options.max_connections_per_address) {
    ++stats.refused_address_limit;
    if (mine == 0) per_address_.erase(address);
    return false;
  }
  ++mine;
  ++open_;
  ++stats.open_connections;
  ++stats.accepted;
  return true;
}

void HttpsServer::Impl::Release(const std::string& address) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = per_address_.find(address);
  if (it != per_address_.end() && --it->second <= 0) per_address_.erase(it);
  --open_;
  --stats.open_connections;
  if (open_ == 0) all_closed_.notify_all();
}

void HttpsServer::Impl::Track(const std::shared_ptr<Connection>& c) {
  std::lock_guard<std::mutex> lock(mu_);
  live_[c.get()] = c;
}

void HttpsServer::Impl::Untrack(Connection* c) {
  std::lock_guard<std::mutex> lock(mu_);
  live_.erase(c);
}

absl::Status HttpsServer::Impl::Listen() {
  SSL_CTX* ctx = tls_.native_handle();
  // TLS 1.3, or TLS 1.2 with forward-secret AEAD suites only (no CBC, no
  // static RSA): also what HTTP/2 requires (RFC 9113 §9.2.2).
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
                               SSL_OP_CIPHER_SERVER_PREFERENCE);
  if (SSL_CTX_set_cipher_list(ctx,
                              "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
                              "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
                              "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305") != 1) {
    return absl::InternalError("public_edge: the TLS 1.2 cipher list is not supported");
  }
  SSL_CTX_set_alpn_select_cb(ctx, SelectAlpn, options.http2 ? this : nullptr);
  options.certificate->Install(ctx);

  const size_t colon = options.listen_address.rfind(':');
  int port = -1;
  if (colon == std::string::npos ||
      !absl::SimpleAtoi(options.listen_address.substr(colon + 1), &port) || port < 0 ||
      port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("public_edge.https_address ", options.listen_address, " is not host:port"));
  }
  std::string host = options.listen_address.substr(0, colon);
  if (absl::StartsWith(host, "[") && absl::EndsWith(host, "]")) host = host.substr(1, host.size() - 2);
  beast::error_code ec;
  const asio::ip::address ip =
      asio::ip::make_address(host == "localhost" ? "127.0.0.1" : host, ec);
  if (ec) {
    return absl::InvalidArgumentError(absl::StrCat("public_edge.https_address ",
                                                   options.listen_address,
                                                   ": the host is not an IP address"));
  }
  const tcp::endpoint endpoint(ip, static_cast<unsigned short>(port));
  acceptor_.open(endpoint.protocol(), ec);
  if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor_.bind(endpoint, ec);
  if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return absl::UnavailableError(
        absl::StrCat("cannot serve HTTPS on ", options.listen_address, ": ", ec.message()));
  }
  const tcp::endpoint bound = acceptor_.local_endpoint();
  address = absl::StrCat(ip.is_v6() ? "[" + host + "]" : host, ":", bound.port());
  Accept();
  for (int i = 0; i < std::max(1, options.io_threads); ++i) {
    io_threads_.emplace_back([this] { io_.run(); });
  }
  return absl::OkStatus();
}

void HttpsServer::Impl::Accept() {
  acceptor_.async_accept(asio::make_strand(io_), [this](beast::error_code ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted || stopping_) return;
    if (!ec) {
      std::string peer = PeerAddress(socket);
      if (!Admit(peer)) {
        // Over a limit: closed before TLS, costing no more than the accept.
        beast::error_code ignored;
        socket.close(ignored);
      } else {
        beast::error_code ignored;
        socket.set_option(tcp::no_delay(true), ignored);
        auto stream = std::make_shared<TlsStream>(beast::tcp_stream(std::move(socket)), tls_);
        Handshake(this, stream, std::make_shared<ConnectionTicket>(this, std::move(peer)));
      }
    }
    // EMFILE and the like: keep accepting (the limits above keep it rare).
    Accept();
  });
}

void HttpsServer::Impl::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopped_) return;
    stopped_ = true;
  }
  stopping_ = true;
  asio::post(io_, [this] {
    beast::error_code ignored;
    acceptor_.close(ignored);
  });
  // Requests in flight finish and their answers are posted to the connections.
  workers.Drain();
  std::vector<std::shared_ptr<Connection>> live;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& [raw, weak] : live_) {
      if (auto c = weak.lock()) live.push_back(std::move(c));
    }
  }
  for (auto& c : live) c->Shutdown();
  live.clear();
  {
    std::unique_lock<std::mutex> lock(mu_);
    all_closed_.wait_for(lock, std::chrono::seconds(5), [this] { return open_ == 0; });
  }
  io_.stop();
  for (std::thread& t : io_threads_) {
    if (t.joinable()) t.join();
  }
}

HttpsServer::HttpsServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
HttpsServer::~HttpsServer() { Stop(); }

absl::StatusOr<std::unique_ptr<HttpsServer>> HttpsServer::Start(HttpsServerOptions options,
                                                                HttpHandler handler,
                                                                HttpErrorResponder on_error) {
  if (options.certificate == nullptr) {
    return absl::InvalidArgumentError("the HTTPS edge needs a certificate");
  }
  auto impl = std::make_unique<Impl>(std::move(options), std::move(handler), std::move(on_error));
  if (absl::Status s = impl->Listen(); !s.ok()) return s;
  return std::unique_ptr<HttpsServer>(new HttpsServer(std::move(impl)));
}

std::string HttpsServer::address() const { return impl_->address; }

HttpsServerStats HttpsServer::stats() const {
  const AtomicStats& a = impl_->stats;
  HttpsServerStats s;
  s.open_connections = a.open_connections;
  s.accepted = a.accepted;
  s.refused_total_limit = a.refused_total_limit;
  s.refused_address_limit = a.refused_address_limit;
  s.handshake_failures = a.handshake_failures;
  s.timeouts = a.timeouts;
  s.bad_framing = a.bad_framing;
  s.overloaded = a.overloaded;
  s.requests = a.requests;
  s.requests_inline = a.requests_inline;
  s.http2_connections = a.http2_connections;
  return s;
}

void HttpsServer::Stop() {
  if (impl_ != nullptr) impl_->Stop();
}

}  // namespace tongban::edge
