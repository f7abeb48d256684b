// SPDX-License-Identifier: Apache-2.0
// Semaphore::keep_alive() and Semaphore::run(f(std::stop_token)) against the memory store and
// a store whose permit extensions fail or hang on demand: a permit kept past its TTL (and the
// object's remaining_time() following), a permit given back behind the keep-alive's back
// signalled at the next extension, a failing or hung store signalled before the lease end,
// run() throwing LockLostError after the callback, bad input. Timing margins are generous
// (label `timing`); the bound that matters (never after the lease end) is exact.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <optional>
#include <stdexcept>
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
using testing_support::eventually;
using testing_support::FaultyStore;
using testing_support::LossClock;
using testing_support::RecordingLogger;
using testing_support::wait_until;
using Clock = std::chrono::steady_clock;

long long ms(Clock::duration d) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
}

bool logged(const RecordingLogger& logger, const std::string& prefix) {
  const auto lines = logger.lines();
  return std::any_of(lines.begin(), lines.end(),
                     [&](const std::string& line) { return line.rfind(prefix, 0) == 0; });
}

TEST(SemaphoreKeepAlive, KeepsBothPermitsPastTheTtlAndTheObjectSeesEachExtension) {
  auto store = std::make_shared<FaultyStore>();
  LockFactory locks(store);
  auto first = locks.create_semaphore("ska:extends", 2, 300ms);
  auto second = locks.create_semaphore("ska:extends", 2, 300ms);
  ASSERT_TRUE(first.acquire_immediately());
  ASSERT_TRUE(second.acquire_immediately());
  auto keep_first = first.keep_alive();
  auto keep_second = second.keep_alive();
  EXPECT_TRUE(keep_first.active());
  auto third = locks.create_semaphore("ska:extends", 2, 300ms);
  const auto start = Clock::now();
  while (Clock::now() - start < 1500ms) {
    ASSERT_FALSE(third.acquire_immediately())
        << "a third holder got in after " << ms(Clock::now() - start) << " ms";
    ASSERT_FALSE(first.is_expired()) << "remaining_time() did not follow the extensions";
    ASSERT_FALSE(second.is_expired());
    std::this_thread::sleep_for(20ms);
  }
  EXPECT_FALSE(keep_first.lost()) << keep_first.lost_reason();
  EXPECT_FALSE(keep_second.lost()) << keep_second.lost_reason();
  // 1.5 s / 100 ms for each of two permits: about 30 extensions.
  const int calls = store->extend_calls();
  EXPECT_GE(calls, 20);
  EXPECT_LE(calls, 40);
  const auto left = first.remaining_time();
  ASSERT_TRUE(left);
  EXPECT_GT(*left, 150ms);
  EXPECT_EQ(first.holders(), 2U);
  keep_first.stop();
  keep_second.stop();
  EXPECT_FALSE(keep_first.active());
  EXPECT_FALSE(keep_first.lost());
  std::this_thread::sleep_for(150ms);
  EXPECT_EQ(store->extend_calls(), calls) << "extended after stop()";
  // stop() gives nothing back: both permits are still held.
  first.release();
  second.release();
  EXPECT_EQ(third.holders(), 0U);
}

TEST(SemaphoreKeepAlive, APermitGivenBackByACopyIsSignalledAtTheNextExtension) {
  auto store = std::make_shared<FaultyStore>();
  auto logger = std::make_shared<RecordingLogger>();
  LockFactory locks(store, {.logger = logger});
  auto permit = locks.create_semaphore("ska:given-back", 3, 300ms);
  ASSERT_TRUE(permit.acquire_immediately());
  auto keep = permit.keep_alive();
  LossClock loss(keep.lost_token());
  std::this_thread::sleep_for(50ms);
  // A copy shares the holder: its release gives back the permit the keep-alive extends.
  Semaphore copy(permit);
  const auto released = Clock::now();
  copy.release();
  ASSERT_TRUE(wait_until([&] { return loss.fired(); }, 5s)) << "loss never signalled";
  EXPECT_LT(loss.at() - released, 100ms + 50ms) << ms(loss.at() - released) << " ms";
  EXPECT_TRUE(keep.lost());
  EXPECT_FALSE(keep.active());
  EXPECT_NE(keep.lost_reason().find("no longer holds"), std::string::npos) << keep.lost_reason();
  EXPECT_TRUE(logged(*logger, "warn Semaphore lost key=ska:given-back reason="))
      << "no warn record for the loss";
  const int calls = store->extend_calls();
  std::this_thread::sleep_for(250ms);
  EXPECT_EQ(store->extend_calls(), calls) << "extended after the loss";
  EXPECT_THROW(permit.release(), LockNotOwnedError);
}

// The store fails (or hangs) on every permit extension once two went through: the loss comes
// before the lease the keep-alive knows ends, and at most 30 ms before it. A process the
// machine does not run for a while cannot be on time: up to three tries.
void expect_loss_just_before_the_lease_end(FaultyStore::Mode mode, const std::string& key,
                                           const std::string& expected_reason) {
  eventually(3, [&]() -> std::string {
    auto store = std::make_shared<FaultyStore>();
    auto logger = std::make_shared<RecordingLogger>();
    LockFactory locks(store, {.logger = logger});
    auto permit = locks.create_semaphore(key, 2, 300ms);
    if (!permit.acquire_immediately()) return "could not take a permit";
    auto keep = permit.keep_alive();
    LossClock loss(keep.lost_token());
    if (!wait_until([&] { return store->extended_at().size() >= 2; }, 5s)) {
      return "no two extensions";
    }
    store->set_mode(mode);
    if (!wait_until([&] { return loss.fired(); }, 5s)) return "the loss was never signalled";
    const auto times = store->extended_at();
    const auto lease_end = *std::max_element(times.begin(), times.end()) + 300ms;
    const auto after =
        std::chrono::duration_cast<std::chrono::microseconds>(loss.at() - lease_end).count();
    const std::string reason = keep.lost_reason();
    const bool warned = logged(*logger, "warn Could not extend the semaphore");
    std::thread unblock([&] {
      std::this_thread::sleep_for(100ms);
      store->set_mode(FaultyStore::Mode::pass);
    });
    keep.stop();  // waits for a hung extension, which ends when the store does
    unblock.join();
    if (reason.find(expected_reason) == std::string::npos) return "reason: " + reason;
    if (mode == FaultyStore::Mode::fail && !warned) return "no warning while extensions failed";
    if (after > 0 || after < -30'000) {
      return "signalled " + std::to_string(after) + " µs after the lease end";
    }
    return "";
  });
}

TEST(SemaphoreKeepAlive, StoreFailingUntilTheLeaseEndIsSignalledJustBeforeIt) {
  expect_loss_just_before_the_lease_end(FaultyStore::Mode::fail, "ska:failing",
                                        "injected failure (extend_permit)");
}

TEST(SemaphoreKeepAlive, HangingStoreIsSignalledBeforeTheLeaseEnd) {
  expect_loss_just_before_the_lease_end(FaultyStore::Mode::hang, "ska:hang", "did not answer");
}

TEST(SemaphoreKeepAlive, BadInputIsRefused) {
  LockFactory locks(std::make_shared<MemoryStore>());
  auto forever = locks.create_semaphore("ska:forever", 2, verrou::forever);
  ASSERT_TRUE(forever.acquire_immediately());
  EXPECT_THROW((void)forever.keep_alive(), InvalidArgumentError);
  auto never = locks.create_semaphore("ska:never", 2, 10s);
  EXPECT_THROW((void)never.keep_alive(), InvalidArgumentError);
  ASSERT_TRUE(never.acquire_immediately());
  never.release();
  try {
    (void)never.keep_alive();
    ADD_FAILURE() << "keep_alive() on a permit given back";
  } catch (const InvalidArgumentError& e) {
    EXPECT_NE(std::string(e.what()).find("holds none"), std::string::npos) << e.what();
  }
  auto expired = locks.create_semaphore("ska:expired", 2, 20ms);
  ASSERT_TRUE(expired.acquire_immediately());
  std::this_thread::sleep_for(40ms);
  try {
    (void)expired.keep_alive();
    ADD_FAILURE() << "keep_alive() on a permit whose lease ran out";
  } catch (const InvalidArgumentError& e) {
    EXPECT_NE(std::string(e.what()).find("lease ran out"), std::string::npos) << e.what();
  }
}

TEST(SemaphoreRun, PassesTheTokenKeepsThePermitAliveAndReturnsTheResult) {
  auto store = std::make_shared<FaultyStore>();
  LockFactory locks(store);
  auto permit = locks.create_semaphore("srun:ok", 1, 300ms);
  auto rival = locks.create_semaphore("srun:ok", 1, 300ms);
  bool rival_got_in = false;
  std::optional<int> result = permit.run([&](std::stop_token lost) {
    const auto start = Clock::now();
    while (Clock::now() - start < 700ms) {
      if (rival.acquire_immediately()) rival_got_in = true;
      std::this_thread::sleep_for(20ms);
    }
    EXPECT_FALSE(lost.stop_requested());
    return 42;
  });
  ASSERT_TRUE(result);
  EXPECT_EQ(*result, 42);
  EXPECT_FALSE(rival_got_in) << "the permit ran out while the callback ran";
  EXPECT_GE(store->extend_calls(), 4);
  EXPECT_EQ(permit.holders(), 0U) << "not given back";
  bool ran = false;
  EXPECT_TRUE(permit.run_immediately([&](const std::stop_token&) { ran = true; }));
  EXPECT_TRUE(ran);
  EXPECT_EQ(permit.holders(), 0U);
}

TEST(SemaphoreRun, LossStopsTheTokenAndRunThrowsLockLostError) {
  auto store = std::make_shared<FaultyStore>();
  LockFactory locks(store);
  auto permit = locks.create_semaphore("srun:lost", 2, 300ms);
  bool saw_stop = false;
  try {
    permit.run([&](std::stop_token lost) {
      Semaphore(permit).release();  // behind the keep-alive's back
      saw_stop = wait_until([&] { return lost.stop_requested(); }, 5s);
      return 1;
    });
    ADD_FAILURE() << "run returned although the permit was lost";
  } catch (const LockLostError& e) {
    EXPECT_EQ(e.code(), "E_LOCK_NOT_OWNED");
    EXPECT_NE(std::string(e.what()).find("semaphore \"srun:lost\""), std::string::npos)
        << e.what();
  }
  EXPECT_TRUE(saw_stop);
  // The store failing until the lease end: lost too.
  EXPECT_THROW(permit.run([&](std::stop_token lost) {
    store->set_mode(FaultyStore::Mode::fail);
    wait_until([&] { return lost.stop_requested(); }, 5s);
    store->set_mode(FaultyStore::Mode::pass);
  }),
               LockLostError);
}

TEST(SemaphoreRun, ExceptionsFromTheCallbackPropagateAndGiveThePermitBack) {
  auto store = std::make_shared<FaultyStore>();
  LockFactory locks(store);
  auto permit = locks.create_semaphore("srun:throws", 1, 300ms);
  EXPECT_THROW(permit.run([](std::stop_token) { throw std::runtime_error("boom"); }),
               std::runtime_error);
  EXPECT_EQ(permit.holders(), 0U);
  EXPECT_THROW(permit.run([] { throw std::runtime_error("boom"); }), std::runtime_error);
  EXPECT_EQ(permit.holders(), 0U);
}

TEST(SemaphoreRun, ASemaphoreWithoutTtlGetsATokenThatNeverStops) {
  LockFactory locks(std::make_shared<MemoryStore>());
  auto permit = locks.create_semaphore("srun:forever", 1, verrou::forever);
  bool possible = true;
  EXPECT_TRUE(permit.run([&](std::stop_token t) { possible = t.stop_possible(); }));
  EXPECT_FALSE(possible);
  EXPECT_EQ(permit.holders(), 0U);
}

TEST(SemaphoreRun, NotAcquiredDoesNotCallTheCallback) {
  LockFactory locks(std::make_shared<MemoryStore>());
  auto holder = locks.create_semaphore("srun:full", 1, 10s);
  ASSERT_TRUE(holder.acquire_immediately());
  bool called = false;
  auto waiting = locks.create_semaphore("srun:full", 1, 10s);
  auto result = waiting.run_immediately([&](std::stop_token) {
    called = true;
    return 1;
  });
  EXPECT_FALSE(result);
  EXPECT_FALSE(called);
  EXPECT_FALSE(waiting.run([&] { called = true; }, {.retry = {.attempts = 2, .delay = 1ms}}));
  EXPECT_FALSE(called);
  holder.release();
}

// A plain callback that overran its lease: the permit ran out and was taken, so the release
// after the callback throws LockNotOwnedError (the work was not protected to its end).
TEST(SemaphoreRun, APlainCallbackThatOutlivesItsLeaseEndsInLockNotOwnedError) {
  LockFactory locks(std::make_shared<MemoryStore>());
  auto permit = locks.create_semaphore("srun:overrun", 1, 50ms);
  auto rival = locks.create_semaphore("srun:overrun", 1, 10s);
  EXPECT_THROW(permit.run([&] {
    std::this_thread::sleep_for(100ms);
    EXPECT_TRUE(rival.acquire_immediately());
    return 1;
  }),
               LockNotOwnedError);
  EXPECT_EQ(rival.holders(), 1U);
  rival.release();
}

}  // namespace
}  // namespace verrou
