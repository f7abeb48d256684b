// SPDX-License-Identifier: Apache-2.0
// The core's lock logic against fake stores: retries, TTLs, run(), errors, logging.
#include <gtest/gtest.h>

#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include "detail/jitter.hpp"
#include "fake_store.hpp"
#include "verrou/errors.hpp"
#include "verrou/lock_factory.hpp"

namespace verrou {
namespace {

using namespace std::chrono_literals;
using testing_support::FakeStore;
using testing_support::FakeWaitableStore;
using SteadyClock = std::chrono::steady_clock;

TEST(Lock, AcquireCountsAttempts) {
  auto store = std::make_shared<FakeStore>();
  store->save_result = false;
  LockFactory factory(store);
  auto lock = factory.create_lock("k");
  EXPECT_FALSE(lock.acquire({.retry = {.attempts = 5, .delay = 1ms}}));
  EXPECT_EQ(store->saves.load(), 5);
  store->saves = 0;
  EXPECT_FALSE(lock.acquire_immediately());
  EXPECT_EQ(store->saves.load(), 1);
}

TEST(Lock, AcquireStopsAtTheFirstSuccess) {
  auto store = std::make_shared<FakeStore>();
  LockFactory factory(store);
  auto lock = factory.create_lock("k");
  EXPECT_TRUE(lock.acquire({.retry = {.attempts = 5}}));
  EXPECT_EQ(store->saves.load(), 1);
}

TEST(Lock, DelayIsHonouredBetweenAttempts) {
  auto store = std::make_shared<FakeStore>();
  store->save_result = false;
  LockFactory factory(store);
  const auto start = SteadyClock::now();
  EXPECT_FALSE(factory.create_lock("k").acquire({.retry = {.attempts = 3, .delay = 100ms}}));
  const auto elapsed = SteadyClock::now() - start;
  EXPECT_GE(elapsed, 200ms);  // two pauses of at least the delay: jitter only lengthens them
  EXPECT_LT(elapsed, 5s);
}

TEST(Lock, JitterNeverShortensThePause) {
  auto store = std::make_shared<FakeStore>();
  store->save_result = false;
  LockFactory factory(store);
  const auto start = SteadyClock::now();
  EXPECT_FALSE(factory.create_lock("k").acquire({.retry = {.attempts = 5, .delay = 10ms}}));
  EXPECT_GE(SteadyClock::now() - start, 40ms);  // four pauses of 10 ms or more
  // Each pause is drawn from 100–125 % of the delay, and they differ.
  std::set<Duration::rep> seen;
  for (int i = 0; i < 2000; ++i) {
    const auto pause = detail::jittered_delay(100ms);
    ASSERT_GE(pause, 100ms);
    ASSERT_LE(pause, 125ms);
    seen.insert(pause.count());
  }
  EXPECT_GT(seen.size(), 10U);
  EXPECT_EQ(detail::jittered_delay(Duration::max()), Duration::max());
  EXPECT_EQ(detail::jittered_delay(0ms), 0ms);
}

TEST(Lock, TimeoutIsHonouredAndEndsWithALastTry) {
  auto store = std::make_shared<FakeStore>();
  store->save_result = false;
  LockFactory factory(store);
  const auto start = SteadyClock::now();
  EXPECT_FALSE(factory.create_lock("k").acquire({.retry = {.delay = 40ms, .timeout = 300ms}}));
  const auto elapsed = SteadyClock::now() - start;
  EXPECT_GE(elapsed, 300ms);
  EXPECT_LT(elapsed, 300ms + 5s);
  EXPECT_GE(store->saves.load(), 4);
}

TEST(Lock, ZeroTimeoutTriesOnce) {
  auto store = std::make_shared<FakeStore>();
  store->save_result = false;
  LockFactory factory(store);
  EXPECT_FALSE(factory.create_lock("k").acquire({.retry = {.delay = 10s, .timeout = 0ms}}));
  EXPECT_EQ(store->saves.load(), 1);
}

TEST(Lock, FactoryRetryOptionsAreDefaultsOverriddenFieldByField) {
  auto store = std::make_shared<FakeStore>();
  store->save_result = false;
  LockFactory factory(store, {.retry = {.attempts = 2, .delay = 1ms}});
  auto lock = factory.create_lock("k");
  EXPECT_FALSE(lock.acquire());
  EXPECT_EQ(store->saves.load(), 2);
  store->saves = 0;
  EXPECT_FALSE(lock.acquire({.retry = {.attempts = 4}}));  // delay still 1 ms from the factory
  EXPECT_EQ(store->saves.load(), 4);
}

TEST(Lock, InvalidRetryOptionsAreRejected) {
  auto store = std::make_shared<FakeStore>();
  LockFactory factory(store);
  auto lock = factory.create_lock("k");
  EXPECT_THROW(lock.acquire({.retry = {.attempts = 0}}), InvalidArgumentError);
  EXPECT_THROW(lock.acquire({.retry = {.delay = -1ms}}), InvalidArgumentError);
  EXPECT_THROW(lock.acquire({.retry = {.timeout = -1ms}}), InvalidArgumentError);
  EXPECT_EQ(store->saves.load(), 0);
  EXPECT_THROW(LockFactory(store, {.retry = {.attempts = 0}}), InvalidArgumentError);
  EXPECT_THROW(LockFactory(nullptr), InvalidArgumentError);
}

TEST(Lock, WaitableStoresGetOneCallPerAttemptBoundedByTheDelay) {
  auto store = std::make_shared<FakeWaitableStore>();
  store->save_result = false;
  LockFactory factory(store);
  const auto start = SteadyClock::now();
  EXPECT_FALSE(factory.create_lock("k").acquire({.retry = {.attempts = 3, .delay = 50ms}}));
  EXPECT_EQ(store->waits.load(), 2);  // the last attempt does not wait
  EXPECT_EQ(store->saves.load(), 1);
  ASSERT_EQ(store->untils.size(), 2U);
  EXPECT_LE(store->untils[0] - start, 50ms + 5s);
  EXPECT_GE(store->untils[0] - start, 50ms);
}

TEST(Lock, WaitableStoresRespectTheTimeout) {
  auto store = std::make_shared<FakeWaitableStore>();
  store->save_result = false;
  LockFactory factory(store);
  const auto start = SteadyClock::now();
  EXPECT_FALSE(factory.create_lock("k").acquire({.retry = {.delay = 10s, .timeout = 200ms}}));
  const auto elapsed = SteadyClock::now() - start;
  EXPECT_GE(elapsed, 200ms);
  EXPECT_LT(elapsed, 5s);
  for (auto until : store->untils) EXPECT_LE(until - start, 200ms + 2s) << "a wait ran past the timeout toward the 10 s delay";
}

TEST(Lock, TtlsFromDurationsTextAndDefaults) {
  auto store = std::make_shared<FakeStore>();
  LockFactory factory(store);
  EXPECT_EQ(factory.create_lock("a").ttl(), 30s);
  EXPECT_EQ(factory.create_lock("b", 10s).ttl(), 10s);
  EXPECT_EQ(factory.create_lock("c", "1.5m").ttl(), 90s);
  EXPECT_EQ(factory.create_lock("d", "500").ttl(), 500ms);
  EXPECT_EQ(factory.create_lock("e", forever).ttl(), std::nullopt);
  EXPECT_EQ(factory.create_lock("f", "forever").ttl(), std::nullopt);
  EXPECT_THROW((void)factory.create_lock("g", "ten seconds"), InvalidArgumentError);
  EXPECT_THROW((void)factory.create_lock("h", 0ms), InvalidArgumentError);
  EXPECT_THROW((void)factory.create_lock("i", -3s), InvalidArgumentError);
  EXPECT_THROW((void)factory.create_lock("", 1s), InvalidArgumentError);
  EXPECT_THROW((void)factory.create_lock(std::string(10000, 'k'), 1s), InvalidArgumentError);
  auto lock = factory.create_lock("j", 2s);
  ASSERT_TRUE(lock.acquire());
  ASSERT_EQ(store->save_ttls.back(), std::optional<Duration>(2s));
}

TEST(Lock, ExtendUsesTheLocksTtlOrTheGivenDuration) {
  auto store = std::make_shared<FakeStore>();
  LockFactory factory(store);
  auto lock = factory.create_lock("k", 10s);
  ASSERT_TRUE(lock.acquire());
  lock.extend();
  lock.extend(3s);
  ASSERT_EQ(store->extends.size(), 2U);
  EXPECT_EQ(store->extends[0], 10s);
  EXPECT_EQ(store->extends[1], 3s);
  EXPECT_LE(*lock.remaining_time(), 3s);
  EXPECT_GT(*lock.remaining_time(), 2s);
  EXPECT_EQ(lock.ttl(), 10s);
  EXPECT_THROW(lock.extend(0ms), InvalidArgumentError);
  auto eternal = factory.create_lock("e", forever);
  EXPECT_THROW(eternal.extend(), InvalidArgumentError);
  EXPECT_THROW(eternal.extend(5s), InvalidArgumentError);
}

TEST(Lock, ExpirationIsTrackedFromAcquire) {
  auto store = std::make_shared<FakeStore>();
  LockFactory factory(store);
  auto lock = factory.create_lock("k", 100ms);
  EXPECT_FALSE(lock.is_expired());
  EXPECT_EQ(lock.remaining_time(), std::nullopt);
  ASSERT_TRUE(lock.acquire());
  EXPECT_FALSE(lock.is_expired());
  EXPECT_GT(*lock.remaining_time(), 0ms);
  std::this_thread::sleep_for(150ms);
  EXPECT_TRUE(lock.is_expired());
  EXPECT_EQ(lock.remaining_time(), 0ms);
  auto serialized = lock.serialize();
  ASSERT_TRUE(serialized.expiration_time.has_value());
  EXPECT_LT(*serialized.expiration_time, epoch_ms_now());
}

TEST(Lock, StoresWithoutTokensGiveLocksWithoutTokens) {
  auto store = std::make_shared<testing_support::FakeStore>();
  LockFactory factory(store);
  auto lock = factory.create_lock("k");
  ASSERT_TRUE(lock.acquire());
  EXPECT_EQ(lock.fencing_token(), std::nullopt);
  EXPECT_EQ(lock.serialize().fencing_token, std::nullopt);
  auto restored = factory.restore_lock({.key = "k", .owner = lock.owner(), .fencing_token = 9});
  EXPECT_EQ(restored.fencing_token(), 9U) << "a restored lock keeps the token it carried";
}

TEST(Semaphore, StoresWithoutSemaphoresAreRefusedClearly) {
  LockFactory factory(std::make_shared<testing_support::FakeStore>());
  try {
    (void)factory.create_semaphore("builds", 3);
    FAIL() << "a store without semaphores made a semaphore";
  } catch (const InvalidArgumentError& e) {
    EXPECT_NE(std::string(e.what()).find("does not support semaphores"), std::string::npos)
        << e.what();
  }
}

TEST(Lock, RestoreKeepsKeyOwnerTtlAndExpiration) {
  auto store = std::make_shared<FakeStore>();
  LockFactory factory(store);
  const SerializedLock s{.key = "k", .owner = "someone", .ttl = 5s,
                         .expiration_time = epoch_ms_now() + 4000};
  auto lock = factory.restore_lock(s);
  EXPECT_EQ(lock.key(), "k");
  EXPECT_EQ(lock.owner(), "someone");
  EXPECT_EQ(lock.ttl(), 5s);
  EXPECT_GT(*lock.remaining_time(), 3s);
  EXPECT_EQ(lock.serialize(), s);
  EXPECT_THROW((void)factory.restore_lock({.key = "k", .owner = "", .ttl = 1s, .expiration_time = {}}),
               InvalidArgumentError);
  EXPECT_THROW((void)factory.restore_lock({.key = "", .owner = "o", .ttl = 1s, .expiration_time = {}}),
               InvalidArgumentError);
}

TEST(Lock, RunReleasesAndRethrows) {
  auto store = std::make_shared<FakeStore>();
  LockFactory factory(store);
  auto lock = factory.create_lock("k");
  EXPECT_EQ(lock.run([] { return std::string("done"); }), std::optional<std::string>("done"));
  EXPECT_EQ(store->removes.load(), 1);
  EXPECT_THROW(lock.run([] { throw std::runtime_error("boom"); }), std::runtime_error);
  EXPECT_EQ(store->removes.load(), 2);
  // A release failure after a failed callback does not hide the callback's exception.
  store->remove_throws_not_owned = true;
  EXPECT_THROW(lock.run([] { throw std::out_of_range("boom"); }), std::out_of_range);
  // After a successful callback, a lost lock is reported.
  EXPECT_THROW(lock.run([] { return 1; }), LockNotOwnedError);
}

TEST(Lock, RunDoesNotCallTheCallbackWithoutTheLock) {
  auto store = std::make_shared<FakeStore>();
  store->save_result = false;
  LockFactory factory(store);
  auto lock = factory.create_lock("k");
  int calls = 0;
  EXPECT_FALSE(lock.run([&] { ++calls; }, {.retry = {.attempts = 1}}));
  EXPECT_EQ(lock.run_immediately([&] { return ++calls; }), std::nullopt);
  EXPECT_EQ(calls, 0);
  EXPECT_EQ(store->removes.load(), 0);
}

TEST(Lock, WorksWithUniqueLock) {
  auto store = std::make_shared<FakeStore>();
  LockFactory factory(store, {.retry = {.attempts = 1}});
  auto lock = factory.create_lock("k");
  {
    std::unique_lock guard(lock);
    EXPECT_TRUE(guard.owns_lock());
  }
  EXPECT_EQ(store->removes.load(), 1);
  store->save_result = false;
  EXPECT_THROW(std::unique_lock<Lock>{lock}, LockTimeoutError);
  std::unique_lock<Lock> maybe(lock, std::try_to_lock);
  EXPECT_FALSE(maybe.owns_lock());
}

TEST(Lock, CopiesShareKeyAndOwner) {
  auto store = std::make_shared<FakeStore>();
  LockFactory factory(store);
  auto a = factory.create_lock("k");
  auto b = a;
  EXPECT_EQ(a.owner(), b.owner());
  auto c = std::move(b);
  EXPECT_EQ(c.owner(), a.owner());
  EXPECT_EQ(c.key(), "k");
}

class RecordingLogger : public Logger {
 public:
  bool enabled(LogLevel level) const noexcept override { return level >= LogLevel::debug; }
  void log(LogLevel level, std::string_view message,
           std::initializer_list<LogField> fields) noexcept override {
    const std::lock_guard lock(mutex);
    std::string line(to_string(level));
    line.append(" ").append(message);
    for (const auto& f : fields) line.append(" ").append(f.name).append("=").append(f.value);
    lines.push_back(line);
  }
  std::mutex mutex;
  std::vector<std::string> lines;
};

TEST(Lock, LogsAcquireReleaseAndExtendAtDebug) {
  auto store = std::make_shared<FakeStore>();
  auto logger = std::make_shared<RecordingLogger>();
  LockFactory factory(store, {.logger = logger});
  auto lock = factory.create_lock("invoice:1", 10s);
  ASSERT_TRUE(lock.acquire());
  lock.extend(5s);
  lock.release();
  ASSERT_EQ(logger->lines.size(), 3U);
  EXPECT_EQ(logger->lines[0], "debug Lock acquired key=invoice:1");
  EXPECT_EQ(logger->lines[1], "debug Lock extended key=invoice:1 duration=5s");
  EXPECT_EQ(logger->lines[2], "debug Lock released key=invoice:1");
}

TEST(StreamLogger, WritesLinesAtOrAboveItsLevel) {
  std::ostringstream out;
  StreamLogger logger(out, LogLevel::info);
  logger.log(LogLevel::debug, "hidden", {});
  logger.log(LogLevel::warn, "shown", {{"key", "k"}});
  EXPECT_EQ(out.str(), "verrou warn  shown  key=k\n");
  EXPECT_FALSE(null_logger()->enabled(LogLevel::error));
}

}  // namespace
}  // namespace verrou

namespace verrou {
namespace {

TEST(Lock, HugeDelaysAndTimeoutsDoNotOverflow) {
  auto store = std::make_shared<testing_support::FakeStore>();
  store->save_result = false;
  LockFactory factory(store);
  auto lock = factory.create_lock("k");
  EXPECT_FALSE(lock.acquire({.retry = {.attempts = 1, .delay = Duration::max(),
                                       .timeout = Duration::max()}}));
  store->save_result = true;
  EXPECT_TRUE(lock.acquire({.retry = {.delay = Duration::max(), .timeout = Duration::max()}}));
}

}  // namespace
}  // namespace verrou
