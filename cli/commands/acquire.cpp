// SPDX-License-Identifier: Apache-2.0
#include "commands/acquire.hpp"

#include <CLI/CLI.hpp>
#include <cstdio>
#include <memory>

#include "process.hpp"
#include "verrou/errors.hpp"
#include "verrou/lock_factory.hpp"

namespace verrou::cli {

Command register_acquire(CLI::App& app) {
  auto options = std::make_shared<AcquireCommandOptions>();
  auto* sub = app.add_subcommand("acquire", "Acquire a lock and print it (JSON) for hand-off");
  add_store_option(*sub, options->store);
  sub->add_option("-k,--key", options->key, "The lock's name")
      ->type_name("KEY")->required();
  sub->add_option("--ttl", options->ttl, "Lease (\"forever\": never expires)")
      ->type_name("DURATION")
      ->capture_default_str();
  add_wait_options(*sub, options->wait);
  add_output_options(*sub, options->output);
  sub->footer(std::string(
      "Acquire the lock KEY and print it as Verrou's JSON on stdout, for `verrou extend` and\n"
      "`verrou release` (in this or another process, C++ or Node.js). Nothing extends it:\n"
      "it expires after --ttl unless extended or released.\n"
      "Example: lock=$(verrou acquire --key deploy --ttl 10m) && ... && "
      "verrou release --lock \"$lock\"") +
              "\n\n" + kExitCodesHelp);
  return {sub, [options] { return run_acquire(*options); }};
}

int run_acquire(const AcquireCommandOptions& options) {
  SignalWatcher signals;
  const auto ttl = parse_ttl_option("--ttl", options.ttl);
  const auto wait = parse_wait_args(options.wait);
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
  return with_store(store, "acquiring the lock", [&] {
    const auto acquired = acquire_lock(Holding(*lock), store, wait, signals, verbosity);
    if (acquired.outcome == Acquisition::Outcome::interrupted) {
      return 128 + acquired.signal;
    }
    if (acquired.outcome == Acquisition::Outcome::not_acquired) {
      if (verbosity != Verbosity::quiet) say(not_acquired_message(Holding(*lock), wait, acquired));
      return options.wait.conflict_exit_code;
    }
    const std::string line = lock->serialize().to_json() + "\n";
    // Nobody could release a lock whose owner token was never seen: give it back.
    if (std::fwrite(line.data(), 1, line.size(), stdout) != line.size() ||
        std::fflush(stdout) != 0) {
      try {
        lock->release();
      } catch (const Error&) {
        // It expires with its lease.
      }
      throw CliError(kExitIoError, "cannot write the lock to standard output; released it");
    }
    return 0;
  });
}

}  // namespace verrou::cli
