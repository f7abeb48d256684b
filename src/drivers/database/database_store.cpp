// SPDX-License-Identifier: Apache-2.0
#include "verrou/drivers/database.hpp"

#include <cstdint>
#include <string>
#include <utility>

#include "detail/driver_registry.hpp"
#include "verrou/errors.hpp"

namespace verrou {
namespace {

// Keys and owners go into varchar columns: text in the database's character set (UTF-8), so
// bytes that are not UTF-8 would be refused by PostgreSQL and MySQL, or mangled. NUL is
// refused too (PostgreSQL text cannot hold it).
bool is_utf8_text(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c == 0) return false;
    std::size_t len = 0;
    std::uint32_t cp = 0;
    if (c < 0x80) {
      ++i;
      continue;
    }
    if ((c & 0xE0U) == 0xC0U) {
      len = 2;
      cp = c & 0x1FU;
    } else if ((c & 0xF0U) == 0xE0U) {
      len = 3;
      cp = c & 0x0FU;
    } else if ((c & 0xF8U) == 0xF0U) {
      len = 4;
      cp = c & 0x07U;
    } else {
      return false;
    }
    if (i + len > s.size()) return false;
    for (std::size_t k = 1; k < len; ++k) {
      const auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0U) != 0x80U) return false;
      cp = (cp << 6U) | (cc & 0x3FU);
    }
    // Overlong forms, surrogates and values past U+10FFFF are not UTF-8.
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
        (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF) {
      return false;
    }
    i += len;
  }
  return true;
}

void check_text(std::string_view what, std::string_view value) {
  if (what == "key") {
    validate_key(value, kMaxDatabaseKeyLength);
  } else if (value.empty() || value.size() > kMaxDatabaseKeyLength) {
    throw InvalidArgumentError("invalid lock owner: it is " + std::to_string(value.size()) +
                               " bytes long; SQL stores accept 1 to " +
                               std::to_string(kMaxDatabaseKeyLength) + " bytes");
  }
  if (!is_utf8_text(value)) {
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

DatabaseStore::DatabaseStore(DatabaseStoreOptions options)
    : adapter_(std::move(options.adapter)), table_(std::move(options.table_name)) {
  if (!adapter_) {
    throw InvalidArgumentError(
        "DatabaseStoreOptions::adapter is empty; give the store a DatabaseAdapter (for example "
        "one of the SQLite, PostgreSQL or MySQL adapters)");
  }
  validate_sql_identifier(table_);
  adapter_->set_table_name(table_);
  if (options.auto_create_table) adapter_->create_table_if_not_exists();
}

DatabaseStore::~DatabaseStore() = default;

bool DatabaseStore::save(const std::string& key, const std::string& owner,
                         std::optional<Duration> ttl) {
  check_text("key", key);
  check_text("owner", owner);
  validate_ttl(ttl);
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

bool DatabaseStore::exists(const std::string& key) {
  check_text("key", key);
  auto row = adapter_->get_lock(key);
  return row && !row->expired;
}

void DatabaseStore::extend(const std::string& key, const std::string& owner, Duration duration) {
  check_text("key", key);
  check_text("owner", owner);
  validate_ttl(duration);
  if (adapter_->extend_lock(key, owner, duration) == 0) {
    throw LockNotOwnedError("cannot extend lock \"" + key +
                            "\": it is not held by this owner (never acquired, released, or "
                            "its lease expired)");
  }
}

StoreFactory database_store(DatabaseStoreOptions options) {
  return StoreFactory{
      .driver = "database",
      .create = [options = std::move(options)]() -> std::shared_ptr<LockStore> {
        return std::make_shared<DatabaseStore>(options);
      }};
}

namespace detail {
// DatabaseStore has no URL of its own: it needs an adapter, which only code can give.
void register_database_driver(DriverRegistry& registry) { (void)registry; }
}  // namespace detail

}  // namespace verrou
