// The one exponential backoff: `first` after the first failure, doubling per
// further failure, never above `cap`. Used by handler retries, redelivery of
// refused replies and remote retries (which add their own jitter).
//
// @locality: pure function, any thread.
#pragma once

#include <algorithm>
#include <chrono>

namespace memrun::internal {

// REQUIRES: failures >= 1, first and cap not negative.
constexpr std::chrono::milliseconds exponential_backoff(std::chrono::milliseconds first, int failures,
                                                        std::chrono::milliseconds cap) {
  // Doubling stops once it passes the cap, so no shift overflows.
  auto wait = first;
  for (int i = 1; i < failures && wait < cap; ++i) wait *= 2;
  return std::min(wait, cap);
}

static_assert(exponential_backoff(std::chrono::milliseconds(100), 1, std::chrono::milliseconds(2000)).count() == 100);
static_assert(exponential_backoff(std::chrono::milliseconds(100), 3, std::chrono::milliseconds(2000)).count() == 400);
static_assert(exponential_backoff(std::chrono::milliseconds(100), 99, std::chrono::milliseconds(2000)).count() ==
              2000);

}  // namespace memrun::internal
