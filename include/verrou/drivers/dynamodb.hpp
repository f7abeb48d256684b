// SPDX-License-Identifier: Apache-2.0
//
// drivers/dynamodb.hpp: locks in an Amazon DynamoDB table.
//
// One item per lock, Verrou's own shape (`key` string hash key, `owner` string, `expires_at`
// number of epoch milliseconds, absent for a lock that never expires), so C++ and Node.js
// services on @verrou/core share one table, plus a `fencing_token` counter that gives every
// acquisition its fencing token. Semaphores live in a second table (default
// `<table>_semaphores`), one item per semaphore with its holders. Tables are created on
// demand, on-demand billing. Expiry is judged by the clock of the client that asks (DynamoDB
// conditions have no server clock): keep the machines' clocks synchronised, and keep TTLs well
// above the skew between them.
//
//   verrou::Verrou locks({
//       .default_store = "dynamodb",
//       .stores = {{"dynamodb", verrou::dynamodb_store({.table = "locks", .region = "eu-west-1"})}},
//   });
//   // or: verrou::open_store("dynamodb://?region=eu-west-1&table=locks")
//   // or, on a local server: "dynamodb://?region=us-east-1&endpoint=http://127.0.0.1:8000"
//
// Credentials are found as the AWS SDKs find them: `DynamoDbStoreOptions::credentials`, then a
// named profile, then AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN, then the
// shared credentials file (~/.aws/credentials or AWS_SHARED_CREDENTIALS_FILE, profile
// AWS_PROFILE or `default`). See docs/dynamodb.md.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "verrou/duration.hpp"
#include "verrou/store.hpp"

namespace verrou {

/// An AWS access key. Thread safety: a plain value.
struct AwsCredentials {
  std::string access_key_id{};    ///< e.g. "AKIA…"; required
  std::string secret_access_key{};  ///< required; never written to messages or logs
  std::string session_token{};    ///< for temporary credentials; empty when none
};

/// How to reach the DynamoDB table. Thread safety: a plain value.
struct DynamoDbStoreOptions {
  /// The table holding the locks; created when missing if `create_table` is set.
  std::string table = "verrou";
  /// The table holding the semaphores, apart from the locks so that a semaphore and a lock of
  /// the same name never meet. Empty: `table` + "_semaphores". Created on the first semaphore
  /// operation if `create_table` is set.
  std::string semaphore_table{};
  /// AWS region, e.g. "eu-west-1". Empty: AWS_REGION, then AWS_DEFAULT_REGION, then
  /// "us-east-1" when `endpoint` is given (local servers ignore it); otherwise an error.
  std::string region{};
  /// Endpoint override, "http://host:port" or "https://host[:port]", for DynamoDB Local,
  /// dynalite or a VPC endpoint. Empty: https://dynamodb.<region>.amazonaws.com.
  std::string endpoint{};
  /// Explicit credentials; when unset they are looked up as described atop this header.
  std::optional<AwsCredentials> credentials{};
  /// A profile of the shared credentials file to use. Empty: AWS_PROFILE, else "default"
  /// (consulted only when neither `credentials` nor the environment variables are set).
  std::string profile{};
  /// Create the table (key `key` string hash key, pay-per-request) when it does not exist,
  /// and wait until it is ACTIVE. Off: the table must exist, and the store makes no
  /// DescribeTable/CreateTable calls (so it needs only item permissions).
  bool create_table = true;
  /// Time allowed to open a connection. Default 3 s.
  Duration connect_timeout{3000};
  /// Time allowed for one HTTP request. Default 5 s.
  Duration request_timeout{5000};
  /// Throttled, failed (5xx) and lost requests are retried, with exponential backoff and
  /// jitter, until this long after the first attempt. Zero: no retries. Default 5 s.
  Duration retry_deadline{5000};
  /// How long the constructor waits for a new table to become ACTIVE. Default 60 s.
  Duration table_ready_timeout{60000};
  /// Idle HTTP connections kept for reuse (one per thread that used the store at once).
  std::size_t max_idle_connections = 16;

  /// Options from a URL: `dynamodb://?region=R&endpoint=E&table=T&profile=P&create_table=0`
  /// (also `semaphore_table=`)
  /// (also `connect_timeout`, `request_timeout`, `retry_deadline` as durations, e.g. "2s").
  /// Throws `InvalidArgumentError` for another scheme, a host or path in the URL, or an
  /// unknown or malformed parameter.
  static DynamoDbStoreOptions from_url(std::string_view url);
};

/// The DynamoDB store. The constructor resolves credentials and, with `create_table`, makes
/// sure the table exists and is ACTIVE (several processes may race to create it: that is fine).
///
/// Each lock operation is one conditional request: an UpdateItem takes a free or expired
/// lock and counts the acquisition in the item's `fencing_token` (`FencingLockStore`: the
/// token comes from the same write); UpdateItems conditioned on the owner and an unexpired
/// lease release (leaving the item, free, so the counter survives) and extend; a strongly
/// consistent GetItem answers `exists`. Semaphores (`SemaphoreStore`) keep one item per key
/// with its holders, changed by conditional writes on a version number. Keys must be valid
/// UTF-8 (DynamoDB strings are), at most `kMaxKeyLength` bytes. See docs/dynamodb.md.
///
/// Errors: `LockStorageError` naming the DynamoDB error type, its message, the table and the
/// endpoint (after retries where retrying can help); `InvalidArgumentError` for bad options,
/// missing credentials or a key that is not UTF-8.
///
/// Thread safety: all members may be called concurrently; requests run on a pool of
/// keep-alive HTTP connections, one per concurrent caller.
class DynamoDbStore final : public LockStore,
                            public FencingLockStore,
                            public SemaphoreStore,
                            public ListableLockStore {
 public:
  /// Throws `InvalidArgumentError` for bad options or missing credentials, and
  /// `LockStorageError` when DynamoDB cannot be reached or the table not created.
  explicit DynamoDbStore(DynamoDbStoreOptions options);
  ~DynamoDbStore() override;
  DynamoDbStore(const DynamoDbStore&) = delete;
  DynamoDbStore& operator=(const DynamoDbStore&) = delete;

  bool save(const std::string& key, const std::string& owner,
            std::optional<Duration> ttl) override;
  void remove(const std::string& key, const std::string& owner) override;
  void force_remove(const std::string& key) override;
  bool exists(const std::string& key) override;
  /// A `Scan` of the lock table (consistent, paginated) for live items whose key begins with
  /// `prefix`, with their owner, time left (by this machine's clock) and fencing counter. See
  /// `ListableLockStore::list_locks`.
  std::vector<HeldLock> list_locks(std::string_view prefix, std::size_t limit) override;
  void extend(const std::string& key, const std::string& owner, Duration duration) override;

  /// As `save`; the token is the key's counter after this acquisition. Throws
  /// `LockStorageError` when the item's `fencing_token` is not a counter (giving the lock
  /// back first if it was taken).
  std::optional<std::uint64_t> save_fenced(const std::string& key, const std::string& owner,
                                           std::optional<Duration> ttl) override;

  bool save_permit(const std::string& key, const std::string& holder, std::uint32_t limit,
                   std::optional<Duration> ttl) override;
  void remove_permit(const std::string& key, const std::string& holder) override;
  void extend_permit(const std::string& key, const std::string& holder,
                     Duration duration) override;
  std::uint32_t count_permits(const std::string& key) override;

  /// The lock table's name.
  [[nodiscard]] const std::string& table() const;
  /// The endpoint requests go to, e.g. "https://dynamodb.eu-west-1.amazonaws.com".
  [[nodiscard]] const std::string& endpoint() const;
  /// The semaphore table's name.
  [[nodiscard]] const std::string& semaphore_table() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// A `StoreFactory` making a `DynamoDbStore` with `options` (checked when the store is made).
StoreFactory dynamodb_store(DynamoDbStoreOptions options = {});

}  // namespace verrou
