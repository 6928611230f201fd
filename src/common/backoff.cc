#include "common/backoff.h"

#include <algorithm>
#include <cmath>

namespace diskinv {

Backoff::Backoff(BackoffOptions options, uint64_t seed)
    : opt_(options), rng_(seed != 0 ? seed : std::random_device{}()) {
  opt_.jitter = std::clamp(opt_.jitter, 0.0, 1.0);
  if (opt_.initial.count() < 1) opt_.initial = std::chrono::milliseconds(1);
  if (opt_.max < opt_.initial) opt_.max = opt_.initial;
}

std::chrono::milliseconds Backoff::Next() {
  double base =
      static_cast<double>(opt_.initial.count()) * std::ldexp(1.0, std::min(failures_, 40));
  base = std::min(base, static_cast<double>(opt_.max.count()));
  if (failures_ < 1000) ++failures_;
  double low = base * (1.0 - opt_.jitter);
  double delay = opt_.jitter > 0 ? std::uniform_real_distribution<double>(low, base)(rng_) : base;
  return std::chrono::milliseconds(std::max<int64_t>(1, std::llround(delay)));
}

}  // namespace diskinv
