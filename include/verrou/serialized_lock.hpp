// SPDX-License-Identifier: Apache-2.0
//
// serialized_lock.hpp: a lock written down, to hand it to another process.
//
// The JSON is Verrou's own, so a lock can pass between C++ and Node.js services:
//
//   {"key":"invoice:42","owner":"9f2c…","ttl":30000,"expirationTime":1764151234567}
//
// verrou-cpp adds `"fencingToken"` (a whole number) when the lock has one; Verrou ignores it,
// and Verrou's JSON without it reads back with no token.
//
//   std::string text = lock.serialize().to_json();          // in one process
//   auto lock = locks.restore_lock(verrou::SerializedLock::from_json(text));   // in another
//   lock.release();
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "verrou/duration.hpp"
#include "verrou/export.hpp"

namespace verrou {

/// The state of a `Lock` as plain data. Thread safety: a plain value.
struct VERROU_EXPORT SerializedLock {
  std::string key{};                             ///< the lock's key
  std::string owner{};                           ///< the owner token that holds it
  std::optional<Duration> ttl{};                 ///< lease length; nullopt: never expires
  std::optional<std::int64_t> expiration_time{}; ///< epoch ms; nullopt: none known / never
  std::optional<std::uint64_t> fencing_token{};  ///< the acquisition's token; nullopt: none

  /// `{"key":…,"owner":…,"ttl":ms|null,"expirationTime":ms|null}`, Verrou's shape, with
  /// `,"fencingToken":n` after it when there is a token.
  [[nodiscard]] std::string to_json() const;

  /// Reads Verrou's JSON shape. Unknown members are ignored (a newer writer may add some).
  /// Throws `InvalidArgumentError` when the text is not such an object: not JSON, deeper
  /// than a flat object, over 64 KiB, `key`/`owner` missing, empty or not strings, `ttl` not
  /// a positive integer within `kMaxTtl` or null, `expirationTime` not an integer or null,
  /// `fencingToken` not a whole number from 0 to 2^64-1 or null (negative, fractional, too
  /// large, text).
  static SerializedLock from_json(std::string_view json);

  friend bool operator==(const SerializedLock&, const SerializedLock&) = default;
};

}  // namespace verrou
