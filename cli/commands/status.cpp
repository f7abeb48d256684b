// SPDX-License-Identifier: Apache-2.0
#include "commands/status.hpp"

#include <CLI/CLI.hpp>
#include <cstdio>
#include <memory>

#include "holding.hpp"
#include "verrou/errors.hpp"
#include "verrou/lock_factory.hpp"

namespace verrou::cli {

Command register_status(CLI::App& app) {
  auto options = std::make_shared<StatusOptions>();
  auto* sub = app.add_subcommand("status",
                                 "Print whether a key is locked: \"locked\" or \"free\" "
                                 "(--limit N: how many permits of a semaphore are held)");
  add_store_option(*sub, options->store);
  sub->add_option("-k,--key", options->key, "The lock's name")
      ->type_name("KEY")->required();
  sub->add_option("-l,--limit", options->limit,
                  "KEY names a semaphore of N permits: print how many are held")
      ->type_name("N");
  add_output_options(*sub, options->output);
  sub->footer(std::string(
      "Print \"locked\" when someone holds KEY (lease not expired), \"free\" otherwise; the\n"
      "exit code is 0 either way. Stores do not tell who holds a lock nor for how long;\n"
      "`verrou acquire` prints the expiry of the locks it takes.\n"
      "With --limit N, print \"H of N permits held\" for the semaphore KEY: H holders have a\n"
      "live permit now (H may exceed N when other processes use a larger limit).") +
              "\n\n" + kExitCodesHelp);
  return {sub, [options] { return run_status(*options); }};
}

int run_status(const StatusOptions& options) {
  try {
    validate_key(options.key);
  } catch (const InvalidArgumentError& e) {
    throw CliError(kExitUsage, std::string("invalid --key: ") + e.what());
  }
  const auto limit =
      options.limit ? std::optional(parse_limit_option(*options.limit)) : std::nullopt;
  const auto logger = make_logger(options.output.verbosity());
  const auto store = open_selected_store(options.store, logger);
  if (limit) {
    LockFactory factory(store.store, {.logger = logger});
    auto permit = create_semaphore_for(factory, store, options.key, *limit, std::nullopt);
    return with_store(store, "counting the semaphore's holders", [&] {
      const std::uint32_t held = permit.holders();
      std::printf("%u of %u permits held\n", held, *limit);
      return std::fflush(stdout) == 0 ? 0 : static_cast<int>(kExitIoError);
    });
  }
  return with_store(store, "reading the lock", [&] {
    const bool locked = store.store->exists(options.key);
    std::puts(locked ? "locked" : "free");
    return std::fflush(stdout) == 0 ? 0 : static_cast<int>(kExitIoError);
  });
}

}  // namespace verrou::cli
