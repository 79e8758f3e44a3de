// Raw gRPC calls for tests: any method name, any request bytes (valid
// protobuf or not), the reply's bytes back. Built on the generic stub, as a
// client in another language or a fuzzer would reach a server.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/grpcpp.h"
#include "grpcpp/support/byte_buffer.h"

namespace tongban::testing {

inline grpc::ByteBuffer BytesToBuffer(const std::string& bytes) {
  grpc::Slice slice(bytes);
  return grpc::ByteBuffer(&slice, 1);
}

inline std::string BufferToBytes(const grpc::ByteBuffer& buffer) {
  std::vector<grpc::Slice> slices;
  std::string out;
  if (!buffer.Dump(&slices).ok()) return out;
  for (const grpc::Slice& s : slices) out.append(reinterpret_cast<const char*>(s.begin()), s.size());
  return out;
}

// A unary call of `method` ("/pkg.Service/Method") with `request` as the
// message bytes; the status, and the reply bytes in *response.
inline grpc::Status RawUnaryCall(const std::shared_ptr<grpc::Channel>& channel,
                                 const std::string& method, const std::string& request,
                                 std::string* response = nullptr, int deadline_ms = 5000) {
  grpc::GenericStub stub(channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(deadline_ms));
  grpc::CompletionQueue cq;
  grpc::ByteBuffer reply;
  grpc::Status status;
  auto call = stub.PrepareUnaryCall(&ctx, method, BytesToBuffer(request), &cq);
  call->StartCall();
  call->Finish(&reply, &status, reinterpret_cast<void*>(1));
  void* tag = nullptr;
  bool ok = false;
  cq.Next(&tag, &ok);
  cq.Shutdown();
  while (cq.Next(&tag, &ok)) {
  }
  if (response != nullptr) *response = status.ok() ? BufferToBytes(reply) : "";
  return status;
}

// A bidi-streaming call that sends one message, half-closes and reads one
// reply (e.g. grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo).
inline grpc::Status RawBidiOnce(const std::shared_ptr<grpc::Channel>& channel,
                                const std::string& method, const std::string& request,
                                std::string* response, int deadline_ms = 5000) {
  grpc::GenericStub stub(channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(deadline_ms));
  grpc::CompletionQueue cq;
  void* tag = nullptr;
  bool ok = false;
  auto next = [&] { return cq.Next(&tag, &ok) && ok; };
  response->clear();
  auto call = stub.PrepareCall(&ctx, method, &cq);
  call->StartCall(reinterpret_cast<void*>(1));
  if (next()) {
    call->Write(BytesToBuffer(request), reinterpret_cast<void*>(2));
    if (next()) {
      call->WritesDone(reinterpret_cast<void*>(3));
      if (next()) {
        grpc::ByteBuffer reply;
        call->Read(&reply, reinterpret_cast<void*>(4));
        if (next()) *response = BufferToBytes(reply);
      }
    }
  }
  grpc::Status status;
  call->Finish(&status, reinterpret_cast<void*>(5));
  cq.Next(&tag, &ok);
  cq.Shutdown();
  while (cq.Next(&tag, &ok)) {
  }
  return status;
}

}  // namespace tongban::testing
