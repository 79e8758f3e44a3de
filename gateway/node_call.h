// Calls to nodes, one (Call) or many at once (FanOut), with the gateway's
// rules applied in one place: ejected nodes are not called, every call has a
// deadline, its outcome feeds outlier detection and client metrics, and it
// carries the request id of the public call being served on this thread
// (ScopedRequestId, as x-request-id metadata) so nodes log it.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
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
  GrpcCallSeries& series = caller.metrics->Client(service, method, province);
  series.Started();
  absl::Time start = absl::Now();
  grpc::Status s = invoke(*stubs, &ctx, response);
  series.Handled(s.error_code(), absl::ToDoubleSeconds(absl::Now() - start));
  caller.pool->Report(province, s.error_code(), s.error_message());
  return s;
}

// The same call to many provinces at once, each with `per_node` deadline
// (capped by `overall`), without a thread waiting: `start(stubs, ctx,
// response, done)` starts an async call (stub->async()->Method(ctx, &request,
// response, done); whatever the request is, `start` must keep it alive, e.g.
// by holding it in a shared_ptr). `done(results)` runs once, when the last
// call has finished (on that call's gRPC thread), or on this thread when no
// call could be made; one result per province, in the order given.
// `released` (optional) runs after everything the fan-out held (contexts,
// channels) is gone, which may be after `done`: a caller that must not
// outlive the fan-out's references waits for it (FanOut does).
template <typename Response, typename Start>
void FanOutAsync(const NodeCaller& caller, const std::vector<std::string>& provinces,
                 const char* service, const char* method, absl::Duration per_node,
                 absl::Time overall, Start start,
                 std::function<void(std::vector<NodeResult<Response>>)> done,
                 std::function<void()> released = {}) {
  struct Pending {
    std::shared_ptr<const NodeStubs> stubs;  // keeps the channel alive during the call
    grpc::ClientContext ctx;
    absl::Time started;
  };
  // Declared first, destroyed last: runs `released` once the rest is gone.
  struct OnReleased {
    std::function<void()> fn;
    ~OnReleased() {
      if (fn) fn();
    }
  };
  struct State {
    explicit State(Start s) : start(std::move(s)) {}
    OnReleased on_released;
    std::vector<NodeResult<Response>> results;
    std::vector<std::unique_ptr<Pending>> pending;
    // Calls not finished, plus one for the loop below, so that `done` cannot
    // run while calls are still being started.
    std::atomic<int> outstanding{1};
    std::function<void(std::vector<NodeResult<Response>>)> done;
    Start start;
  };
  auto state = std::make_shared<State>(std::move(start));
  state->results.resize(provinces.size());
  state->pending.resize(provinces.size());
  state->done = std::move(done);
  state->on_released.fn = std::move(released);
  const auto finish_one = [](const std::shared_ptr<State>& st) {
    if (st->outstanding.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      st->done(std::move(st->results));
    }
  };
  const absl::Time deadline = std::min(overall, absl::Now() + per_node);
  for (size_t i = 0; i < provinces.size(); ++i) {
    state->results[i].province = provinces[i];
    absl::Status admitted = caller.pool->Admit(provinces[i]);
    std::shared_ptr<const NodeStubs> stubs = caller.pool->Get(provinces[i]);
    if (!admitted.ok() || stubs == nullptr) {
      state->results[i].status =
          grpc::Status(grpc::StatusCode::UNAVAILABLE, std::string(admitted.message()));
      continue;
    }
    Pending* p = (state->pending[i] = std::make_unique<Pending>()).get();
    p->stubs = std::move(stubs);
    p->ctx.set_deadline(absl::ToChronoTime(deadline));
    PropagateRequestId(&p->ctx);  // on this (the caller's) thread
    p->started = absl::Now();
    GrpcCallSeries* series = &caller.metrics->Client(service, method, provinces[i]);
    series->Started();
    state->outstanding.fetch_add(1, std::memory_order_relaxed);
    state->start(*p->stubs, &p->ctx, &state->results[i].response,
                 [state, caller, series, i, finish_one](grpc::Status s) {
                   const std::string& province = state->results[i].province;
                   series->Handled(
                       s.error_code(),
                       absl::ToDoubleSeconds(absl::Now() - state->pending[i]->started));
                   caller.pool->Report(province, s.error_code(), s.error_message());
                   state->results[i].status = std::move(s);
                   finish_one(state);
                 });
  }
  finish_one(state);
}

// FanOutAsync, waiting for the results on this thread (`start` may refer to
// this thread's locals).
template <typename Response, typename Start>
std::vector<NodeResult<Response>> FanOut(const NodeCaller& caller,
                                         const std::vector<std::string>& provinces,
                                         const char* service, const char* method,
                                         absl::Duration per_node, absl::Time overall,
                                         Start start) {
  std::vector<NodeResult<Response>> results;
  absl::Notification released;
  FanOutAsync<Response>(
      caller, provinces, service, method, per_node, overall, std::move(start),
      [&](std::vector<NodeResult<Response>> r) { results = std::move(r); },
      [&] { released.Notify(); });
  // Every call has a deadline, so every callback runs. Waiting for the
  // release, not just the results, means no gRPC thread still holds a
  // context or a channel of this fan-out when the caller goes on (and,
  // e.g., tears down the pool or the process): under load that tail
  // otherwise raced a test's teardown ("double free", unit.ListMyApplicationsProperty).
  released.WaitForNotification();
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
