// SPDX-License-Identifier: Apache-2.0
//
// errors.hpp: the exceptions of verrou-cpp.
//
// Expected outcomes are return values (`Lock::acquire` returns false when the lock stays
// taken); failures are exceptions derived from `verrou::Error`, so one `catch` covers the
// library, and `code()` gives Verrou's error code for logs and metrics:
//
//   try {
//     lock.release();
//   } catch (const verrou::LockNotOwnedError& e) {
//     // the lease ran out and someone else took the lock: the work was not protected
//   } catch (const verrou::Error& e) {
//     log(e.code(), e.what());
//   }
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>

namespace verrou {

/// Base of every exception the library throws. `what()` says what went wrong and, where it
/// can, what to do; `code()` is a stable machine-readable code (`E_…`).
/// Thread safety: immutable after construction.
class Error : public std::runtime_error {
 public:
  Error(std::string_view code, const std::string& message);

  /// Verrou's error code, e.g. `"E_LOCK_NOT_OWNED"`. Stable across releases.
  [[nodiscard]] std::string_view code() const noexcept { return code_; }

 private:
  std::string_view code_;  // always one of the string literals below
};

/// The lock is not held by this owner: it was never acquired, was released, or expired and
/// perhaps was taken by someone else. Code `E_LOCK_NOT_OWNED`.
/// Retrying the same call cannot help; acquire the lock again.
class LockNotOwnedError : public Error {
 public:
  explicit LockNotOwnedError(const std::string& message);
};

/// The lock was lost while work ran under it: `Lock::run` with a callback taking a
/// `std::stop_token` throws it after the callback returned when the keep-alive found the lease
/// lost (an extension was refused, or the store failed until the lease ran out). Code
/// `E_LOCK_NOT_OWNED`, as its base: the work was not protected to its end, and another holder
/// may have taken the lock meanwhile. Retrying the same call cannot help.
class LockLostError : public LockNotOwnedError {
 public:
  explicit LockLostError(const std::string& message);
};

/// The store failed: connection refused or lost, a timeout, an SQL error, a reply the store
/// did not expect. Code `E_LOCK_STORAGE_ERROR`. `what()` names the server and the operation.
/// Retrying can help once the store is reachable again; the outcome of the failed operation
/// is unknown (a save may or may not have taken effect, and then expires with its TTL).
class LockStorageError : public Error {
 public:
  explicit LockStorageError(const std::string& message);
};

/// A caller passed a value the library cannot use: empty key, bad TTL, malformed duration,
/// URL or serialized lock. Code `E_INVALID_ARGUMENT`. Retrying cannot help; fix the input.
class InvalidArgumentError : public Error {
 public:
  explicit InvalidArgumentError(const std::string& message);
};

/// `Lock::lock()` (the `std::unique_lock` entry point) gave up under its retry options.
/// Code `E_LOCK_TIMEOUT`. `acquire()` reports the same outcome as `false` instead.
/// Retrying can help once the holder releases.
class LockTimeoutError : public Error {
 public:
  explicit LockTimeoutError(const std::string& message);
};

}  // namespace verrou
