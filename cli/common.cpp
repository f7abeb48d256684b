// SPDX-License-Identifier: Apache-2.0
#include "common.hpp"

#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <sstream>
#include <system_error>

#include "verrou/errors.hpp"
#include "verrou/open_store.hpp"

namespace verrou::cli {

const char* const kExitCodesHelp =
    "Exit codes:\n"
    "  0        success (run: the command's own exit code is passed on)\n"
    "  1-125    run: the command's exit code\n"
    "  64       bad command line: unknown option, bad duration, key, limit, URL or scheme,\n"
    "           no command; --limit on a store without semaphores\n"
    "  65       --lock is not a serialized lock (Verrou's JSON)\n"
    "  69       the store could not be opened or failed (unreachable, SQL error, ...)\n"
    "  70       internal error in verrou\n"
    "  74       acquire/extend/status: could not write to stdout (acquire then releases)\n"
    "  75       the lock (--limit: a permit) was not acquired: held elsewhere (--no-wait),\n"
    "           --timeout passed or --attempts used up; change it with --conflict-exit-code\n"
    "  77       release/extend: this owner does not hold the lock (expired or released);\n"
    "           run: the lock (or permit) was lost while the command ran (whatever the\n"
    "           command's own exit code; stderr says what it was)\n"
    "  78       list: the store cannot list the locks it holds\n"
    "  126      run: the command was found but could not be executed\n"
    "  127      run: the command was not found\n"
    "  128+N    run: the command was killed by signal N (verrou itself exits so when\n"
    "           signal N stops it while it waits for the lock)\n";

namespace {

std::string join(const std::vector<std::string>& items, std::string_view sep) {
  std::string out;
  for (const auto& item : items) {
    if (!out.empty()) out += sep;
    out += item;
  }
  return out;
}

std::string schemes_built_in() {
  auto schemes = supported_schemes();
  for (auto& s : schemes) s += ':';
  return join(schemes, ", ");
}

bool has_scheme(std::string_view scheme) {
  const auto schemes = supported_schemes();
  return std::find(schemes.begin(), schemes.end(), scheme) != schemes.end();
}

const char* env(const char* name) {
  const char* value = std::getenv(name);
  return value != nullptr && *value != '\0' ? value : nullptr;
}

std::string home_folder() {
  if (const char* home = env("HOME")) return home;
  // No $HOME (some cron and service setups): ask the password database.
  if (const passwd* pw = getpwuid(getuid()); pw != nullptr && pw->pw_dir != nullptr &&
                                               *pw->pw_dir != '\0') {
    return pw->pw_dir;
  }
  throw CliError(kExitUnavailable,
                 "cannot find the default store: neither $XDG_STATE_HOME nor $HOME is set and "
                 "the user has no home folder; pass --store URL or set VERROU_STORE");
}

// Creates the folder of the default store; the last level is private to the user, since key
// names may say what the user's jobs are.
void make_store_folder(const std::filesystem::path& folder) {
  std::error_code ec;
  std::filesystem::create_directories(folder.parent_path(), ec);
  if (ec) {
    throw CliError(kExitUnavailable, "cannot create the folder of the default store " +
                                         folder.parent_path().string() + ": " + ec.message() +
                                         "; set XDG_STATE_HOME, or pass --store URL");
  }
  if (::mkdir(folder.c_str(), 0700) != 0 && errno != EEXIST) {
    const int err = errno;
    throw CliError(kExitUnavailable, "cannot create the folder of the default store " +
                                         folder.string() + ": " + std::strerror(err) +
                                         "; set XDG_STATE_HOME, or pass --store URL");
  }
}

}  // namespace

void add_output_options(CLI::App& app, OutputOptions& options) {
  auto* quiet = app.add_flag("-q,--quiet", options.quiet,
                             "Say nothing on stderr but errors (no waiting line, no notices)");
  auto* verbose = app.add_flag("-v,--verbose", options.verbose,
                               "Log what the library does (debug records on stderr)");
  quiet->excludes(verbose);
}

namespace {

// The library's warnings as the command's own notices: "verrou: <message>: name=value ...".
class NoticeLogger final : public Logger {
 public:
  [[nodiscard]] bool enabled(LogLevel level) const noexcept override {
    return level >= LogLevel::warn;
  }
  void log(LogLevel level, std::string_view message,
           std::initializer_list<LogField> fields) noexcept override {
    if (!enabled(level)) return;
    try {
      std::string line(message);
      const char* sep = ": ";
      for (const auto& field : fields) {
        line += sep;
        line += field.name;
        line += '=';
        line += field.value;
        sep = ", ";
      }
      say(line);
    } catch (...) {  // logging never breaks locking
    }
  }
};

}  // namespace

std::shared_ptr<Logger> make_logger(Verbosity verbosity) {
  switch (verbosity) {
    case Verbosity::verbose: return std::make_shared<StreamLogger>(std::cerr, LogLevel::debug);
    case Verbosity::normal: return std::make_shared<NoticeLogger>();
    case Verbosity::quiet: break;
  }
  return null_logger();
}

void add_store_option(CLI::App& app, StoreOptions& options) {
  app.add_option("-s,--store", options.url,
                 "Store URL: sqlite:///abs/path.db, redis://[user:pass@]host:port[/db], "
                 "postgres://..., mysql://..., dynamodb://?..., memory: (this process only). "
                 "Default: $VERROU_STORE, else the SQLite file "
                 "$XDG_STATE_HOME/verrou/locks.db (~/.local/state/verrou/locks.db)")
      ->type_name("URL");
}

std::string default_store_path() {
  std::filesystem::path base;
  // The XDG spec says to ignore a relative $XDG_STATE_HOME.
  if (const char* state = env("XDG_STATE_HOME"); state != nullptr && state[0] == '/') {
    base = state;
  } else {
    base = std::filesystem::path(home_folder()) / ".local" / "state";
  }
  return (base / "verrou" / "locks.db").string();
}

std::string sqlite_url_of(std::string_view absolute_path) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string url = "sqlite://";
  for (const char c : absolute_path) {
    const auto byte = static_cast<unsigned char>(c);
    if ((byte >= 'a' && byte <= 'z') || (byte >= 'A' && byte <= 'Z') ||
        (byte >= '0' && byte <= '9') || c == '/' || c == '-' || c == '.' || c == '_' ||
        c == '~') {
      url += c;
    } else {
      url += '%';
      url += kHex[byte >> 4U];
      url += kHex[byte & 0xFU];
    }
  }
  return url;
}

SelectedStore open_selected_store(const StoreOptions& options,
                                  const std::shared_ptr<Logger>& logger) {
  SelectedStore selected;
  bool is_default = false;
  if (!options.url.empty()) {
    selected.url = options.url;
    selected.origin = "--store";
  } else if (const char* from_env = env("VERROU_STORE")) {
    selected.url = from_env;
    selected.origin = "$VERROU_STORE";
  } else {
    is_default = true;
    selected.origin = "the default store";
    if (!has_scheme("sqlite")) {
      throw CliError(kExitUnavailable,
                     "the default store is an SQLite file, but this verrou was built without "
                     "the SQLite driver (libsqlite3-dev was missing when it was built). Pass "
                     "--store URL or set VERROU_STORE; stores built in: " +
                         schemes_built_in());
    }
    const std::filesystem::path path = default_store_path();
    make_store_folder(path.parent_path());
    selected.url = sqlite_url_of(path.string());
  }
  selected.shown = redact_url(selected.url);
  if (logger->enabled(LogLevel::debug)) {
    logger->log(LogLevel::debug, "Opening store",
                {{"url", selected.shown}, {"from", selected.origin}});
  }
  try {
    selected.store = open_store(selected.url);
  } catch (const InvalidArgumentError& e) {
    if (is_default) {
      throw CliError(kExitUnavailable,
                     "cannot open the default store " + selected.shown + ": " + e.what());
    }
    // The library's message names the URL (password masked) and what is valid.
    throw CliError(kExitUsage, selected.origin + ": " + e.what());
  } catch (const Error& e) {
    throw CliError(kExitUnavailable, "cannot open the store " + selected.shown + " (from " +
                                         selected.origin + "): " + e.what());
  }
  return selected;
}

int with_store(const SelectedStore& store, std::string_view operation,
               const std::function<int()>& body) {
  try {
    return body();
  } catch (const LockStorageError& e) {
    throw CliError(kExitUnavailable, "the store " + store.shown + " failed while " +
                                         std::string(operation) + ": " + e.what());
  }
}

Duration parse_duration_option(std::string_view option, std::string_view text) {
  try {
    return parse_duration(text);
  } catch (const InvalidArgumentError& e) {
    throw CliError(kExitUsage, std::string(option) + ": " + e.what());
  }
}

std::optional<Duration> parse_ttl_option(std::string_view option, std::string_view text) {
  try {
    auto ttl = parse_ttl(text);
    validate_ttl(ttl);
    return ttl;
  } catch (const InvalidArgumentError& e) {
    throw CliError(kExitUsage, std::string(option) + ": " + e.what() + " (or \"forever\": " +
                                   "a lock that never expires)");
  }
}

SerializedLock read_lock(std::string_view value) {
  std::string text;
  if (value == "-") {
    // Plain read(2): a serialized lock is small, and anything past 1 MiB is not one.
    char buffer[4096];
    for (;;) {
      const ssize_t n = ::read(STDIN_FILENO, buffer, sizeof buffer);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        const int err = errno;
        throw CliError(kExitDataError,
                       std::string("--lock -: cannot read standard input: ") + std::strerror(err));
      }
      if (n == 0 || text.size() > (1U << 20U)) break;
      text.append(buffer, static_cast<std::size_t>(n));
    }
    if (text.find_first_not_of(" \t\r\n") == std::string::npos) {
      throw CliError(kExitDataError,
                     "--lock -: standard input is empty; pipe in the JSON that "
                     "`verrou acquire` printed");
    }
  } else {
    text = value;
  }
  try {
    return SerializedLock::from_json(text);
  } catch (const InvalidArgumentError& e) {
    throw CliError(kExitDataError, std::string("--lock: ") + e.what());
  }
}

void say(std::string_view message) {
  std::string line = "verrou: ";
  line += message;
  line += '\n';
  const char* data = line.data();
  std::size_t left = line.size();
  while (left > 0) {
    const ssize_t n = ::write(STDERR_FILENO, data, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      return;
    }
    data += n;
    left -= static_cast<std::size_t>(n);
  }
}

std::string in_quotes(std::string_view text) {
  std::string out = "\"";
  for (const char c : text) {
    if (c == '"' || c == '\\') out += '\\';
    if (static_cast<unsigned char>(c) < 0x20) {
      static constexpr char kHex[] = "0123456789abcdef";
      out += "\\x";
      out += kHex[(static_cast<unsigned char>(c) >> 4U) & 0xFU];
      out += kHex[static_cast<unsigned char>(c) & 0xFU];
      continue;
    }
    out += c;
  }
  out += '"';
  return out;
}

}  // namespace verrou::cli
