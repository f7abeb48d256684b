// SPDX-License-Identifier: Apache-2.0
// The Redis store's options: checking them, and reading them from URLs (store_options.cpp,
// which also registers the redis schemes with open_store).
#pragma once

#include <memory>

#include "drivers/redis/connection.hpp"
#include "verrou/drivers/redis.hpp"

namespace verrou::detail::redis {

/// Throws InvalidArgumentError naming the first bad option (what was wrong, what is valid).
void validate_connection(const RedisConnection& connection);
/// As `validate_connection`, plus the store's own options.
void validate_store_options(const RedisStoreOptions& options);

/// The settings every connection of a store shares (the TLS context made once).
/// Throws InvalidArgumentError for unreadable TLS files.
std::shared_ptr<const Settings> make_settings(const RedisConnection& connection);

}  // namespace verrou::detail::redis
