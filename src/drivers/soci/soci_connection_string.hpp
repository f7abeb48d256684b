// SPDX-License-Identifier: Apache-2.0
// SOCI connection strings, read only for what the store needs from them: the server to name in
// messages, the secrets never to show, defaults to add, and credentials from a URL.
#pragma once

#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace verrou::detail {

/// The key=value pairs of a SOCI connection string, keys in lower case. Pairs are separated by
/// spaces (libpq, MySQL, SQLite, Firebird style) or ';' (ODBC); values may be quoted with '…' or
/// {…}.
using ConnectionPairs = std::vector<std::pair<std::string, std::string>>;
ConnectionPairs connection_pairs(std::string_view connection_string);

/// The first non-empty value among `keys`; empty when none.
std::string pair_value(const ConnectionPairs& pairs, std::initializer_list<std::string_view> keys);

/// Whether `key` is given (with or without a value).
bool has_key(const ConnectionPairs& pairs, std::string_view key);

/// "postgresql 127.0.0.1:5432", "sqlite3 /var/lib/app.db", "odbc dsn=locks": for messages, never
/// with the password.
std::string describe_soci_server(const std::string& backend, const std::string& connection_string);

/// The values that must never appear in messages: passwords (`password`, `pwd`, `pass`, or in a
/// URI's userinfo).
std::vector<std::string> soci_secrets(const std::string& connection_string);

/// `connection_string` with `user` and `password` added in `backend`'s syntax (ODBC `UID=`, `PWD=`;
/// otherwise `user=`, `password=`). Throws `InvalidArgumentError` for sqlite3, which takes neither.
std::string with_soci_credentials(const std::string& backend, std::string connection_string,
                                  const std::optional<std::string>& user,
                                  const std::optional<std::string>& password);

}  // namespace verrou::detail
