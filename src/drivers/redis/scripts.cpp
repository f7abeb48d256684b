// SPDX-License-Identifier: Apache-2.0
#include "drivers/redis/scripts.hpp"

#include <openssl/evp.h>

#include <utility>

#include "detail/text.hpp"

namespace verrou::detail::redis {

Script::Script(std::string text) : body(std::move(text)) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_Digest(body.data(), body.size(), digest, &length, EVP_sha1(), nullptr);
  sha1 = to_hex(digest, length);
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

namespace {

// The server's clock in ms; the holders whose lease has ended dropped (KEYS[1], KEYS[2]).
constexpr const char* kPermitPrelude =
    "if redis.replicate_commands then redis.replicate_commands() end\n"
    "local t = redis.call('time')\n"
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
    "local ended = redis.call('zrangebyscore', KEYS[1], '-inf', now)\n"
    "if #ended > 0 then\n"
    "  redis.call('zremrangebyscore', KEYS[1], '-inf', now)\n"
    "  for _, h in ipairs(ended) do redis.call('hdel', KEYS[2], h) end\n"
    "end\n"
    // The keys go when the last lease ends (none: they stay).
    "local function expire_with_last_lease()\n"
    "  local last = redis.call('zrange', KEYS[1], -1, -1, 'withscores')\n"
    "  if last[2] == nil then return end\n"
    "  if last[2] == 'inf' then\n"
    "    redis.call('persist', KEYS[1])\n"
    "    redis.call('persist', KEYS[2])\n"
    "  else\n"
    "    redis.call('pexpireat', KEYS[1], last[2])\n"
    "    redis.call('pexpireat', KEYS[2], last[2])\n"
    "  end\n"
    "end\n";

Script permit_script(const char* body) { return Script(std::string(kPermitPrelude) + body); }

}  // namespace

const Script& save_permit_script() {
  static const Script s = permit_script(
      "if redis.call('exists', KEYS[3]) == 1 then return {-1, 0} end\n"
      "if redis.call('zscore', KEYS[1], ARGV[1]) then return {0, -3} end\n"
      "local smallest = tonumber(ARGV[2])\n"
      "for _, l in ipairs(redis.call('hvals', KEYS[2])) do\n"
      "  smallest = math.min(smallest, tonumber(l) or smallest)\n"
      "end\n"
      "if redis.call('zcard', KEYS[1]) >= smallest then\n"
      "  local first = redis.call('zrange', KEYS[1], 0, 0, 'withscores')\n"
      "  if first[2] == nil or first[2] == 'inf' then return {0, -1} end\n"
      "  return {0, tonumber(first[2]) - now}\n"
      "end\n"
      "local ends = '+inf'\n"
      "if ARGV[3] ~= '' then ends = string.format('%.0f', now + tonumber(ARGV[3])) end\n"
      "redis.call('zadd', KEYS[1], ends, ARGV[1])\n"
      "redis.call('hset', KEYS[2], ARGV[1], ARGV[2])\n"
      "expire_with_last_lease()\n"
      "return {1, 0}\n");
  return s;
}

const Script& remove_permit_script() {
  static const Script s = permit_script(
      "if redis.call('zrem', KEYS[1], ARGV[1]) == 0 then return 0 end\n"
      "redis.call('hdel', KEYS[2], ARGV[1])\n"
      "expire_with_last_lease()\n"
      "redis.pcall('publish', ARGV[2], '')\n"
      "return 1\n");
  return s;
}

const Script& extend_permit_script() {
  static const Script s = permit_script(
      "if not redis.call('zscore', KEYS[1], ARGV[1]) then return 0 end\n"
      "redis.call('zadd', KEYS[1], 'xx', string.format('%.0f', now + tonumber(ARGV[2])), ARGV[1])\n"
      "expire_with_last_lease()\n"
      "return 1\n");
  return s;
}

const Script& count_permits_script() {
  static const Script s(
      "local t = redis.call('time')\n"
      "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
      "return redis.call('zcount', KEYS[1], '(' .. string.format('%.0f', now), '+inf')\n");
  return s;
}

const Script& void_permit_script() {
  static const Script s = permit_script(
      "redis.call('set', KEYS[3], '1', 'PX', ARGV[3])\n"
      "if redis.call('zrem', KEYS[1], ARGV[1]) == 0 then return 0 end\n"
      "redis.call('hdel', KEYS[2], ARGV[1])\n"
      "expire_with_last_lease()\n"
      "redis.pcall('publish', ARGV[2], '')\n"
      "return 1\n");
  return s;
}

}  // namespace verrou::detail::redis
