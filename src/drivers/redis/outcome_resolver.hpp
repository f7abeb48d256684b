// SPDX-License-Identifier: Apache-2.0
// Settling commands whose reply was lost, so no lock is left held by nobody: a save whose
// caller has gone is released when its late reply says it took the lock; a save whose reply
// never comes is voided and released; a release whose reply never comes is done again.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "drivers/redis/pipeline.hpp"

namespace verrou::detail::redis {

/// One clean-up to carry out: release the lock at `key` (or, for a permit, the permit of
/// `owner` in the semaphore whose holders are at `key`, limits at `limits_key`, announced on
/// `channel`) if `owner` holds it, first writing the void marker `void_key` when it is not
/// empty.
struct Cleanup {
  std::string key{};
  std::string owner{};
  std::string void_key{};
  bool permit = false;
  std::string limits_key{};
  std::string channel{};
};

/// The store's background settler, with its own thread (started on first need).
///
/// It also keeps the lock keys with an unsettled command per owner: a new save by the same
/// owner of the same key waits for the settling (`wait_settled`), so a clean-up never removes
/// a lock the same owner took again in the meantime.
///
/// Thread safety: all members.
class OutcomeResolver {
 public:
  /// `run` carries out one clean-up (through the store's router); it throws LockStorageError
  /// when the server cannot be reached, and the clean-up is then tried again later.
  explicit OutcomeResolver(std::function<void(const Cleanup&)> run);
  ~OutcomeResolver();  // finish(now)
  OutcomeResolver(const OutcomeResolver&) = delete;
  OutcomeResolver& operator=(const OutcomeResolver&) = delete;

  /// What to do with a save (`cleanup` names it) whose reply is lost. `took` tells from its
  /// late replies whether it took the lock or permit.
  std::shared_ptr<LateReply> for_save(Cleanup cleanup, bool (*took)(const std::vector<Reply>&));
  /// What to do with a release (`cleanup` names it, without void marker) whose reply is lost.
  std::shared_ptr<LateReply> for_release(Cleanup cleanup);

  /// Releases `cleanup.key` if `cleanup.owner` holds it, in the background (after a save
  /// that must not stand). Saves by that owner of that key wait until it is done.
  void clean_up(Cleanup cleanup);

  /// Waits until no command of `owner` on `key` is unsettled. False at `deadline`.
  bool wait_settled(const std::string& key, const std::string& owner, Deadline deadline);

  /// Carries out what is pending, for at most until `deadline`; what is still pending then
  /// is dropped (its lock expires with its lease). Later clean-ups are dropped at once.
  void finish(Deadline deadline);

  struct State;

 private:
  std::shared_ptr<State> state_;
};

}  // namespace verrou::detail::redis
