// SPDX-License-Identifier: Apache-2.0
// The Observer hooks: every operation on a lock or semaphore produces exactly the events it
// should, with the store's name, on the memory store (and a store made to fail).
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "verrou/verrou.hpp"
#include "verrou/drivers/memory.hpp"
#include "verrou/observer.hpp"

namespace {

using namespace std::chrono_literals;
using verrou::AcquireResult;
using verrou::HoldKind;
using verrou::StoreOperation;

// Keeps a copy of every event (the views are only valid during the call).
class RecordingObserver final : public verrou::Observer {
 public:
  struct Acquire {
    std::string store, key;
    HoldKind kind;
    AcquireResult result;
    std::uint64_t attempts;
    bool contended;
    std::chrono::nanoseconds wait;
  };
  struct Release {
    std::string store, key;
    HoldKind kind;
    bool forced, owned;
  };
  struct Extend {
    std::string store, key;
    HoldKind kind;
    bool owned;
  };
  struct Lost {
    std::string store, key, reason;
    HoldKind kind;
  };
  struct StoreError {
    std::string store, key, error;
    HoldKind kind;
    StoreOperation operation;
  };

  void on_acquire(const verrou::AcquireEvent& e) noexcept override {
    const std::lock_guard lock(mutex_);
    acquires_.push_back({std::string(e.store), std::string(e.key), e.kind, e.result, e.attempts,
                         e.contended, e.wait});
  }
  void on_release(const verrou::ReleaseEvent& e) noexcept override {
    const std::lock_guard lock(mutex_);
    releases_.push_back(
        {std::string(e.store), std::string(e.key), e.kind, e.forced, e.owned});
  }
  void on_extend(const verrou::ExtendEvent& e) noexcept override {
    const std::lock_guard lock(mutex_);
    extends_.push_back({std::string(e.store), std::string(e.key), e.kind, e.owned});
  }
  void on_lost(const verrou::LostEvent& e) noexcept override {
    const std::lock_guard lock(mutex_);
    lost_.push_back({std::string(e.store), std::string(e.key), std::string(e.reason), e.kind});
  }
  void on_store_error(const verrou::StoreErrorEvent& e) noexcept override {
    const std::lock_guard lock(mutex_);
    errors_.push_back(
        {std::string(e.store), std::string(e.key), std::string(e.error), e.kind, e.operation});
  }

  std::vector<Acquire> acquires() const { return copy(acquires_); }
  std::vector<Release> releases() const { return copy(releases_); }
  std::vector<Extend> extends() const { return copy(extends_); }
  std::vector<Lost> lost() const { return copy(lost_); }
  std::vector<StoreError> errors() const { return copy(errors_); }

 private:
  template <class T>
  std::vector<T> copy(const std::vector<T>& v) const {
    const std::lock_guard lock(mutex_);
    return v;
  }
  mutable std::mutex mutex_;
  std::vector<Acquire> acquires_;
  std::vector<Release> releases_;
  std::vector<Extend> extends_;
  std::vector<Lost> lost_;
  std::vector<StoreError> errors_;
};

// A memory store whose every operation can be made to fail as an unreachable server's would.
class BrokenStore final : public verrou::LockStore {
 public:
  std::atomic<bool> broken{false};
  bool save(const std::string& key, const std::string& owner,
            std::optional<verrou::Duration> ttl) override {
    check("save");
    return inner_.save(key, owner, ttl);
  }
  void remove(const std::string& key, const std::string& owner) override {
    check("remove");
    inner_.remove(key, owner);
  }
  void force_remove(const std::string& key) override {
    check("force_remove");
    inner_.force_remove(key);
  }
  bool exists(const std::string& key) override {
    check("exists");
    return inner_.exists(key);
  }
  void extend(const std::string& key, const std::string& owner, verrou::Duration d) override {
    check("extend");
    inner_.extend(key, owner, d);
  }

 private:
  void check(const char* op) const {
    if (broken) throw verrou::LockStorageError(std::string("connection refused during ") + op);
  }
  verrou::MemoryStore inner_;
};

verrou::Verrou make_locks(const std::shared_ptr<verrou::Observer>& observer) {
  return verrou::Verrou({.default_store = "mem",
                         .stores = {{"mem", verrou::memory_store()}},
                         .observer = observer});
}

TEST(Observer, EveryLockOperationIsReportedOnceWithTheStoreName) {
  auto observer = std::make_shared<RecordingObserver>();
  auto locks = make_locks(observer);
  auto lock = locks.create_lock("obs:basic", 10s);
  ASSERT_TRUE(lock.acquire());
  lock.extend();
  EXPECT_TRUE(lock.is_locked());
  lock.release();
  EXPECT_THROW(lock.release(), verrou::LockNotOwnedError);
  EXPECT_THROW(lock.extend(), verrou::LockNotOwnedError);
  lock.force_release();

  const auto acquires = observer->acquires();
  ASSERT_EQ(acquires.size(), 1U);
  EXPECT_EQ(acquires[0].store, "mem");
  EXPECT_EQ(acquires[0].key, "obs:basic");
  EXPECT_EQ(acquires[0].kind, HoldKind::lock);
  EXPECT_EQ(acquires[0].result, AcquireResult::acquired);
  EXPECT_EQ(acquires[0].attempts, 1U);
  EXPECT_FALSE(acquires[0].contended);
  EXPECT_GE(acquires[0].wait.count(), 0);

  const auto releases = observer->releases();
  ASSERT_EQ(releases.size(), 3U);
  EXPECT_TRUE(releases[0].owned);
  EXPECT_FALSE(releases[0].forced);
  EXPECT_FALSE(releases[1].owned);
  EXPECT_TRUE(releases[2].forced);
  EXPECT_TRUE(releases[2].owned);

  const auto extends = observer->extends();
  ASSERT_EQ(extends.size(), 2U);
  EXPECT_TRUE(extends[0].owned);
  EXPECT_FALSE(extends[1].owned);
  EXPECT_TRUE(observer->lost().empty());
  EXPECT_TRUE(observer->errors().empty());
}

TEST(Observer, AGivenUpAcquisitionCountsItsAttempts) {
  auto observer = std::make_shared<RecordingObserver>();
  auto locks = make_locks(observer);
  auto holder = locks.create_lock("obs:busy", 10s);
  ASSERT_TRUE(holder.acquire());
  auto other = locks.create_lock("obs:busy", 10s);
  EXPECT_FALSE(other.acquire({.retry = {.attempts = 3, .delay = 1ms}}));
  EXPECT_FALSE(other.acquire_immediately());

  const auto acquires = observer->acquires();
  ASSERT_EQ(acquires.size(), 3U);
  EXPECT_EQ(acquires[1].result, AcquireResult::not_acquired);
  EXPECT_EQ(acquires[1].attempts, 3U);
  EXPECT_TRUE(acquires[1].contended);
  EXPECT_EQ(acquires[2].result, AcquireResult::not_acquired);
  EXPECT_EQ(acquires[2].attempts, 1U);
  EXPECT_FALSE(acquires[2].contended);
}

TEST(Observer, AContendedAcquisitionIsReportedAsContendedWithItsWait) {
  auto observer = std::make_shared<RecordingObserver>();
  auto locks = make_locks(observer);
  auto holder = locks.create_lock("obs:contended", 10s);
  ASSERT_TRUE(holder.acquire());
  auto waiter = locks.create_lock("obs:contended", 10s);
  auto got = std::async(std::launch::async,
                        [&] { return waiter.acquire({.retry = {.timeout = 30s}}); });
  std::this_thread::sleep_for(50ms);  // the waiter is waiting by now (if not, it waits less)
  holder.release();
  ASSERT_TRUE(got.get());
  waiter.release();

  const auto acquires = observer->acquires();
  ASSERT_EQ(acquires.size(), 2U);
  EXPECT_FALSE(acquires[0].contended);
  EXPECT_EQ(acquires[1].result, AcquireResult::acquired);
  EXPECT_TRUE(acquires[1].contended);
  EXPECT_GE(acquires[1].attempts, 1U);
  EXPECT_GE(acquires[1].wait, std::chrono::nanoseconds(40ms));
  EXPECT_EQ(observer->releases().size(), 2U);
}

TEST(Observer, ALeaseLostUnderAKeepAliveIsReportedOnce) {
  auto observer = std::make_shared<RecordingObserver>();
  auto locks = make_locks(observer);
  auto lock = locks.create_lock("obs:lost", 300ms);
  ASSERT_TRUE(lock.acquire());
  auto keep = lock.keep_alive();
  locks.create_lock("obs:lost").force_release();  // another client takes it away
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (!keep.lost() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(5ms);
  }
  ASSERT_TRUE(keep.lost());
  keep.stop();

  const auto lost = observer->lost();
  ASSERT_EQ(lost.size(), 1U);
  EXPECT_EQ(lost[0].store, "mem");
  EXPECT_EQ(lost[0].key, "obs:lost");
  EXPECT_EQ(lost[0].kind, HoldKind::lock);
  EXPECT_EQ(lost[0].reason, keep.lost_reason());
  // The refused extension that revealed the loss.
  const auto extends = observer->extends();
  ASSERT_FALSE(extends.empty());
  EXPECT_FALSE(extends.back().owned);
}

TEST(Observer, RunWithAStopTokenReportsTheLossAndThrows) {
  auto observer = std::make_shared<RecordingObserver>();
  auto locks = make_locks(observer);
  auto lock = locks.create_lock("obs:run-lost", 300ms);
  EXPECT_THROW(lock.run([&](std::stop_token lost) {
    locks.create_lock("obs:run-lost").force_release();
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (!lost.stop_requested() && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(5ms);
    }
  }),
               verrou::LockLostError);
  EXPECT_EQ(observer->lost().size(), 1U);
  EXPECT_EQ(observer->acquires().size(), 1U);
}

TEST(Observer, StoreErrorsAreReportedByOperation) {
  auto observer = std::make_shared<RecordingObserver>();
  auto store = std::make_shared<BrokenStore>();
  verrou::LockFactory locks(store, {.observer = observer, .store_name = "broken"});
  auto lock = locks.create_lock("obs:errors", 10s);
  ASSERT_TRUE(lock.acquire());
  store->broken = true;
  EXPECT_THROW(lock.extend(), verrou::LockStorageError);
  EXPECT_THROW(lock.release(), verrou::LockStorageError);
  EXPECT_THROW(lock.force_release(), verrou::LockStorageError);
  EXPECT_THROW((void)lock.is_locked(), verrou::LockStorageError);
  auto other = locks.create_lock("obs:errors-2", 10s);
  EXPECT_THROW(other.acquire(), verrou::LockStorageError);
  store->broken = false;
  lock.release();

  const auto errors = observer->errors();
  ASSERT_EQ(errors.size(), 5U);
  EXPECT_EQ(errors[0].operation, StoreOperation::extend);
  EXPECT_EQ(errors[1].operation, StoreOperation::release);
  EXPECT_EQ(errors[2].operation, StoreOperation::force_release);
  EXPECT_EQ(errors[3].operation, StoreOperation::exists);
  EXPECT_EQ(errors[4].operation, StoreOperation::acquire);
  EXPECT_EQ(errors[4].key, "obs:errors-2");
  EXPECT_EQ(errors[4].store, "broken");
  EXPECT_NE(errors[4].error.find("connection refused during save"), std::string::npos);

  const auto acquires = observer->acquires();
  ASSERT_EQ(acquires.size(), 2U);
  EXPECT_EQ(acquires[1].result, AcquireResult::error);
  EXPECT_EQ(observer->releases().size(), 1U);  // only the one that reached the store
  EXPECT_TRUE(observer->extends().empty());
}

TEST(Observer, SemaphorePermitsAreReportedAsSemaphores) {
  auto observer = std::make_shared<RecordingObserver>();
  auto locks = make_locks(observer);
  auto a = locks.create_semaphore("obs:sem", 1, 10s);
  auto b = locks.create_semaphore("obs:sem", 1, 10s);
  ASSERT_TRUE(a.acquire());
  EXPECT_FALSE(b.acquire({.retry = {.attempts = 2, .delay = 1ms}}));
  a.extend();
  EXPECT_EQ(a.holders(), 1U);
  a.release();

  const auto acquires = observer->acquires();
  ASSERT_EQ(acquires.size(), 2U);
  EXPECT_EQ(acquires[0].kind, HoldKind::semaphore);
  EXPECT_EQ(acquires[0].result, AcquireResult::acquired);
  EXPECT_EQ(acquires[1].result, AcquireResult::not_acquired);
  EXPECT_EQ(acquires[1].attempts, 2U);
  EXPECT_TRUE(acquires[1].contended);
  ASSERT_EQ(observer->extends().size(), 1U);
  EXPECT_EQ(observer->extends()[0].kind, HoldKind::semaphore);
  ASSERT_EQ(observer->releases().size(), 1U);
}

TEST(Observer, AFactoryWithoutAStoreNameReportsDefault) {
  auto observer = std::make_shared<RecordingObserver>();
  verrou::LockFactory locks(verrou::memory_store()(), {.observer = observer});
  auto lock = locks.create_lock("obs:default", 10s);
  ASSERT_TRUE(lock.acquire_immediately());
  lock.release();
  ASSERT_EQ(observer->acquires().size(), 1U);
  EXPECT_EQ(observer->acquires()[0].store, "default");
  EXPECT_EQ(observer->acquires()[0].attempts, 1U);
}

}  // namespace
