// SPDX-License-Identifier: Apache-2.0
#include "drivers/redis/scripts.hpp"

#include <openssl/evp.h>

#include <utility>

namespace verrou::detail::redis {

Script::Script(std::string text) : body(std::move(text)) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_Digest(body.data(), body.size(), digest, &length, EVP_sha1(), nullptr);
  static constexpr char kHex[] = "0123456789abcdef";
  for (unsigned int i = 0; i < length; ++i) {
    sha1 += kHex[digest[i] >> 4U];
    sha1 += kHex[digest[i] & 15U];
  }
}

// Publishing goes through pcall: a user without rights on the channel (Redis 7's default
// `acl-pubsub-default resetchannels`) still releases; its waiters then poll.

const Script& save_script() {
  static const Script s(
      "if redis.replicate_commands then redis.replicate_commands() end\n"
      "if redis.call('exists', KEYS[3]) == 1 then return {-1, 0} end\n"
      "local taken\n"
      "if ARGV[2] == '' then\n"
      "  taken = redis.call('set', KEYS[1], ARGV[1], 'NX')\n"
      "else\n"
      "  taken = redis.call('set', KEYS[1], ARGV[1], 'PX', ARGV[2], 'NX')\n"
      "end\n"
      "if not taken then return {0, redis.call('pttl', KEYS[1])} end\n"
      "local last = tonumber(redis.pcall('get', KEYS[2])) or 0\n"
      "local now = redis.call('time')\n"
      "local token = math.max(last + 1, tonumber(now[1]) * 1000000 + tonumber(now[2]))\n"
      "redis.call('set', KEYS[2], string.format('%.0f', token), 'PX', ARGV[3])\n"
      "return {1, token}\n");
  return s;
}

const Script& save_while_slot_moves_script() {
  static const Script s(
      "if redis.replicate_commands then redis.replicate_commands() end\n"
      "local taken\n"
      "if ARGV[2] == '' then\n"
      "  taken = redis.call('set', KEYS[1], ARGV[1], 'NX')\n"
      "else\n"
      "  taken = redis.call('set', KEYS[1], ARGV[1], 'PX', ARGV[2], 'NX')\n"
      "end\n"
      "if not taken then return {0, redis.call('pttl', KEYS[1])} end\n"
      "local now = redis.call('time')\n"
      "return {1, tonumber(now[1]) * 1000000 + tonumber(now[2])}\n");
  return s;
}

const Script& release_script() {
  static const Script s(
      "if redis.call('get', KEYS[1]) == ARGV[1] then\n"
      "  redis.call('del', KEYS[1])\n"
      "  redis.pcall('publish', ARGV[2], '')\n"
      "  return 1\n"
      "end\n"
      "return 0\n");
  return s;
}

const Script& force_release_script() {
  static const Script s(
      "if redis.call('del', KEYS[1]) == 1 then\n"
      "  redis.pcall('publish', ARGV[1], '')\n"
      "end\n"
      "return 1\n");
  return s;
}

const Script& extend_script() {
  static const Script s(
      "if redis.call('get', KEYS[1]) == ARGV[1] then\n"
      "  return redis.call('pexpire', KEYS[1], ARGV[2])\n"
      "end\n"
      "return 0\n");
  return s;
}

const Script& void_save_script() {
  static const Script s(
      "redis.call('set', KEYS[2], '1', 'PX', ARGV[3])\n"
      "if redis.call('get', KEYS[1]) == ARGV[1] then\n"
      "  redis.call('del', KEYS[1])\n"
      "  redis.pcall('publish', ARGV[2], '')\n"
      "  return 1\n"
      "end\n"
      "return 0\n");
  return s;
}

}  // namespace verrou::detail::redis
