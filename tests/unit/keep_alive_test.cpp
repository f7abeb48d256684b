// SPDX-License-Identifier: Apache-2.0
// KeepAlive and run(f(std::stop_token)) against the memory store and a store whose extensions
// fail or hang on demand: extension on schedule, loss signalled at once and never after the
// lease end, stores that do not hold each other up, bad input. Timing margins are generous
// (label `timing`); the bounds that matter (never after the lease end) are exact.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <functional>
#include <chrono>
#include <mutex>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include "faulty_store.hpp"
#include "keep_alive_support.hpp"
#include "verrou/drivers/memory.hpp"
#include "verrou/errors.hpp"
#include "verrou/keep_alive.hpp"
#include "verrou/lock_factory.hpp"

namespace verrou {
namespace {

using namespace std::chrono_literals;
using testing_support::FaultyStore;
using testing_support::eventually;
using testing_support::LossClock;
using testing_support::RecordingLogger;
using testing_support::wait_until;
using Clock = std::chrono::steady_clock;

// The start of the last extension that succeeded: the lease the keep-alive knows ends no later
// than this + the TTL.
Clock::time_point last_extension(const FaultyStore& store) {
  const auto times = store.extended_at();
  return times.empty() ? Clock::time_point() : *std::max_element(times.begin(), times.end());
}

long long ms(Clock::duration d) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
}

TEST(KeepAlive, ExtendsEveryThirdOfTheTtlAndKeepsTheLockPastIt) {
  auto store = std::make_shared<FaultyStore>();
  LockFactory locks(store);
  auto lock = locks.create_lock("ka:extends", 300ms);
  ASSERT_TRUE(lock.acquire_immediately());
  auto keep = lock.keep_alive();
  EXPECT_TRUE(keep.active());
  auto rival = locks.create_lock("ka:extends", 300ms);
  const auto start = Clock::now();
  while (Clock::now() - start < 1500ms) {
    ASSERT_FALSE(rival.acquire_immediately()) << "taken after " << ms(Clock::now() - start) << " ms";
    ASSERT_FALSE(lock.is_expired());
    std::this_thread::sleep_for(20ms);
  }
  EXPECT_FALSE(keep.lost());
  // 1.5 s / 100 ms: about 15 extensions; the lock object sees each (shared expiration).
  const int calls = store->extend_calls();
  EXPECT_GE(calls, 10);
  EXPECT_LE(calls, 20);
  const auto left = lock.remaining_time();
  ASSERT_TRUE(left);
  EXPECT_GT(*left, 150ms);
  keep.stop();
  EXPECT_FALSE(keep.active());
  EXPECT_FALSE(keep.lost());
  // The next extension was due within 100 ms; the lease (200 ms or more left) outlasts this.
  std::this_thread::sleep_for(150ms);
  EXPECT_EQ(store->extend_calls(), calls) << "extended after stop()";
  lock.release();  // stop does not release: the lock was still ours
}

TEST(KeepAlive, ALockWhoseLeaseIsMostlyGoneIsExtendedAtOnce) {
  auto store = std::make_shared<FaultyStore>();
  LockFactory locks(store);
  auto lock = locks.create_lock("ka:late", 600ms);
  ASSERT_TRUE(lock.acquire_immediately());
  std::this_thread::sleep_for(300ms);  // half the lease gone: past the first third
  const auto before = Clock::now();
  auto keep = lock.keep_alive();
  ASSERT_TRUE(wait_until([&] { return store->extend_calls() > 0; }, 2s));
  EXPECT_LT(Clock::now() - before, 100ms);
  EXPECT_FALSE(keep.lost());
  keep.stop();
  lock.release();
}

TEST(KeepAlive, ForceReleaseByAnotherClientIsSignalledAtTheNextExtension) {
  auto store = std::make_shared<FaultyStore>();
  auto logger = std::make_shared<RecordingLogger>();
  LockFactory locks(store, {.logger = logger});
  auto lock = locks.create_lock("ka:force", 300ms);
  ASSERT_TRUE(lock.acquire_immediately());
  auto keep = lock.keep_alive();
  LossClock loss(keep.lost_token());
  std::this_thread::sleep_for(50ms);
  const auto released = Clock::now();
  locks.create_lock("ka:force").force_release();
  ASSERT_TRUE(wait_until([&] { return loss.fired(); }, 5s)) << "loss never signalled";
  // Noticed at the next extension: within a third of the TTL (plus scheduling slack).
  EXPECT_LT(loss.at() - released, 100ms + 50ms) << ms(loss.at() - released) << " ms";
  EXPECT_TRUE(keep.lost());
  EXPECT_TRUE(keep.lost_token().stop_requested());
  EXPECT_FALSE(keep.active());
  EXPECT_NE(keep.lost_reason().find("no longer holds"), std::string::npos) << keep.lost_reason();
  bool warned = false;
  for (const auto& line : logger->lines()) {
    if (line.rfind("warn Lock lost key=ka:force reason=", 0) == 0) warned = true;
  }
  EXPECT_TRUE(warned) << "no warn record for the loss";
  // Lost is final: no more extensions.
  const int calls = store->extend_calls();
  std::this_thread::sleep_for(250ms);
  EXPECT_EQ(store->extend_calls(), calls);
}

// How one loss went: when it was signalled against the lease end the keep-alive knew (the
// start of the last successful extension + the TTL; positive: after it), and its reason.
struct LossTiming {
  Clock::duration after_lease_end{};
  std::string reason;
  int extend_calls = 0;
  int hanging = 0;
  std::vector<std::string> log;
};

// Holds a 300 ms lock kept alive until two extensions went through, then makes the store fail
// (or hang), and times the loss.
LossTiming time_loss(FaultyStore::Mode mode, const std::string& key) {
  auto store = std::make_shared<FaultyStore>();
  auto logger = std::make_shared<RecordingLogger>();
  LockFactory locks(store, {.logger = logger});
  auto lock = locks.create_lock(key, 300ms);
  LossTiming timing;
  if (!lock.acquire_immediately()) return timing;
  auto keep = lock.keep_alive();
  LossClock loss(keep.lost_token());
  if (!wait_until([&] { return store->extended_at().size() >= 2; }, 5s)) return timing;
  store->set_mode(mode);
  if (!wait_until([&] { return loss.fired(); }, 5s)) return timing;
  timing.after_lease_end = loss.at() - (last_extension(*store) + 300ms);
  timing.reason = keep.lost_reason();
  timing.extend_calls = store->extend_calls();
  timing.hanging = store->hanging();
  timing.log = logger->lines();
  // stop() waits for an extension stuck in the store, which ends when the store does.
  std::thread unblock([&] {
    std::this_thread::sleep_for(100ms);
    store->set_mode(FaultyStore::Mode::pass);
  });
  keep.stop();
  unblock.join();
  return timing;
}

// The loss must come before the lease end, and at most 30 ms before it. A process the machine
// does not run for a while (a loaded CI runner) cannot be on time, whatever it does: up to
// three tries, and every try that was late is shown.
void expect_loss_just_before_the_lease_end(FaultyStore::Mode mode, const std::string& key,
                                           const std::string& expected_reason) {
  std::string tries;
  for (int attempt = 0; attempt < 3; ++attempt) {
    const auto timing = time_loss(mode, key + ":" + std::to_string(attempt));
    ASSERT_FALSE(timing.reason.empty()) << "the loss was never signalled";
    EXPECT_NE(timing.reason.find(expected_reason), std::string::npos) << timing.reason;
    if (mode == FaultyStore::Mode::fail) {
      EXPECT_GE(timing.extend_calls, 4) << "no retries while the lease lasted";
      bool warned = false;
      for (const auto& line : timing.log) {
        if (line.find("warn Could not extend the lock") == 0) warned = true;
      }
      EXPECT_TRUE(warned) << "no warning while the extensions failed";
    } else {
      EXPECT_EQ(timing.hanging, 1) << "the extension was not stuck in the store";
    }
    const auto after =
        std::chrono::duration_cast<std::chrono::microseconds>(timing.after_lease_end).count();
    tries += " " + std::to_string(after) + " µs;";
    if (after <= 0 && after >= -30'000) return;  // on time
  }
  ADD_FAILURE() << "the loss was not signalled between 30 ms before the lease end and the lease "
                   "end, in three tries (µs after the lease end):"
                << tries;
}

// The store answers every extension with an error: the loss must come before the lease the
// keep-alive knows ends, and not long before it (the keep-alive retries while the lease lasts).
TEST(KeepAlive, StoreFailingUntilTheLeaseEndIsSignalledJustBeforeIt) {
  expect_loss_just_before_the_lease_end(FaultyStore::Mode::fail, "ka:failing", "injected failure");
}

// The store does not answer at all (a black-holed server): the loss still comes before the
// lease end, while the extension is stuck.
TEST(KeepAlive, HangingStoreIsSignalledBeforeTheLeaseEnd) {
  expect_loss_just_before_the_lease_end(FaultyStore::Mode::hang, "ka:hang", "did not answer");
}

// Extensions of a store that hangs must not delay those of another store: the healthy one's
// keep-alives go on, on time, while every worker of the hung store is stuck. (If they shared
// workers, the healthy lock would not be extended at all, and lost.)
TEST(KeepAlive, AHungStoreDoesNotDelayAnotherStoresExtensions) {
  auto hung = std::make_shared<FaultyStore>();
  LockFactory hung_locks(hung);
  std::vector<Lock> stuck;
  std::vector<KeepAlive> stuck_keeps;
  hung->set_mode(FaultyStore::Mode::hang);
  for (int i = 0; i < 8; ++i) {  // more than the workers a store gets
    stuck.push_back(hung_locks.create_lock("ka:hung:" + std::to_string(i), 30s));
    ASSERT_TRUE(stuck.back().acquire_immediately());
  }
  for (auto& l : stuck) {
    // Restored with a lease already two thirds gone, so each is extended (and hangs) at once.
    auto restored = l.serialize();
    *restored.expiration_time -= 20000;
    auto old = hung_locks.restore_lock(restored);
    stuck_keeps.push_back(old.keep_alive());
  }
  ASSERT_TRUE(wait_until([&] { return hung->hanging() >= 4; }, 5s));
  eventually(3, [&]() -> std::string {
    auto healthy = std::make_shared<FaultyStore>();
    LockFactory healthy_locks(healthy);
    auto lock = healthy_locks.create_lock("ka:healthy", 300ms);
    if (!lock.acquire_immediately()) return "could not take the healthy lock";
    auto keep = lock.keep_alive();
    std::this_thread::sleep_for(1s);
    const auto times = healthy->extended_at();
    const bool lost = keep.lost();
    keep.stop();
    if (lost) return "the healthy lock was lost: " + keep.lost_reason();
    if (times.size() < 7) return std::to_string(times.size()) + " extensions in 1 s";
    for (std::size_t i = 1; i < times.size(); ++i) {
      if (times[i] - times[i - 1] >= 100ms + 40ms) {
        return "extension " + std::to_string(i) + " came " + std::to_string(ms(times[i] - times[i - 1])) +
               " ms after the one before";
      }
    }
    lock.release();
    return "";
  });
  EXPECT_GE(hung->hanging(), 4) << "the hung store's workers were not all stuck meanwhile";
  hung->set_mode(FaultyStore::Mode::pass);
  for (auto& k : stuck_keeps) k.stop();
}

TEST(KeepAlive, ManyLocksOnOneStoreStayAlive) {
  eventually(2, []() -> std::string {
    auto store = std::make_shared<MemoryStore>();
    LockFactory locks(store);
    std::vector<Lock> held;
    std::vector<KeepAlive> keeps;
    for (int i = 0; i < 500; ++i) {
      held.push_back(locks.create_lock("ka:many:" + std::to_string(i), 300ms));
      if (!held.back().acquire_immediately()) return "could not take " + held.back().key();
      keeps.push_back(held.back().keep_alive());
    }
    std::this_thread::sleep_for(1200ms);
    std::string failure;
    for (std::size_t i = 0; i < held.size() && failure.empty(); ++i) {
      if (keeps[i].lost()) failure = std::to_string(i) + " lost: " + keeps[i].lost_reason();
      if (failure.empty() && !store->exists(held[i].key())) failure = std::to_string(i) + " free";
    }
    for (auto& k : keeps) k.stop();
    return failure;
  });
}

TEST(KeepAlive, BadInputIsRefused) {
  LockFactory locks(std::make_shared<MemoryStore>());
  auto forever = locks.create_lock("ka:forever", verrou::forever);
  ASSERT_TRUE(forever.acquire_immediately());
  EXPECT_THROW((void)forever.keep_alive(), InvalidArgumentError);
  auto never = locks.create_lock("ka:never", 10s);
  EXPECT_THROW((void)never.keep_alive(), InvalidArgumentError);
  ASSERT_TRUE(never.acquire_immediately());
  never.release();
  try {
    (void)never.keep_alive();
    ADD_FAILURE() << "keep_alive() on a released lock";
  } catch (const InvalidArgumentError& e) {
    EXPECT_NE(std::string(e.what()).find("does not hold it"), std::string::npos) << e.what();
  }
  auto expired = locks.create_lock("ka:expired", 20ms);
  ASSERT_TRUE(expired.acquire_immediately());
  std::this_thread::sleep_for(40ms);
  EXPECT_THROW((void)expired.keep_alive(), InvalidArgumentError);
  EXPECT_THROW((void)KeepAlive::start(nullptr, Clock::now()), InvalidArgumentError);
}

TEST(KeepAlive, DefaultMadeAndMovedFromKeepNothing) {
  KeepAlive empty;
  EXPECT_FALSE(empty.lost());
  EXPECT_FALSE(empty.active());
  EXPECT_FALSE(empty.lost_token().stop_possible());
  empty.stop();
  LockFactory locks(std::make_shared<MemoryStore>());
  auto lock = locks.create_lock("ka:moved", 300ms);
  ASSERT_TRUE(lock.acquire_immediately());
  auto keep = lock.keep_alive();
  KeepAlive moved(std::move(keep));
  EXPECT_TRUE(moved.active());
  EXPECT_FALSE(keep.active());  // NOLINT(bugprone-use-after-move): documented state
  std::this_thread::sleep_for(400ms);
  EXPECT_FALSE(moved.lost());
  moved = KeepAlive();  // stops the one it held
  lock.release();
}

TEST(KeepAlive, RestoredLockCanBeKeptAliveAndTheOriginalSeesNoChange) {
  LockFactory locks(std::make_shared<MemoryStore>());
  auto lock = locks.create_lock("ka:restored", 300ms);
  ASSERT_TRUE(lock.acquire_immediately());
  auto other = locks.restore_lock(lock.serialize());
  auto keep = other.keep_alive();
  std::this_thread::sleep_for(500ms);
  EXPECT_FALSE(keep.lost());
  EXPECT_TRUE(lock.is_expired()) << "a copy keeps its own idea of the expiration";
  EXPECT_FALSE(other.is_expired());
  keep.stop();
  lock.release();
}

// A child forked from a process with keep-alives has none of its threads: the parent's
// keep-alives count as lost there, and new ones work.
TEST(KeepAlive, WorksInAForkedChildAndGoesOnInTheParent) {
#if defined(__SANITIZE_THREAD__)
  GTEST_SKIP() << "ThreadSanitizer cannot start threads in a child of a multi-threaded fork";
#endif
  eventually(2, []() -> std::string {
    LockFactory locks(std::make_shared<MemoryStore>());
    auto lock = locks.create_lock("ka:fork", 300ms);
    if (!lock.acquire_immediately()) return "could not take the lock";
    auto keep = lock.keep_alive();
    std::this_thread::sleep_for(150ms);
    const pid_t pid = ::fork();
    if (pid < 0) return "fork failed";
    if (pid == 0) {
      int code = 0;
      if (!keep.lost()) code |= 1;
      keep.stop();  // must not wait for a worker that is not there
      LockFactory child_locks(std::make_shared<MemoryStore>());
      auto mine = child_locks.create_lock("ka:fork:child", 300ms);
      if (!mine.acquire_immediately()) code |= 2;
      auto child_keep = mine.keep_alive();
      std::this_thread::sleep_for(700ms);
      if (child_keep.lost() || mine.is_expired()) code |= 4;
      child_keep.stop();
      ::_exit(code);
    }
    int status = 0;
    ::waitpid(pid, &status, 0);
    std::string failure;
    if (!WIFEXITED(status)) {
      failure = "the child did not exit (status " + std::to_string(status) + ")";
    } else if (WEXITSTATUS(status) != 0) {
      failure = "child code " + std::to_string(WEXITSTATUS(status)) +
                " (1: the parent's keep-alive not lost in the child; 2: no lock; 4: the "
                "child's keep-alive did not extend)";
    } else if (keep.lost()) {
      failure = "the parent's keep-alive was lost: " + keep.lost_reason();
    }
    keep.stop();
    return failure;
  });
}

TEST(KeepAliveRun, PassesTheTokenKeepsTheLockAliveAndReturnsTheResult) {
  auto store = std::make_shared<FaultyStore>();
  LockFactory locks(store);
  auto lock = locks.create_lock("run:ok", 300ms);
  std::optional<int> result = lock.run([&](std::stop_token lost) {
    std::this_thread::sleep_for(700ms);
    EXPECT_FALSE(lost.stop_requested());
    return 42;
  });
  ASSERT_TRUE(result);
  EXPECT_EQ(*result, 42);
  EXPECT_GE(store->extend_calls(), 4);
  EXPECT_FALSE(store->exists("run:ok")) << "not released";
  bool ran = false;
  EXPECT_TRUE(lock.run_immediately([&](const std::stop_token&) { ran = true; }));
  EXPECT_TRUE(ran);
}

TEST(KeepAliveRun, LossStopsTheTokenAndRunThrowsLockLostError) {
  auto store = std::make_shared<FaultyStore>();
  LockFactory locks(store);
  auto lock = locks.create_lock("run:lost", 300ms);
  bool saw_stop = false;
  try {
    lock.run([&](std::stop_token lost) {
      locks.create_lock("run:lost").force_release();
      saw_stop = wait_until([&] { return lost.stop_requested(); }, 5s);
      return 1;
    });
    ADD_FAILURE() << "run returned although the lock was lost";
  } catch (const LockLostError& e) {
    EXPECT_EQ(e.code(), "E_LOCK_NOT_OWNED");
    EXPECT_NE(std::string(e.what()).find("run:lost"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(saw_stop);
  // A LockLostError is a LockNotOwnedError, for code written before it existed.
  EXPECT_THROW(lock.run([&](std::stop_token lost) {
    locks.create_lock("run:lost").force_release();
    wait_until([&] { return lost.stop_requested(); }, 5s);
  }),
               LockNotOwnedError);
}

TEST(KeepAliveRun, ExceptionsFromTheCallbackPropagateAndRelease) {
  auto store = std::make_shared<FaultyStore>();
  LockFactory locks(store);
  auto lock = locks.create_lock("run:throws", 300ms);
  EXPECT_THROW(lock.run([](std::stop_token) { throw std::runtime_error("boom"); }),
               std::runtime_error);
  EXPECT_FALSE(store->exists("run:throws"));
}

TEST(KeepAliveRun, ALockWithoutTtlGetsATokenThatNeverStops) {
  LockFactory locks(std::make_shared<MemoryStore>());
  auto lock = locks.create_lock("run:forever", verrou::forever);
  bool possible = true;
  EXPECT_TRUE(lock.run([&](std::stop_token t) { possible = t.stop_possible(); }));
  EXPECT_FALSE(possible);
}

TEST(KeepAliveRun, NotAcquiredDoesNotCallTheCallback) {
  LockFactory locks(std::make_shared<MemoryStore>());
  auto holder = locks.create_lock("run:held", 10s);
  ASSERT_TRUE(holder.acquire_immediately());
  bool called = false;
  auto result = locks.create_lock("run:held", 10s).run_immediately([&](std::stop_token) {
    called = true;
    return 1;
  });
  EXPECT_FALSE(result);
  EXPECT_FALSE(called);
  holder.release();
}

}  // namespace
}  // namespace verrou
