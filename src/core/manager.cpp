// SPDX-License-Identifier: Apache-2.0
#include "verrou/manager.hpp"

#include "verrou/errors.hpp"

namespace verrou {
namespace {

std::string store_names(const std::map<std::string, StoreFactory>& stores) {
  std::string names;
  for (const auto& [name, factory] : stores) {
    if (!names.empty()) names += ", ";
    names += "\"" + name + "\"";
  }
  return names;
}

}  // namespace

Verrou::Verrou(VerrouConfig config) : config_(std::move(config)) {
  if (config_.stores.empty()) {
    throw InvalidArgumentError("Verrou needs at least one store in VerrouConfig::stores");
  }
  if (config_.default_store.empty()) {
    if (config_.stores.size() != 1) {
      throw InvalidArgumentError("VerrouConfig::default_store is empty; name one of " +
                                 store_names(config_.stores));
    }
    config_.default_store = config_.stores.begin()->first;
  }
  if (!config_.stores.contains(config_.default_store)) {
    throw InvalidArgumentError("VerrouConfig::default_store \"" + config_.default_store +
                               "\" is not one of the configured stores: " +
                               store_names(config_.stores));
  }
  validate_retry(config_.retry);
}

LockFactory& Verrou::use(std::string_view store) {
  const std::lock_guard lock(mutex_);
  if (auto it = factories_.find(store); it != factories_.end()) return *it->second;
  auto configured = config_.stores.find(std::string(store));
  if (configured == config_.stores.end()) {
    throw InvalidArgumentError("unknown store \"" + std::string(store) +
                               "\"; the configured stores are " + store_names(config_.stores));
  }
  auto factory = std::make_unique<LockFactory>(
      configured->second(), LockFactoryOptions{.retry = config_.retry,
                                               .logger = config_.logger,
                                               .observer = config_.observer,
                                               .store_name = configured->first});
  auto& ref = *factory;
  factories_.emplace(std::string(store), std::move(factory));
  return ref;
}

Lock Verrou::create_lock(std::string key, std::optional<Duration> ttl) {
  return use(config_.default_store).create_lock(std::move(key), ttl);
}

Lock Verrou::create_lock(std::string key, std::string_view ttl) {
  return use(config_.default_store).create_lock(std::move(key), ttl);
}

Semaphore Verrou::create_semaphore(std::string key, std::uint32_t limit,
                                   std::optional<Duration> ttl) {
  return use(config_.default_store).create_semaphore(std::move(key), limit, ttl);
}

Lock Verrou::restore_lock(const SerializedLock& lock) {
  return use(config_.default_store).restore_lock(lock);
}

}  // namespace verrou
