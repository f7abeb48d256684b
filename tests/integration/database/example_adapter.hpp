// SPDX-License-Identifier: Apache-2.0
//
// The "write your own adapter" example of docs/database.md, compiled and run through the
// store conformance suite by database_test.cpp so the documentation cannot rot.
//
// It keeps the table in a std::map, standing in for a database library you would call
// instead; each member notes the SQL a real adapter runs. What matters is the contract:
// "now" comes from the database's clock (here `clock_`), every member is one atomic step
// (here under one mutex; in SQL, one statement), and only live rows count as held.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>

#include <verrou/drivers/database.hpp>

class MapAdapter : public verrou::DatabaseAdapter {
 public:
  /// `clock`: epoch milliseconds by the "database's" clock.
  explicit MapAdapter(std::function<std::int64_t()> clock = [] {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  })
      : clock_(std::move(clock)) {}

  // A real adapter keeps verrou::quote_sql_identifier(table) for its statements.
  void set_table_name(const std::string& table) override { table_ = table; }

  // CREATE TABLE IF NOT EXISTS "verrou" ("key" varchar(255) NOT NULL PRIMARY KEY,
  //   "owner" varchar(255) NOT NULL, "expiration" bigint NULL)
  void create_table_if_not_exists() override {}

  // INSERT INTO t (key, owner, expiration) VALUES (?, ?, ? + NOW) ON CONFLICT (key) DO NOTHING
  bool insert_lock(const std::string& key, const std::string& owner,
                   std::optional<verrou::Duration> ttl) override {
    std::lock_guard lock(mutex_);
    return rows_.try_emplace(key, Row{owner, expiry(ttl)}).second;
  }

  // UPDATE t SET owner = ?, expiration = ? + NOW
  //   WHERE key = ? AND expiration IS NOT NULL AND expiration <= NOW
  std::uint64_t acquire_expired_lock(const std::string& key, const std::string& owner,
                                     std::optional<verrou::Duration> ttl) override {
    std::lock_guard lock(mutex_);
    auto it = rows_.find(key);
    if (it == rows_.end() || live(it->second)) return 0;
    it->second = Row{owner, expiry(ttl)};
    return 1;
  }

  // DELETE FROM t WHERE key = ? [AND owner = ? AND (expiration IS NULL OR expiration > NOW)]
  std::uint64_t delete_lock(const std::string& key,
                            const std::optional<std::string>& owner) override {
    std::lock_guard lock(mutex_);
    auto it = rows_.find(key);
    if (it == rows_.end()) return 0;
    if (owner && (it->second.owner != *owner || !live(it->second))) return 0;
    rows_.erase(it);
    return 1;
  }

  // UPDATE t SET expiration = ? + NOW
  //   WHERE key = ? AND owner = ? AND (expiration IS NULL OR expiration > NOW)
  std::uint64_t extend_lock(const std::string& key, const std::string& owner,
                            verrou::Duration duration) override {
    std::lock_guard lock(mutex_);
    auto it = rows_.find(key);
    if (it == rows_.end() || it->second.owner != owner || !live(it->second)) return 0;
    it->second.expiration = clock_() + duration.count();
    return 1;
  }

  // SELECT owner, expiration, expiration IS NOT NULL AND expiration <= NOW FROM t WHERE key = ?
  std::optional<verrou::DatabaseLockRow> get_lock(const std::string& key) override {
    std::lock_guard lock(mutex_);
    auto it = rows_.find(key);
    if (it == rows_.end()) return std::nullopt;
    return verrou::DatabaseLockRow{.owner = it->second.owner,
                                   .expiration = it->second.expiration,
                                   .expired = !live(it->second)};
  }

  // Optional: fencing tokens. The counters live in a table of their own, so a release (which
  // deletes the lock's row) does not forget them:
  //   CREATE TABLE IF NOT EXISTS "verrou_fencing" ("key" varchar(255) NOT NULL PRIMARY KEY,
  //     "token" bigint NOT NULL)
  [[nodiscard]] bool gives_fencing_tokens() const noexcept override { return true; }

  // In one transaction (or one statement, as PostgreSQL's data-modifying CTEs allow):
  //   INSERT INTO t (key, owner, expiration) VALUES (?, ?, ? + NOW)
  //     ON CONFLICT (key) DO UPDATE SET owner = excluded.owner, expiration = excluded.expiration
  //     WHERE t.expiration IS NOT NULL AND t.expiration <= NOW          -- 1 row: taken
  //   INSERT INTO t_fencing (key, token) VALUES (?, 1)
  //     ON CONFLICT (key) DO UPDATE SET token = t_fencing.token + 1     -- only when taken
  //   SELECT token FROM t_fencing WHERE key = ?
  std::optional<std::uint64_t> acquire_fenced_lock(const std::string& key,
                                                   const std::string& owner,
                                                   std::optional<verrou::Duration> ttl) override {
    std::lock_guard lock(mutex_);
    auto it = rows_.find(key);
    if (it != rows_.end() && live(it->second)) return std::nullopt;
    rows_.insert_or_assign(key, Row{owner, expiry(ttl)});
    return ++tokens_[key];
  }

  // Optional: semaphores. The holders live in a table of their own, apart from the locks:
  //   CREATE TABLE IF NOT EXISTS "verrou_semaphores" ("key" varchar(255) NOT NULL,
  //     "holder" varchar(255) NOT NULL, "limit" bigint NOT NULL, "expiration" bigint NULL,
  //     PRIMARY KEY ("key", "holder"))
  [[nodiscard]] bool gives_semaphores() const noexcept override { return true; }

  // One transaction, in which no other admission of the key may interleave (lock a header row
  // of the key first): delete its expired holders, then insert the holder when it has no
  // permit and fewer live holders than its limit and than the smallest of theirs are there.
  bool insert_permit(const std::string& key, const std::string& holder, std::uint32_t limit,
                     std::optional<verrou::Duration> ttl) override {
    std::lock_guard lock(mutex_);
    auto& holders = permits_[key];
    std::erase_if(holders, [&](const auto& h) { return !live(h.second.row); });
    std::uint32_t smallest = limit;
    for (const auto& [name, permit] : holders) smallest = std::min(smallest, permit.limit);
    if (holders.contains(holder) || holders.size() >= smallest) return false;
    holders.emplace(holder, Permit{Row{holder, expiry(ttl)}, limit});
    return true;
  }

  // DELETE FROM s WHERE key = ? AND holder = ? AND (expiration IS NULL OR expiration > NOW)
  std::uint64_t delete_permit(const std::string& key, const std::string& holder) override {
    std::lock_guard lock(mutex_);
    auto& holders = permits_[key];
    auto it = holders.find(holder);
    if (it == holders.end() || !live(it->second.row)) return 0;
    holders.erase(it);
    return 1;
  }

  // UPDATE s SET expiration = ? + NOW WHERE key = ? AND holder = ? AND (live)
  std::uint64_t extend_permit(const std::string& key, const std::string& holder,
                              verrou::Duration duration) override {
    std::lock_guard lock(mutex_);
    auto& holders = permits_[key];
    auto it = holders.find(holder);
    if (it == holders.end() || !live(it->second.row)) return 0;
    it->second.row.expiration = clock_() + duration.count();
    return 1;
  }

  // SELECT COUNT(*) FROM s WHERE key = ? AND holder = ? AND (live)
  bool holds_permit(const std::string& key, const std::string& holder) override {
    std::lock_guard lock(mutex_);
    auto& holders = permits_[key];
    auto it = holders.find(holder);
    return it != holders.end() && live(it->second.row);
  }

  // SELECT COUNT(*) FROM s WHERE key = ? AND (live)
  std::uint32_t count_permits(const std::string& key) override {
    std::lock_guard lock(mutex_);
    std::uint32_t n = 0;
    for (const auto& [name, permit] : permits_[key]) n += live(permit.row) ? 1U : 0U;
    return n;
  }

  [[nodiscard]] const std::string& table() const { return table_; }

 private:
  struct Row {
    std::string owner;
    std::optional<std::int64_t> expiration;  // NULL: never expires
  };
  std::optional<std::int64_t> expiry(std::optional<verrou::Duration> ttl) const {
    if (!ttl) return std::nullopt;
    return clock_() + ttl->count();
  }
  bool live(const Row& row) const { return !row.expiration || *row.expiration > clock_(); }

  std::function<std::int64_t()> clock_;
  std::mutex mutex_;
  std::string table_;
  std::map<std::string, Row> rows_;
  std::map<std::string, std::uint64_t> tokens_;  // the fencing counters
  struct Permit {
    Row row;  // owner: the holder
    std::uint32_t limit = 0;
  };
  std::map<std::string, std::map<std::string, Permit>> permits_;  // key → holder → permit
};
