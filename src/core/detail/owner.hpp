// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <string>

namespace verrou::detail {

// A new owner token: 128 bits from getrandom(2) as 32 lower-case hex digits. Tokens are
// drawn from a per-thread buffer refilled from the kernel, discarded in a forked child so
// parent and child never hand out the same token. Throws LockStorageError if the kernel
// refuses randomness (it does not block once the pool is initialised).
std::string new_owner_token();

}  // namespace verrou::detail
