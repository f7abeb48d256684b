// SPDX-License-Identifier: Apache-2.0
// What every verb of the verrou command shares: exit codes, store selection, durations,
// output levels, and the way errors reach the person at the terminal.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include "verrou/duration.hpp"
#include "verrou/logger.hpp"
#include "verrou/serialized_lock.hpp"
#include "verrou/store.hpp"

namespace CLI {
class App;
}

namespace verrou::cli {

/// The exit codes of the command (sysexits.h where one fits, shell conventions otherwise).
/// Documented in `--help` (kExitCodesHelp) and docs/cli.md; changing one breaks scripts.
enum ExitCode : int {
  kExitOk = 0,
  kExitUsage = 64,          ///< bad command line: option, duration, URL, scheme, key
  kExitDataError = 65,      ///< the --lock text is not a serialized lock
  kExitUnavailable = 69,    ///< the store cannot be opened or failed
  kExitSoftware = 70,       ///< a bug in verrou
  kExitIoError = 74,        ///< the lock could not be written to stdout
  kExitNotAcquired = 75,    ///< the lock was not acquired (EX_TEMPFAIL; --conflict-exit-code)
  kExitNotOwned = 77,       ///< release/extend of a lock this owner no longer holds; run:
                            ///< the lock was lost while the command ran
  kExitCannotList = 78,     ///< list: the store cannot enumerate its locks (EX_CONFIG)
  kExitCannotExecute = 126, ///< the command was found but could not be started
  kExitNotFound = 127,      ///< the command was not found
};

/// The exit-code table shown at the end of `--help`.
extern const char* const kExitCodesHelp;

/// A failure with the exit code it maps to; `what()` is the message, without "verrou: ".
class CliError : public std::runtime_error {
 public:
  CliError(int exit_code, const std::string& message)
      : std::runtime_error(message), exit_code_(exit_code) {}
  [[nodiscard]] int exit_code() const noexcept { return exit_code_; }

 private:
  int exit_code_;
};

/// How much the command says on stderr besides errors.
enum class Verbosity { quiet, normal, verbose };

struct OutputOptions {
  bool quiet = false;
  bool verbose = false;
  [[nodiscard]] Verbosity verbosity() const {
    return quiet ? Verbosity::quiet : verbose ? Verbosity::verbose : Verbosity::normal;
  }
};

/// `--quiet` / `--verbose`, mutually exclusive.
void add_output_options(CLI::App& app, OutputOptions& options);

/// The library logger for a verbosity: debug records to stderr when verbose; warnings (a
/// lease that cannot be extended, a lock lost) as "verrou: …" lines at the normal level;
/// nothing when quiet.
std::shared_ptr<Logger> make_logger(Verbosity verbosity);

/// `--store URL`.
struct StoreOptions {
  std::string url;  ///< empty: $VERROU_STORE, then the default SQLite file
};

void add_store_option(CLI::App& app, StoreOptions& options);

/// A store chosen from the command line, the environment or the default.
struct SelectedStore {
  std::string url;          ///< as given (may hold a password: never print it)
  std::string shown;        ///< `url` with its password masked, for messages
  std::string origin;       ///< "--store", "$VERROU_STORE" or "the default store"
  std::shared_ptr<LockStore> store;
};

/// Opens the store: --store, else $VERROU_STORE, else the default SQLite file (its folder is
/// created). Throws CliError: kExitUsage for a malformed URL or unknown scheme (listing the
/// schemes built in), kExitUnavailable when it cannot be opened.
SelectedStore open_selected_store(const StoreOptions& options, const std::shared_ptr<Logger>& logger);

/// The file of the default store: $XDG_STATE_HOME/verrou/locks.db, or
/// ~/.local/state/verrou/locks.db. Throws CliError when no home folder can be found.
std::string default_store_path();

/// `sqlite://` URL of an absolute file path, percent-encoding what a URL cannot hold.
std::string sqlite_url_of(std::string_view absolute_path);

/// Runs `body`, turning a store failure (LockStorageError) into CliError(kExitUnavailable)
/// naming the store and the operation.
int with_store(const SelectedStore& store, std::string_view operation,
               const std::function<int()>& body);

/// Parses a duration option; CliError(kExitUsage) says which option and what is valid.
Duration parse_duration_option(std::string_view option, std::string_view text);

/// Parses a TTL option (a duration or "forever"), checked against the library's limits.
std::optional<Duration> parse_ttl_option(std::string_view option, std::string_view text);

/// Reads `--lock`: the JSON itself, or "-" for standard input. CliError(kExitDataError) when
/// the text is not a serialized lock (Verrou's JSON shape).
SerializedLock read_lock(std::string_view value);

/// Writes one whole line to stderr with a "verrou: " prefix, in a single write so lines from
/// several threads do not mix.
void say(std::string_view message);

/// `text` in double quotes, for naming keys and commands in messages.
std::string in_quotes(std::string_view text);

/// How a verb is run after parsing.
struct Command {
  CLI::App* app = nullptr;
  std::function<int()> run;
};

}  // namespace verrou::cli
