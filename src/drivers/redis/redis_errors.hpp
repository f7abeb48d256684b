// SPDX-License-Identifier: Apache-2.0
// How the Redis driver's layers report failures to each other, and how they reach the caller
// as LockStorageError.
#pragma once

#include <string>
#include <string_view>

#include "verrou/errors.hpp"

namespace verrou::detail::redis {

/// A connection failed (it cannot be used any more) or a reply did not come in time.
/// `sent` tells whether any byte of the command may have reached the server: when false the
/// command certainly did not run, and can be sent again elsewhere.
struct IoError {
  std::string message;
  bool sent = true;
};

/// A command was sent but its reply was lost (timed out, or the connection failed): it may or
/// may not have run. What depends on its outcome is settled in the background (see
/// OutcomeResolver). Reaches callers as the LockStorageError it is.
class ReplyLostError : public LockStorageError {
 public:
  using LockStorageError::LockStorageError;
};

/// Throws LockStorageError: "redis <server>: <operation> failed: <detail>".
[[noreturn]] void storage_failure(std::string_view server, std::string_view operation,
                                  std::string_view detail);

/// Throws ReplyLostError, worded as storage_failure, saying the outcome is unknown.
[[noreturn]] void reply_lost(std::string_view server, std::string_view operation,
                             std::string_view detail);

}  // namespace verrou::detail::redis
