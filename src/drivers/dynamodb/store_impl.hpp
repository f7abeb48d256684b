// SPDX-License-Identifier: Apache-2.0
// The DynamoDB store's state, shared by its lock operations (dynamodb_store.cpp) and its
// semaphores (dynamodb_semaphores.cpp).
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "drivers/dynamodb/client.hpp"
#include "verrou/drivers/dynamodb.hpp"

namespace verrou {
namespace detail::dynamodb {

// Everything the store's operations share. (DynamoDbStore::Impl, private to the store, is this;
// the semaphore functions take it under this name.)
struct StoreState {
  std::string table;
  std::string semaphore_table;
  bool create_table = true;
  Duration table_ready_timeout{60000};
  std::string endpoint;  // redacted, for messages
  std::string credential_source;
  std::unique_ptr<Client> client;

  // The semaphore table is made on first use, so stores that hold only locks never make it.
  std::mutex semaphore_table_mutex;
  std::atomic<bool> semaphore_table_ready{false};

  // The one place client failures become exceptions: a LockStorageError naming the
  // operation, `on_table`, the key, the endpoint and DynamoDB's answer.
  [[noreturn]] void fail(std::string_view operation, const Reply& reply,
                         const std::string* key = nullptr,
                         const std::string* on_table = nullptr) const;
  // As `fail`, for an item whose content is not what verrou-cpp or Verrou write.
  [[noreturn]] void bad_item(std::string_view operation, const std::string& key,
                             const std::string& what,
                             const std::string* on_table = nullptr) const;

  Reply call(std::string_view operation, const nlohmann::json& request) const {
    return client->call(operation, request);
  }

  // Makes sure `name` exists (creating it, hash key `key` string, on-demand billing) and is
  // ACTIVE, waiting up to `table_ready_timeout`.
  void ensure_table(const std::string& name) const;
  // ensure_table(semaphore_table) once, when `create_table` is on.
  void ensure_semaphore_table();
};

}  // namespace detail::dynamodb

struct DynamoDbStore::Impl : detail::dynamodb::StoreState {};

}  // namespace verrou
