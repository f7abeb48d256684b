// SPDX-License-Identifier: Apache-2.0
// Fuzz target: everything the etcd store reads from a member — gateway replies (range,
// transaction, lease grant), watch stream lines, base64 fields and lock values — against a
// hostile or broken member. The first byte chooses the reader; the rest is the reply. Each
// reader must return or throw ProtocolError: no crash, no other exception. (Replies that are
// not JSON, and members answering them over HTTP, are covered by verrou_etcd_store_test.)
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "drivers/etcd/lock_value.hpp"
#include "drivers/etcd/protocol.hpp"

namespace etcd = verrou::detail::etcd;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
  try {
    switch (data[0] % 6) {
      case 0: {
        const auto reply = etcd::json::parse(input, nullptr, false);
        if (reply.is_discarded()) return 0;
        (void)etcd::header_revision(reply);
        for (const auto& kv : etcd::range_kvs(reply)) (void)etcd::decode_lock(kv.value);
        break;
      }
      case 1: {
        const auto reply = etcd::json::parse(input, nullptr, false);
        if (reply.is_discarded()) return 0;
        const auto txn = etcd::parse_txn(reply);
        for (std::size_t i = 0; i < txn.responses.size() && i < 4; ++i) {
          try {
            (void)etcd::txn_range(txn, i);
          } catch (const etcd::ProtocolError&) {
          }
          (void)etcd::txn_deleted(txn, i);
        }
        break;
      }
      case 2: {
        const auto reply = etcd::json::parse(input, nullptr, false);
        if (reply.is_discarded()) return 0;
        (void)etcd::parse_lease_grant(reply);
        break;
      }
      case 3:
        (void)etcd::parse_watch_line(input);
        break;
      case 4: {
        const std::string decoded = etcd::base64_decode(input);
        if (etcd::base64_encode(decoded) != input) __builtin_trap();  // canonical round trip
        break;
      }
      default: {
        const auto record = etcd::decode_lock(input);
        if (record && etcd::decode_lock(etcd::encode_lock(*record)) == std::nullopt) {
          __builtin_trap();  // what decodes must encode back to something that decodes
        }
        break;
      }
    }
  } catch (const etcd::ProtocolError&) {
  }
  return 0;
}
