// SPDX-License-Identifier: Apache-2.0
// The MySQL/MariaDB fenced acquire as one multi-statement round trip on a
// Connector/C connection: shared by the native MySQL adapter and the SOCI
// adapter's mysql backend, so both run the same transaction the same way.
// Header-only: only code that has <mysql.h> includes it.
#pragma once

#include <mysql.h>

#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "drivers/database/dialect.hpp"

namespace verrou::detail::sql {

/// `text` as a quoted string literal for connection `my` (its character set
/// decides escaping).
inline std::string mysql_quote(MYSQL *my, const std::string &text) {
  std::string q(text.size() * 2 + 3, '\0');
  q[0] = '\'';
  const auto n = mysql_real_escape_string(my, q.data() + 1, text.data(), text.size());
  q.resize(n + 1);
  q += '\'';
  return q;
}

/// The values of `statement`'s parameters, quoted for the text protocol on
/// `my`.
/// (`ms`: nullptr for NULL.)
inline std::vector<std::string> mysql_quoted(MYSQL *my, const Statement &statement,
                                             const std::string *key, const std::string *owner,
                                             const std::int64_t *ms) {
  std::vector<std::string> out;
  out.reserve(statement.params.size());
  for (Param p : statement.params) {
    const std::string *text = p == Param::key ? key : p == Param::owner ? owner : nullptr;
    if (text != nullptr) {
      out.push_back(mysql_quote(my, *text));
    } else {
      out.push_back(ms != nullptr ? std::to_string(*ms) : std::string("NULL"));
    }
  }
  return out;
}

/// What `run_mysql_fenced_batch` returned: the token when the lock was taken,
/// nothing when it is held, or the error that stopped the batch.
struct MysqlBatchResult {
  std::optional<std::uint64_t> token;
  unsigned error = 0;  ///< 0: no error
  std::string message;
};

/// Ends a transaction a failed statement left open (nothing when none is).
inline void mysql_roll_back_open_transaction(MYSQL *my) noexcept {
  if ((my->server_status & SERVER_STATUS_IN_TRANS) == 0) return;
  const char *text = "ROLLBACK";
  if (mysql_real_query(my, text, std::strlen(text)) == 0) {
    mysql_free_result(mysql_store_result(my));
  }
}

/// Runs `mysql_fenced_batch` on `my`, which must take multi-statement texts
/// (CLIENT_MULTI_STATEMENTS, or MYSQL_OPTION_MULTI_STATEMENTS_ON), and reads
/// every result, so the connection is ready for the next statement. Leaves no
/// transaction open. (`ms`: nullptr for a lease that never expires.)
inline MysqlBatchResult run_mysql_fenced_batch(MYSQL *my, const Statements &s,
                                               const std::string *key, const std::string *owner,
                                               const std::int64_t *ms) {
  constexpr unsigned kDuplicateKey = 1062;  // ER_DUP_ENTRY
  MysqlBatchResult out;
  const std::string batch = mysql_fenced_batch(s, mysql_quoted(my, s.take_over, key, owner, ms),
                                               mysql_quoted(my, s.acquire, key, owner, ms),
                                               mysql_quoted(my, s.bump_token, key, owner, ms),
                                               mysql_quoted(my, s.read_token, key, owner, ms));
  // Results: 0 START TRANSACTION, 1 take_over, 2 acquire, 3 bump, 4 the token,
  // 5 COMMIT. An error stops the server at that statement.
  int index = 0;  // the statement whose result is at hand (or which failed)
  bool failed = mysql_real_query(my, batch.data(), batch.size()) != 0;
  std::optional<std::uint64_t> token;
  while (!failed) {
    if (mysql_field_count(my) != 0) {
      MYSQL_RES *rows = mysql_store_result(my);
      if (rows != nullptr && index == 4) {
        MYSQL_ROW row = mysql_fetch_row(rows);
        if (row != nullptr && row[0] != nullptr) token = std::stoull(row[0]);
      }
      mysql_free_result(rows);
    }
    const int next = mysql_next_result(my);
    if (next == -1) break;
    ++index;
    failed = next > 0;
  }
  if (!failed) {
    if (!token) {
      out.error = 2000;  // CR_UNKNOWN_ERROR
      out.message = "the fencing counter of the key could not be read";
    }
    out.token = token;
    return out;
  }
  const unsigned code = mysql_errno(my);
  if (!(index == 2 && code == kDuplicateKey)) {  // anything but "held"
    out.error = code != 0 ? code : 2000;
    out.message = mysql_error(my);
  }
  mysql_roll_back_open_transaction(my);
  return out;
}

}  // namespace verrou::detail::sql
