// SPDX-License-Identifier: Apache-2.0
#include "verrou/drivers/database.hpp"

#include <cstdint>
#include <string>
#include <utility>

#include "detail/driver_registry.hpp"
#include "detail/store_factory.hpp"
#include "detail/text.hpp"
#include "verrou/errors.hpp"
#include "verrou/semaphore.hpp"

namespace verrou {
namespace {

// Keys and owners go into varchar columns: text in the database's character set (UTF-8), so
// bytes that are not UTF-8 would be refused by PostgreSQL and MySQL, or mangled. NUL is
// refused too (PostgreSQL text cannot hold it).
void check_text(std::string_view what, std::string_view value) {
  if (what == "key") {
    validate_key(value, kMaxDatabaseKeyLength);
  } else if (value.empty() || value.size() > kMaxDatabaseKeyLength) {
    throw InvalidArgumentError("invalid lock owner: it is " + std::to_string(value.size()) +
                               " bytes long; SQL stores accept 1 to " +
                               std::to_string(kMaxDatabaseKeyLength) + " bytes");
  }
  if (!detail::is_utf8_text(value)) {
    throw InvalidArgumentError("invalid lock " + std::string(what) +
                               ": SQL stores keep keys and owners as text, so they must be "
                               "valid UTF-8 without NUL bytes");
  }
}

}  // namespace

void validate_sql_identifier(std::string_view name) {
  auto bad = [&](const std::string& why) {
    throw InvalidArgumentError("invalid table name \"" + std::string(name.substr(0, 80)) +
                               "\": " + why +
                               "; use 1 to 63 ASCII letters, digits and '_', not starting "
                               "with a digit (default: verrou)");
  };
  if (name.empty()) bad("it is empty");
  if (name.size() > 63) bad("it is longer than 63 characters");
  if (name[0] >= '0' && name[0] <= '9') bad("it starts with a digit");
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_';
    if (!ok) bad("it contains a character other than letters, digits and '_'");
  }
}

std::string quote_sql_identifier(std::string_view name, char quote) {
  std::string out;
  out.reserve(name.size() + 2);
  out += quote;
  for (char c : name) {
    if (c == quote) out += quote;
    out += c;
  }
  out += quote;
  return out;
}

std::optional<std::uint64_t> DatabaseAdapter::acquire_fenced_lock(const std::string& key,
                                                                  const std::string& owner,
                                                                  std::optional<Duration> ttl) {
  (void)key;
  (void)owner;
  (void)ttl;
  throw InvalidArgumentError(
      "this DatabaseAdapter gives no fencing tokens (it does not implement "
      "acquire_fenced_lock); check DatabaseStore::gives_fencing_tokens() before asking");
}

namespace {
[[noreturn]] void no_semaphores() {
  throw InvalidArgumentError(
      "this DatabaseAdapter has no semaphores (it does not implement insert_permit and the "
      "other permit members); verrou-cpp's SQLite, PostgreSQL, MySQL and SOCI adapters have "
      "them");
}

[[noreturn]] void no_permit(const std::string& key, std::string_view action) {
  throw LockNotOwnedError("cannot " + std::string(action) + " the permit of semaphore " +
                          detail::quote(key) +
                          ": this holder has none (never acquired, already released, or "
                          "expired)");
}
}  // namespace

bool DatabaseAdapter::insert_permit(const std::string&, const std::string&, std::uint32_t,
                                    std::optional<Duration>) {
  no_semaphores();
}
std::uint64_t DatabaseAdapter::delete_permit(const std::string&, const std::string&) {
  no_semaphores();
}
std::uint64_t DatabaseAdapter::extend_permit(const std::string&, const std::string&, Duration) {
  no_semaphores();
}
bool DatabaseAdapter::holds_permit(const std::string&, const std::string&) { no_semaphores(); }
std::uint32_t DatabaseAdapter::count_permits(const std::string&) { no_semaphores(); }
std::vector<HeldLock> DatabaseAdapter::list_locks(std::string_view, std::size_t) {
  throw InvalidArgumentError(
      "this database adapter cannot list the locks held (DatabaseAdapter::lists_locks is "
      "false); verrou-cpp's SQLite, PostgreSQL and MySQL/MariaDB adapters can, SOCI's cannot");
}

DatabaseStore::DatabaseStore(DatabaseStoreOptions options)
    : adapter_(std::move(options.adapter)), table_(std::move(options.table_name)) {
  if (!adapter_) {
    throw InvalidArgumentError(
        "DatabaseStoreOptions::adapter is empty; give the store a DatabaseAdapter (for example "
        "one of the SQLite, PostgreSQL or MySQL adapters)");
  }
  validate_sql_identifier(table_);
  fencing_ = options.fencing_tokens && adapter_->gives_fencing_tokens();
  adapter_->set_table_name(table_);
  if (options.auto_create_table) adapter_->create_table_if_not_exists();
}

DatabaseStore::~DatabaseStore() = default;

bool DatabaseStore::save(const std::string& key, const std::string& owner,
                         std::optional<Duration> ttl) {
  check_text("key", key);
  check_text("owner", owner);
  validate_ttl(ttl);
  if (fencing_) return adapter_->acquire_fenced_lock(key, owner, ttl).has_value();
  // The primary key refuses a second row, so only one inserter wins; a row left by an expired
  // lease is taken over by a conditional update, which the database also runs atomically.
  // Between the two, the row may vanish (released): try again a few times rather than report
  // "taken" for a lock that is free.
  for (int round = 0; round < 3; ++round) {
    if (adapter_->insert_lock(key, owner, ttl)) return true;
    if (adapter_->acquire_expired_lock(key, owner, ttl) > 0) return true;
    auto row = adapter_->get_lock(key);
    if (row && !row->expired) return false;
  }
  return false;
}

std::optional<std::uint64_t> DatabaseStore::save_fenced(const std::string& key,
                                                        const std::string& owner,
                                                        std::optional<Duration> ttl) {
  check_text("key", key);
  check_text("owner", owner);
  validate_ttl(ttl);
  if (!fencing_) {
    throw InvalidArgumentError(
        "this DatabaseStore gives no fencing tokens: its adapter does not implement "
        "DatabaseAdapter::acquire_fenced_lock (see gives_fencing_tokens())");
  }
  // One statement or transaction takes the lock (insert, or take an expired row over) and
  // raises the key's counter: no window where a row vanishes between two statements.
  return adapter_->acquire_fenced_lock(key, owner, ttl);
}

void DatabaseStore::remove(const std::string& key, const std::string& owner) {
  check_text("key", key);
  check_text("owner", owner);
  if (adapter_->delete_lock(key, owner) == 0) {
    throw LockNotOwnedError("cannot release lock \"" + key +
                            "\": it is not held by this owner (never acquired, already "
                            "released, or its lease expired)");
  }
}

void DatabaseStore::force_remove(const std::string& key) {
  check_text("key", key);
  adapter_->delete_lock(key, std::nullopt);
}

// "No row changed" does not always mean "not held": MySQL counts changed rows (unless the
// connection asked for found rows), so an extend that writes the expiration already there,
// within the same millisecond, changes nothing. The row, read back, says which it was.
bool DatabaseStore::still_held_by(const std::string& key, const std::string& owner) {
  auto row = adapter_->get_lock(key);
  return row && row->owner == owner && !row->expired;
}

bool DatabaseStore::exists(const std::string& key) {
  check_text("key", key);
  auto row = adapter_->get_lock(key);
  return row && !row->expired;
}

void DatabaseStore::extend(const std::string& key, const std::string& owner, Duration duration) {
  check_text("key", key);
  check_text("owner", owner);
  validate_ttl(duration);
  if (adapter_->extend_lock(key, owner, duration) == 0 && !still_held_by(key, owner)) {
    throw LockNotOwnedError("cannot extend lock \"" + key +
                            "\": it is not held by this owner (never acquired, released, or "
                            "its lease expired)");
  }
}

bool DatabaseStore::save_permit(const std::string& key, const std::string& holder,
                                std::uint32_t limit, std::optional<Duration> ttl) {
  check_text("key", key);
  check_text("owner", holder);
  validate_semaphore_limit(limit);
  validate_ttl(ttl);
  return adapter_->insert_permit(key, holder, limit, ttl);
}

void DatabaseStore::remove_permit(const std::string& key, const std::string& holder) {
  check_text("key", key);
  check_text("owner", holder);
  if (adapter_->delete_permit(key, holder) == 0) no_permit(key, "release");
}

void DatabaseStore::extend_permit(const std::string& key, const std::string& holder,
                                  Duration duration) {
  check_text("key", key);
  check_text("owner", holder);
  validate_ttl(duration);
  // As for locks, "no row changed" may be an extension writing what was there (MySQL).
  if (adapter_->extend_permit(key, holder, duration) == 0 && !adapter_->holds_permit(key, holder)) {
    no_permit(key, "extend");
  }
}

std::uint32_t DatabaseStore::count_permits(const std::string& key) {
  check_text("key", key);
  return adapter_->count_permits(key);
}

std::vector<HeldLock> DatabaseStore::list_locks(std::string_view prefix, std::size_t limit) {
  if (prefix.size() > kMaxDatabaseKeyLength) return {};  // no key can start with it
  return adapter_->list_locks(prefix, limit);
}

StoreFactory database_store(DatabaseStoreOptions options) {
  return detail::store_factory<DatabaseStore>("database", std::move(options));
}

namespace detail {
// DatabaseStore has no URL of its own: it needs an adapter, which only code can give.
void register_database_driver(DriverRegistry& registry) { (void)registry; }
}  // namespace detail

}  // namespace verrou
