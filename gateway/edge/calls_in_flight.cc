#include "calls_in_flight.h"

#include "absl/strings/str_cat.h"

namespace tongban::edge {

std::optional<CallsInFlight::Slot> CallsInFlight::TryAcquire(const std::string& address) {
  absl::MutexLock lock(&mu_);
  int& n = in_flight_[address];
  if (n >= per_address_) return std::nullopt;
  ++n;
  return Slot(this, address);
}

int CallsInFlight::InFlight(const std::string& address) const {
  absl::MutexLock lock(&mu_);
  auto it = in_flight_.find(address);
  return it == in_flight_.end() ? 0 : it->second;
}

void CallsInFlight::Release(const std::string& address) {
  absl::MutexLock lock(&mu_);
  auto it = in_flight_.find(address);
  if (it != in_flight_.end() && --it->second <= 0) in_flight_.erase(it);
}

grpc::Status TooManyCallsInFlight(const std::string& address, int per_address) {
  return grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                      absl::StrCat("too many calls in flight from ", address, ": at most ",
                                   per_address, " at once per client address; retry after 1 s"));
}

}  // namespace tongban::edge
