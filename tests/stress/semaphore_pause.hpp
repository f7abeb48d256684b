// SPDX-License-Identifier: Apache-2.0
// `verrou_mutex_check pause --limit N` (semaphore_pause.cpp): a permit holder frozen past its
// TTL, as mutex_check.cpp's `pause` does for a lock holder.
#pragma once

#include <cstdint>
#include <string>

#include "verrou/duration.hpp"

namespace verrou::stress {

/// Forks a holder of a permit of the semaphore `key` (limit `limit`) on the store at `url`,
/// freezes it (SIGSTOP) for `ttl` + 600 ms, and checks that `limit` new holders get in
/// meanwhile and no more; that the thawed holder's extend and release are refused with
/// `LockNotOwnedError` (also on a permit whose lease ran out untaken), that its keep-alive
/// reports the loss at once, that it cannot take a permit of the full semaphore again; and
/// that the new holders keep their permits. Prints one line; returns the number of failures.
int pause_permit_holder(const std::string& url, Duration ttl, std::uint32_t limit,
                        const std::string& key);

}  // namespace verrou::stress
