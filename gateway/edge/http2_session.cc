// HTTP/2 for the HTTPS edge: nghttp2 does the framing, flow control and
// HPACK; this file moves bytes between it and the TLS stream, collects each
// stream's request, hands complete ones to the worker pool and submits the
// answers. Limits: concurrent streams (SETTINGS), header bytes and body
// bytes per stream, the idle timeout when no stream is open, and a request
// that is not complete within header_timeout + body_timeout ends the
// connection (the HTTP/2 face of a slow client).
#include <nghttp2/nghttp2.h>

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <map>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "https_connection.h"

namespace tongban::edge {
namespace {

using Clock = std::chrono::steady_clock;

class Http2Session : public Connection, public std::enable_shared_from_this<Http2Session> {
 public:
  Http2Session(HttpsServer::Impl* server, TlsStream stream, std::shared_ptr<ConnectionTicket> ticket)
      : server_(server),
        o_(server->options),
        stream_(std::move(stream)),
        ticket_(std::move(ticket)),
        timer_(stream_.get_executor()),
        last_activity_(Clock::now()) {}

  ~Http2Session() override {
    if (session_ != nullptr) nghttp2_session_del(session_);
    server_->Untrack(this);
  }

  bool Init() {
    nghttp2_session_callbacks* callbacks = nullptr;
    if (nghttp2_session_callbacks_new(&callbacks) != 0) return false;
    nghttp2_session_callbacks_set_on_begin_headers_callback(callbacks, OnBeginHeaders);
    nghttp2_session_callbacks_set_on_header_callback(callbacks, OnHeader);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks, OnData);
    nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks, OnFrame);
    nghttp2_session_callbacks_set_on_stream_close_callback(callbacks, OnStreamClose);
    nghttp2_option* option = nullptr;
    nghttp2_option_new(&option);
    // A client may not hold more header state than this in HPACK.
    nghttp2_option_set_max_deflate_dynamic_table_size(option, 4096);
    const int rc = nghttp2_session_server_new2(&session_, callbacks, this, option);
    nghttp2_option_del(option);
    nghttp2_session_callbacks_del(callbacks);
    if (rc != 0) return false;
    const nghttp2_settings_entry settings[] = {
        {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS,
         static_cast<uint32_t>(o_.http2_max_concurrent_streams)},
        {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, static_cast<uint32_t>(o_.max_header_bytes)},
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE,
         static_cast<uint32_t>(std::min<size_t>(o_.max_body_bytes, (1u << 31) - 1))},
    };
    return nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, settings,
                                   sizeof(settings) / sizeof(settings[0])) == 0;
  }

  void Start() {
    Read();
    Flush();
    Tick();
  }

  void Shutdown() override {
    auto self = shared_from_this();
    asio::post(stream_.get_executor(), [self] {
      self->closing_ = true;
      self->CancelBodies();  // streamed answers end when their producers stop
      if (self->in_handler_ == 0) {
        nghttp2_session_terminate_session(self->session_, NGHTTP2_NO_ERROR);
        self->Flush();
      }
    });
  }

 private:
  struct Stream {
    HttpRequest request;
    size_t header_bytes = 0;
    int error_status = 0;  // 431 or 413 once a limit is passed
    bool answered = false;
    Clock::time_point started;
    std::string response_body;
    size_t sent = 0;
    // A streamed body (HttpBodyStream): the chunk being sent, whose `done`
    // runs once nghttp2 took all of it (within the flow-control window).
    std::shared_ptr<HttpBodyStream> body_stream;
    std::string chunk;
    size_t chunk_sent = 0;
    std::function<void(bool)> chunk_done;
    Clock::time_point chunk_since;
    bool body_ended = false;      // End: EOF after the chunk
    bool deferred = false;        // nghttp2 waits for resume_data
    bool body_cancelled = false;  // Cancel was called
  };

  // The producer's side of a streamed body: hops onto the session's strand.
  class Writer final : public HttpStreamWriter {
   public:
    Writer(const std::shared_ptr<Http2Session>& session, int32_t stream_id)
        : session_(session), stream_id_(stream_id) {}
    void Write(std::string chunk, std::function<void(bool)> done) override {
      std::shared_ptr<Http2Session> s = session_.lock();
      if (s == nullptr) return done(false);
      asio::post(s->stream_.get_executor(),
                 [s, id = stream_id_, chunk = std::move(chunk), done = std::move(done)]() mutable {
                   s->WriteChunk(id, std::move(chunk), std::move(done));
                 });
    }
    void End() override {
      std::shared_ptr<Http2Session> s = session_.lock();
      if (s == nullptr) return;
      asio::post(s->stream_.get_executor(), [s, id = stream_id_] { s->EndBody(id); });
    }

   private:
    std::weak_ptr<Http2Session> session_;
    const int32_t stream_id_;
  };

  void WriteChunk(int32_t stream_id, std::string chunk, std::function<void(bool)> done) {
    auto it = streams_.find(stream_id);
    if (closed_ || it == streams_.end() || it->second.body_cancelled) return done(false);
    Stream& s = it->second;
    s.chunk = std::move(chunk);
    s.chunk_sent = 0;
    s.chunk_done = std::move(done);
    s.chunk_since = Clock::now();
    Resume(stream_id, s);
  }

  void EndBody(int32_t stream_id) {
    auto it = streams_.find(stream_id);
    if (closed_ || it == streams_.end()) return;
    it->second.body_ended = true;
    Resume(stream_id, it->second);
  }

  void Resume(int32_t stream_id, Stream& s) {
    if (s.deferred) {
      s.deferred = false;
      nghttp2_session_resume_data(session_, stream_id);
    }
    Flush();
  }

  // Tells a streamed body's producer to stop and fails its pending chunk;
  // posted, as this may run inside an nghttp2 callback.
  void CancelBody(Stream& s) {
    if (s.body_stream == nullptr || s.body_cancelled) return;
    s.body_cancelled = true;
    std::function<void(bool)> done = std::move(s.chunk_done);
    s.chunk_done = nullptr;
    std::shared_ptr<HttpBodyStream> body = s.body_stream;
    asio::post(stream_.get_executor(), [body, done = std::move(done)] {
      if (done) done(false);
      body->Cancel();
    });
  }

  void CancelBodies() {
    for (auto& [id, s] : streams_) CancelBody(s);
  }

  static Http2Session* Self(void* user_data) { return static_cast<Http2Session*>(user_data); }

  static int OnBeginHeaders(nghttp2_session*, const nghttp2_frame* frame, void* user_data) {
    if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
    Http2Session* self = Self(user_data);
    Stream& s = self->streams_[frame->hd.stream_id];
    s.started = Clock::now();
    s.request.remote_address = self->ticket_->address();
    s.request.http2 = true;
    return 0;
  }

  static int OnHeader(nghttp2_session*, const nghttp2_frame* frame, const uint8_t* name,
                      size_t name_length, const uint8_t* value, size_t value_length, uint8_t,
                      void* user_data) {
    Http2Session* self = Self(user_data);
    auto it = self->streams_.find(frame->hd.stream_id);
    if (it == self->streams_.end()) return 0;  // trailers of an unknown stream: ignored
    Stream& s = it->second;
    s.header_bytes += name_length + value_length + 32;  // RFC 9113 §6.5.2 accounting
    if (s.header_bytes > self->o_.max_header_bytes) {
      s.error_status = 431;
      return 0;
    }
    const std::string n(reinterpret_cast<const char*>(name), name_length);
    std::string v(reinterpret_cast<const char*>(value), value_length);
    if (n == ":method") {
      s.request.method = std::move(v);
    } else if (n == ":path") {
      s.request.target = std::move(v);
    } else if (n == ":authority") {
      s.request.headers.emplace_back("host", std::move(v));
    } else if (!n.empty() && n[0] != ':') {
      s.request.headers.emplace_back(n, std::move(v));  // nghttp2 checked: lower case
    }
    return 0;
  }

  static int OnData(nghttp2_session*, uint8_t, int32_t stream_id, const uint8_t* data,
                    size_t length, void* user_data) {
    Http2Session* self = Self(user_data);
    auto it = self->streams_.find(stream_id);
    if (it == self->streams_.end()) return 0;
    Stream& s = it->second;
    if (s.error_status != 0) return 0;
    if (s.request.body.size() + length > self->o_.max_body_bytes) {
      s.error_status = 413;
      s.request.body.clear();
      self->Answer(stream_id);  // at once; the rest of the body is dropped
      return 0;
    }
    s.request.body.append(reinterpret_cast<const char*>(data), length);
    return 0;
  }

  static int OnFrame(nghttp2_session*, const nghttp2_frame* frame, void* user_data) {
    Http2Session* self = Self(user_data);
    if ((frame->hd.type == NGHTTP2_HEADERS || frame->hd.type == NGHTTP2_DATA) &&
        (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0) {
      self->Answer(frame->hd.stream_id);
    }
    return 0;
  }

  static int OnStreamClose(nghttp2_session*, int32_t stream_id, uint32_t, void* user_data) {
    Http2Session* self = Self(user_data);
    auto it = self->streams_.find(stream_id);
    if (it != self->streams_.end()) self->CancelBody(it->second);
    self->streams_.erase(stream_id);
    return 0;
  }

  // The request on `stream_id` is complete (or over a limit): answer it.
  void Answer(int32_t stream_id) {
    auto it = streams_.find(stream_id);
    if (it == streams_.end() || it->second.answered) return;
    Stream& s = it->second;
    s.answered = true;
    if (s.error_status != 0) {
      ++server_->stats.bad_framing;
      const std::string message =
          s.error_status == 431
              ? absl::StrCat("request headers exceed ", o_.max_header_bytes, " bytes")
              : absl::StrCat("request body is larger than ", o_.max_body_bytes,
                             " bytes: materials are sent as metadata and SHA-256, not content");
      Submit(stream_id, server_->on_error(s.error_status, message, s.request));
      return;
    }
    ++server_->stats.requests;
    auto request = std::make_shared<HttpRequest>(std::move(s.request));
    auto self = shared_from_this();
    ++in_handler_;
    const bool queued = server_->workers.TryPost([self, request, stream_id] {
      HttpResponse response = self->server_->handler(*request);
      asio::post(self->stream_.get_executor(),
                 [self, stream_id, r = std::move(response)]() mutable {
                   --self->in_handler_;
                   self->Submit(stream_id, std::move(r));
                   if (self->closing_ && self->in_handler_ == 0) {
                     nghttp2_session_terminate_session(self->session_, NGHTTP2_NO_ERROR);
                   }
                   self->Flush();
                 });
    });
    if (!queued) {
      --in_handler_;
      ++server_->stats.overloaded;
      HttpResponse busy = server_->on_error(
          503, "the edge is at capacity: retry after the time in Retry-After", *request);
      busy.headers.emplace_back("retry-after", "1");
      Submit(stream_id, std::move(busy));
    }
  }

  static ssize_t ReadBody(nghttp2_session*, int32_t stream_id, uint8_t* buf, size_t length,
                          uint32_t* flags, nghttp2_data_source*, void* user_data) {
    Http2Session* self = Self(user_data);
    auto it = self->streams_.find(stream_id);
    if (it == self->streams_.end()) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    Stream& s = it->second;
    if (s.body_stream != nullptr) {
      if (s.chunk_sent < s.chunk.size()) {
        const size_t n = std::min(length, s.chunk.size() - s.chunk_sent);
        std::copy_n(s.chunk.data() + s.chunk_sent, n, buf);
        s.chunk_sent += n;
        if (s.chunk_sent == s.chunk.size()) {
          s.chunk.clear();
          s.chunk_sent = 0;
          std::function<void(bool)> done = std::move(s.chunk_done);
          s.chunk_done = nullptr;
          if (done) asio::post(self->stream_.get_executor(), [done] { done(true); });
        }
        return static_cast<ssize_t>(n);
      }
      if (s.body_ended) {
        *flags |= NGHTTP2_DATA_FLAG_EOF;
        return 0;
      }
      s.deferred = true;
      return NGHTTP2_ERR_DEFERRED;
    }
    const size_t n = std::min(length, s.response_body.size() - s.sent);
    std::copy_n(s.response_body.data() + s.sent, n, buf);
    s.sent += n;
    if (s.sent == s.response_body.size()) *flags |= NGHTTP2_DATA_FLAG_EOF;
    return static_cast<ssize_t>(n);
  }

  void Submit(int32_t stream_id, HttpResponse r) {
    auto it = streams_.find(stream_id);
    if (it == streams_.end()) return;  // the client reset the stream meanwhile
    Stream& s = it->second;
    s.response_body = std::move(r.body);
    s.sent = 0;
    s.body_stream = std::move(r.stream);
    // Lower-case names (RFC 9113 §8.2.1); connection-specific fields dropped.
    std::vector<std::pair<std::string, std::string>> fields;
    fields.emplace_back(":status", std::to_string(r.status));
    for (const auto& [name, value] : server_->fixed_headers()) {
      fields.emplace_back(absl::AsciiStrToLower(name), value);
    }
    for (auto& [name, value] : r.headers) {
      std::string lower = absl::AsciiStrToLower(name);
      if (lower == "connection" || lower == "keep-alive" || lower == "transfer-encoding") continue;
      fields.emplace_back(std::move(lower), std::move(value));
    }
    if (s.body_stream == nullptr) {
      fields.emplace_back("content-length", std::to_string(s.response_body.size()));
    }
    std::vector<nghttp2_nv> nv;
    nv.reserve(fields.size());
    for (auto& [name, value] : fields) {
      nv.push_back({reinterpret_cast<uint8_t*>(name.data()), reinterpret_cast<uint8_t*>(value.data()),
                    name.size(), value.size(), NGHTTP2_NV_FLAG_NONE});
    }
    nghttp2_data_provider provider;
    provider.source.ptr = nullptr;
    provider.read_callback = ReadBody;
    nghttp2_submit_response(
        session_, stream_id, nv.data(), nv.size(),
        s.response_body.empty() && s.body_stream == nullptr ? nullptr : &provider);
    if (s.body_stream != nullptr) {
      std::shared_ptr<HttpBodyStream> body = s.body_stream;
      body->Start(std::make_shared<Writer>(shared_from_this(), stream_id));
      if (closing_) CancelBody(s);
    }
  }

  void Read() {
    auto self = shared_from_this();
    stream_.async_read_some(asio::buffer(read_buffer_), [self](beast::error_code ec, size_t n) {
      if (ec) return self->Close();
      self->last_activity_ = Clock::now();
      const ssize_t rc =
          nghttp2_session_mem_recv(self->session_, self->read_buffer_.data(), n);
      if (rc < 0) {
        // Not HTTP/2 as RFC 9113 has it: nghttp2 queued a GOAWAY; send it.
        ++self->server_->stats.bad_framing;
      }
      self->Flush();
      if (rc >= 0 && !self->closed_) self->Read();
    });
  }

  // Sends what nghttp2 has queued; closes when neither side wants more.
  void Flush() {
    if (writing_ || closed_) return;
    write_buffer_.clear();
    for (;;) {
      const uint8_t* data = nullptr;
      const ssize_t n = nghttp2_session_mem_send(session_, &data);
      if (n < 0) return Close();
      if (n == 0) break;
      write_buffer_.append(reinterpret_cast<const char*>(data), static_cast<size_t>(n));
      if (write_buffer_.size() >= 64 * 1024) break;
    }
    if (write_buffer_.empty()) {
      if (nghttp2_session_want_read(session_) == 0 && nghttp2_session_want_write(session_) == 0) {
        Close();
      }
      return;
    }
    writing_ = true;
    write_started_ = Clock::now();
    auto self = shared_from_this();
    asio::async_write(stream_, asio::buffer(write_buffer_), [self](beast::error_code ec, size_t) {
      self->writing_ = false;
      if (ec) return self->Close();
      self->Flush();
    });
  }

  // Once a second: the idle, slow-request and write timeouts.
  void Tick() {
    timer_.expires_after(std::chrono::seconds(1));
    auto self = shared_from_this();
    timer_.async_wait([self](beast::error_code ec) {
      if (ec || self->closed_) return;
      const Clock::time_point now = Clock::now();
      bool expired = false;
      bool any_open = false;
      const auto request_limit =
          absl::ToChronoMilliseconds(self->o_.header_timeout + self->o_.body_timeout);
      const auto write_limit = absl::ToChronoMilliseconds(self->o_.write_timeout);
      for (const auto& [id, s] : self->streams_) {
        any_open = true;
        if (!s.answered && now - s.started > request_limit) expired = true;
        // A streamed chunk the client does not take (a closed flow-control
        // window) for the write timeout ends that stream only.
        if (s.body_stream != nullptr && !s.chunk.empty() && now - s.chunk_since > write_limit) {
          ++self->server_->stats.timeouts;
          nghttp2_submit_rst_stream(self->session_, NGHTTP2_FLAG_NONE, id, NGHTTP2_CANCEL);
        }
      }
      self->Flush();
      if (!any_open && self->in_handler_ == 0 && !self->writing_ &&
          now - self->last_activity_ > absl::ToChronoMilliseconds(self->o_.keep_alive_timeout)) {
        expired = true;
      }
      if (self->writing_ &&
          now - self->write_started_ > absl::ToChronoMilliseconds(self->o_.write_timeout)) {
        expired = true;
      }
      if (expired) {
        ++self->server_->stats.timeouts;
        return self->Close();
      }
      self->Tick();
    });
  }

  void Close() {
    if (closed_) return;
    closed_ = true;
    CancelBodies();
    timer_.cancel();
    beast::error_code ignored;
    beast::get_lowest_layer(stream_).socket().shutdown(asio::ip::tcp::socket::shutdown_both,
                                                       ignored);
    beast::get_lowest_layer(stream_).close();
  }

  HttpsServer::Impl* const server_;
  const HttpsServerOptions& o_;
  TlsStream stream_;
  std::shared_ptr<ConnectionTicket> ticket_;
  asio::steady_timer timer_;
  nghttp2_session* session_ = nullptr;
  std::map<int32_t, Stream> streams_;
  std::array<uint8_t, 16384> read_buffer_{};
  std::string write_buffer_;
  bool writing_ = false;
  bool closing_ = false;
  bool closed_ = false;
  int in_handler_ = 0;
  Clock::time_point last_activity_;
  Clock::time_point write_started_;
};

}  // namespace

void StartHttp2Session(HttpsServer::Impl* server, TlsStream stream,
                       std::shared_ptr<ConnectionTicket> ticket) {
  auto session = std::make_shared<Http2Session>(server, std::move(stream), std::move(ticket));
  if (!session->Init()) return;  // out of memory: the connection just closes
  server->Track(session);
  session->Start();
}

}  // namespace tongban::edge
