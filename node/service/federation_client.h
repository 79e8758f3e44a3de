// FederationClient: how a node reaches other provinces — always through the
// gateway (DESIGN.md §2). An interface so that the guide resolver and the
// outbox forwarder can be tested with a fake, and a gRPC implementation that
// calls the gateway over mTLS with the node's own certificate.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "grpcpp/channel.h"
#include "tongban/v1/federation.grpc.pb.h"

namespace tongban::node {

class FederationClient {
 public:
  virtual ~FederationClient() = default;
  virtual absl::StatusOr<v1::FetchGuideResponse> FetchGuide(const v1::FetchGuideRequest& request) = 0;
  virtual absl::StatusOr<v1::DeliverApplicationResponse> DeliverApplication(
      const v1::DeliverApplicationRequest& request) = 0;
  virtual absl::StatusOr<v1::DeliverEventResponse> DeliverEvent(
      const v1::DeliverEventRequest& request) = 0;
  virtual absl::StatusOr<v1::VerifyLicenceResponse> CheckLicence(
      const v1::CheckLicenceRequest& request) = 0;
  // CheckLicence for callers on gRPC's callback API: `done` gets the answer
  // on a gRPC thread, without a thread waiting meanwhile. This default asks
  // on the calling thread (fakes in tests).
  using CheckDone = std::function<void(absl::StatusOr<v1::VerifyLicenceResponse>)>;
  virtual void CheckLicenceAsync(const v1::CheckLicenceRequest& request, CheckDone done) {
    done(CheckLicence(request));
  }
  virtual absl::StatusOr<v1::PreviewLicenceResponse> FetchLicencePreview(
      const v1::FetchLicencePreviewRequest& request) = 0;
  virtual absl::StatusOr<v1::ConfirmLicenceResponse> ReleaseLicence(
      const v1::ReleaseLicenceRequest& request) = 0;
  // The same for the 免证办 steps (defaults: on the calling thread).
  using PreviewDone = std::function<void(absl::StatusOr<v1::PreviewLicenceResponse>)>;
  using ReleaseDone = std::function<void(absl::StatusOr<v1::ConfirmLicenceResponse>)>;
  virtual void FetchLicencePreviewAsync(const v1::FetchLicencePreviewRequest& request,
                                        PreviewDone done) {
    done(FetchLicencePreview(request));
  }
  virtual void ReleaseLicenceAsync(const v1::ReleaseLicenceRequest& request, ReleaseDone done) {
    done(ReleaseLicence(request));
  }
};

// Calls the gateway's FederationService relay on one long-lived channel.
class GatewayFederationClient final : public FederationClient {
 public:
  GatewayFederationClient(std::shared_ptr<grpc::Channel> gateway_channel, absl::Duration timeout);
  absl::StatusOr<v1::FetchGuideResponse> FetchGuide(const v1::FetchGuideRequest& request) override;
  absl::StatusOr<v1::DeliverApplicationResponse> DeliverApplication(
      const v1::DeliverApplicationRequest& request) override;
  absl::StatusOr<v1::DeliverEventResponse> DeliverEvent(
      const v1::DeliverEventRequest& request) override;
  absl::StatusOr<v1::VerifyLicenceResponse> CheckLicence(
      const v1::CheckLicenceRequest& request) override;
  void CheckLicenceAsync(const v1::CheckLicenceRequest& request, CheckDone done) override;
  absl::StatusOr<v1::PreviewLicenceResponse> FetchLicencePreview(
      const v1::FetchLicencePreviewRequest& request) override;
  absl::StatusOr<v1::ConfirmLicenceResponse> ReleaseLicence(
      const v1::ReleaseLicenceRequest& request) override;
  void FetchLicencePreviewAsync(const v1::FetchLicencePreviewRequest& request,
                                PreviewDone done) override;
  void ReleaseLicenceAsync(const v1::ReleaseLicenceRequest& request, ReleaseDone done) override;

 private:
  std::unique_ptr<v1::FederationService::Stub> stub_;
  absl::Duration timeout_;
};

}  // namespace tongban::node
