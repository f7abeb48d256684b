// SPDX-License-Identifier: Apache-2.0
#include "drivers/soci/soci_connection_string.hpp"

#include <exception>

#include "detail/text.hpp"
#include "detail/url.hpp"
#include "verrou/errors.hpp"

namespace verrou::detail {
namespace {

// A connection string in URI form (libpq takes postgresql://user:pass@host:port/db).
std::optional<Url> as_uri(const std::string& cs) {
  if (cs.find("://") == std::string::npos) return std::nullopt;
  try {
    return parse_url(cs);
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

// A value for a space-separated connection string, quoted only when it needs it.
std::string quoted_value(std::string_view v) {
  const bool plain = !v.empty() && v.find_first_of(" '\\=;\t") == std::string_view::npos;
  if (plain) return std::string(v);
  std::string out = "'";
  for (char c : v) {
    if (c == '\'' || c == '\\') out += '\\';
    out += c;
  }
  return out + "'";
}

// An ODBC attribute value: braces only when it needs them ('}' doubled inside).
std::string odbc_value(std::string_view v) {
  if (v.find_first_of(";{}= ") == std::string_view::npos) return std::string(v);
  std::string out = "{";
  for (char c : v) {
    out += c;
    if (c == '}') out += '}';
  }
  return out + "}";
}

}  // namespace

ConnectionPairs connection_pairs(std::string_view cs) {
  ConnectionPairs out;
  std::size_t i = 0;
  auto skip_separators = [&] {
    while (i < cs.size() && (cs[i] == ' ' || cs[i] == ';' || cs[i] == '\t')) ++i;
  };
  skip_separators();
  while (i < cs.size()) {
    std::size_t start = i;
    while (i < cs.size() && cs[i] != '=' && cs[i] != ' ' && cs[i] != ';') ++i;
    std::string key = ascii_lower(cs.substr(start, i - start));
    std::string value;
    if (i < cs.size() && cs[i] == '=') {
      ++i;
      if (i < cs.size() && (cs[i] == '\'' || cs[i] == '{')) {
        const char close = cs[i] == '{' ? '}' : '\'';
        ++i;
        while (i < cs.size() && cs[i] != close) {
          if (cs[i] == '\\' && close == '\'' && i + 1 < cs.size()) ++i;
          value += cs[i++];
        }
        if (i < cs.size()) ++i;
      } else {
        start = i;
        while (i < cs.size() && cs[i] != ' ' && cs[i] != ';') ++i;
        value = std::string(cs.substr(start, i - start));
      }
    }
    if (!key.empty()) out.emplace_back(std::move(key), std::move(value));
    skip_separators();
  }
  return out;
}

std::string pair_value(const ConnectionPairs& pairs, std::initializer_list<std::string_view> keys) {
  for (auto key : keys) {
    for (const auto& [k, v] : pairs) {
      if (k == key && !v.empty()) return v;
    }
  }
  return {};
}

bool has_key(const ConnectionPairs& pairs, std::string_view key) {
  for (const auto& p : pairs) {
    if (p.first == key) return true;
  }
  return false;
}

std::string describe_soci_server(const std::string& backend, const std::string& cs) {
  if (auto uri = as_uri(cs); uri && !uri->hosts.empty()) {
    const auto& h = uri->hosts[0];
    return backend + " " + h.host + (h.port ? ":" + std::to_string(*h.port) : std::string());
  }
  const auto pairs = connection_pairs(cs);
  if (backend == "sqlite3") {
    std::string db = pair_value(pairs, {"db", "dbname"});
    if (db.empty() && cs.find('=') == std::string::npos) db = cs;
    return "sqlite3 " + (db.empty() ? std::string("database") : db);
  }
  std::string host = pair_value(pairs, {"host", "hostaddr", "server", "hostname"});
  std::string port = pair_value(pairs, {"port"});
  if (host.empty()) {
    const std::string dsn = pair_value(pairs, {"dsn", "service", "db", "dbname"});
    return backend + (dsn.empty() ? std::string(" (default server)") : " " + dsn);
  }
  return backend + " " + host + (port.empty() ? std::string() : ":" + port);
}

std::vector<std::string> soci_secrets(const std::string& cs) {
  std::vector<std::string> out;
  if (auto uri = as_uri(cs); uri && uri->password && !uri->password->empty()) {
    out.push_back(*uri->password);
  }
  for (const auto& [k, v] : connection_pairs(cs)) {
    if ((k == "password" || k == "pwd" || k == "pass") && !v.empty()) out.push_back(v);
  }
  return out;
}

std::string with_soci_credentials(const std::string& backend, std::string cs,
                                  const std::optional<std::string>& user,
                                  const std::optional<std::string>& password) {
  if (backend == "sqlite3") {
    throw InvalidArgumentError(
        "invalid SOCI URL: SQLite takes no user or "
        "password; write soci://sqlite3/<file>");
  }
  if (backend == "odbc") {
    if (!cs.empty() && cs.back() != ';') cs += ';';
    if (user) cs += "UID=" + odbc_value(*user) + ";";
    if (password) cs += "PWD=" + odbc_value(*password) + ";";
    return cs;
  }
  if (user) cs += " user=" + quoted_value(*user);
  if (password) cs += " password=" + quoted_value(*password);
  return cs;
}

}  // namespace verrou::detail
