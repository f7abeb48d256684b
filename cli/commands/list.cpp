// SPDX-License-Identifier: Apache-2.0
#include "commands/list.hpp"

#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "verrou/duration.hpp"
#include "verrou/errors.hpp"
#include "verrou/store.hpp"

namespace verrou::cli {
namespace {

// One JSON line per lock; these field names are a contract with scripts (docs/cli.md).
std::string json_line(const HeldLock& lock) {
  nlohmann::ordered_json line = {
      {"key", lock.key},
      {"owner", lock.owner},
      {"remaining_ms", nullptr},
      {"fencing_token", nullptr},
  };
  if (lock.remaining) line["remaining_ms"] = lock.remaining->count();
  if (lock.fencing_token) line["fencing_token"] = *lock.fencing_token;
  // Keys are bytes: invalid UTF-8 is replaced rather than failing the listing.
  return line.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

// The table's columns, each as wide as its widest cell.
void print_table(const std::vector<HeldLock>& locks) {
  std::vector<std::vector<std::string>> rows;
  rows.push_back({"KEY", "OWNER", "REMAINING", "FENCING TOKEN"});
  for (const auto& lock : locks) {
    rows.push_back({lock.key, lock.owner,
                    lock.remaining ? format_duration(*lock.remaining) : std::string("forever"),
                    lock.fencing_token ? std::to_string(*lock.fencing_token) : std::string("-")});
  }
  std::vector<std::size_t> widths(4, 0);
  for (const auto& row : rows) {
    for (std::size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], row[i].size());
  }
  for (const auto& row : rows) {
    std::string line;
    for (std::size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line += std::string(widths[i] - row[i].size() + 2, ' ');
    }
    std::puts(line.c_str());
  }
}

}  // namespace

Command register_list(CLI::App& app) {
  auto options = std::make_shared<ListOptions>();
  auto* sub = app.add_subcommand(
      "list", "List the locks held now: key, owner, time left and fencing token");
  add_store_option(*sub, options->store);
  sub->add_option("-p,--prefix", options->prefix, "Only keys starting with PREFIX")
      ->type_name("PREFIX");
  sub->add_option("-n,--limit", options->limit, "At most N locks (default: all)")
      ->type_name("N")
      ->check(CLI::PositiveNumber);
  sub->add_flag("--json", options->json,
                "One JSON object per line: key, owner, remaining_ms (null: never expires), "
                "fencing_token (null: unknown)");
  add_output_options(*sub, options->output);
  sub->footer(std::string(
      "Print the locks held now (leases not expired) in key order. On a terminal: a table with\n"
      "a header line (REMAINING \"forever\" for a lock without TTL, FENCING TOKEN \"-\" where\n"
      "the store keeps none); otherwise, or with --json, one JSON object per line.\n"
      "Semaphore permits and the stores' own bookkeeping keys are not listed.\n"
      "Stores that can list: memory, SQLite, PostgreSQL, MySQL/MariaDB, Redis (standalone and\n"
      "Cluster), DynamoDB, etcd. Others (SOCI, custom stores) exit with 78.") +
              "\n\n" + kExitCodesHelp);
  return {sub, [options] { return run_list(*options); }};
}

int run_list(const ListOptions& options) {
  const auto logger = make_logger(options.output.verbosity());
  const auto store = open_selected_store(options.store, logger);
  auto* listable = dynamic_cast<ListableLockStore*>(store.store.get());
  if (listable == nullptr || !listable->lists_locks()) {
    throw CliError(kExitCannotList, "the store " + store.shown + " (" + store.origin +
                                        ") cannot list the locks it holds; listing works on "
                                        "memory, SQLite, PostgreSQL, MySQL/MariaDB, Redis, "
                                        "DynamoDB and etcd");
  }
  return with_store(store, "listing the locks", [&] {
    const auto locks = listable->list_locks(options.prefix, options.limit.value_or(SIZE_MAX));
    const bool table = !options.json && ::isatty(STDOUT_FILENO) == 1;
    if (table) {
      print_table(locks);
    } else {
      for (const auto& lock : locks) std::puts(json_line(lock).c_str());
    }
    return std::fflush(stdout) == 0 ? 0 : static_cast<int>(kExitIoError);
  });
}

}  // namespace verrou::cli
