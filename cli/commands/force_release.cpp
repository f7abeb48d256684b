// SPDX-License-Identifier: Apache-2.0
#include "commands/force_release.hpp"

#include <CLI/CLI.hpp>
#include <memory>

#include "verrou/errors.hpp"

namespace verrou::cli {

Command register_force_release(CLI::App& app) {
  auto options = std::make_shared<ForceReleaseOptions>();
  auto* sub = app.add_subcommand("force-release", "Release a lock whoever holds it");
  add_store_option(*sub, options->store);
  sub->add_option("-k,--key", options->key, "The lock's name")
      ->type_name("KEY")->required();
  add_output_options(*sub, options->output);
  sub->footer(std::string(
      "Remove the lock on KEY whoever holds it (nothing happens when it is free). The holder\n"
      "is not told: its next extension fails, and `verrou run --kill-on-lost` then stops its\n"
      "command. Use it to clear a lock left by a machine that died with a long TTL.") +
              "\n\n" + kExitCodesHelp);
  return {sub, [options] { return run_force_release(*options); }};
}

int run_force_release(const ForceReleaseOptions& options) {
  try {
    validate_key(options.key);
  } catch (const InvalidArgumentError& e) {
    throw CliError(kExitUsage, std::string("invalid --key: ") + e.what());
  }
  const auto logger = make_logger(options.output.verbosity());
  const auto store = open_selected_store(options.store, logger);
  return with_store(store, "force-releasing the lock", [&] {
    store.store->force_remove(options.key);
    if (options.output.verbosity() == Verbosity::verbose) {
      say("lock " + in_quotes(options.key) + " force-released on " + store.shown);
    }
    return 0;
  });
}

}  // namespace verrou::cli
