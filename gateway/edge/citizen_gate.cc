#include "citizen_gate.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace tongban::edge {

CitizenGate::CitizenGate(const CitizenTokenVerifier* verifier, RateLimiter* limiter,
                         EdgeMetrics* metrics)
    : verifier_(verifier), limiter_(limiter), metrics_(metrics) {}

Admission CitizenGate::Admit(absl::string_view authorization, bool anonymous_allowed,
                             absl::string_view client_address, absl::Time deadline) const {
  Admission a;
  a.caller.deadline = deadline;
  a.token_presented = !authorization.empty();
  if (!authorization.empty() || !anonymous_allowed) {
    // A token sent to an anonymous route is still checked: a broken token
    // is a bug the app should hear about, not something to ignore.
    absl::StatusOr<absl::string_view> token = BearerToken(authorization);
    absl::StatusOr<VerifiedCitizen> citizen =
        token.ok() ? verifier_->Verify(*token) : absl::StatusOr<VerifiedCitizen>(token.status());
    if (!citizen.ok()) {
      metrics_->Rejected(authorization.empty() ? "token_missing" : "token_invalid");
      a.status = grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                              std::string(citizen.status().message()));
      return a;
    }
    a.caller.citizen_id = std::move(citizen->citizen_id);
  }
  const std::string key = a.caller.citizen_id.empty()
                              ? absl::StrCat("addr:", client_address)
                              : absl::StrCat("citizen:", a.caller.citizen_id);
  RateLimiter::Decision d = limiter_->Admit(key);
  if (!d.allowed) {
    metrics_->Rejected("rate_limited");
    a.retry_after = d.retry_after;
    a.status = grpc::Status(
        grpc::StatusCode::RESOURCE_EXHAUSTED,
        absl::StrFormat("rate limit exceeded for this %s: retry after %.1f s",
                        a.caller.citizen_id.empty() ? "client address" : "citizen",
                        absl::ToDoubleSeconds(d.retry_after)));
  }
  return a;
}

}  // namespace tongban::edge
