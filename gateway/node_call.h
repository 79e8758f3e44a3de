// Calls to nodes, one (Call) or many at once (FanOut), with the gateway's
// rules applied in one place: ejected nodes are not called, every call has a
// deadline, its outcome feeds outlier detection and client metrics, and it
// carries the request id of the public call being served on this thread
// (ScopedRequestId, as x-request-id metadata) so nodes log it.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "gateway_metrics.h"
#include "grpc_server_metrics.h"
#include "grpcpp/client_context.h"
#include "node_pool.h"
#include "request_id.h"

namespace tongban::gateway {

// One call's outcome in a fan-out.
template <typename Response>
struct NodeResult {
  std::string province;
  grpc::Status status;
  Response response;
};

// Everything a node call needs besides the call itself.
struct NodeCaller {
  NodePool* pool;
  GatewayMetrics* metrics;
};

// A synchronous call to one province's node. `invoke(stubs, ctx, response)`
// makes the call; `decorate(ctx)` may add metadata.
template <typename Response, typename Invoke>
grpc::Status CallNode(const NodeCaller& caller, const std::string& province,
                      const char* service, const char* method, absl::Time deadline,
                      Invoke invoke, Response* response,
                      const std::function<void(grpc::ClientContext*)>& decorate = {}) {
  absl::Status admitted = caller.pool->Admit(province);
  std::shared_ptr<const NodeStubs> stubs = caller.pool->Get(province);
  if (!admitted.ok() || stubs == nullptr) {
    // UNAVAILABLE also for "no node in the directory": a routing gap is not
    // an answer from the province, and callers must retry rather than
    // conclude the thing they asked for does not exist.
    return grpc::Status(grpc::StatusCode::UNAVAILABLE,
                        absl::StrCat("province ", province, ": ", admitted.message()));
  }
  grpc::ClientContext ctx;
  ctx.set_deadline(absl::ToChronoTime(deadline));
  PropagateRequestId(&ctx);  // the public call's id, for the node's log lines
  if (decorate) decorate(&ctx);
  caller.metrics->ClientStarted(service, method, province);
  absl::Time start = absl::Now();
  grpc::Status s = invoke(*stubs, &ctx, response);
  caller.metrics->ClientHandled(service, method, province, GrpcCodeName(s.error_code()),
                                absl::ToDoubleSeconds(absl::Now() - start));
  caller.pool->Report(province, s.error_code(), s.error_message());
  return s;
}

// The same call to many provinces at once, each with `per_node` deadline
// (capped by `overall`). `start(stubs, ctx, response, done)` starts an async
// call (stub->async()->Method(ctx, &request, response, done)). Returns one
// result per province, in the order given.
template <typename Response, typename Start>
std::vector<NodeResult<Response>> FanOut(const NodeCaller& caller,
                                         const std::vector<std::string>& provinces,
                                         const char* service, const char* method,
                                         absl::Duration per_node, absl::Time overall,
                                         Start start) {
  struct Pending {
    std::shared_ptr<const NodeStubs> stubs;  // keeps the channel alive during the call
    grpc::ClientContext ctx;
    absl::Time started;
  };
  std::vector<NodeResult<Response>> results(provinces.size());
  std::vector<std::unique_ptr<Pending>> pending(provinces.size());
  absl::Mutex mu;
  int outstanding = 0;  // guarded by mu
  const absl::Time deadline = std::min(overall, absl::Now() + per_node);
  for (size_t i = 0; i < provinces.size(); ++i) {
    results[i].province = provinces[i];
    absl::Status admitted = caller.pool->Admit(provinces[i]);
    std::shared_ptr<const NodeStubs> stubs = caller.pool->Get(provinces[i]);
    if (!admitted.ok() || stubs == nullptr) {
      results[i].status = grpc::Status(grpc::StatusCode::UNAVAILABLE, std::string(admitted.message()));
      continue;
    }
    pending[i] = std::make_unique<Pending>();
    pending[i]->stubs = stubs;
    pending[i]->ctx.set_deadline(absl::ToChronoTime(deadline));
    PropagateRequestId(&pending[i]->ctx);  // on this (the caller's) thread
    pending[i]->started = absl::Now();
    caller.metrics->ClientStarted(service, method, provinces[i]);
    {
      absl::MutexLock lock(&mu);
      ++outstanding;
    }
    start(*stubs, &pending[i]->ctx, &results[i].response, [&, i](grpc::Status s) {
      caller.metrics->ClientHandled(service, method, provinces[i], GrpcCodeName(s.error_code()),
                                    absl::ToDoubleSeconds(absl::Now() - pending[i]->started));
      caller.pool->Report(provinces[i], s.error_code(), s.error_message());
      absl::MutexLock lock(&mu);
      results[i].status = std::move(s);
      --outstanding;
    });
  }
  // Every call has a deadline, so every callback runs; wait for all of them.
  absl::MutexLock lock(&mu);
  mu.Await(absl::Condition(
      +[](int* n) { return *n == 0; }, &outstanding));
  return results;
}

// "deadline exceeded after 500 ms", "ejected ...": why a province is missing.
inline std::string MissingReason(const grpc::Status& s) {
  switch (s.error_code()) {
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return "did not answer within the per-node deadline";
    case grpc::StatusCode::UNAVAILABLE:
      return absl::StrCat("unavailable: ", s.error_message());
    default:
      return absl::StrCat(GrpcCodeName(s.error_code()), ": ", s.error_message());
  }
}

}  // namespace tongban::gateway
