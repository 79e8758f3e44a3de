#include "forwarded_call.h"

#include <memory>

#include "absl/strings/str_cat.h"
#include "grpc_server_metrics.h"
#include "grpcpp/generic/generic_stub.h"
#include "request_id.h"

namespace tongban::gateway {
namespace {

// What must live until the node answers.
struct CallInFlight {
  std::shared_ptr<const NodeStubs> stubs;  // keeps the channel alive
  std::unique_ptr<grpc::ClientContext> client;
  ForwardTarget target;
  absl::Time started;
};

void AppendVarint(uint64_t value, std::string* out) {
  while (value >= 0x80) {
    out->push_back(static_cast<char>((value & 0x7f) | 0x80));
    value >>= 7;
  }
  out->push_back(static_cast<char>(value));
}

}  // namespace

void ForwardUnary(const NodeCaller& caller, grpc::CallbackServerContext* serving,
                  ForwardTarget target, const grpc::ByteBuffer* request,
                  grpc::ByteBuffer* response, std::function<void(grpc::Status)> done) {
  if (target.deadline <= absl::Now()) {
    done(grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED,
                      "the caller's deadline leaves no time to call the node"));
    return;
  }
  absl::Status admitted = caller.pool->Admit(target.province);
  std::shared_ptr<const NodeStubs> stubs = caller.pool->Get(target.province);
  if (!admitted.ok() || stubs == nullptr) {
    // UNAVAILABLE also for "no node in the directory": a routing gap is not
    // an answer from the province, and callers must retry rather than
    // conclude the thing they asked for does not exist.
    done(grpc::Status(grpc::StatusCode::UNAVAILABLE,
                      absl::StrCat("province ", target.province, ": ", admitted.message())));
    return;
  }
  auto call = std::make_shared<CallInFlight>();
  call->stubs = std::move(stubs);
  call->client = grpc::ClientContext::FromCallbackServerContext(*serving);
  call->client->set_deadline(absl::ToChronoTime(target.deadline));
  for (const auto& [key, value] : target.metadata) call->client->AddMetadata(key, value);
  if (std::string id = RequestIdOfCall(serving->client_metadata()); !id.empty()) {
    call->client->AddMetadata("x-request-id", id);
  }
  call->target = std::move(target);
  call->started = absl::Now();
  GrpcCallSeries* series =
      &caller.metrics->Client(call->target.service, call->target.method, call->target.province);
  series->Started();
  grpc::GenericStub* generic = call->stubs->generic.get();
  grpc::ClientContext* client = call->client.get();
  generic->UnaryCall(
      client, absl::StrCat("/", call->target.service, "/", call->target.method),
      grpc::StubOptions(), request, response,
      [call, caller, series, done = std::move(done)](grpc::Status s) {
        const ForwardTarget& t = call->target;
        series->Handled(s.error_code(), absl::ToDoubleSeconds(absl::Now() - call->started));
        caller.pool->Report(t.province, s.error_code(), s.error_message());
        done(std::move(s));
      });
}

absl::StatusOr<std::string> FlattenByteBuffer(const grpc::ByteBuffer& buffer) {
  std::vector<grpc::Slice> slices;
  if (!buffer.Dump(&slices).ok()) {
    return absl::InvalidArgumentError("the request could not be read");
  }
  std::string bytes;
  bytes.reserve(buffer.Length());
  for (const grpc::Slice& s : slices) {
    bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
  }
  return bytes;
}

grpc::ByteBuffer AppendStringField(const grpc::ByteBuffer& buffer, int field_number,
                                   const std::string& value) {
  std::vector<grpc::Slice> slices;
  if (buffer.Valid()) (void)buffer.Dump(&slices);
  std::string field;
  AppendVarint(static_cast<uint64_t>(field_number) << 3 | 2, &field);  // wire type 2
  AppendVarint(value.size(), &field);
  field += value;
  slices.emplace_back(field);
  return grpc::ByteBuffer(slices.data(), slices.size());
}

}  // namespace tongban::gateway
