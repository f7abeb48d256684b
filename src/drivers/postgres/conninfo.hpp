// SPDX-License-Identifier: Apache-2.0
// Reading a libpq connection string (`postgres://` URI or `key=value` pairs) for messages:
// which server it names, and how to show it, or why it does not parse, without its password.
#pragma once

#include <string>
#include <string_view>

namespace verrou::detail::pg {

/// `conninfo` for messages, with every secret hidden: the password of a URI's user
/// information and of a `password=` (or `sslpassword=`) query parameter or key=value pair,
/// quoted or not. Where the text does not parse after a secret began, everything from there
/// on is hidden. Never throws.
std::string redact_conninfo(std::string_view conninfo);

/// libpq's message about a connection string it could not parse, with every quoted fragment
/// hidden but libpq's own keywords (and, when `show_unknown_keywords`, the name of an option
/// libpq does not know): libpq quotes pieces of its input (a whole URI, a value missing its
/// `=`), which may hold the password.
std::string redact_parse_error(std::string_view message, bool show_unknown_keywords);

/// "host:port" of the first server `conninfo` names (libpq's defaults: localhost, 5432).
/// Throws `InvalidArgumentError` when libpq cannot parse it, showing neither the password
/// nor any piece of libpq's message that may hold it.
std::string server_of(const std::string& conninfo);

}  // namespace verrou::detail::pg
