// SPDX-License-Identifier: Apache-2.0
#include "drivers/redis/redis_errors.hpp"

namespace verrou::detail::redis {

namespace {
std::string failure_text(std::string_view server, std::string_view operation,
                         std::string_view detail) {
  std::string message = "redis ";
  message += server;
  message += ": ";
  message += operation;
  message += " failed: ";
  message += detail;
  return message;
}
}  // namespace

void storage_failure(std::string_view server, std::string_view operation, std::string_view detail) {
  throw LockStorageError(failure_text(server, operation, detail));
}

void reply_lost(std::string_view server, std::string_view operation, std::string_view detail) {
  throw ReplyLostError(failure_text(server, operation, detail) +
                       " (the command was sent but its reply was lost: it may have run)");
}

}  // namespace verrou::detail::redis
