// SPDX-License-Identifier: Apache-2.0
#include "drivers/redis/drainer.hpp"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <condition_variable>

#include "drivers/redis/pipeline.hpp"

namespace verrou::detail::redis {

Drainer::Drainer(Duration patience) : patience_(patience) {}

Drainer::~Drainer() {
  {
    std::lock_guard lock(mutex_);
    exiting_ = true;
    give_up_all_at_ = Deadline::min();
  }
  wake();
  if (thread_.joinable()) thread_.join();
  if (wake_fd_ >= 0) ::close(wake_fd_);
}

void Drainer::wake() const {
  if (wake_fd_ < 0) return;
  std::uint64_t one = 1;
  [[maybe_unused]] auto n = ::write(wake_fd_, &one, sizeof one);
}

void Drainer::adopt(std::shared_ptr<Pipeline> pipeline) {
  std::lock_guard lock(mutex_);
  adopted_.push_back(std::move(pipeline));
  if (!thread_.joinable()) {
    wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    thread_ = std::thread([this] { loop(); });
  }
  wake();
}

void Drainer::finish(Deadline deadline) {
  std::unique_lock lock(mutex_);
  give_up_all_at_ = deadline;
  wake();
  emptied_.wait(lock, [&] { return adopted_.empty() || !thread_.joinable(); });
}

void Drainer::loop() {
  std::vector<std::shared_ptr<Pipeline>> watched;
  std::vector<pollfd> fds;
  for (;;) {
    Deadline give_up_all_at;
    {
      std::lock_guard lock(mutex_);
      if (exiting_ && adopted_.empty()) return;
      watched = adopted_;
      give_up_all_at = give_up_all_at_;
    }
    auto now = Clock::now();
    Deadline next = give_up_all_at;
    std::vector<std::shared_ptr<Pipeline>> finished;
    std::vector<std::shared_ptr<Pipeline>> polled;
    fds.clear();
    fds.push_back({wake_fd_, POLLIN, 0});
    for (const auto& p : watched) {
      const Deadline give_up_at = std::min(p->last_reply_at() + patience_, give_up_all_at);
      if (now >= give_up_at) {
        p->give_up("no reply came for " + std::to_string(patience_.count()) +
                   " ms after the command timeout");
        finished.push_back(p);
        continue;
      }
      next = std::min(next, give_up_at);
      polled.push_back(p);
      fds.push_back({p->fd(), POLLIN, 0});
    }
    if (finished.empty()) {
      auto wait_ms = std::chrono::ceil<std::chrono::milliseconds>(next - now).count();
      int timeout = static_cast<int>(std::clamp<long long>(wait_ms, 1, 1000));
      if (::poll(fds.data(), fds.size(), timeout) > 0) {
        if ((fds[0].revents & POLLIN) != 0) {
          std::uint64_t value = 0;
          [[maybe_unused]] auto n = ::read(wake_fd_, &value, sizeof value);
        }
        for (std::size_t i = 0; i < polled.size(); ++i) {
          if (fds[i + 1].revents != 0 &&
              polled[i]->drain_available() == Pipeline::Drained::kDone) {
            finished.push_back(polled[i]);
          }
        }
      }
    }
    if (!finished.empty()) {
      std::lock_guard lock(mutex_);
      std::erase_if(adopted_, [&](const auto& p) {
        return std::find(finished.begin(), finished.end(), p) != finished.end();
      });
      if (adopted_.empty()) emptied_.notify_all();
    }
  }
}

}  // namespace verrou::detail::redis
