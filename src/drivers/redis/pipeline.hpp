// SPDX-License-Identifier: Apache-2.0
// One connection shared by many threads at once (auto-pipelining): each caller queues its
// command; whoever finds no send in progress sends everything queued in one go; replies are
// matched to callers in the order the commands went out. The first caller waiting for a
// reply reads for everyone and hands the reading over when its own reply has come.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "drivers/redis/connection.hpp"
#include "drivers/redis/redis_errors.hpp"

namespace verrou::detail::redis {

class Drainer;

/// What to do with the outcome of a command whose caller stopped waiting for it: it timed
/// out, or the connection failed after the command went out. Exactly one of `arrived` or
/// `lost` follows `handed_over`. Every call is made under the connection's lock: quick, no
/// I/O, no exceptions.
class LateReply {
 public:
  virtual ~LateReply() = default;
  /// The caller gave up on the reply: settling the outcome is now this object's job.
  virtual void handed_over() noexcept = 0;
  /// The replies came after all.
  virtual void arrived(const std::vector<Reply>& replies) noexcept = 0;
  /// No reply will come. `maybe_ran`: some of the command reached the connection, so it
  /// may have run (false: it was never sent).
  virtual void lost(bool maybe_ran) noexcept = 0;
};

/// A command (or several sent back to back, such as ASKING and its command) on its way
/// through a Pipeline.
struct Request {
  std::string payload;                ///< the commands in RESP
  std::size_t expected = 1;           ///< replies to read: one per command
  std::shared_ptr<LateReply> late{};  ///< told of the outcome if the caller gives up; may be null

  // Filled in by the pipeline, under its lock.
  enum class State { kPending, kDone, kFailed };
  State state = State::kPending;
  std::vector<Reply> replies;
  IoError failure;
  bool abandoned = false;
  bool waiting = false;
  std::uint64_t begin = 0;  // offset of the first byte in the connection's stream
  std::condition_variable ready;

  /// Back to its state before it was first executed, for another attempt.
  void reset();
};

/// One connection with auto-pipelining. Its commands and replies are never reordered, so a
/// caller that times out leaves its place in line (abandons it) without breaking the
/// connection: the connection is then "stalled" (no new commands), handed to the Drainer,
/// which reads the late replies and passes each to the command's LateReply. A connection that
/// fails fails every command on it: those that went out with `sent` true (outcome unknown),
/// the others with `sent` false (certainly did not run).
///
/// At most three system calls per command when one thread works alone (send, poll, recv);
/// fewer per command when many share it. Thread safety: all members.
class Pipeline : public std::enable_shared_from_this<Pipeline> {
 public:
  Pipeline(Target target, std::shared_ptr<const Settings> settings, Drainer& drainer);
  Pipeline(const Pipeline&) = delete;
  Pipeline& operator=(const Pipeline&) = delete;

  /// Connects (see Connection::open). Throws IoError with `sent` false.
  void open(Deadline deadline);

  /// Sends `request` and waits for its replies until `deadline`. Throws IoError: `sent`
  /// false when it certainly did not run (then it may be tried elsewhere), true when it may
  /// have (a timeout, or the connection failed after sending).
  void execute(const std::shared_ptr<Request>& request, Deadline deadline);

  /// Takes new commands (not stalled, retired or broken).
  [[nodiscard]] bool open_for_requests() const;
  /// Commands sent or queued whose replies have not come.
  [[nodiscard]] std::size_t load() const { return load_.load(std::memory_order_relaxed); }
  /// Should be PINGed before use: idle for more than `idle`, or suspected dead.
  [[nodiscard]] bool needs_check(Clock::time_point now, Clock::duration idle) const;
  /// A PING answered: no check is needed for a while.
  void mark_checked();
  /// Another connection to the same server failed: PING this one before its next use.
  void mark_suspect() { suspect_.store(true); }
  /// Takes no new commands; those in flight finish normally.
  void retire();

  // For the Drainer, which reads a stalled connection alone:
  enum class Drained { kMore, kDone };
  [[nodiscard]] int fd() const { return connection_.fd(); }
  [[nodiscard]] Clock::time_point last_reply_at() const;
  /// Reads what arrived and settles the replies. kDone when nothing is left to read (the
  /// connection is then closed for good).
  Drained drain_available();
  /// Gives up waiting: the commands still in flight are lost.
  void give_up(const std::string& why);

 private:
  // A connection idle for a moment may have been closed by the server meanwhile (a restart,
  // CLIENT KILL, its idle timeout): one poll without waiting tells, before a command goes out
  // on it. Throws IoError (`sent` false) when it was.
  void probe_if_idle(std::unique_lock<std::mutex>& lock);
  void write_queued(std::unique_lock<std::mutex>& lock, Deadline deadline);
  void await(const std::shared_ptr<Request>& request, std::unique_lock<std::mutex>& lock,
             Deadline deadline);
  // Reads until `request` is answered or `deadline`; returns false at the deadline.
  bool read_for(const std::shared_ptr<Request>& request, std::unique_lock<std::mutex>& lock,
                Deadline deadline);
  // Receives what is there; returns the complete replies. Throws like Connection.
  std::vector<Reply> receive_replies();
  void deliver(std::vector<Reply>& replies, std::vector<std::shared_ptr<Request>>& wake);
  void abandon(const std::shared_ptr<Request>& request);
  void pass_reading_on();
  void break_connection(const std::string& why);

  enum class Health { kOpen, kRetired, kStalled, kBroken };

  const std::shared_ptr<const Settings> settings_;  // outlives connection_
  Connection connection_;
  Drainer& drainer_;
  mutable std::mutex mutex_;
  std::atomic<Health> health_{Health::kOpen};  // written under mutex_; read anywhere
  bool writing_ = false;
  bool reading_ = false;
  std::string outbox_;                               // queued bytes not yet taken by a sender
  std::uint64_t queued_ = 0;                         // bytes ever queued
  std::uint64_t handed_ = 0;                         // bytes taken by a sender (maybe sent)
  std::deque<std::shared_ptr<Request>> in_flight_;   // in stream order
  std::atomic<std::size_t> load_{0};
  std::atomic<bool> suspect_{false};
  std::atomic<Clock::rep> last_reply_at_{0};         // Clock ticks
  Clock::time_point last_sent_at_{};                 // guarded by mutex_
};

}  // namespace verrou::detail::redis
