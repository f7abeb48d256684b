// SPDX-License-Identifier: Apache-2.0
#include "commands/extend.hpp"

#include <CLI/CLI.hpp>
#include <cstdio>
#include <memory>

#include "verrou/errors.hpp"
#include "verrou/lock_factory.hpp"

namespace verrou::cli {

Command register_extend(CLI::App& app) {
  auto options = std::make_shared<ExtendOptions>();
  auto* sub = app.add_subcommand(
      "extend", "Extend a lock printed by `verrou acquire`; print it with its new expiry");
  add_store_option(*sub, options->store);
  sub->add_option("-l,--lock", options->lock,
                  "The lock's JSON as `verrou acquire` printed it, or - to read it from stdin")
      ->type_name("JSON|-")
      ->required();
  sub->add_option("--ttl", options->ttl,
                  "New lease from now (default: the lock's own TTL, which stays unchanged)")
      ->type_name("DURATION");
  add_output_options(*sub, options->output);
  sub->footer(kExitCodesHelp);
  return {sub, [options] { return run_extend(*options); }};
}

int run_extend(const ExtendOptions& options) {
  std::optional<Duration> duration;
  if (!options.ttl.empty()) {
    const auto ttl = parse_ttl_option("--ttl", options.ttl);
    if (!ttl) {
      throw CliError(kExitUsage,
                     "invalid --ttl \"forever\": extend takes a duration; to keep a lock "
                     "forever, acquire it with --ttl forever");
    }
    duration = ttl;
  }
  const auto serialized = read_lock(options.lock);
  if (!duration && !serialized.ttl) {
    throw CliError(kExitUsage,
                   "lock " + in_quotes(serialized.key) + " has no TTL (it never expires), so it "
                   "cannot be extended; pass --ttl to give it a lease from now");
  }
  const auto logger = make_logger(options.output.verbosity());
  const auto store = open_selected_store(options.store, logger);
  LockFactory factory(store.store, {.logger = logger});
  std::unique_ptr<Lock> lock;
  try {
    lock = std::make_unique<Lock>(factory.restore_lock(serialized));
  } catch (const InvalidArgumentError& e) {
    throw CliError(kExitDataError, std::string("--lock cannot be used: ") + e.what());
  }
  return with_store(store, "extending the lock", [&] {
    try {
      if (duration) {
        lock->extend(*duration);
      } else {
        lock->extend();
      }
    } catch (const LockNotOwnedError&) {
      throw CliError(kExitNotOwned, "lock " + in_quotes(serialized.key) +
                                        " is not held by this owner on " + store.shown +
                                        ": its lease ran out, or it was released");
    }
    const std::string line = lock->serialize().to_json() + "\n";
    if (std::fwrite(line.data(), 1, line.size(), stdout) != line.size() ||
        std::fflush(stdout) != 0) {
      throw CliError(kExitIoError, "cannot write the lock to standard output");
    }
    return 0;
  });
}

}  // namespace verrou::cli
