// SPDX-License-Identifier: Apache-2.0
// The verrou command: mutual exclusion for shell scripts, cron jobs and deploy pipelines,
// across processes and machines, over any store verrou-cpp supports.
#include <CLI/CLI.hpp>
#include <exception>
#include <iostream>
#include <string>
#include <vector>

#include "commands/acquire.hpp"
#include "commands/extend.hpp"
#include "commands/force_release.hpp"
#include "commands/list.hpp"
#include "commands/release.hpp"
#include "commands/run.hpp"
#include "commands/status.hpp"
#include "common.hpp"
#include "process.hpp"
#include "verrou/errors.hpp"
#include "verrou/open_store.hpp"

#ifndef VERROU_VERSION
#define VERROU_VERSION "unknown"
#endif

namespace {

using namespace verrou::cli;

std::string version_text() {
  std::string schemes;
  for (const auto& s : verrou::supported_schemes()) {
    if (!schemes.empty()) schemes += ", ";
    schemes += s + ":";
  }
  return std::string("verrou ") + VERROU_VERSION + " (verrou-cpp)\nstores: " + schemes;
}

int parse_error(const CLI::App& app, const CLI::ParseError& e, int argc, char** argv) {
  std::string message = e.what();
  const CLI::App* verb = nullptr;
  for (const auto* sub : app.get_subcommands()) verb = sub;
  if (verb == nullptr && argc > 1 && argv[1][0] != '-') {
    message = "unknown command \"" + std::string(argv[1]) + "\"; the commands are:";
    for (const auto* sub : app.get_subcommands({})) message += " " + sub->get_name();
  }
  if (dynamic_cast<const CLI::ExtrasError*>(&e) != nullptr && verb != nullptr &&
      verb->get_name() == "run") {
    message += "\nPut -- before the command and its options: verrou run --key KEY -- "
               "COMMAND [ARGS...]";
  }
  say(message);
  std::cerr << "Run 'verrou " << (verb != nullptr ? verb->get_name() + " " : std::string())
            << "--help' for usage.\n";
  return kExitUsage;
}

}  // namespace

int main(int argc, char** argv) {
  // Before any library (the MySQL client ignores SIGPIPE) changes a disposition.
  remember_start_signals();
  CLI::App app("verrou: run commands under a lock shared by every process and machine that "
               "uses the same store (SQLite file by default; Redis, PostgreSQL, MySQL, "
               "DynamoDB, ...).\n",
               "verrou");
  app.require_subcommand(1);
  app.set_version_flag("-V,--version", version_text, "Print the version and the stores built in");
  app.footer(std::string("Store: --store URL, else $VERROU_STORE, else the SQLite file "
                         "$XDG_STATE_HOME/verrou/locks.db (~/.local/state/verrou/locks.db).\n"
                         "Example: verrou run --key nightly-report --ttl 5m -- ./report.sh\n\n") +
             kExitCodesHelp);

  std::vector<Command> commands{register_run(app),     register_acquire(app),
                                register_release(app), register_extend(app),
                                register_status(app),  register_force_release(app),
                                register_list(app)};
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help, --version
    return parse_error(app, e, argc, argv);
  }

  for (const auto& command : commands) {
    if (!command.app->parsed()) continue;
    try {
      return command.run();
    } catch (const CliError& e) {
      say(e.what());
      return e.exit_code();
    } catch (const verrou::LockNotOwnedError& e) {
      say(e.what());
      return kExitNotOwned;
    } catch (const verrou::LockStorageError& e) {
      say(std::string("store failure: ") + e.what());
      return kExitUnavailable;
    } catch (const verrou::InvalidArgumentError& e) {
      say(e.what());
      return kExitUsage;
    } catch (const std::exception& e) {
      say(std::string("internal error: ") + e.what());
      return kExitSoftware;
    }
  }
  say("no command given; run 'verrou --help'");
  return kExitUsage;
}
