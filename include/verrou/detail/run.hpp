// SPDX-License-Identifier: Apache-2.0
//
// detail/run.hpp: the one implementation of `run(f)` / `run_immediately(f)` that `Lock` and
// `Semaphore` share: acquire, call `f` (kept alive when it takes a `std::stop_token`), give
// back, even when `f` throws. Not part of the public API: include <verrou/lock.hpp> or
// <verrou/semaphore.hpp> instead.
#pragma once

#include <functional>
#include <optional>
#include <stop_token>
#include <type_traits>
#include <utility>

#include "verrou/keep_alive.hpp"

namespace verrou::detail {

/// What `f` returns: called as `f(std::stop_token)` when it takes one, else as `f()`.
template <class F>
struct run_result {
  using type = std::invoke_result_t<F&>;
};
template <class F>
  requires std::is_invocable_v<F&, std::stop_token>
struct run_result<F> {
  using type = std::invoke_result_t<F&, std::stop_token>;
};
template <class F>
using run_result_t = typename run_result<F>::type;
template <class F>
using run_value_t = std::remove_cvref_t<run_result_t<F>>;

/// The body of `run` for a holder (a `Lock` or a `Semaphore`, which befriend this class).
/// A holder provides: `std::optional<Duration> ttl() const`, `void release()`,
/// `void release_after_failure() noexcept` (release, reporting a failure on the side),
/// `void release_lost() noexcept` (release quietly after a loss), `KeepAlive start_keep_alive()`
/// (keep the held lease alive) and `[[noreturn]] void throw_lost(const KeepAlive&)` (throw
/// `LockLostError`).
class Runner {
 public:
  /// `acquire()` (a callable returning whether it took the lease), then `f` under the lease.
  /// Returns `false`/`nullopt` without calling `f` when nothing was taken; `true` or `f`'s
  /// result otherwise.
  template <class Holder, class F, class Acquire>
  static auto run(Holder& holder, F& f, Acquire&& acquire) {
    using R = run_result_t<F>;
    if (!std::forward<Acquire>(acquire)()) {
      if constexpr (std::is_void_v<R>) {
        return false;
      } else {
        return std::optional<run_value_t<F>>{};
      }
    }
    if constexpr (std::is_invocable_v<F&, std::stop_token>) {
      return kept_alive(holder, f);
    } else {
      return plain(holder, f);
    }
  }

 private:
  // `f(lost_token)` while a keep-alive extends the lease; when the lease was lost, the holder
  // gives back what may still be its own and throws `LockLostError` after `f` returned.
  template <class Holder, class F>
  static auto kept_alive(Holder& holder, F& f) {
    using R = std::invoke_result_t<F&, std::stop_token>;
    KeepAlive keep;
    if (holder.ttl()) {
      try {
        keep = holder.start_keep_alive();
      } catch (...) {
        holder.release_after_failure();
        throw;
      }
    }
    auto finish = [&] {
      keep.stop();
      if (keep.lost()) {
        holder.release_lost();
        holder.throw_lost(keep);
      }
      holder.release();
    };
    if constexpr (std::is_void_v<R>) {
      try {
        std::invoke(f, keep.lost_token());
      } catch (...) {
        keep.stop();
        holder.release_after_failure();
        throw;
      }
      finish();
      return true;
    } else {
      std::optional<std::remove_cvref_t<R>> result;
      try {
        result.emplace(std::invoke(f, keep.lost_token()));
      } catch (...) {
        keep.stop();
        holder.release_after_failure();
        throw;
      }
      finish();
      return result;
    }
  }

  // `f()`, then the release (which throws `LockNotOwnedError` when the lease ran out meanwhile).
  template <class Holder, class F>
  static auto plain(Holder& holder, F& f) {
    using R = std::invoke_result_t<F&>;
    if constexpr (std::is_void_v<R>) {
      try {
        std::invoke(f);
      } catch (...) {
        holder.release_after_failure();
        throw;
      }
      holder.release();
      return true;
    } else {
      std::optional<run_value_t<F>> result;
      try {
        result.emplace(std::invoke(f));
      } catch (...) {
        holder.release_after_failure();
        throw;
      }
      holder.release();
      return result;
    }
  }
};

}  // namespace verrou::detail
