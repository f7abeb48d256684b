// SPDX-License-Identifier: Apache-2.0
#include "drivers/redis/data_layout.hpp"

#include "drivers/redis/hash_slot.hpp"

namespace verrou::detail::redis {

namespace {
std::string beside(std::string_view kind, std::string_view lock_key, std::string_view name) {
  const std::string& tag = slot_tag(key_slot(lock_key));
  std::string key;
  key.reserve(kind.size() + tag.size() + name.size() + 4);
  key += kind;
  key += '{';
  key += tag;
  key += "}:";
  key += name;
  return key;
}
}  // namespace

std::string fence_key(std::string_view lock_key) { return beside("verrou:fence:", lock_key, lock_key); }

std::string void_key(std::string_view lock_key, std::string_view attempt) {
  return beside("verrou:void:", lock_key, attempt);
}

namespace {
std::string channel(std::string_view kind, std::string_view key, int database) {
  std::string name = "verrou:";
  name += kind;
  name += database == 0 ? ":" : "@" + std::to_string(database) + ":";
  name += key;
  return name;
}
}  // namespace

std::string release_channel(std::string_view lock_key, int database) {
  return channel("released", lock_key, database);
}

bool is_store_key(std::string_view key) {
  for (std::string_view kind :
       {"verrou:fence:{", "verrou:void:{", "verrou:semaphore:{", "verrou:semaphore-limits:{"}) {
    if (!key.starts_with(kind)) continue;
    // {<decimal tag>}: follows.
    std::size_t i = kind.size();
    const std::size_t digits = i;
    while (i < key.size() && key[i] >= '0' && key[i] <= '9') ++i;
    if (i > digits && key.substr(i, 2) == "}:") return true;
  }
  return false;
}

std::string semaphore_holders_key(std::string_view semaphore_key) {
  return beside("verrou:semaphore:", semaphore_key, semaphore_key);
}

std::string semaphore_limits_key(std::string_view semaphore_key) {
  return beside("verrou:semaphore-limits:", semaphore_key, semaphore_key);
}

std::string permit_channel(std::string_view semaphore_key, int database) {
  return channel("permits", semaphore_key, database);
}

}  // namespace verrou::detail::redis
