// The node-to-node relay: nodes call tongban.v1.FederationService on the
// gateway; the gateway verifies the calling node's certificate, stamps its
// province as x-tongban-origin-province (a node cannot claim another), finds
// the target node from the request, and forwards the call with the caller's
// deadline minus the gateway's budget. Responses and status codes pass
// through unchanged, so the calling node's retry logic sees the target's answer.
#pragma once

#include "absl/status/statusor.h"
#include "node_call.h"
#include "tongban/v1/federation.grpc.pb.h"

namespace tongban::gateway {

class RelayServiceImpl final : public v1::FederationService::Service {
 public:
  RelayServiceImpl(NodeCaller caller, absl::Duration budget);

  grpc::Status DeliverApplication(grpc::ServerContext* ctx,
                                  const v1::DeliverApplicationRequest* req,
                                  v1::DeliverApplicationResponse* resp) override;
  grpc::Status DeliverEvent(grpc::ServerContext* ctx, const v1::DeliverEventRequest* req,
                            v1::DeliverEventResponse* resp) override;
  grpc::Status FetchGuide(grpc::ServerContext* ctx, const v1::FetchGuideRequest* req,
                          v1::FetchGuideResponse* resp) override;

 private:
  // The origin province of the call, or an error status.
  absl::StatusOr<std::string> Origin(const grpc::ServerContext& ctx, const char* method) const;
  // The caller's deadline minus the budget (DEADLINE_EXCEEDED when nothing is left).
  absl::StatusOr<absl::Time> Deadline(const grpc::ServerContext& ctx) const;

  const NodeCaller caller_;
  const absl::Duration budget_;
};

}  // namespace tongban::gateway
