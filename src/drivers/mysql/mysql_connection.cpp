// SPDX-License-Identifier: Apache-2.0
#include "drivers/mysql/mysql_connection.hpp"

#include <errmsg.h>
#include <mysqld_error.h>

#include <cstring>
#include <memory>
#include <utility>

#include "drivers/database/mysql_batch.hpp"

namespace verrou::detail::mysql {
namespace {

struct ResultDeleter {
  void operator()(MYSQL_RES* r) const { mysql_free_result(r); }
};
using Result = std::unique_ptr<MYSQL_RES, ResultDeleter>;

// Result columns are read as text (the client library converts numbers), so the prepared and the
// text protocol give the same row. Keys and owners are at most 255 bytes; a column written by
// another tool may hold 255 four-byte characters.
constexpr std::size_t kColumnBytes = 1024;
constexpr std::size_t kMaxColumns = 4;

}  // namespace

Connection::Connection(MYSQL* my, bool owned, bool prepare)
    : my_(my),
      owned_(owned),
      prepare_(prepare),
      multi_statements_((my->client_flag & CLIENT_MULTI_STATEMENTS) != 0) {}

Connection::~Connection() {
  for (MYSQL_STMT* st : stmts_) {
    if (st != nullptr) mysql_stmt_close(st);
  }
  if (owned_) mysql_close(my_);
}

Failure Connection::failure() const { return {mysql_errno(my_), mysql_error(my_)}; }

std::optional<Failure> Connection::execute(std::string_view text) {
  if (mysql_real_query(my_, text.data(), text.size()) != 0) return failure();
  mysql_free_result(mysql_store_result(my_));
  return std::nullopt;
}

std::optional<Failure> Connection::run(Stmt kind, const sql::Statement& statement,
                                       const Values& values, Outcome& out) {
  if (prepare_ && !text_only_[kind]) {
    MYSQL_STMT*& st = stmts_[kind];
    if (st == nullptr) {
      st = mysql_stmt_init(my_);
      if (st == nullptr) return Failure{CR_OUT_OF_MEMORY, "out of memory"};
      if (mysql_stmt_prepare(st, statement.text.data(), statement.text.size()) != 0) {
        Failure f{mysql_stmt_errno(st), mysql_stmt_error(st)};
        mysql_stmt_close(st);
        st = nullptr;
        // Some servers and proxies refuse to prepare some statements: those go as text.
        if (f.code != ER_UNSUPPORTED_PS) return f;
        text_only_[kind] = true;
      }
    }
    if (st != nullptr) {
      auto f = run_prepared(st, statement, values, out);
      // A statement that failed is prepared afresh next time (its state is unknown).
      if (f) {
        mysql_stmt_close(st);
        st = nullptr;
      }
      return f;
    }
  }
  return run_text(statement, values, out);
}

std::optional<Failure> Connection::run_prepared(MYSQL_STMT* st, const sql::Statement& statement,
                                                const Values& values, Outcome& out) {
  std::vector<MYSQL_BIND> params(statement.params.size());
  std::vector<unsigned long> lengths(statement.params.size());
  long long ms = values.ms.value_or(0);
  my_bool ms_null = values.ms ? 0 : 1;
  long long limit = values.limit;
  for (std::size_t i = 0; i < statement.params.size(); ++i) {
    MYSQL_BIND& b = params[i];
    std::memset(&b, 0, sizeof b);
    const std::string* text = statement.params[i] == sql::Param::key     ? values.key
                              : statement.params[i] == sql::Param::owner ? values.owner
                                                                         : nullptr;
    if (text != nullptr) {
      lengths[i] = text->size();
      b.buffer_type = MYSQL_TYPE_STRING;
      b.buffer = const_cast<char*>(text->data());
      b.buffer_length = text->size();
      b.length = &lengths[i];
    } else if (statement.params[i] == sql::Param::limit) {
      b.buffer_type = MYSQL_TYPE_LONGLONG;
      b.buffer = &limit;
    } else {
      b.buffer_type = MYSQL_TYPE_LONGLONG;
      b.buffer = &ms;
      b.is_null = &ms_null;
    }
  }
  if (!params.empty() && mysql_stmt_bind_param(st, params.data()) != 0) {
    return Failure{mysql_stmt_errno(st), mysql_stmt_error(st)};
  }
  if (mysql_stmt_execute(st) != 0) return Failure{mysql_stmt_errno(st), mysql_stmt_error(st)};
  out.affected = mysql_stmt_affected_rows(st);
  out.insert_id = mysql_stmt_insert_id(st);
  const unsigned columns = mysql_stmt_field_count(st);
  if (columns == 0) return std::nullopt;
  // A statement returning rows: read the first, then drop the rest.
  std::array<std::array<char, kColumnBytes>, kMaxColumns> buffers{};
  std::array<unsigned long, kMaxColumns> sizes{};
  std::array<my_bool, kMaxColumns> nulls{};
  std::array<MYSQL_BIND, kMaxColumns> result{};
  const unsigned n = columns < kMaxColumns ? columns : static_cast<unsigned>(kMaxColumns);
  for (unsigned i = 0; i < n; ++i) {
    std::memset(&result[i], 0, sizeof result[i]);
    result[i].buffer_type = MYSQL_TYPE_STRING;
    result[i].buffer = buffers[i].data();
    result[i].buffer_length = kColumnBytes;
    result[i].length = &sizes[i];
    result[i].is_null = &nulls[i];
  }
  if (mysql_stmt_bind_result(st, result.data()) != 0) {
    Failure f{mysql_stmt_errno(st), mysql_stmt_error(st)};
    mysql_stmt_free_result(st);
    return f;
  }
  const int fetched = mysql_stmt_fetch(st);
  if (fetched == 0) {
    std::vector<std::optional<std::string>> row(n);
    for (unsigned i = 0; i < n; ++i) {
      if (nulls[i] == 0) row[i] = std::string(buffers[i].data(), sizes[i]);
    }
    out.row = std::move(row);
  } else if (fetched == 1) {
    Failure f{mysql_stmt_errno(st), mysql_stmt_error(st)};
    if (f.code == 0) f = failure();
    mysql_stmt_free_result(st);
    return f;
  } else if (fetched == MYSQL_DATA_TRUNCATED) {
    mysql_stmt_free_result(st);
    return Failure{CR_UNKNOWN_ERROR,
                   "a column's value is longer than " + std::to_string(kColumnBytes) + " bytes"};
  }
  mysql_stmt_free_result(st);
  return std::nullopt;
}

std::vector<std::string> Connection::quoted(const sql::Statement& statement, const Values& values) {
  return sql::mysql_quoted(my_, statement, values.key, values.owner,
                           values.ms ? &*values.ms : nullptr, values.limit);
}

std::optional<Failure> Connection::run_text(const sql::Statement& statement, const Values& values,
                                            Outcome& out) {
  const std::string text = sql::inline_values(statement, quoted(statement, values));
  if (mysql_real_query(my_, text.data(), text.size()) != 0) return failure();
  out.affected = mysql_affected_rows(my_);
  out.insert_id = mysql_insert_id(my_);
  if (mysql_field_count(my_) == 0) return std::nullopt;
  Result rows(mysql_store_result(my_));
  if (!rows) return failure();
  if (MYSQL_ROW row = mysql_fetch_row(rows.get())) {
    const unsigned n = mysql_num_fields(rows.get());
    const unsigned long* lengths = mysql_fetch_lengths(rows.get());
    std::vector<std::optional<std::string>> values_out(n);
    for (unsigned i = 0; i < n; ++i) {
      if (row[i] != nullptr) values_out[i] = std::string(row[i], lengths[i]);
    }
    out.row = std::move(values_out);
  }
  return std::nullopt;
}

std::optional<Failure> Connection::query_rows(
    const sql::Statement& statement, const Values& values, std::string_view suffix,
    std::vector<std::vector<std::optional<std::string>>>& rows) {
  std::string text = sql::inline_values(statement, quoted(statement, values));
  text += suffix;
  if (mysql_real_query(my_, text.data(), text.size()) != 0) return failure();
  Result result(mysql_store_result(my_));
  if (!result) return failure();
  const unsigned n = mysql_num_fields(result.get());
  while (MYSQL_ROW row = mysql_fetch_row(result.get())) {
    const unsigned long* lengths = mysql_fetch_lengths(result.get());
    std::vector<std::optional<std::string>> values_out(n);
    for (unsigned i = 0; i < n; ++i) {
      if (row[i] != nullptr) values_out[i] = std::string(row[i], lengths[i]);
    }
    rows.push_back(std::move(values_out));
  }
  return std::nullopt;
}

void Connection::roll_back() noexcept { sql::mysql_roll_back_open_transaction(my_); }

std::optional<Failure> Connection::acquire_fenced(const sql::Statements& statements,
                                                  const Values& values,
                                                  std::optional<std::uint64_t>& token) {
  token.reset();
  if (multi_statements_) {
    const auto result = sql::run_mysql_fenced_batch(my_, statements, values.key, values.owner,
                                                    values.ms ? &*values.ms : nullptr);
    if (result.error != 0) return Failure{result.error, result.message};
    token = result.token;
    return std::nullopt;
  }
  // A connection the application lent without CLIENT_MULTI_STATEMENTS (the store does not change
  // its session's options): the same transaction, one statement at a time.
  if (auto f = execute("START TRANSACTION")) return f;
  auto steps = [&]() -> std::optional<Failure> {
    Outcome inserted;
    if (auto f = run(kInsert, statements.insert, values, inserted)) {
      if (f->code != kDuplicateKey) return f;
      // The key has a row: take it over if it has expired, in a new transaction (the failed
      // insert's shared lock on the row goes first, or two clients upgrading it deadlock).
      if (auto g = execute("ROLLBACK")) return g;
      if (auto g = execute("START TRANSACTION")) return g;
      Outcome taken;
      if (auto g = run(kTakeOver, statements.take_over, values, taken)) return g;
      if (taken.affected == 0) return std::nullopt;  // held
    }
    Outcome bumped;
    if (auto f = run(kBumpToken, statements.bump_token, values, bumped)) return f;
    token = bumped.insert_id;
    return execute("COMMIT");
  };
  auto failed = steps();
  if (failed || !token) {
    token.reset();
    roll_back();
  }
  return failed;
}

std::optional<Failure> Connection::insert_permit(const sql::Statements& statements,
                                                 const Values& values, bool& admitted) {
  admitted = false;
  if (multi_statements_) {
    const auto result =
        sql::run_mysql_admission(my_, statements, values.key, values.owner,
                                 values.ms ? &*values.ms : nullptr, values.limit);
    if (result.error != 0) return Failure{result.error, result.message};
    admitted = result.admitted;
    return std::nullopt;
  }
  if (auto f = execute("START TRANSACTION")) return f;
  auto steps = [&]() -> std::optional<Failure> {
    Outcome out;
    if (auto f = run(kLockSemaphore, statements.lock_semaphore, values, out)) return f;
    if (auto f = run(kPrunePermits, statements.prune_permits, values, out)) return f;
    if (auto f = run(kInsertPermit, statements.insert_permit, values, out)) return f;
    admitted = out.affected == 1;
    return execute("COMMIT");
  };
  auto failed = steps();
  if (failed) {
    admitted = false;
    roll_back();
  }
  return failed;
}

}  // namespace verrou::detail::mysql
