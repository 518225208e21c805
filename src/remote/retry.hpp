// Retries a remote operation that failed retriably (Error kUnavailable: a
// reset, a timeout, a 5xx or 429), with exponential backoff and jitter.
// Other errors (not found, refused, bad URL) are final at once.
#pragma once

#include <memrun/status.hpp>

#include "core/backoff.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <random>
#include <string>
#include <thread>

namespace memrun::internal {

struct RetryPolicy {
  int attempts = 4;
  std::chrono::milliseconds first_backoff{100};
  std::chrono::milliseconds max_backoff{2000};
};

template <class F>
auto with_retries(const std::string& what, F&& operation, RetryPolicy policy = {}) {
  thread_local std::mt19937 rng(std::random_device{}());
  for (int attempt = 1;; ++attempt) {
    try {
      return operation();
    } catch (const Error& e) {
      if (e.code() != Code::kUnavailable || attempt >= policy.attempts) throw;
      auto backoff = exponential_backoff(policy.first_backoff, attempt, policy.max_backoff);
      backoff += std::chrono::milliseconds(rng() % (backoff.count() / 2 + 1));  // jitter
      spdlog::warn("{} failed (attempt {}/{}): {}; retrying in {} ms", what, attempt, policy.attempts, e.what(),
                   backoff.count());
      std::this_thread::sleep_for(backoff);
    }
  }
}

}  // namespace memrun::internal
