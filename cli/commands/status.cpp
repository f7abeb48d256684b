// SPDX-License-Identifier: Apache-2.0
#include "commands/status.hpp"

#include <CLI/CLI.hpp>
#include <cstdio>
#include <memory>

#include "verrou/errors.hpp"

namespace verrou::cli {

Command register_status(CLI::App& app) {
  auto options = std::make_shared<StatusOptions>();
  auto* sub = app.add_subcommand("status", "Print whether a key is locked: \"locked\" or \"free\"");
  add_store_option(*sub, options->store);
  sub->add_option("-k,--key", options->key, "The lock's name")
      ->type_name("KEY")->required();
  add_output_options(*sub, options->output);
  sub->footer(std::string(
      "Print \"locked\" when someone holds KEY (lease not expired), \"free\" otherwise; the\n"
      "exit code is 0 either way. Stores do not tell who holds a lock nor for how long;\n"
      "`verrou acquire` prints the expiry of the locks it takes.") +
              "\n\n" + kExitCodesHelp);
  return {sub, [options] { return run_status(*options); }};
}

int run_status(const StatusOptions& options) {
  try {
    validate_key(options.key);
  } catch (const InvalidArgumentError& e) {
    throw CliError(kExitUsage, std::string("invalid --key: ") + e.what());
  }
  const auto logger = make_logger(options.output.verbosity());
  const auto store = open_selected_store(options.store, logger);
  return with_store(store, "reading the lock", [&] {
    const bool locked = store.store->exists(options.key);
    std::puts(locked ? "locked" : "free");
    return std::fflush(stdout) == 0 ? 0 : static_cast<int>(kExitIoError);
  });
}

}  // namespace verrou::cli
