// CitizenGate: the checks every public call passes before CitizenApi, the
// same for gRPC and REST: the bearer token (verified, mapped to the citizen
// id) and the rate limit (per citizen; per client address for anonymous
// catalog calls).
#pragma once

#include <memory>
#include <string>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "citizen_api.h"
#include "citizen_token.h"
#include "edge_metrics.h"
#include "grpcpp/support/status.h"
#include "rate_limiter.h"

namespace tongban::edge {

struct Admission {
  grpc::Status status;  // OK, UNAUTHENTICATED or RESOURCE_EXHAUSTED
  CitizenCaller caller;
  bool token_presented = false;  // for WWW-Authenticate: error="invalid_token"
  absl::Duration retry_after;    // with RESOURCE_EXHAUSTED
};

class CitizenGate {
 public:
  // Pointers are not owned and must outlive the gate.
  CitizenGate(const CitizenTokenVerifier* verifier, RateLimiter* limiter, EdgeMetrics* metrics);

  // `authorization` is the Authorization header ("" when absent);
  // `client_address` the peer's IP address; `deadline` the caller's.
  Admission Admit(absl::string_view authorization, bool anonymous_allowed,
                  absl::string_view client_address, absl::Time deadline) const;

 private:
  const CitizenTokenVerifier* const verifier_;
  RateLimiter* const limiter_;
  EdgeMetrics* const metrics_;
};

}  // namespace tongban::edge
