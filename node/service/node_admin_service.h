// NodeAdminService (protos/tongban/v1/node_admin.proto): what this
// province's operators need to run the node without a database shell — the
// outbox and its dead letters (docs/operations.md, "Dead letters").
//
// Authorization: every method is Rule::kOwnOperator (an operator certificate
// of this province); officers decide applications and the gateway relays, but
// neither runs the node. The table lives here, next to the methods it guards.
//
// A discard is recorded as an APPLICATION_ACTION_DISCARD_DELIVERY event on
// the application (actor: the operator's SPIFFE id, note: the reason) in the
// same transaction that removes the dead letter. The event records a local
// decision and is not forwarded: the other province never received the
// delivery it is about.
#pragma once

#include <functional>
#include <string>

#include "clock.h"
#include "service/authz_policy.h"
#include "store/application_store.h"
#include "structured_log.h"
#include "tongban/v1/node_admin.grpc.pb.h"

namespace tongban::node {

struct NodeAdminServiceDeps {
  std::string own_province;
  ApplicationStore* applications = nullptr;
  const Clock* clock = nullptr;
  EventLog* log = nullptr;
  // Links (and, for a cross-province application, signs) an event this node
  // authors before it is appended: the same sealing every other event gets.
  // Optional (tests); when empty the event is stored unsealed.
  std::function<absl::Status(const v1::Application&, v1::ApplicationEvent*)> seal_event;
  // Optional: called after a replay so the forwarder tries the entry at once.
  std::function<void()> on_outbox_written;
};

class NodeAdminServiceImpl final : public v1::NodeAdminService::Service {
 public:
  // Pointers in `deps` are required (except the optional functions), not
  // owned, and must outlive the service.
  explicit NodeAdminServiceImpl(NodeAdminServiceDeps deps);

  // The authorization table of this service (every method: kOwnOperator).
  static AuthzPolicy Policy(const std::string& own_province);

  grpc::Status ListOutbox(grpc::ServerContext* ctx, const v1::ListOutboxRequest* req,
                          v1::ListOutboxResponse* resp) override;
  grpc::Status GetOutboxEntry(grpc::ServerContext* ctx, const v1::GetOutboxEntryRequest* req,
                              v1::GetOutboxEntryResponse* resp) override;
  grpc::Status ReplayDeadLetter(grpc::ServerContext* ctx, const v1::ReplayDeadLetterRequest* req,
                                v1::ReplayDeadLetterResponse* resp) override;
  grpc::Status DiscardDeadLetter(grpc::ServerContext* ctx,
                                 const v1::DiscardDeadLetterRequest* req,
                                 v1::DiscardDeadLetterResponse* resp) override;

 private:
  // The entry for an answer; `blocked_by` the dead letter it waits behind.
  static v1::OutboxEntryInfo Info(const OutboxEntry& entry, int64_t blocked_by);
  // The first dead letter of `application_id` other than `entry_id` (0: none).
  absl::StatusOr<int64_t> BlockingDeadLetter(const std::string& application_id, int64_t entry_id);

  NodeAdminServiceDeps d_;
  AuthzPolicy authz_;
};

}  // namespace tongban::node
