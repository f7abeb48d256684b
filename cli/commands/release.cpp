// SPDX-License-Identifier: Apache-2.0
#include "commands/release.hpp"

#include <CLI/CLI.hpp>
#include <memory>

#include "verrou/errors.hpp"
#include "verrou/lock_factory.hpp"

namespace verrou::cli {

Command register_release(CLI::App& app) {
  auto options = std::make_shared<ReleaseOptions>();
  auto* sub = app.add_subcommand("release", "Release a lock printed by `verrou acquire`");
  add_store_option(*sub, options->store);
  sub->add_option("-l,--lock", options->lock,
                  "The lock's JSON as `verrou acquire` printed it, or - to read it from stdin")
      ->type_name("JSON|-")
      ->required();
  add_output_options(*sub, options->output);
  sub->footer(kExitCodesHelp);
  return {sub, [options] { return run_release(*options); }};
}

int run_release(const ReleaseOptions& options) {
  const auto serialized = read_lock(options.lock);
  const auto logger = make_logger(options.output.verbosity());
  const auto store = open_selected_store(options.store, logger);
  LockFactory factory(store.store, {.logger = logger});
  std::unique_ptr<Lock> lock;
  try {
    lock = std::make_unique<Lock>(factory.restore_lock(serialized));
  } catch (const InvalidArgumentError& e) {
    throw CliError(kExitDataError, std::string("--lock cannot be used: ") + e.what());
  }
  return with_store(store, "releasing the lock", [&] {
    try {
      lock->release();
    } catch (const LockNotOwnedError&) {
      throw CliError(kExitNotOwned, "lock " + in_quotes(serialized.key) +
                                        " is not held by this owner on " + store.shown +
                                        ": its lease ran out, or it was already released");
    }
    return 0;
  });
}

}  // namespace verrou::cli
