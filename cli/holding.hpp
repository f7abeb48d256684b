// SPDX-License-Identifier: Apache-2.0
// Taking a lock or a semaphore permit from the command line, with a live waiting line and
// signals honoured.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <variant>

#include "common.hpp"
#include "process.hpp"
#include "verrou/keep_alive.hpp"
#include "verrou/lock.hpp"
#include "verrou/lock_factory.hpp"
#include "verrou/semaphore.hpp"

namespace CLI {
class App;
}

namespace verrou::cli {

/// What a verb takes and holds: a lock, or a permit of a semaphore (`--limit`). Refers to
/// the object, which must outlive it.
class Holding {
 public:
  explicit Holding(Lock& lock) : held_(&lock) {}
  explicit Holding(Semaphore& permit) : held_(&permit) {}

  bool acquire(const AcquireOptions& options);
  bool acquire_immediately();
  void release();
  [[nodiscard]] KeepAlive keep_alive();
  [[nodiscard]] std::optional<Duration> ttl() const;
  [[nodiscard]] const std::string& key() const;
  /// Whether `store` wakes waiters for this kind of lease.
  [[nodiscard]] bool store_can_wait(LockStore& store) const;
  /// For messages: `lock "K"`, or `permit of semaphore "K"`.
  [[nodiscard]] std::string what() const;
  /// The lock; null for a semaphore permit.
  [[nodiscard]] Lock* lock() const;

 private:
  std::variant<Lock*, Semaphore*> held_;
};

/// Parses `--limit`: a whole number from 1 to 2^31. CliError(kExitUsage) says what is valid.
std::uint32_t parse_limit_option(std::string_view text);

/// A new permit holder of the semaphore `key`. CliError(kExitUsage) for a bad key, and for a
/// store without semaphores (naming it, and saying where to find the stores that have them).
Semaphore create_semaphore_for(LockFactory& factory, const SelectedStore& store,
                               const std::string& key, std::uint32_t limit,
                               std::optional<Duration> ttl);

/// The waiting options as typed: --timeout, --no-wait, --attempts, --delay,
/// --conflict-exit-code.
struct WaitArgs {
  std::string timeout;
  bool no_wait = false;
  std::optional<std::uint64_t> attempts;
  std::string delay = "250ms";
  int conflict_exit_code = kExitNotAcquired;
};

void add_wait_options(CLI::App& app, WaitArgs& args);

/// The waiting options, checked.
struct WaitOptions {
  std::optional<Duration> timeout;          ///< none: wait as long as it takes
  bool no_wait = false;                     ///< one try
  std::optional<std::uint64_t> attempts;    ///< most tries in all
  Duration delay{250};                      ///< pause between tries
};

/// Throws CliError(kExitUsage) for a bad duration or --attempts 0.
WaitOptions parse_wait_args(const WaitArgs& args);

/// What `acquire_lock` did.
struct Acquisition {
  enum class Outcome { acquired, not_acquired, interrupted };
  Outcome outcome = Outcome::not_acquired;
  int signal = 0;             ///< interrupted: the signal
  std::uint64_t attempts = 0;
};

/// Takes `held` under `options`, drawing the waiting line on a terminal and giving up when a
/// stop signal arrives (a lease taken at that moment is given back again). Store failures
/// propagate as LockStorageError.
Acquisition acquire_lock(Holding held, const SelectedStore& store, const WaitOptions& options,
                         SignalWatcher& signals, Verbosity verbosity);

/// The message for a lock or permit not acquired: which key, and why verrou gave up.
std::string not_acquired_message(const Holding& held, const WaitOptions& options,
                                 const Acquisition& result);

}  // namespace verrou::cli
