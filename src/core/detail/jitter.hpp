// SPDX-License-Identifier: Apache-2.0
// The pause between two tries of a lock, shared by Lock::acquire and the verrou command's own
// waiting loop so both keep the same promise.
#pragma once

#include "verrou/duration.hpp"

namespace verrou::detail {

// A pause drawn at random from 100–125 % of `delay`: callers that started together drift
// apart instead of asking the store in step, and no pause is ever shorter than the delay the
// caller asked for (RetryOptions::delay). Thread safety: any thread (per-thread generator).
Duration jittered_delay(Duration delay);

}  // namespace verrou::detail
