// SPDX-License-Identifier: Apache-2.0
#include "commands/run.hpp"

#include <CLI/CLI.hpp>
#include <chrono>
#include <memory>

#include "process.hpp"
#include "verrou/errors.hpp"
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

// Waits for the child to end, forwarding stop signals to it and stopping it when the lock is
// lost and --kill-on-lost asks for that. Returns its exit status as a shell reports it.
int supervise(Child& child, SignalWatcher& signals, const KeepAlive& keep_alive,
              const RunOptions& options, Duration kill_grace, Logger& logger) {
  bool term_sent = false;
  bool kill_sent = false;
  Clock::time_point term_sent_at;
  for (;;) {
    if (auto status = child.poll()) return *status;
    if (options.kill_on_lost && keep_alive.lost()) {
      if (!term_sent) {
        child.signal(SIGTERM);
        term_sent = true;
        term_sent_at = Clock::now();
      } else if (!kill_sent && Clock::now() - term_sent_at >= kill_grace) {
        say("the command did not stop within " + format_duration(kill_grace) +
            " of SIGTERM (--kill-grace); sending SIGKILL");
        child.signal(SIGKILL);
        kill_sent = true;
      }
    }
    // SIGCHLD ends the wait at once; the timeout only paces the --kill-on-lost checks.
    auto info = signals.wait(100ms);
    if (!info || !SignalWatcher::is_stop_signal(info->si_signo)) continue;
    const int sig = info->si_signo;
    // Ctrl-C and hang-ups from the terminal go to the whole foreground process group, child
    // included: sending it a second copy could make it stop half-way through its cleanup.
    const bool child_got_it = info->si_code == SI_KERNEL && child.in_our_process_group();
    if (!child_got_it) child.signal(sig);
    if (logger.enabled(LogLevel::debug)) {
      logger.log(
          LogLevel::debug, child_got_it ? "Signal from the terminal, the command got it too"
                                        : "Signal forwarded to the command",
          {{"signal", signal_name(sig)}, {"pid", std::to_string(child.pid())}});
    }
  }
}

}  // namespace

Command register_run(CLI::App& app) {
  auto options = std::make_shared<RunOptions>();
  auto* sub = app.add_subcommand("run", "Run a command while holding a lock");
  add_store_option(*sub, options->store);
  sub->add_option("-k,--key", options->key, "The lock's name (shared by every process using it)")
      ->type_name("KEY")
      ->required();
  sub->add_option("--ttl", options->ttl,
                  "Lease: how long the lock outlives verrou if verrou dies; extended every "
                  "third of it while the command runs (\"forever\": never expires)")
      ->type_name("DURATION")
      ->capture_default_str();
  add_wait_options(*sub, options->wait);
  sub->add_flag("--kill-on-lost", options->kill_on_lost,
                "If the lock is lost while the command runs, stop the command (SIGTERM, then "
                "SIGKILL after --kill-grace)");
  sub->add_option("--kill-grace", options->kill_grace,
                  "With --kill-on-lost: time between SIGTERM and SIGKILL")
      ->type_name("DURATION")
      ->capture_default_str();
  add_output_options(*sub, options->output);
  sub->add_option("command", options->command, "The command and its arguments, after --")
      ->type_name("COMMAND [ARGS...]");
  sub->footer(std::string(
      "Acquire the lock KEY, run COMMAND, extend the lock every third of its TTL while the\n"
      "command runs, release it when the command ends, and exit with the command's exit code.\n"
      "SIGINT, SIGTERM and SIGHUP are passed on to the command; the lock is released once it\n"
      "has ended. Example: verrou run --key nightly-report --ttl 5m -- ./report.sh") +
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
  const auto verbosity = options.output.verbosity();
  const auto logger = make_logger(verbosity);
  const auto store = open_selected_store(options.store, logger);

  LockFactory factory(store.store, {.logger = logger});
  std::unique_ptr<Lock> lock;
  try {
    lock = std::make_unique<Lock>(factory.create_lock(options.key, ttl));
  } catch (const InvalidArgumentError& e) {
    throw CliError(kExitUsage, std::string("invalid --key: ") + e.what());
  }

  Acquisition acquired;
  with_store(store, "acquiring the lock", [&] {
    acquired = acquire_lock(*lock, store, wait, signals, verbosity);
    return 0;
  });
  if (acquired.outcome == Acquisition::Outcome::interrupted) {
    if (verbosity != Verbosity::quiet) {
      say("stopped by " + signal_name(acquired.signal) + " while waiting for lock " +
          in_quotes(options.key) + "; the command did not run");
    }
    return 128 + acquired.signal;
  }
  if (acquired.outcome == Acquisition::Outcome::not_acquired) {
    if (verbosity != Verbosity::quiet) {
      say(not_acquired_message(*lock, wait, acquired) + "; the command did not run");
    }
    return options.wait.conflict_exit_code;
  }
  if (logger->enabled(LogLevel::debug)) {
    logger->log(LogLevel::debug, "Lock acquired, starting the command",
                {{"key", options.key}, {"command", options.command.front()}});
  }

  std::unique_ptr<Child> child;
  try {
    child = std::make_unique<Child>(options.command, signals.original_mask());
  } catch (const CliError&) {
    try {
      lock->release();
    } catch (const Error&) {
      // The lease runs out on its own; the start failure is what matters.
    }
    throw;
  }

  const std::string on_lost =
      options.kill_on_lost
          ? "Stopping the command (--kill-on-lost): SIGTERM now, SIGKILL after " +
                format_duration(kill_grace) + "."
          : "Pass --kill-on-lost to stop the command when this happens.";
  KeepAlive keep_alive(*lock, store, acquired.lease_start, logger, verbosity, on_lost);
  const int status = supervise(*child, signals, keep_alive, options, kill_grace, *logger);
  keep_alive.stop();

  try {
    lock->release();
    if (logger->enabled(LogLevel::debug)) {
      logger->log(LogLevel::debug, "Command ended, lock released",
                  {{"key", options.key}, {"status", std::to_string(status)}});
    }
  } catch (const LockNotOwnedError&) {
    if (!keep_alive.lost()) {
      say("the lock " + in_quotes(options.key) +
          " was no longer held when the command ended (its lease ran out or someone "
          "released it): the command was not protected to its end");
    }
  } catch (const Error& e) {
    say("could not release the lock " + in_quotes(options.key) + " on " + store.shown + ": " +
        e.what() + "; it stays held until its lease runs out");
  }
  return status;
}

}  // namespace verrou::cli
