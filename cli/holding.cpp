// SPDX-License-Identifier: Apache-2.0
#include "holding.hpp"

#include <sys/ioctl.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cctype>
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

bool Holding::acquire(const AcquireOptions& options) {
  return std::visit([&](auto* held) { return held->acquire(options); }, held_);
}

bool Holding::acquire_immediately() {
  return std::visit([](auto* held) { return held->acquire_immediately(); }, held_);
}

void Holding::release() {
  std::visit([](auto* held) { held->release(); }, held_);
}

KeepAlive Holding::keep_alive() {
  return std::visit([](auto* held) { return held->keep_alive(); }, held_);
}

std::optional<Duration> Holding::ttl() const {
  return std::visit([](auto* held) { return held->ttl(); }, held_);
}

const std::string& Holding::key() const {
  return std::visit([](auto* held) -> const std::string& { return held->key(); }, held_);
}

bool Holding::store_can_wait(LockStore& store) const {
  if (lock() != nullptr) return dynamic_cast<WaitableLockStore*>(&store) != nullptr;
  return dynamic_cast<WaitableSemaphoreStore*>(&store) != nullptr;
}

std::string Holding::what() const {
  return (lock() != nullptr ? "lock " : "permit of semaphore ") + in_quotes(key());
}

Lock* Holding::lock() const {
  auto* const* held = std::get_if<Lock*>(&held_);
  return held != nullptr ? *held : nullptr;
}

std::uint32_t parse_limit_option(std::string_view text) {
  const auto is_digit = [](char c) { return std::isdigit(static_cast<unsigned char>(c)) != 0; };
  const bool digits =
      !text.empty() && text.size() <= 12 && std::all_of(text.begin(), text.end(), is_digit);
  if (!digits) {
    throw CliError(kExitUsage, "invalid --limit \"" + std::string(text) +
                                   "\": give the number of permits, a whole number from 1 to "
                                   "2147483648");
  }
  const std::uint64_t limit = std::stoull(std::string(text));
  try {
    validate_semaphore_limit(limit);
  } catch (const InvalidArgumentError& e) {
    throw CliError(kExitUsage, std::string("--limit: ") + e.what());
  }
  return static_cast<std::uint32_t>(limit);
}

Semaphore create_semaphore_for(LockFactory& factory, const SelectedStore& store,
                               const std::string& key, std::uint32_t limit,
                               std::optional<Duration> ttl) {
  if (dynamic_cast<SemaphoreStore*>(store.store.get()) == nullptr) {
    throw CliError(kExitUsage, "--limit: the store " + store.shown + " (" + store.origin +
                                   ") has no semaphores: its driver does not implement them; "
                                   "use a store that does (docs/semaphores.md lists them)");
  }
  try {
    return factory.create_semaphore(key, limit, ttl);
  } catch (const InvalidArgumentError& e) {
    throw CliError(kExitUsage, std::string("invalid --key: ") + e.what());
  }
}

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

Acquisition acquire_lock(Holding held, const SelectedStore& store, const WaitOptions& options,
                         SignalWatcher& signals, Verbosity verbosity) {
  const bool live = verrou::cli::Verbosity::normal == verbosity && ::isatty(STDERR_FILENO) == 1;
  WaitingLine line(live, std::string("waiting for ") + (held.lock() != nullptr ? "" : "a ") +
                             held.what() + " on " + store.shown);
  const bool can_wait = held.store_can_wait(*store.store);

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
    if (options.no_wait || tried_at >= deadline || !can_wait) {
      got = held.acquire_immediately();
    } else {
      // A store that can wait is woken by the release itself: wait in slices no longer than
      // the delay (and a second, when tries are not counted) so signals are still honoured.
      auto slice = options.attempts ? options.delay : std::min<Duration>(options.delay, 1s);
      slice = std::min(slice, std::chrono::duration_cast<Duration>(deadline - tried_at));
      slice = std::max(slice, Duration(1));
      // Two tries within the slice: one that waits for a release until the slice ends, and a
      // last plain one should that wait end early (Lock::acquire never waits on its last).
      got = held.acquire({.retry = {.attempts = 2, .delay = slice, .timeout = slice}});
    }
    if (got) {
      // A stop signal that came while the lock was being taken: honour it, nothing ran.
      if (auto sig = signals.wait_for_termination(0ms)) {
        try {
          held.release();
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

std::string not_acquired_message(const Holding& held, const WaitOptions& options,
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
  if (held.lock() == nullptr) {
    return "semaphore " + in_quotes(held.key()) + " has no free permit (all held by others); " +
           "gave up " + why;
  }
  return "lock " + in_quotes(held.key()) + " is held by someone else; gave up " + why;
}

}  // namespace verrou::cli
