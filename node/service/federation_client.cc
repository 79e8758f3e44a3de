#include "federation_client.h"

#include <memory>
#include <utility>

#include "grpc_status.h"

namespace tongban::node {
namespace {

template <typename Response, typename Call>
absl::StatusOr<Response> Invoke(absl::Duration timeout, Call call) {
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  Response response;
  grpc::Status status = call(&context, &response);
  if (!status.ok()) return FromGrpcStatus(status);
  return response;
}

// One call on gRPC's callback client API: `start(context, request, response,
// on_status)` starts it (a stub's async() method); `done` gets the answer.
template <typename Request, typename Response, typename Start>
void CallAsync(absl::Duration timeout, const Request& request,
               std::function<void(absl::StatusOr<Response>)> done, Start start) {
  // Lives until gRPC calls back: the call's context, request and answer.
  struct Call {
    grpc::ClientContext context;
    Request request;
    Response response;
    std::function<void(absl::StatusOr<Response>)> done;
  };
  auto* call = new Call;
  call->context.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  call->request = request;
  call->done = std::move(done);
  start(&call->context, &call->request, &call->response, [call](grpc::Status status) {
    std::unique_ptr<Call> owned(call);
    if (!status.ok()) {
      owned->done(FromGrpcStatus(status));
    } else {
      owned->done(std::move(owned->response));
    }
  });
}

}  // namespace

GatewayFederationClient::GatewayFederationClient(std::shared_ptr<grpc::Channel> gateway_channel,
                                                 absl::Duration timeout)
    : stub_(v1::FederationService::NewStub(std::move(gateway_channel))), timeout_(timeout) {}

absl::StatusOr<v1::FetchGuideResponse> GatewayFederationClient::FetchGuide(
    const v1::FetchGuideRequest& request) {
  return Invoke<v1::FetchGuideResponse>(timeout_, [&](grpc::ClientContext* c, auto* r) {
    return stub_->FetchGuide(c, request, r);
  });
}

absl::StatusOr<v1::DeliverApplicationResponse> GatewayFederationClient::DeliverApplication(
    const v1::DeliverApplicationRequest& request) {
  return Invoke<v1::DeliverApplicationResponse>(timeout_, [&](grpc::ClientContext* c, auto* r) {
    return stub_->DeliverApplication(c, request, r);
  });
}

absl::StatusOr<v1::DeliverEventResponse> GatewayFederationClient::DeliverEvent(
    const v1::DeliverEventRequest& request) {
  return Invoke<v1::DeliverEventResponse>(timeout_, [&](grpc::ClientContext* c, auto* r) {
    return stub_->DeliverEvent(c, request, r);
  });
}

absl::StatusOr<v1::VerifyLicenceResponse> GatewayFederationClient::CheckLicence(
    const v1::CheckLicenceRequest& request) {
  return Invoke<v1::VerifyLicenceResponse>(timeout_, [&](grpc::ClientContext* c, auto* r) {
    return stub_->CheckLicence(c, request, r);
  });
}

absl::StatusOr<v1::PreviewLicenceResponse> GatewayFederationClient::FetchLicencePreview(
    const v1::FetchLicencePreviewRequest& request) {
  return Invoke<v1::PreviewLicenceResponse>(timeout_, [&](grpc::ClientContext* c, auto* r) {
    return stub_->FetchLicencePreview(c, request, r);
  });
}

absl::StatusOr<v1::ConfirmLicenceResponse> GatewayFederationClient::ReleaseLicence(
    const v1::ReleaseLicenceRequest& request) {
  return Invoke<v1::ConfirmLicenceResponse>(timeout_, [&](grpc::ClientContext* c, auto* r) {
    return stub_->ReleaseLicence(c, request, r);
  });
}

void GatewayFederationClient::CheckLicenceAsync(const v1::CheckLicenceRequest& request,
                                                CheckDone done) {
  CallAsync(timeout_, request, std::move(done), [this](auto... args) {
    stub_->async()->CheckLicence(std::move(args)...);
  });
}

void GatewayFederationClient::FetchLicencePreviewAsync(
    const v1::FetchLicencePreviewRequest& request, PreviewDone done) {
  CallAsync(timeout_, request, std::move(done), [this](auto... args) {
    stub_->async()->FetchLicencePreview(std::move(args)...);
  });
}

void GatewayFederationClient::ReleaseLicenceAsync(const v1::ReleaseLicenceRequest& request,
                                                  ReleaseDone done) {
  CallAsync(timeout_, request, std::move(done), [this](auto... args) {
    stub_->async()->ReleaseLicence(std::move(args)...);
  });
}

}  // namespace tongban::node
