// SPDX-License-Identifier: Apache-2.0
#include "detail/jitter.hpp"

#include <cstdint>
#include <limits>
#include <random>

namespace verrou::detail {

Duration jittered_delay(Duration delay) {
  if (delay.count() < 4) return delay;
  const std::int64_t extra = delay.count() / 4;
  if (delay.count() > std::numeric_limits<std::int64_t>::max() - extra) return delay;
  thread_local std::minstd_rand engine(std::random_device{}());
  std::uniform_int_distribution<std::int64_t> spread(delay.count(), delay.count() + extra);
  return Duration(spread(engine));
}

}  // namespace verrou::detail
