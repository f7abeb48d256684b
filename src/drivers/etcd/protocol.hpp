// SPDX-License-Identifier: Apache-2.0
// The shapes of etcd's v3 JSON gateway: requests built and replies read, strictly. Keys and
// values travel as base64, int64 fields as JSON strings, and fields at their default value
// (false, 0, empty) are left out of replies. A reply of any other shape is a ProtocolError,
// never a crash or a guess.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace verrou::detail::etcd {

using json = nlohmann::json;

// A reply that does not have the shape etcd gives.
class ProtocolError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

std::string base64_encode(std::string_view bytes);
// Throws ProtocolError for text that is not canonical base64.
std::string base64_decode(std::string_view text);

// The smallest key greater than every key starting with `prefix` (etcd's range_end for a
// prefix): the prefix with its last byte below 0xff incremented and the rest dropped; "\0"
// (every key) when there is none.
std::string prefix_end(std::string_view prefix);

// An int64 field of `object`: absent (the default, 0), a JSON string of digits, or a number.
// Throws ProtocolError for anything else.
std::int64_t int64_field(const json& object, const char* name);

struct KeyValue {
  std::string key;
  std::string value;
  std::int64_t create_revision = 0;
  std::int64_t mod_revision = 0;
  std::int64_t version = 0;
  std::int64_t lease = 0;
};

// ---- requests
json compare_create_revision(std::string_view key, std::int64_t revision);  // == revision
json compare_mod_revision(std::string_view key, std::int64_t revision);     // == revision
// Every key starting with `prefix` was last modified before `revision` (true when none exists).
json compare_prefix_mod_below(std::string_view prefix, std::int64_t revision);
json op_put(std::string_view key, std::string_view value, std::int64_t lease);
json op_delete(std::string_view key);
json op_range(std::string_view key);
json op_range_prefix(std::string_view prefix);
json txn(json compare, json success, json failure);

// ---- replies
// The header's revision (the store's revision when the request was served). Throws
// ProtocolError when the reply has none: etcd puts one in every answer, so a reply without
// it did not come from etcd.
std::int64_t header_revision(const json& reply);
// The key-values of a RangeResponse (/v3/kv/range, or response_range inside a txn).
std::vector<KeyValue> range_kvs(const json& range_response);

struct TxnReply {
  bool succeeded = false;
  std::int64_t revision = 0;    // header revision: the txn's own revision when it wrote
  std::vector<json> responses;  // each {"response_put"|"response_range"|...: {...}}
};
TxnReply parse_txn(const json& reply);
// The key-values of the txn's response number `index`, which must be a range.
std::vector<KeyValue> txn_range(const TxnReply& reply, std::size_t index);
// The `deleted` count of the txn's response number `index`, which must be a delete.
std::int64_t txn_deleted(const TxnReply& reply, std::size_t index);

struct LeaseGrant {
  std::int64_t id = 0;
  std::int64_t ttl_seconds = 0;
};
LeaseGrant parse_lease_grant(const json& reply);

// One line of the watch stream.
struct WatchMessage {
  bool created = false;
  bool canceled = false;
  std::string error;                 // a stream error, or why the watch was canceled
  std::int64_t revision = 0;         // header revision
  std::vector<std::string> deleted;  // keys of DELETE events
};
WatchMessage parse_watch_line(std::string_view line);

}  // namespace verrou::detail::etcd
