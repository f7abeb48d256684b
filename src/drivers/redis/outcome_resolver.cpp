// SPDX-License-Identifier: Apache-2.0
#include "drivers/redis/outcome_resolver.hpp"

#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>
#include <unordered_map>

#include "verrou/errors.hpp"

namespace verrou::detail::redis {

struct OutcomeResolver::State {
  std::function<void(const Cleanup&)> run;
  std::mutex mutex;
  std::condition_variable changed;
  std::unordered_map<std::string, int> unsettled;  // key + '\0' + owner → commands
  std::atomic<std::size_t> unsettled_total{0};     // lets saves skip the lock when 0
  std::deque<Cleanup> queue;
  bool running = false;  // a clean-up is being carried out
  bool stopped = false;  // no more clean-ups
  std::thread thread;

  static std::string id(const std::string& key, const std::string& owner) {
    std::string text = key;
    text += '\0';
    text += owner;
    return text;
  }

  void handed_over(const std::string& key, const std::string& owner) {
    std::lock_guard lock(mutex);
    ++unsettled[id(key, owner)];
    ++unsettled_total;
  }

  void settle_locked(const std::string& key, const std::string& owner) {
    auto it = unsettled.find(id(key, owner));
    if (it == unsettled.end()) return;
    if (--it->second == 0) unsettled.erase(it);
    --unsettled_total;
    changed.notify_all();
  }

  void settle(const std::string& key, const std::string& owner) {
    std::lock_guard lock(mutex);
    settle_locked(key, owner);
  }

  void enqueue(Cleanup cleanup) {
    std::lock_guard lock(mutex);
    if (stopped) {
      settle_locked(cleanup.key, cleanup.owner);
      return;
    }
    queue.push_back(std::move(cleanup));
    if (!thread.joinable()) thread = std::thread([this] { loop(); });
    changed.notify_all();
  }

  void loop() {
    auto pause = std::chrono::milliseconds(100);
    std::unique_lock lock(mutex);
    for (;;) {
      changed.wait(lock, [&] { return !queue.empty() || stopped; });
      if (stopped) {
        for (const auto& c : queue) settle_locked(c.key, c.owner);
        queue.clear();
        return;
      }
      Cleanup next = queue.front();
      running = true;
      lock.unlock();
      bool done = false;
      try {
        run(next);
        done = true;
      } catch (const LockStorageError&) {
      } catch (const std::exception&) {
        done = true;  // not a failure to reach the server: trying again cannot help
      }
      lock.lock();
      running = false;
      if (done) {
        queue.pop_front();
        settle_locked(next.key, next.owner);
        pause = std::chrono::milliseconds(100);
        continue;
      }
      // The server cannot be reached: try again a little later, until it can (or until the
      // store is destroyed and its time to finish has run out).
      changed.wait_for(lock, pause, [&] { return stopped; });
      pause = std::min(pause * 2, std::chrono::milliseconds(2000));
    }
  }
};

namespace {

class LateSave final : public LateReply {
 public:
  LateSave(std::shared_ptr<OutcomeResolver::State> state, Cleanup cleanup,
              bool (*took)(const std::vector<Reply>&))
      : state_(std::move(state)), cleanup_(std::move(cleanup)), took_(took) {}
  void handed_over() noexcept override {
    try {
      state_->handed_over(cleanup_.key, cleanup_.owner);
    } catch (...) {
    }
  }
  void arrived(const std::vector<Reply>& replies) noexcept override {
    try {
      if (!took_(replies)) {
        state_->settle(cleanup_.key, cleanup_.owner);
        return;
      }
      // It took the lock after its caller had gone: release it (the save ran, so no
      // marker is needed).
      Cleanup release = cleanup_;
      release.void_key.clear();
      state_->enqueue(std::move(release));
    } catch (...) {
    }
  }
  void lost(bool maybe_ran) noexcept override {
    try {
      if (maybe_ran) {
        state_->enqueue(cleanup_);
      } else {
        state_->settle(cleanup_.key, cleanup_.owner);
      }
    } catch (...) {
    }
  }

 private:
  std::shared_ptr<OutcomeResolver::State> state_;
  Cleanup cleanup_;
  bool (*took_)(const std::vector<Reply>&);
};

class LateRelease final : public LateReply {
 public:
  LateRelease(std::shared_ptr<OutcomeResolver::State> state, Cleanup cleanup)
      : state_(std::move(state)), cleanup_(std::move(cleanup)) {}
  void handed_over() noexcept override {
    try {
      state_->handed_over(cleanup_.key, cleanup_.owner);
    } catch (...) {
    }
  }
  void arrived(const std::vector<Reply>& /*replies*/) noexcept override {
    try {
      state_->settle(cleanup_.key, cleanup_.owner);  // it ran
    } catch (...) {
    }
  }
  void lost(bool maybe_ran) noexcept override {
    try {
      if (maybe_ran) {
        state_->enqueue(cleanup_);  // release again: owner-checked, so doing it twice is safe
      } else {
        state_->settle(cleanup_.key, cleanup_.owner);
      }
    } catch (...) {
    }
  }

 private:
  std::shared_ptr<OutcomeResolver::State> state_;
  Cleanup cleanup_;
};

}  // namespace

OutcomeResolver::OutcomeResolver(std::function<void(const Cleanup&)> run)
    : state_(std::make_shared<State>()) {
  state_->run = std::move(run);
}

OutcomeResolver::~OutcomeResolver() { finish(Clock::now()); }

std::shared_ptr<LateReply> OutcomeResolver::for_save(Cleanup cleanup,
                                                     bool (*took)(const std::vector<Reply>&)) {
  return std::make_shared<LateSave>(state_, std::move(cleanup), took);
}

std::shared_ptr<LateReply> OutcomeResolver::for_release(Cleanup cleanup) {
  return std::make_shared<LateRelease>(state_, std::move(cleanup));
}

void OutcomeResolver::clean_up(Cleanup cleanup) {
  state_->handed_over(cleanup.key, cleanup.owner);
  state_->enqueue(std::move(cleanup));
}

bool OutcomeResolver::wait_settled(const std::string& key, const std::string& owner,
                                   Deadline deadline) {
  if (state_->unsettled_total.load() == 0) return true;
  const std::string id = State::id(key, owner);
  std::unique_lock lock(state_->mutex);
  return state_->changed.wait_until(lock, deadline,
                                    [&] { return state_->unsettled.count(id) == 0; });
}

void OutcomeResolver::finish(Deadline deadline) {
  State& s = *state_;
  std::unique_lock lock(s.mutex);
  s.changed.wait_until(lock, deadline, [&] { return s.queue.empty() && !s.running; });
  s.stopped = true;
  s.changed.notify_all();
  std::thread thread = std::move(s.thread);
  lock.unlock();
  // A clean-up under way ends within its own connect + command timeouts.
  if (thread.joinable()) thread.join();
}

}  // namespace verrou::detail::redis
