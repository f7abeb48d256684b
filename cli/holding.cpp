// SPDX-License-Identifier: Apache-2.0
#include "holding.hpp"

#include <sys/ioctl.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <utility>

#include "detail/jitter.hpp"
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
  app.add_option("--delay", args.delay,
                 "Pause between tries (each 100-125 % of it, at random, so waiters spread out)")
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
    const auto pause_end = std::min(tried_at + detail::jittered_delay(options.delay), deadline);
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

}  // namespace verrou::cli
