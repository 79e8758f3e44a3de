// 好差评 statistics arithmetic, shared by the node (GetRatingStats) and the
// gateway (GetSatisfactionStats, which sums the nodes' answers): counts per
// level 1..5, how many of the 3s are defaults, and the satisfaction rate
// (levels 3–5 ÷ all counted levels; pending cases are not counted).
#pragma once

#include <cstdint>

#include "tongban/v1/application.pb.h"

namespace tongban {

inline void EnsureLevels(v1::RatingCounts* c) {
  while (c->per_level_size() < 5) c->add_per_level(0);
}

// Recomputes satisfaction_rate from per_level.
inline void FinishRatingCounts(v1::RatingCounts* c) {
  EnsureLevels(c);
  int64_t all = 0, satisfied = 0;
  for (int i = 0; i < 5; ++i) {
    all += c->per_level(i);
    if (i >= 2) satisfied += c->per_level(i);
  }
  c->set_satisfaction_rate(all == 0 ? 0.0 : static_cast<double>(satisfied) / all);
}

// Adds one finished application's derived rating.
inline void CountRating(const v1::ApplicationRating& r, v1::RatingCounts* c) {
  EnsureLevels(c);
  const int level = static_cast<int>(r.level());
  if (level < 1 || level > 5) {
    c->set_pending(c->pending() + 1);  // not rated yet (or an unreadable stored value)
  } else {
    c->set_per_level(level - 1, c->per_level(level - 1) + 1);
    if (r.defaulted()) c->set_defaulted(c->defaulted() + 1);
  }
  FinishRatingCounts(c);
}

// Adds `from` into `into` (a node's answer into the federation's sum). Only
// the first 5 levels of `from` are read, whatever a peer sent.
inline void AddRatingCounts(const v1::RatingCounts& from, v1::RatingCounts* into) {
  EnsureLevels(into);
  for (int i = 0; i < 5 && i < from.per_level_size(); ++i) {
    into->set_per_level(i, into->per_level(i) + from.per_level(i));
  }
  into->set_defaulted(into->defaulted() + from.defaulted());
  into->set_pending(into->pending() + from.pending());
  FinishRatingCounts(into);
}

}  // namespace tongban
