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

std::string release_channel(std::string_view lock_key, int database) {
  std::string channel = database == 0 ? "verrou:released:"
                                      : "verrou:released@" + std::to_string(database) + ":";
  channel += lock_key;
  return channel;
}

}  // namespace verrou::detail::redis
