// SPDX-License-Identifier: Apache-2.0
#include "drivers/redis/pipeline.hpp"

#include <exception>
#include <utility>

#include "drivers/redis/drainer.hpp"

namespace verrou::detail::redis {

namespace {

// Takes `lock`'s mutex, trying a moment without sleeping first. The sections it guards last
// well under a microsecond, so with many threads on one connection a thread finding it taken
// usually gets it sooner this way than through a futex sleep and wake-up (two system calls).
void acquire(std::unique_lock<std::mutex>& lock) {
  for (int i = 0; i < 64; ++i) {
    if (lock.try_lock()) return;
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
  }
  lock.lock();
}

}  // namespace

void Request::reset() {
  state = State::kPending;
  replies.clear();
  failure = IoError{};
  abandoned = false;
  waiting = false;
  begin = 0;
}

Pipeline::Pipeline(Target target, std::shared_ptr<const Settings> settings, Drainer& drainer)
    : settings_(std::move(settings)),
      connection_(std::move(target), settings_->connection, settings_->tls.get()),
      drainer_(drainer) {}

void Pipeline::open(Deadline deadline) {
  connection_.open(deadline);
  last_reply_at_.store(Clock::now().time_since_epoch().count());
}

bool Pipeline::open_for_requests() const { return health_.load() == Health::kOpen; }

bool Pipeline::needs_check(Clock::time_point now, Clock::duration idle) const {
  if (suspect_.load()) return true;
  return load() == 0 && now.time_since_epoch().count() - last_reply_at_.load() > idle.count();
}

void Pipeline::mark_checked() {
  suspect_.store(false);
  last_reply_at_.store(Clock::now().time_since_epoch().count());
}

void Pipeline::retire() {
  std::lock_guard lock(mutex_);
  if (health_ == Health::kOpen) health_ = Health::kRetired;
}

Clock::time_point Pipeline::last_reply_at() const {
  return Clock::time_point(Clock::duration(last_reply_at_.load()));
}

void Pipeline::probe_if_idle(std::unique_lock<std::mutex>& lock) {
  // Back-to-back commands (the steady state) are not probed: it would cost a system call each.
  constexpr auto kIdle = std::chrono::milliseconds(20);
  if (!in_flight_.empty() || reading_ || Clock::now() - last_sent_at_ < kIdle) return;
  reading_ = true;
  lock.unlock();
  std::string error;
  try {
    if (connection_.readable_now()) {
      connection_.receive();  // TLS housekeeping (session tickets) is fine; anything else is not
      if (connection_.next_reply()) error = "the server sent a reply nobody asked for";
    }
  } catch (const IoError& e) {
    error = e.message;
  } catch (const std::exception& e) {
    error = e.what();
  }
  lock.lock();
  reading_ = false;
  if (!error.empty()) {
    break_connection(error);
    throw IoError{"the connection was closed while idle: " + error, false};
  }
}

void Pipeline::execute(const std::shared_ptr<Request>& request, Deadline deadline) {
  std::unique_lock lock(mutex_, std::defer_lock);
  acquire(lock);
  if (health_ == Health::kOpen) probe_if_idle(lock);
  if (health_ != Health::kOpen) throw IoError{"the connection takes no more commands", false};
  last_sent_at_ = Clock::now();
  request->begin = queued_;
  queued_ += request->payload.size();
  outbox_ += request->payload;
  in_flight_.push_back(request);
  load_.fetch_add(1, std::memory_order_relaxed);
  if (!writing_) write_queued(lock, deadline);
  await(request, lock, deadline);
}

void Pipeline::write_queued(std::unique_lock<std::mutex>& lock, Deadline deadline) {
  writing_ = true;
  std::string batch;
  while (!outbox_.empty() && health_ != Health::kBroken) {
    batch.clear();
    batch.swap(outbox_);
    handed_ = queued_;
    lock.unlock();
    std::string error;
    try {
      std::size_t written = 0;
      connection_.send_all(batch, deadline, written);
    } catch (const IoError& e) {
      error = e.message;
    } catch (const std::exception& e) {
      error = std::string("sending: ") + e.what();
    } catch (...) {
      error = "sending: unknown failure";
    }
    acquire(lock);
    if (!error.empty()) break_connection(error);
  }
  writing_ = false;
}

void Pipeline::await(const std::shared_ptr<Request>& request, std::unique_lock<std::mutex>& lock,
                     Deadline deadline) {
  for (;;) {
    if (request->state == Request::State::kDone) return;
    if (request->state == Request::State::kFailed) throw request->failure;
    if (!reading_ && (health_ == Health::kOpen || health_ == Health::kRetired)) {
      if (!read_for(request, lock, deadline)) break;
      continue;
    }
    request->waiting = true;
    const bool timed_out = request->ready.wait_until(lock, deadline) == std::cv_status::timeout;
    request->waiting = false;
    if (timed_out && request->state == Request::State::kPending) break;
  }
  abandon(request);
  throw IoError{"timed out waiting for the reply", true};
}

std::vector<Reply> Pipeline::receive_replies() {
  std::vector<Reply> replies;
  connection_.receive();
  while (auto reply = connection_.next_reply()) replies.push_back(std::move(*reply));
  return replies;
}

bool Pipeline::read_for(const std::shared_ptr<Request>& request,
                        std::unique_lock<std::mutex>& lock, Deadline deadline) {
  reading_ = true;
  bool in_time = true;
  std::vector<std::shared_ptr<Request>> wake;
  while (request->state == Request::State::kPending && health_ != Health::kBroken) {
    lock.unlock();
    std::vector<Reply> replies;
    std::string error;
    try {
      if (connection_.wait_readable(deadline) == Connection::Ready::kTimedOut) {
        in_time = false;
      } else {
        replies = receive_replies();
      }
    } catch (const IoError& e) {
      error = e.message;
    } catch (const std::exception& e) {
      error = std::string("reading a reply: ") + e.what();
    } catch (...) {
      error = "reading a reply: unknown failure";
    }
    acquire(lock);
    try {
      deliver(replies, wake);
    } catch (const std::exception& e) {
      error = std::string("handling a reply: ") + e.what();
    }
    if (!error.empty()) break_connection(error);
    if (!wake.empty()) {
      // Wake the callers answered, without the lock, so they do not wake only to wait for it.
      lock.unlock();
      for (const auto& r : wake) r->ready.notify_one();
      wake.clear();
      acquire(lock);
    }
    if (!in_time) break;
  }
  reading_ = false;
  if (in_time) pass_reading_on();  // on a timeout, abandon() hands the reading to the Drainer
  return in_time;
}

void Pipeline::deliver(std::vector<Reply>& replies, std::vector<std::shared_ptr<Request>>& wake) {
  if (replies.empty()) return;
  last_reply_at_.store(Clock::now().time_since_epoch().count());
  for (auto& reply : replies) {
    if (in_flight_.empty()) {
      break_connection("the server sent a reply nobody asked for");
      return;
    }
    Request& front = *in_flight_.front();
    front.replies.push_back(std::move(reply));
    if (front.replies.size() < front.expected) continue;
    std::shared_ptr<Request> done = std::move(in_flight_.front());
    in_flight_.pop_front();
    load_.fetch_sub(1, std::memory_order_relaxed);
    if (done->abandoned) {
      if (done->late) done->late->arrived(done->replies);
      continue;
    }
    done->state = Request::State::kDone;
    if (done->waiting) wake.push_back(std::move(done));
  }
}

void Pipeline::abandon(const std::shared_ptr<Request>& request) {
  request->abandoned = true;
  if (request->late) request->late->handed_over();
  // No reply within the command timeout: the connection is stuck or the server is. New
  // commands go elsewhere; what is in flight here is read by the Drainer.
  if (health_ == Health::kOpen || health_ == Health::kRetired) health_ = Health::kStalled;
  if (!reading_) pass_reading_on();
}

void Pipeline::pass_reading_on() {
  if (in_flight_.empty() || health_ == Health::kBroken) return;
  if (health_ == Health::kStalled) {
    reading_ = true;  // for good: the Drainer reads from now on
    drainer_.adopt(shared_from_this());
    return;
  }
  for (const auto& r : in_flight_) {
    if (r->waiting && r->state == Request::State::kPending) {
      r->ready.notify_one();
      return;
    }
  }
  // Callers still sending will read when they come to wait.
}

void Pipeline::break_connection(const std::string& why) {
  if (health_ == Health::kBroken) return;
  health_ = Health::kBroken;
  connection_.wake_all();
  for (const auto& r : in_flight_) {
    const bool maybe_ran = r->begin < handed_;
    r->state = Request::State::kFailed;
    r->failure = IoError{why, maybe_ran};
    if (r->late) {
      if (!r->abandoned && maybe_ran) r->late->handed_over();
      if (r->abandoned || maybe_ran) r->late->lost(maybe_ran);
    }
    if (r->waiting) r->ready.notify_one();
  }
  in_flight_.clear();
  outbox_.clear();
  load_.store(0);
}

Pipeline::Drained Pipeline::drain_available() {
  std::vector<Reply> replies;
  std::string error;
  try {
    replies = receive_replies();
  } catch (const IoError& e) {
    error = e.message;
  } catch (const std::exception& e) {
    error = std::string("reading a reply: ") + e.what();
  }
  std::vector<std::shared_ptr<Request>> wake;
  std::unique_lock lock(mutex_);
  try {
    deliver(replies, wake);
  } catch (const std::exception& e) {
    error = std::string("handling a reply: ") + e.what();
  }
  if (!error.empty()) break_connection(error);
  const bool done = in_flight_.empty() || health_ == Health::kBroken;
  if (done) break_connection("drained");  // nothing left: closed for good
  lock.unlock();
  for (const auto& r : wake) r->ready.notify_one();
  return done ? Drained::kDone : Drained::kMore;
}

void Pipeline::give_up(const std::string& why) {
  std::lock_guard lock(mutex_);
  break_connection(why);
}

}  // namespace verrou::detail::redis
