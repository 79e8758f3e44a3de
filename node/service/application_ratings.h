// 好差评 (政务服务"好差评", 国办发〔2019〕51号): the rules of an applicant's
// rating of a finished application (docs/ratings.md). One place says which
// applications may be rated, what a valid rating is, and what an
// application's rating is when read: the applicant's RATE event, or — after
// rating.default_after_days without one — 基本满意 (3), derived, never written.
//
// Why derived and not a sweeper's event: the signed history then holds only
// what people did (a node must not sign a rating nobody gave), nothing has
// to run on a timer at either province, and both provinces derive the same
// answer from the same signed final event.
#pragma once

#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "google/protobuf/repeated_ptr_field.h"
#include "tongban/v1/application.pb.h"

namespace tongban::node {

inline constexpr int kDefaultRatingAfterDays = 7;  // Guangdong's rule
inline constexpr int kMaxRatingAfterDays = 365;
inline constexpr int kDefaultRectificationWorkingDays = 5;
inline constexpr int kMaxRectificationWorkingDays = 60;
// The rule named in refusals of a rating (docs/protocol.md authority table).
inline constexpr char kRatingRule[] = "ratings-by-accepting-province";

// APPROVED and DENIED (办结): the office did its work and the applicant saw
// the outcome. NOT_ACCEPTED, TERMINATED and WITHDRAWN are not rated: no
// handling took place (or it ended by the applicant's own act); their
// complaints go to the 办不成事 window instead.
bool IsRatableState(v1::ApplicationState state);

// Levels 1 and 2 (不满意, 非常不满意): a 差评 that needs a rectification.
bool IsPoorRating(v1::SatisfactionLevel level);

// Levels 1..5 (not UNSPECIFIED, not an unknown number).
bool IsKnownLevel(v1::SatisfactionLevel level);

// INVALID_ARGUMENT naming the field: `level` must be 1..5, `comment` UTF-8
// of at most 500 characters without control characters.
absl::Status ValidateRating(int level, const std::string& comment);

// The application's RATE event, if any (the first one; there is at most one).
const v1::ApplicationEvent* FindRatingEvent(
    const google::protobuf::RepeatedPtrField<v1::ApplicationEvent>& events);

// When the application reached its current ratable state: the `at` of the
// last event that entered it (the handling province's APPROVE/DENY, or its
// mirror). nullopt when the state is not ratable or no event entered it.
std::optional<absl::Time> FinishedAt(const v1::Application& application);

// Whether a new rating may be recorded now: FAILED_PRECONDITION naming rule
// ratings-by-accepting-province when the state is not ratable or the window
// (`default_after_days` after FinishedAt) has closed; ALREADY_EXISTS when it
// is rated already. `check_window` is false for the handling node receiving
// a rating: the accepting province's window applies, not its own setting.
absl::Status CheckRatable(const v1::Application& application, absl::Time now,
                          int default_after_days, bool check_window);

// The rating as read at `now` (see ApplicationRating in application.proto).
v1::ApplicationRating DeriveRating(const v1::Application& application, absl::Time now,
                                   int default_after_days);

}  // namespace tongban::node
