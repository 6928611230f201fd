// Backoff: the delays between retries of something that failed (a database connection, a
// replication stream): exponential from `initial`, capped at `max`, with jitter so that a fleet
// of clients that lost the same server does not come back in lockstep.
//
// Delay n (n = consecutive failures so far, from 0) is base_n = min(initial * 2^n, max), drawn
// uniformly from [base_n * (1 - jitter), base_n]: never above the cap, which is what an
// operator reads as "the longest a reconnect can wait". Reset() after a success.
#pragma once

#include <chrono>
#include <cstdint>
#include <random>

namespace diskinv {

struct BackoffOptions {
  std::chrono::milliseconds initial{100};
  std::chrono::milliseconds max{2000};
  double jitter = 0.2;  // 0: exact doubling; clamped to [0, 1]
};

class Backoff {
 public:
  // `seed` 0: a random seed (std::random_device); tests pass their own.
  explicit Backoff(BackoffOptions options, uint64_t seed = 0);

  // The delay before the next attempt, and counts one more failure.
  std::chrono::milliseconds Next();
  // After a success: the next delay is `initial` again.
  void Reset() { failures_ = 0; }

  int failures() const { return failures_; }
  const BackoffOptions& options() const { return opt_; }

 private:
  BackoffOptions opt_;
  int failures_ = 0;
  std::mt19937_64 rng_;
};

}  // namespace diskinv
