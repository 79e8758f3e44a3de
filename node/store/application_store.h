// ApplicationStore: the durable record of applications (办件), their
// append-only events, the 办不成事 escalations and the outbox of deliveries to
// other provinces. Every write method returns only after its transaction has
// committed (SQLite: WAL + synchronous=FULL), so an acknowledged write
// survives a crash. Writes may be group-committed with other callers' writes,
// never acknowledged before the commit.
//
// Decisions (is this transition legal?) are made by the caller inside
// MutateApplication's callback, which runs inside the write transaction on
// the store's writer thread: check and write are atomic with respect to
// every other write.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "tongban/v1/application.pb.h"

namespace tongban::node {

// A delivery waiting to go to another province through the gateway.
struct OutboxEntry {
  enum class Kind { kDeliverApplication = 1, kDeliverEvent = 2 };
  int64_t id = 0;                  // assigned by the store, increasing
  Kind kind = Kind::kDeliverApplication;
  std::string application_id;
  std::string target_province;
  std::string payload;             // serialized DeliverApplicationRequest / DeliverEventRequest
  int32_t attempts = 0;
  absl::Time created_at = absl::InfinitePast();
  absl::Time next_attempt_at = absl::InfinitePast();
  std::string last_error;          // "<CODE>: <message>" of the last failed attempt
  // A dead letter: the receiver refused the entry for good (docs/protocol.md,
  // "Deliveries that cannot be delivered"). It is never retried by itself and
  // holds back the later entries of its application until an operator replays
  // or discards it. InfinitePast while the entry is pending.
  absl::Time dead_at = absl::InfinitePast();
  std::string dead_code;           // the refusing status code, e.g. "PERMISSION_DENIED"

  bool dead() const { return dead_at != absl::InfinitePast(); }
};

// Open 好差评 rectifications (Application.rectification, docs/ratings.md).
struct RectificationCounts {
  int64_t open = 0;
  int64_t overdue = 0;  // open with due_at before the `now` asked about
};

struct OutboxStats {
  int64_t depth = 0;                          // pending entries (not dead letters)
  // Oldest pending entry that is not held back behind a dead letter of its
  // application (those wait for an operator, not for the network; the
  // dead-letter alert covers them). InfinitePast when there is none.
  absl::Time oldest_created_at = absl::InfinitePast();
  int64_t dead_letters = 0;                   // entries refused for good
  int64_t blocked = 0;                        // pending entries behind a dead letter
};

// Which outbox entries an operator lists.
struct OutboxFilter {
  enum class Status { kAny, kPending, kDeadLetter };
  Status status = Status::kAny;
  std::string application_id;   // empty: every application
  std::string target_province;  // empty: every province
};

// What a mutation adds besides the changed application row. All of it is
// written in the same transaction as the row.
struct Mutation {
  // Appended to the history in order. An empty event_id gets
  // "<own province>-<n>" assigned by the store.
  std::vector<v1::ApplicationEvent> events;
  // Outbox entries; id/attempts/times are assigned by the store (created_at =
  // next_attempt_at = the latest event's `at`, or now when there is none).
  std::vector<OutboxEntry> outbox;
  // Opens or updates the application's escalation (one per application).
  std::optional<v1::Escalation> escalation;
};

// The callback of MutateApplication: gets the current application (with its
// events) and may change its fields (not its id); returns what to append, or
// an error that aborts the mutation (nothing is written, the error is
// returned to the caller unchanged).
using MutateFn = std::function<absl::StatusOr<Mutation>(v1::Application& application)>;

struct CreateRequest {
  // The application without application_id and without event ids; the store
  // assigns application_id = FormatApplicationId(accepting, handling, date of
  // created_at in UTC+8, next sequence of this node).
  v1::Application application;
  // Idempotency: (scope, key) identify the request; the same pair returns the
  // original application with replayed = true. When the fingerprint differs
  // from the original request's, ALREADY_EXISTS.
  std::string idempotency_scope;   // the caller's principal
  std::string idempotency_key;
  std::string request_fingerprint; // hash of the request content
  // Outbox entries written with it (payload may contain the placeholder
  // application id: the store calls `make_outbox` with the stored application to
  // build the final entries).
  std::function<std::vector<OutboxEntry>(const v1::Application& stored)> make_outbox;
  // Optional, called in the transaction once application_id is assigned and
  // before anything is written: completes what depends on the id (the filing
  // record, the SUBMIT event's hash link and signature). An error aborts.
  std::function<absl::Status(v1::Application& app, std::vector<v1::ApplicationEvent>& events)>
      finalize;
};

struct CreateResult {
  v1::Application application;  // with events
  bool replayed = false;
};

struct InsertResult {
  v1::Application application;  // with events, as stored after insertion
  bool already_present = false;
};

// A page of rows in the store's order; `next_cursor` empty at the end.
template <typename T>
struct Page {
  std::vector<T> items;
  std::string next_cursor;
};

class ApplicationStore {
 public:
  virtual ~ApplicationStore() = default;

  virtual absl::StatusOr<CreateResult> CreateApplication(const CreateRequest& request) = 0;

  // CreateApplication without waiting for the commit, for callers on gRPC's
  // callback API: `done` gets what CreateApplication would return once the
  // write has committed (or failed), possibly on a thread of the store's
  // (SQLite: its completion thread), where it must not block for long. Stores that write
  // on the caller's thread (creates_asynchronously() false: PostgreSQL, one
  // round trip) keep this default, so such a caller runs CreateApplication on
  // a thread that may block instead.
  using CreateDone = std::function<void(absl::StatusOr<CreateResult>)>;
  virtual void CreateApplicationAsync(CreateRequest request, CreateDone done) {
    done(CreateApplication(request));
  }
  virtual bool creates_asynchronously() const { return false; }

  // Inserts an application received from another province as it is (its id
  // kept) unless one with that id exists; when inserted, runs `on_insert` in
  // the same transaction (to append the DELIVER event and its outbox entry).
  virtual absl::StatusOr<InsertResult> InsertForeignApplication(const v1::Application& application,
                                                                const MutateFn& on_insert) = 0;

  // NOT_FOUND when absent; otherwise runs `fn` in the write transaction.
  // Returns the application as stored afterwards, with events.
  virtual absl::StatusOr<v1::Application> MutateApplication(const std::string& application_id,
                                                            const MutateFn& fn) = 0;

  // NOT_FOUND when absent.
  virtual absl::StatusOr<v1::Application> GetApplication(const std::string& application_id,
                                                         bool with_events) = 0;

  // Applications of an applicant, newest first; cursor from a previous page.
  // With `accepting_province` set, only those accepted there.
  virtual absl::StatusOr<Page<v1::Application>> ListByApplicant(
      const std::string& id_number, const std::string& cursor, int limit,
      const std::string& accepting_province = "") = 0;
  // Applications in a state, oldest first.
  virtual absl::StatusOr<Page<v1::Application>> ListByState(v1::ApplicationState state,
                                                            const std::string& cursor,
                                                            int limit) = 0;
  // Escalations, oldest first, with application_state/item_code filled.
  virtual absl::StatusOr<Page<v1::Escalation>> ListEscalations(bool include_resolved,
                                                               const std::string& cursor,
                                                               int limit) = 0;
  // Applications (without events) whose rectification is open and, unless
  // `due_before` is InfiniteFuture, due before it; oldest first.
  virtual absl::StatusOr<Page<v1::Application>> ListOpenRectifications(absl::Time due_before,
                                                                      const std::string& cursor,
                                                                      int limit) = 0;

  // Outbox: entries due at `now`, oldest first, at most one (the oldest)
  // per application so deliveries of one application keep their order.
  virtual absl::StatusOr<std::vector<OutboxEntry>> DueOutbox(absl::Time now, int limit) = 0;
  // Removes a delivered entry; when it was a kDeliverApplication entry the
  // application's forwarding becomes DELIVERED. Runs `on_delivered` (may be
  // empty) as a mutation of the application in the same transaction.
  virtual absl::Status CompleteOutbox(int64_t entry_id, const MutateFn& on_delivered) = 0;
  // Records a failed attempt and when to try again.
  virtual absl::Status RetryOutboxLater(int64_t entry_id, absl::Time next_attempt_at,
                                        const std::string& error) = 0;
  // Records the failed attempt that makes the entry a dead letter (`code`
  // the receiver's status code name, `error` its "<CODE>: <message>"): it is
  // no longer due and it holds back the later entries of its application.
  virtual absl::Status DeadLetterOutbox(int64_t entry_id, absl::Time at, const std::string& code,
                                        const std::string& error) = 0;
  // The receiver does not know the application of this (event) entry: in one
  // transaction, records the failed attempt (the entry is due again at
  // `next_attempt_at`, after what is inserted) and inserts the entry
  // `make_delivery` builds from the application as stored here, ordered
  // ahead of this entry. An error from `make_delivery` (e.g. this node may
  // not deliver that application) is returned and nothing is written.
  virtual absl::Status RedeliverApplicationFirst(
      int64_t entry_id, absl::Time next_attempt_at, const std::string& error,
      const std::function<absl::StatusOr<OutboxEntry>(const v1::Application&)>& make_delivery) = 0;
  virtual absl::StatusOr<OutboxStats> GetOutboxStats() = 0;
  virtual absl::StatusOr<std::vector<OutboxEntry>> ListOutbox(int limit) = 0;

  // Operators (NodeAdminService). Entries in id order, `cursor` from a
  // previous page.
  virtual absl::StatusOr<Page<OutboxEntry>> ListOutboxEntries(const OutboxFilter& filter,
                                                              const std::string& cursor,
                                                              int limit) = 0;
  // NOT_FOUND when there is no such entry (never written, delivered or discarded).
  virtual absl::StatusOr<OutboxEntry> GetOutboxEntry(int64_t entry_id) = 0;
  // A dead letter back to pending, due at `now` with its attempts reset; its
  // last error stays for the record until the next attempt. NOT_FOUND when
  // absent, FAILED_PRECONDITION when it is not a dead letter. Returns the
  // entry as it is afterwards.
  virtual absl::StatusOr<OutboxEntry> ReplayDeadLetter(int64_t entry_id, absl::Time now) = 0;
  // Deletes a dead letter and runs `on_discard` (must not be empty) as a
  // mutation of its application in the same transaction (the event that
  // records who discarded it and why). NOT_FOUND / FAILED_PRECONDITION as
  // ReplayDeadLetter. Returns the entry as it was.
  virtual absl::StatusOr<OutboxEntry> DiscardDeadLetter(int64_t entry_id,
                                                        const MutateFn& on_discard) = 0;

  // Gauges read at every metrics scrape: each must stay cheap however many
  // applications the node has handled (an index range, not a table scan).
  // Escalations not yet resolved: the 办不成事 queue.
  virtual absl::StatusOr<int64_t> CountOpenEscalations() = 0;
  // Applications in each non-terminal state (received, pending supplement,
  // accepted, in review, waiting for materials); a state without any is
  // absent from the map. Terminal states are not counted: they only grow.
  virtual absl::StatusOr<std::map<v1::ApplicationState, int64_t>>
  CountOpenApplicationsByState() = 0;
  // Open rectifications, and those of them due before `now` (a partial
  // index of the open ones only).
  virtual absl::StatusOr<RectificationCounts> CountRectifications(absl::Time now) = 0;
};

}  // namespace tongban::node
