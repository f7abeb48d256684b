// SPDX-License-Identifier: Apache-2.0
#include "commands/run.hpp"

#include <pthread.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <memory>
#include <stop_token>
#include <string>
#include <vector>

#include "process.hpp"
#include "verrou/errors.hpp"
#include "verrou/keep_alive.hpp"
#include "verrou/lock_factory.hpp"

namespace verrou::cli {

namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

std::string signal_name(int sig) {
  switch (sig) {
    case SIGINT: return "SIGINT";
    case SIGTERM: return "SIGTERM";
    case SIGHUP: return "SIGHUP";
    case SIGKILL: return "SIGKILL";
    default: return "signal " + std::to_string(sig);
  }
}

// Waits for the command to end, forwarding stop signals to its process group. When the lock
// is lost: says so at once and, with --kill-on-lost, stops the whole group (SIGTERM, then
// SIGKILL after the grace) and waits until no process of it is left, so no grandchild goes on
// unprotected. Returns the command's exit status as a shell reports it.
int supervise(Child& child, SignalWatcher& signals, const KeepAlive& keep_alive,
              const RunOptions& options, Duration kill_grace, const std::string& on_lost,
              Logger& logger) {
  bool lost_said = false;
  bool term_sent = false;
  bool kill_sent = false;
  Clock::time_point term_sent_at;
  Clock::time_point kill_sent_at;
  for (;;) {
    const auto status = child.poll();
    if (keep_alive.lost() && !lost_said) {
      lost_said = true;
      if (!status || options.kill_on_lost) say(on_lost);
    }
    if (options.kill_on_lost && keep_alive.lost()) {
      const auto now = Clock::now();
      if (!term_sent) {
        child.signal_group(SIGTERM);
        child.signal_group(SIGCONT);  // a stopped process must run to act on it
        term_sent = true;
        term_sent_at = now;
      } else if (!kill_sent && now - term_sent_at >= kill_grace && child.group_alive()) {
        say(std::string(status ? "processes the command started are still running"
                               : "the command did not stop") +
            " " + format_duration(kill_grace) +
            " after SIGTERM (--kill-grace); sending SIGKILL to its process group");
        child.signal_group(SIGKILL);
        kill_sent = true;
        kill_sent_at = now;
      }
      // Done once nothing of the group is left (after SIGKILL, give the kernel a moment).
      if (status && (!child.group_alive() || (kill_sent && now - kill_sent_at > 5s))) {
        return *status;
      }
    } else if (status) {
      return *status;
    }
    // SIGCHLD and a lost lock end the wait at once; the timeout paces the group checks.
    auto info = signals.wait(100ms);
    if (!info || !SignalWatcher::is_stop_signal(info->si_signo)) continue;
    const int sig = info->si_signo;
    child.signal_group(sig);
    if (logger.enabled(LogLevel::debug)) {
      logger.log(LogLevel::debug, "Signal forwarded to the command's process group",
                 {{"signal", signal_name(sig)}, {"pid", std::to_string(child.pid())}});
    }
  }
}

// The variables the command finds in its environment. A token from an outer `verrou run`
// is removed when this store gives none, and always under a semaphore (its holders share the
// resource, so no token orders them): it would fence the wrong lock.
std::vector<std::string> lock_environment(const Holding& held) {
  std::vector<std::string> env{"VERROU_LOCK_KEY=" + held.key()};
  const auto token = held.lock() != nullptr ? held.lock()->fencing_token() : std::nullopt;
  env.push_back(token ? "VERROU_FENCING_TOKEN=" + std::to_string(*token)
                      : std::string("VERROU_FENCING_TOKEN"));
  return env;
}

}  // namespace

Command register_run(CLI::App& app) {
  auto options = std::make_shared<RunOptions>();
  auto* sub =
      app.add_subcommand("run", "Run a command while holding a lock (or a semaphore permit)");
  add_store_option(*sub, options->store);
  sub->add_option("-k,--key", options->key, "The lock's name (shared by every process using it)")
      ->type_name("KEY")
      ->required();
  sub->add_option("-l,--limit", options->limit,
                  "Run under a semaphore of N permits instead of a lock: at most N commands "
                  "with this key at once (1 to 2147483648)")
      ->type_name("N");
  sub->add_option("--ttl", options->ttl,
                  "Lease: how long the lock outlives verrou if verrou dies; extended every "
                  "third of it while the command runs (\"forever\": never expires)")
      ->type_name("DURATION")
      ->capture_default_str();
  add_wait_options(*sub, options->wait);
  sub->add_flag("--kill-on-lost", options->kill_on_lost,
                "If the lock is lost while the command runs, stop the command and every process "
                "it started (SIGTERM to its process group, then SIGKILL after --kill-grace)");
  sub->add_option("--kill-grace", options->kill_grace,
                  "With --kill-on-lost: time between SIGTERM and SIGKILL")
      ->type_name("DURATION")
      ->capture_default_str();
  add_output_options(*sub, options->output);
  sub->add_option("command", options->command, "The command and its arguments, after --")
      ->type_name("COMMAND [ARGS...]");
  sub->footer(std::string(
      "Acquire the lock KEY, run COMMAND in a process group of its own, extend the lock\n"
      "every third of its TTL while the command runs, release it when the command ends, and\n"
      "exit with the command's exit code. The command finds the key in $VERROU_LOCK_KEY and,\n"
      "when the store gives fencing tokens, the token of this acquisition in\n"
      "$VERROU_FENCING_TOKEN (docs/fencing.md). SIGINT, SIGTERM and SIGHUP are passed on to\n"
      "the command's process group; the lock is released once the command has ended.\n"
      "If the lock is lost while the command runs, verrou says so at once, stops the command's\n"
      "whole process group with --kill-on-lost, and exits with 77 even if the command succeeded.\n"
      "With --limit N, KEY names a semaphore of N permits instead of a lock (semaphores and\n"
      "locks of one name are independent): the command runs once one of the N permits is\n"
      "free, everything else as above, the permit kept alive and given back in the same way.\n"
      "$VERROU_FENCING_TOKEN is not set under a semaphore (its holders run side by side, so\n"
      "no token orders them). Every process using KEY should pass the same N: holders that\n"
      "disagree never exceed the smallest N among them.\n"
      "Examples: verrou run --key nightly-report --ttl 5m -- ./report.sh\n"
      "          verrou run --key partner-api --limit 3 -- ./sync.sh") +
              "\n\n" + kExitCodesHelp);
  return {sub, [options] { return run_run(*options); }};
}

int run_run(const RunOptions& options) {
  if (options.command.empty()) {
    throw CliError(kExitUsage,
                   "no command given: verrou run --key KEY [options] -- COMMAND [ARGS...]");
  }
  // First of all: the store and the keep-alive start threads, which must inherit the mask.
  SignalWatcher signals;
  const auto ttl = parse_ttl_option("--ttl", options.ttl);
  const auto wait = parse_wait_args(options.wait);
  const auto kill_grace = parse_duration_option("--kill-grace", options.kill_grace);
  const auto limit =
      options.limit ? std::optional(parse_limit_option(*options.limit)) : std::nullopt;
  const auto verbosity = options.output.verbosity();
  const auto logger = make_logger(verbosity);
  const auto store = open_selected_store(options.store, logger);

  LockFactory factory(store.store, {.logger = logger});
  std::unique_ptr<Lock> lock;
  std::unique_ptr<Semaphore> permit;
  if (!limit) {
    try {
      lock = std::make_unique<Lock>(factory.create_lock(options.key, ttl));
    } catch (const InvalidArgumentError& e) {
      throw CliError(kExitUsage, std::string("invalid --key: ") + e.what());
    }
  } else {
    permit = std::make_unique<Semaphore>(
        create_semaphore_for(factory, store, options.key, *limit, ttl));
  }
  Holding held = lock ? Holding(*lock) : Holding(*permit);

  Acquisition acquired;
  with_store(store, lock ? "acquiring the lock" : "acquiring a semaphore permit", [&] {
    acquired = acquire_lock(held, store, wait, signals, verbosity);
    return 0;
  });
  if (acquired.outcome == Acquisition::Outcome::interrupted) {
    if (verbosity != Verbosity::quiet) {
      say("stopped by " + signal_name(acquired.signal) + " while waiting for " +
          (lock ? "" : "a ") + held.what() + "; the command did not run");
    }
    return 128 + acquired.signal;
  }
  if (acquired.outcome == Acquisition::Outcome::not_acquired) {
    if (verbosity != Verbosity::quiet) {
      say(not_acquired_message(held, wait, acquired) + "; the command did not run");
    }
    return options.wait.conflict_exit_code;
  }
  if (logger->enabled(LogLevel::debug)) {
    logger->log(LogLevel::debug,
                lock ? "Lock acquired, starting the command"
                     : "Semaphore permit acquired, starting the command",
                {{"key", options.key}, {"command", options.command.front()}});
  }

  std::unique_ptr<Child> child;
  try {
    child = std::make_unique<Child>(options.command, lock_environment(held));
  } catch (const CliError&) {
    try {
      held.release();
    } catch (const Error&) {
      // The lease runs out on its own; the start failure is what matters.
    }
    throw;
  }

  // The library's keep-alive extends the lease; when it finds the lock lost, its callback
  // wakes this thread, which reacts (the loss itself is logged by the library).
  KeepAlive keep_alive;
  if (held.ttl()) {
    try {
      keep_alive = held.keep_alive();
    } catch (const InvalidArgumentError&) {
      // The lease ran out between the acquisition and now (a TTL shorter than a pause of the
      // machine): the command runs unprotected from the start, as a lost lock.
      keep_alive = KeepAlive();
    }
  }
  const pthread_t main_thread = pthread_self();
  std::stop_callback wake_on_loss(keep_alive.lost_token(),
                                  [main_thread] { SignalWatcher::wake(main_thread); });
  const bool unprotected_from_start = held.ttl() && !keep_alive.active() && !keep_alive.lost();
  const std::string protection_note =
      "the command is no longer protected: another process may take " +
      std::string(lock ? "the " : "its ") + held.what() + " now";
  const std::string on_lost =
      options.kill_on_lost
          ? protection_note + "; stopping it and every process it started (--kill-on-lost): "
                              "SIGTERM now, SIGKILL after " +
                format_duration(kill_grace)
          : protection_note + " (pass --kill-on-lost to stop it when this happens)";
  if (unprotected_from_start) say(on_lost);
  const int status =
      supervise(*child, signals, keep_alive, options, kill_grace, on_lost, *logger);
  keep_alive.stop();
  child.reset();  // reaps the command, gives the terminal back

  bool lost = keep_alive.lost() || unprotected_from_start;
  std::string why = keep_alive.lost() ? keep_alive.lost_reason()
                                      : std::string("its lease ran out before it could be kept");
  if (lost) {
    // The lease may be ours again in the store (it failed, then came back): give it back.
    try {
      held.release();
    } catch (const Error&) {
    }
  } else {
    try {
      held.release();
      if (logger->enabled(LogLevel::debug)) {
        logger->log(LogLevel::debug,
                    lock ? "Command ended, lock released" : "Command ended, permit given back",
                    {{"key", options.key}, {"status", std::to_string(status)}});
      }
    } catch (const LockNotOwnedError&) {
      lost = true;
      why = "it was no longer held when the command ended (its lease ran out, or someone "
            "released it)";
    } catch (const Error& e) {
      say("could not release the " + held.what() + " on " + store.shown + ": " + e.what() +
          "; it stays held until its lease runs out");
    }
  }
  if (lost) {
    say("the " + held.what() + " on " + store.shown +
        " was lost while the command ran (" + why +
        "): the command was not protected to its end; it exited with " + std::to_string(status) +
        ", verrou exits with " + std::to_string(kExitNotOwned));
    return kExitNotOwned;
  }
  return status;
}

}  // namespace verrou::cli
