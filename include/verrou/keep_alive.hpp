// SPDX-License-Identifier: Apache-2.0
//
// keep_alive.hpp: keeping a lease alive in the background, and being told the moment it is lost.
//
//   auto lock = locks.create_lock("import", 30s);
//   if (lock.acquire()) {
//     verrou::KeepAlive keep = lock.keep_alive();  // extended every 10 s from now on
//     for (auto& batch : batches) {
//       if (keep.lost()) break;                     // someone else may hold it now
//       write(batch, *lock.fencing_token());        // the resource refuses stale tokens
//     }
//     keep.stop();
//     lock.release();
//   }
//   // or: lock.run([](std::stop_token lost) { ... }) keeps the lock alive while it runs
//
// One thread per process schedules every keep-alive; extensions run on small pools of worker
// threads, one pool per store, so a slow or unreachable store delays no other store's leases.
// A lease is declared lost when an extension answers that the lock is no longer held, or when
// the store keeps failing until the lease runs out: then `lost_token()` is stopped at once,
// never later than the end of the lease the holder knows (docs/fencing.md says what that
// promises and what it cannot).
#pragma once

#include <chrono>
#include <memory>
#include <stop_token>
#include <string>
#include <string_view>

#include "verrou/duration.hpp"
#include "verrou/logger.hpp"

namespace verrou {

namespace detail {
struct KeepAliveEntry;
}  // namespace detail

/// Something a `KeepAlive` can keep alive: a lease on a lock or a semaphore permit.
///
/// `Lock::keep_alive()` makes one for a lock, `Semaphore::keep_alive()` for a permit; a
/// holder of another kind of lease implements this interface and calls `KeepAlive::start`.
///
/// Thread safety: `extend_lease` is called from the keep-alive's worker threads, never twice
/// at once for one `KeepAlive`; the other members from any thread. An implementation must
/// stay valid for as long as the `KeepAlive` holds it (it is shared).
class Lease {
 public:
  virtual ~Lease() = default;

  /// Pushes the end of the lease out to now + `lease_ttl()` in the store. Throws
  /// `LockNotOwnedError` when the lease is no longer held (it is then lost at once); any
  /// other exception is a failure that may pass (retried while the lease lasts).
  virtual void extend_lease() = 0;

  /// The lease length, which each extension renews; above zero.
  [[nodiscard]] virtual Duration lease_ttl() const = 0;

  /// Which store the lease lives in: leases of one store share that store's extension
  /// workers, so a store that hangs holds up no other. Any stable address (the store's).
  [[nodiscard]] virtual const void* store_identity() const noexcept = 0;

  /// What is held, for log records: "lock", "semaphore".
  [[nodiscard]] virtual std::string_view kind() const noexcept = 0;

  /// The key, for log records.
  [[nodiscard]] virtual std::string_view key() const noexcept = 0;

  /// Where warnings (a lost lease, failing extensions) and debug records go; may be null.
  [[nodiscard]] virtual std::shared_ptr<Logger> logger() const = 0;

  /// Called once when the lease is lost, just after `lost_token()` was stopped, with the reason
  /// (`KeepAlive::lost_reason()`); the library's leases report it to the factory's `Observer`.
  /// Must not throw. Does nothing by default.
  virtual void lost(std::string_view /*reason*/) noexcept {}
};

/// Keeps a lease alive until stopped, and says when it was lost.
///
/// While it lives (and until `stop`), the lease is extended by its TTL every third of its TTL.
/// When an extension fails with a store error, it is retried every tenth of the TTL (at most
/// every second) while the lease lasts. The lease is *lost* when an extension answers that it
/// is no longer held (it expired, or someone force-released it), or when the store failed
/// until the lease the holder knows ran out: `lost_token()` is then stopped at once (for store
/// failures a little before that lease end, never after it), extending ends, and a warning is
/// logged through the factory's logger. Losing is final.
///
/// Neither `stop` nor the destructor releases the lock: release it after stopping.
/// A `KeepAlive` made by default, or moved from, keeps nothing alive and is never lost.
///
/// Callbacks registered on `lost_token()` (`std::stop_callback`) run on the keep-alive's
/// threads when the lease is lost: keep them short (set a flag, wake a thread), as other
/// leases wait meanwhile.
///
/// After `fork()`, keep-alives made in the child work; those of the parent count as lost in
/// the child (the leases are the parent's) and go on in the parent.
///
/// Thread safety: all members may be called concurrently.
class KeepAlive {
 public:
  KeepAlive() noexcept;
  KeepAlive(KeepAlive&& other) noexcept;
  KeepAlive& operator=(KeepAlive&& other) noexcept;
  KeepAlive(const KeepAlive&) = delete;
  KeepAlive& operator=(const KeepAlive&) = delete;
  /// Stops, as `stop()`.
  ~KeepAlive();

  /// Starts keeping `lease` alive; `lease_end` is when its lease ends as the holder knows it
  /// (an extension is made at once when a third of the TTL or more has passed). The lease is
  /// lost at once when `lease_end` has already passed. Throws `InvalidArgumentError` for a
  /// null lease or a TTL ≤ 0, `std::system_error` when no thread can be started.
  static KeepAlive start(std::shared_ptr<Lease> lease,
                         std::chrono::steady_clock::time_point lease_end);

  /// Stopped (`stop_requested()`) the moment the lease is lost. A token of a default-made
  /// `KeepAlive` is never stopped.
  [[nodiscard]] std::stop_token lost_token() const noexcept;

  /// Whether the lease was lost.
  [[nodiscard]] bool lost() const noexcept;

  /// Why the lease was lost, for messages; empty while it is not.
  [[nodiscard]] std::string lost_reason() const;

  /// Stops extending. Waits for an extension in flight to end (bounded by the store's
  /// timeouts), so that once it returns the lease is not touched again; called from a
  /// `lost_token()` callback it does not wait. Does not release. Idempotent.
  void stop() noexcept;

  /// Whether this object keeps a lease alive now (started, not stopped, not lost).
  [[nodiscard]] bool active() const noexcept;

 private:
  explicit KeepAlive(std::shared_ptr<detail::KeepAliveEntry> entry) noexcept;
  std::shared_ptr<detail::KeepAliveEntry> entry_;
};

}  // namespace verrou
