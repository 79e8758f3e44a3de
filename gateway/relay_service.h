// The node-to-node relay: nodes call tongban.v1.FederationService on the
// gateway; the gateway verifies the calling node's certificate, stamps its
// province as x-tongban-origin-province (a node cannot claim another), finds
// the target node from the request, and forwards the call with the caller's
// deadline minus the gateway's budget. Responses and status codes pass
// through unchanged, so the calling node's retry logic sees the target's answer.
//
// On gRPC's callback API with raw (ByteBuffer) methods: the request's bytes
// are forwarded as they came and the answer's bytes returned as the node sent
// them; the gateway reads only the route key from the wire (wire_route_key.h),
// and no thread waits while the target node works. Cancellation and the
// deadline of the calling node's call reach the target's call.
#pragma once

#include "absl/status/statusor.h"
#include "node_call.h"
#include "tongban/v1/federation.grpc.pb.h"

namespace tongban::gateway {

using RelayServiceBase = v1::FederationService::WithRawCallbackMethod_DeliverApplication<
    v1::FederationService::WithRawCallbackMethod_DeliverEvent<
        v1::FederationService::WithRawCallbackMethod_FetchGuide<
            v1::FederationService::WithRawCallbackMethod_CheckLicence<
                v1::FederationService::WithRawCallbackMethod_FetchLicencePreview<
                    v1::FederationService::WithRawCallbackMethod_ReleaseLicence<
                        v1::FederationService::Service>>>>>>;

class RelayServiceImpl final : public RelayServiceBase {
 public:
  RelayServiceImpl(NodeCaller caller, absl::Duration budget);

  grpc::ServerUnaryReactor* DeliverApplication(grpc::CallbackServerContext* ctx,
                                               const grpc::ByteBuffer* request,
                                               grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* DeliverEvent(grpc::CallbackServerContext* ctx,
                                         const grpc::ByteBuffer* request,
                                         grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* FetchGuide(grpc::CallbackServerContext* ctx,
                                       const grpc::ByteBuffer* request,
                                       grpc::ByteBuffer* response) override;
  // Target: issuing_province (field 1). A licence check never goes back to
  // the asking province itself (its node answers its own officers).
  grpc::ServerUnaryReactor* CheckLicence(grpc::CallbackServerContext* ctx,
                                         const grpc::ByteBuffer* request,
                                         grpc::ByteBuffer* response) override;
  // 免证办: target issuing_province (field 1), as CheckLicence.
  grpc::ServerUnaryReactor* FetchLicencePreview(grpc::CallbackServerContext* ctx,
                                                const grpc::ByteBuffer* request,
                                                grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* ReleaseLicence(grpc::CallbackServerContext* ctx,
                                           const grpc::ByteBuffer* request,
                                           grpc::ByteBuffer* response) override;

 private:
  // Route of the 电子证照 calls: issuing_province (field 1), never the
  // asking province itself.
  static absl::StatusOr<std::string> IssuingProvince(const std::string& origin,
                                                     const std::string& bytes);
  // The province a call goes to, from the verified caller and the request
  // bytes, or the status to answer with.
  using Route = std::function<absl::StatusOr<std::string>(const std::string& origin,
                                                          const std::string& request_bytes)>;
  grpc::ServerUnaryReactor* Relay(grpc::CallbackServerContext* ctx, const char* method,
                                  const grpc::ByteBuffer* request, grpc::ByteBuffer* response,
                                  const Route& route);

  const NodeCaller caller_;
  const absl::Duration budget_;
};

}  // namespace tongban::gateway
