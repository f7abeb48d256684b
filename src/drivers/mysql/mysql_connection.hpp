// SPDX-License-Identifier: Apache-2.0
// One MySQL/MariaDB connection of the store and how statements run on it: server-side prepared
// statements (binary protocol), prepared once per connection, the text protocol where the server
// will not prepare one (or the store was told not to), and the fenced acquire as one
// multi-statement round trip.
#pragma once

#include <mysql.h>

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "drivers/database/dialect.hpp"

namespace verrou::detail::mysql {

// The statements a connection runs.
enum Stmt : std::size_t {
  kInsert,
  kTakeOver,
  kDelete,
  kDeleteOwned,
  kExtend,
  kGet,
  kNow,
  kBumpToken,
  kLockSemaphore,
  kPrunePermits,
  kInsertPermit,
  kDeletePermit,
  kExtendPermit,
  kCountPermits,
  kPermitHeld,
  kCollation,
  kCount
};

constexpr unsigned kDuplicateKey = 1062;  // ER_DUP_ENTRY
constexpr unsigned kDeadlock = 1213;      // ER_LOCK_DEADLOCK: the transaction was rolled back

// The client library's error numbers (2000 and up) mean the connection itself failed: it is closed
// and replaced.
inline bool connection_error(unsigned code) { return code >= 2000 && code < 3000; }

// The values a statement binds (see sql::Param).
struct Values {
  const std::string* key = nullptr;
  const std::string* owner = nullptr;
  std::optional<std::int64_t> ms;
  std::int64_t limit = 0;
};

// What one statement returned.
struct Outcome {
  std::uint64_t affected = 0;
  std::uint64_t insert_id = 0;
  // The first row, each column as text (nullopt: NULL), when the statement returns rows.
  std::optional<std::vector<std::optional<std::string>>> row;
};

// A statement failed. `code` is the server's or client library's error number.
struct Failure {
  unsigned code = 0;
  std::string message;
};

// A connection and the statements prepared on it.
class Connection {
 public:
  // `my`: connected; closed with the object when `owned`.
  Connection(MYSQL* my, bool owned, bool prepare);
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  ~Connection();

  [[nodiscard]] MYSQL* handle() const { return my_; }

  // Runs `statement` (kind `kind`) with `values`. Returns the failure instead of throwing, so the
  // caller decides what each error means.
  std::optional<Failure> run(Stmt kind, const sql::Statement& statement, const Values& values,
                             Outcome& out);

  // The fenced acquire (sql::Statements::FencedAcquire::mysql_batch) in one transaction: one round
  // trip when the connection takes multi-statement texts, one per statement otherwise. `token`: set
  // when the lock was taken, empty when it is held. Leaves no transaction open, whatever happens.
  std::optional<Failure> acquire_fenced(const sql::Statements& statements, const Values& values,
                                        std::optional<std::uint64_t>& token);

  // A semaphore admission in one transaction (one round trip with multi-statement texts).
  // `admitted`: whether the holder got a permit. Leaves no transaction open.
  std::optional<Failure> insert_permit(const sql::Statements& statements, const Values& values,
                                       bool& admitted);

  // Runs `statement` through the text protocol with `suffix` appended (a LIMIT), and returns every
  // row it gives, each column as text (nullopt: NULL): for listings.
  std::optional<Failure> query_rows(const sql::Statement& statement, const Values& values,
                                    std::string_view suffix,
                                    std::vector<std::vector<std::optional<std::string>>>& rows);

  // Runs a statement of the text protocol that returns no rows (DDL, transaction control).
  std::optional<Failure> execute(std::string_view text);

 private:
  std::optional<Failure> run_prepared(MYSQL_STMT* st, const sql::Statement& statement,
                                      const Values& values, Outcome& out);
  std::optional<Failure> run_text(const sql::Statement& statement, const Values& values,
                                  Outcome& out);
  std::vector<std::string> quoted(const sql::Statement& statement, const Values& values);
  Failure failure() const;
  void roll_back() noexcept;

  MYSQL* my_;
  bool owned_;
  bool prepare_;
  bool multi_statements_;
  std::array<MYSQL_STMT*, kCount> stmts_{};
  std::array<bool, kCount> text_only_{};  // the server refused to prepare it
};

}  // namespace verrou::detail::mysql
