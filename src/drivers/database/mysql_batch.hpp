// SPDX-License-Identifier: Apache-2.0
// The MySQL/MariaDB fenced acquire as one multi-statement round trip on a Connector/C connection:
// shared by the native MySQL adapter and the SOCI adapter's mysql backend, so both run the same
// transaction the same way. Header-only: only code that has <mysql.h> includes it.
#pragma once

#include <mysql.h>

#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "drivers/database/dialect.hpp"

namespace verrou::detail::sql {

/// `text` as a quoted string literal for connection `my` (its character set decides escaping).
inline std::string mysql_quote(MYSQL* my, const std::string& text) {
  std::string q(text.size() * 2 + 3, '\0');
  q[0] = '\'';
  const auto n = mysql_real_escape_string(my, q.data() + 1, text.data(), text.size());
  q.resize(n + 1);
  q += '\'';
  return q;
}

/// The values of `statement`'s parameters, quoted for the text protocol on `my`. (`ms`: nullptr
/// for NULL.)
inline std::vector<std::string> mysql_quoted(MYSQL* my, const Statement& statement,
                                             const std::string* key, const std::string* owner,
                                             const std::int64_t* ms, std::int64_t limit = 0) {
  std::vector<std::string> out;
  out.reserve(statement.params.size());
  for (Param p : statement.params) {
    switch (p) {
      case Param::key: out.push_back(mysql_quote(my, *key)); break;
      case Param::owner: out.push_back(mysql_quote(my, *owner)); break;
      case Param::ms: out.push_back(ms != nullptr ? std::to_string(*ms) : "NULL"); break;
      case Param::limit: out.push_back(std::to_string(limit)); break;
    }
  }
  return out;
}

/// What `run_mysql_fenced_batch` returned: the token when the lock was taken, nothing when it is
/// held, or the error that stopped the batch.
struct MysqlBatchResult {
  std::optional<std::uint64_t> token;
  unsigned error = 0;  ///< 0: no error
  std::string message;
};

/// Ends a transaction a failed statement left open (nothing when none is).
inline void mysql_roll_back_open_transaction(MYSQL* my) noexcept {
  if ((my->server_status & SERVER_STATUS_IN_TRANS) == 0) return;
  const char* text = "ROLLBACK";
  if (mysql_real_query(my, text, std::strlen(text)) == 0) {
    mysql_free_result(mysql_store_result(my));
  }
}

/// Reads every result of the multi-statement text just sent, so the connection is ready for the
/// next statement: `seen(index)` is called for each statement's result (0, 1, …). Returns the
/// index of the statement that failed, or -1 when none did.
template <class Seen>
int mysql_read_results(MYSQL* my, bool sent, Seen&& seen) {
  if (!sent) return 0;
  for (int index = 0;; ++index) {
    seen(index);
    if (mysql_field_count(my) != 0) mysql_free_result(mysql_store_result(my));
    const int next = mysql_next_result(my);
    if (next == -1) return -1;
    if (next > 0) return index + 1;
  }
}

/// Runs the fenced acquire on `my`, which must take multi-statement texts
/// (CLIENT_MULTI_STATEMENTS, or MYSQL_OPTION_MULTI_STATEMENTS_ON): `mysql_fenced_insert_batch`,
/// and when the key has a row, `mysql_fenced_take_over_batch`. Leaves no transaction open. (`ms`:
/// nullptr for a lease that never expires.)
inline MysqlBatchResult run_mysql_fenced_batch(MYSQL* my, const Statements& s,
                                               const std::string* key, const std::string* owner,
                                               const std::int64_t* ms) {
  constexpr unsigned kDuplicateKey = 1062;  // ER_DUP_ENTRY
  MysqlBatchResult out;
  auto failed_with = [&](unsigned code) {
    out.token.reset();
    out.error = code != 0 ? code : 2000;  // CR_UNKNOWN_ERROR
    out.message = mysql_error(my);
    mysql_roll_back_open_transaction(my);
    return out;
  };
  // 0 START TRANSACTION, 1 insert, 2 bump (its insert id is the token), 3 COMMIT.
  const std::string first =
      mysql_fenced_insert_batch(s, mysql_quoted(my, s.insert, key, owner, ms),
                                mysql_quoted(my, s.bump_token, key, owner, ms));
  int failed = mysql_read_results(my, mysql_real_query(my, first.data(), first.size()) == 0,
                                  [&](int index) {
                                    if (index == 2) out.token = mysql_insert_id(my);
                                  });
  if (failed == -1) return out;
  if (failed != 1 || mysql_errno(my) != kDuplicateKey) return failed_with(mysql_errno(my));
  // The key has a row: take it over if it has expired.
  // 0 ROLLBACK, 1 START TRANSACTION, 2 take_over, 3 bump if taken (0 rows: held), 4 COMMIT.
  out.token.reset();
  const std::string second =
      mysql_fenced_take_over_batch(s, mysql_quoted(my, s.take_over, key, owner, ms),
                                   mysql_quoted(my, s.bump_token_if_taken, key, owner, ms));
  failed = mysql_read_results(my, mysql_real_query(my, second.data(), second.size()) == 0,
                              [&](int index) {
                                if (index == 3 && mysql_affected_rows(my) > 0) {
                                  out.token = mysql_insert_id(my);
                                }
                              });
  if (failed != -1) return failed_with(mysql_errno(my));
  return out;
}

/// What `run_mysql_admission` returned.
struct MysqlAdmission {
  bool admitted = false;
  unsigned error = 0;  ///< 0: no error
  std::string message;
};

/// Runs a semaphore admission (`admission_batch`) on `my`, which must take multi-statement
/// texts, and reads every result. Leaves no transaction open.
inline MysqlAdmission run_mysql_admission(MYSQL* my, const Statements& s, const std::string* key,
                                          const std::string* holder, const std::int64_t* ms,
                                          std::int64_t limit) {
  MysqlAdmission out;
  const std::string batch = admission_batch(s, "START TRANSACTION", [&](const Statement& st) {
    return mysql_quoted(my, st, key, holder, ms, limit);
  });
  // 0 START TRANSACTION, 1 lock the key, 2 prune, 3 the admission (1 row: admitted), 4 COMMIT.
  const int failed =
      mysql_read_results(my, mysql_real_query(my, batch.data(), batch.size()) == 0, [&](int index) {
        if (index == 3) out.admitted = mysql_affected_rows(my) == 1;
      });
  if (failed != -1) {
    out.admitted = false;
    out.error = mysql_errno(my) != 0 ? mysql_errno(my) : 2000;
    out.message = mysql_error(my);
    mysql_roll_back_open_transaction(my);
  }
  return out;
}

}  // namespace verrou::detail::sql
