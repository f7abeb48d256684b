// SPDX-License-Identifier: Apache-2.0
#include "holding.hpp"

#include <sys/ioctl.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <random>
#include <utility>

#include "verrou/errors.hpp"
#include "verrou/lock_factory.hpp"

namespace verrou::cli {

namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

// The live "waiting for …" line, drawn on stderr when it is a terminal.
class WaitingLine {
 public:
  WaitingLine(bool enabled, std::string text) : enabled_(enabled), text_(std::move(text)) {}
  WaitingLine(const WaitingLine&) = delete;
  WaitingLine& operator=(const WaitingLine&) = delete;
  ~WaitingLine() { clear(); }

  void show(Clock::duration waited) {
    if (!enabled_) return;
    const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(waited).count();
    if (drawn_ && seconds == last_seconds_) return;
    last_seconds_ = seconds;
    std::string line = "verrou: " + text_ + " (" + std::to_string(seconds) + "s)";
    // A line wider than the terminal wraps, and "\r" then cannot erase it.
    winsize ws{};
    if (::ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 1 &&
        line.size() >= ws.ws_col) {
      line.resize(static_cast<std::size_t>(ws.ws_col) - 4U);
      line += "...";
    }
    write_all("\r\033[K" + line);
    drawn_ = true;
  }

  void clear() {
    if (!drawn_) return;
    write_all("\r\033[K");
    drawn_ = false;
  }

 private:
  static void write_all(const std::string& text) {
    std::size_t done = 0;
    while (done < text.size()) {
      const ssize_t n = ::write(STDERR_FILENO, text.data() + done, text.size() - done);
      if (n <= 0) return;
      done += static_cast<std::size_t>(n);
    }
  }

  bool enabled_;
  std::string text_;
  bool drawn_ = false;
  long long last_seconds_ = -1;
};

Duration jittered(Duration delay) {
  // Pauses of 75–100 % of the delay, so waiters that started together do not poll in step.
  thread_local std::minstd_rand rng(std::random_device{}());
  std::uniform_int_distribution<Duration::rep> dist(delay.count() * 3 / 4, delay.count());
  return Duration(dist(rng));
}

}  // namespace

void add_wait_options(CLI::App& app, WaitArgs& args) {
  auto* timeout = app.add_option("-t,--timeout", args.timeout,
                                 "Give up waiting for the lock after this long (e.g. 30s); "
                                 "default: wait as long as it takes")
                     ->type_name("DURATION");
  auto* no_wait = app.add_flag("-n,--no-wait", args.no_wait,
                               "Try once; if the lock is held, give up at once");
  auto* attempts = app.add_option("--attempts", args.attempts,
                                  "Give up after this many tries in all (default: unlimited)")
                      ->type_name("N");
  app.add_option("--delay", args.delay, "Pause between tries")
      ->type_name("DURATION")
      ->capture_default_str();
  app.add_option("--conflict-exit-code", args.conflict_exit_code,
                 "Exit code when the lock is not acquired")
      ->type_name("N")
      ->check(CLI::Range(0, 255))
      ->capture_default_str();
  no_wait->excludes(timeout);
  no_wait->excludes(attempts);
}

WaitOptions parse_wait_args(const WaitArgs& args) {
  WaitOptions options;
  options.no_wait = args.no_wait;
  if (!args.timeout.empty()) options.timeout = parse_duration_option("--timeout", args.timeout);
  options.delay = parse_duration_option("--delay", args.delay);
  if (args.attempts) {
    if (*args.attempts == 0) {
      throw CliError(kExitUsage, "invalid --attempts 0: give 1 or more (1 tries once, like "
                                 "--no-wait), or leave it out to try until --timeout");
    }
    options.attempts = args.attempts;
  }
  return options;
}

Acquisition acquire_lock(Lock& lock, const SelectedStore& store, const WaitOptions& options,
                         SignalWatcher& signals, Verbosity verbosity) {
  const bool live = verrou::cli::Verbosity::normal == verbosity && ::isatty(STDERR_FILENO) == 1;
  WaitingLine line(live, "waiting for lock " + in_quotes(lock.key()) + " on " + store.shown);
  auto* waitable = dynamic_cast<WaitableLockStore*>(store.store.get());

  const auto start = Clock::now();
  const auto deadline = options.timeout ? start + *options.timeout : Clock::time_point::max();
  Acquisition result;
  for (;;) {
    if (auto sig = signals.wait_for_termination(0ms)) {
      result.outcome = Acquisition::Outcome::interrupted;
      result.signal = *sig;
      return result;
    }
    ++result.attempts;
    const auto tried_at = Clock::now();
    bool got = false;
    if (options.no_wait || tried_at >= deadline || waitable == nullptr) {
      got = lock.acquire_immediately();
    } else {
      // A store that can wait is woken by the release itself: wait in slices no longer than
      // the delay (and a second, when tries are not counted) so signals are still honoured.
      auto slice = options.attempts ? options.delay : std::min<Duration>(options.delay, 1s);
      slice = std::min(slice, std::chrono::duration_cast<Duration>(deadline - tried_at));
      slice = std::max(slice, Duration(1));
      // Two tries within the slice: one that waits for a release until the slice ends, and a
      // last plain one should that wait end early (Lock::acquire never waits on its last).
      got = lock.acquire({.retry = {.attempts = 2, .delay = slice, .timeout = slice}});
    }
    if (got) {
      result.lease_start = tried_at;
      // A stop signal that came while the lock was being taken: honour it, nothing ran.
      if (auto sig = signals.wait_for_termination(0ms)) {
        try {
          lock.release();
        } catch (const Error&) {
          // The lease runs out on its own.
        }
        result.outcome = Acquisition::Outcome::interrupted;
        result.signal = *sig;
        return result;
      }
      result.outcome = Acquisition::Outcome::acquired;
      return result;
    }
    const auto now = Clock::now();
    if (options.no_wait || (options.attempts && result.attempts >= *options.attempts) ||
        now >= deadline) {
      result.outcome = Acquisition::Outcome::not_acquired;
      return result;
    }
    const auto pause_end = std::min(tried_at + jittered(options.delay), deadline);
    for (auto t = Clock::now();; t = Clock::now()) {
      line.show(t - start);
      if (t >= pause_end) break;
      const auto step = std::min(std::chrono::duration_cast<Duration>(pause_end - t),
                                 Duration(500ms));
      if (auto sig = signals.wait_for_termination(std::max(step, Duration(1)))) {
        result.outcome = Acquisition::Outcome::interrupted;
        result.signal = *sig;
        return result;
      }
    }
  }
}

std::string not_acquired_message(const Lock& lock, const WaitOptions& options,
                                  const Acquisition& result) {
  std::string why;
  if (options.no_wait) {
    why = "(--no-wait)";
  } else if (options.attempts && result.attempts >= *options.attempts) {
    why = "after " + std::to_string(result.attempts) + " attempt" +
          (result.attempts == 1 ? "" : "s") + " (--attempts)";
  } else if (options.timeout) {
    why = "after waiting " + format_duration(*options.timeout) + " (--timeout)";
  }
  return "lock " + in_quotes(lock.key()) + " is held by someone else; gave up " + why;
}

KeepAlive::KeepAlive(Lock& lock, const SelectedStore& store, Clock::time_point lease_start,
                     std::shared_ptr<Logger> logger, Verbosity verbosity,
                     std::string on_lost_note)
    : lock_(lock),
      store_shown_(store.shown),
      logger_(std::move(logger)),
      verbosity_(verbosity),
      on_lost_note_(std::move(on_lost_note)) {
  if (lock_.ttl()) thread_ = std::thread([this, lease_start] { loop(lease_start); });
}

KeepAlive::~KeepAlive() { stop(); }

void KeepAlive::stop() {
  {
    const std::lock_guard guard(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void KeepAlive::report_lost(const std::string& why) {
  lost_.store(true);
  say("LOST the lock " + in_quotes(lock_.key()) + " on " + store_shown_ + ": " + why +
      ". The command is no longer protected: another process may take the lock now. " +
      on_lost_note_);
}

void KeepAlive::loop(Clock::time_point lease_start) {
  const Duration ttl = *lock_.ttl();
  const Duration interval = std::max(ttl / 3, Duration(1));
  // Retries after a failed extension come faster than the interval, while the lease lasts.
  const Duration retry_interval = std::clamp(ttl / 10, Duration(1), Duration(1000));
  auto lease_end = lease_start + ttl;
  auto next = lease_start + interval;
  bool failing = false;
  std::unique_lock guard(mutex_);
  for (;;) {
    if (wake_.wait_until(guard, next, [this] { return stopping_; })) return;
    guard.unlock();
    const auto attempt_start = Clock::now();
    try {
      lock_.extend();
      lease_end = attempt_start + ttl;
      next = attempt_start + interval;
      if (failing && verbosity_ != Verbosity::quiet) {
        say("extending lock " + in_quotes(lock_.key()) + " works again");
      }
      failing = false;
      if (logger_->enabled(LogLevel::debug)) {
        logger_->log(LogLevel::debug, "Lease extended",
                     {{"key", lock_.key()}, {"ttl", format_duration(ttl)}});
      }
    } catch (const LockNotOwnedError&) {
      report_lost("its lease ran out or it was released by someone else (force-release?)");
      return;
    } catch (const std::exception& e) {
      const auto now = Clock::now();
      if (now >= lease_end) {
        report_lost(std::string("the store failed for longer than the lease (") +
                    format_duration(ttl) + "); last error: " + e.what());
        return;
      }
      if (!failing && verbosity_ != Verbosity::quiet) {
        say("could not extend lock " + in_quotes(lock_.key()) + " on " + store_shown_ + ": " +
            e.what() + "; retrying while the lease lasts (" +
            format_duration(std::chrono::duration_cast<Duration>(lease_end - now)) + ")");
      }
      failing = true;
      next = now + retry_interval;
    }
    guard.lock();
  }
}

}  // namespace verrou::cli
