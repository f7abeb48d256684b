// SPDX-License-Identifier: Apache-2.0
#include "drivers/etcd/protocol.hpp"

#include <array>
#include <charconv>

namespace verrou::detail::etcd {
namespace {

constexpr std::string_view kAlphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

constexpr std::array<int, 256> decode_table() {
  std::array<int, 256> table{};
  for (auto& v : table) v = -1;
  for (std::size_t i = 0; i < kAlphabet.size(); ++i) {
    table[static_cast<unsigned char>(kAlphabet[i])] = static_cast<int>(i);
  }
  return table;
}
constexpr auto kDecode = decode_table();

[[noreturn]] void bad(const std::string& what) { throw ProtocolError(what); }

const json& object_field(const json& object, const char* name) {
  static const json kEmpty = json::object();
  if (!object.is_object()) bad(std::string("expected a JSON object holding '") + name + "'");
  const auto it = object.find(name);
  if (it == object.end() || it->is_null()) return kEmpty;
  if (!it->is_object()) bad(std::string("'") + name + "' is not an object");
  return *it;
}

std::string bytes_field(const json& object, const char* name) {
  const auto it = object.find(name);
  if (it == object.end() || it->is_null()) return {};
  if (!it->is_string()) bad(std::string("'") + name + "' is not a base64 string");
  return base64_decode(it->get_ref<const std::string&>());
}

KeyValue parse_kv(const json& kv) {
  if (!kv.is_object()) bad("a key-value is not an object");
  KeyValue out;
  out.key = bytes_field(kv, "key");
  out.value = bytes_field(kv, "value");
  out.create_revision = int64_field(kv, "create_revision");
  out.mod_revision = int64_field(kv, "mod_revision");
  out.version = int64_field(kv, "version");
  out.lease = int64_field(kv, "lease");
  if (out.key.empty()) bad("a key-value has no key");
  return out;
}

const json& txn_response(const TxnReply& reply, std::size_t index, const char* kind) {
  if (index >= reply.responses.size()) bad("the transaction answered fewer responses than asked");
  const json& r = reply.responses[index];
  if (!r.is_object()) bad("a transaction response is not an object");
  const auto it = r.find(kind);
  if (it == r.end()) bad(std::string("a transaction response lacks '") + kind + "'");
  if (!it->is_object()) bad(std::string("'") + kind + "' is not an object");
  return *it;
}

}  // namespace

std::string base64_encode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const auto n = (static_cast<unsigned>(static_cast<unsigned char>(bytes[i])) << 16U) |
                   (static_cast<unsigned>(static_cast<unsigned char>(bytes[i + 1])) << 8U) |
                   static_cast<unsigned char>(bytes[i + 2]);
    out += kAlphabet[(n >> 18U) & 63U];
    out += kAlphabet[(n >> 12U) & 63U];
    out += kAlphabet[(n >> 6U) & 63U];
    out += kAlphabet[n & 63U];
  }
  const std::size_t rest = bytes.size() - i;
  if (rest > 0) {
    unsigned n = static_cast<unsigned>(static_cast<unsigned char>(bytes[i])) << 16U;
    if (rest == 2) n |= static_cast<unsigned>(static_cast<unsigned char>(bytes[i + 1])) << 8U;
    out += kAlphabet[(n >> 18U) & 63U];
    out += kAlphabet[(n >> 12U) & 63U];
    out += rest == 2 ? kAlphabet[(n >> 6U) & 63U] : '=';
    out += '=';
  }
  return out;
}

std::string base64_decode(std::string_view text) {
  if (text.size() % 4 != 0) bad("base64 text whose length is not a multiple of 4");
  std::string out;
  out.reserve(text.size() / 4 * 3);
  for (std::size_t i = 0; i < text.size(); i += 4) {
    const bool last = i + 4 == text.size();
    int v[4];
    int padding = 0;
    for (int k = 0; k < 4; ++k) {
      const char c = text[i + static_cast<std::size_t>(k)];
      if (c == '=' && last && k >= 2) {
        v[k] = 0;
        ++padding;
        continue;
      }
      if (padding > 0) bad("base64 text with data after '='");
      v[k] = kDecode[static_cast<unsigned char>(c)];
      if (v[k] < 0) bad("base64 text with a character outside its alphabet");
    }
    // Bits past the last byte must be zero, as every encoder writes them (canonical form).
    if ((padding == 2 && (v[1] & 0xf) != 0) || (padding == 1 && (v[2] & 0x3) != 0)) {
      bad("base64 text that is not in canonical form");
    }
    const auto n = (static_cast<unsigned>(v[0]) << 18U) | (static_cast<unsigned>(v[1]) << 12U) |
                   (static_cast<unsigned>(v[2]) << 6U) | static_cast<unsigned>(v[3]);
    out += static_cast<char>((n >> 16U) & 0xffU);
    if (padding < 2) out += static_cast<char>((n >> 8U) & 0xffU);
    if (padding < 1) out += static_cast<char>(n & 0xffU);
  }
  return out;
}

std::string prefix_end(std::string_view prefix) {
  std::string end(prefix);
  while (!end.empty()) {
    auto& last = reinterpret_cast<unsigned char&>(end.back());
    if (last < 0xff) {
      ++last;
      return end;
    }
    end.pop_back();
  }
  return std::string(1, '\0');
}

std::int64_t int64_field(const json& object, const char* name) {
  if (!object.is_object()) bad(std::string("expected a JSON object holding '") + name + "'");
  const auto it = object.find(name);
  if (it == object.end() || it->is_null()) return 0;
  if (it->is_number_integer()) {
    if (it->is_number_unsigned() && it->get<std::uint64_t>() > INT64_MAX) {
      bad(std::string("'") + name + "' is out of the int64 range");
    }
    return it->get<std::int64_t>();
  }
  if (!it->is_string()) bad(std::string("'") + name + "' is not an integer");
  const auto& text = it->get_ref<const std::string&>();
  std::int64_t value = 0;
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || ptr != text.data() + text.size()) {
    bad(std::string("'") + name + "' is not an int64: \"" + text.substr(0, 32) + "\"");
  }
  return value;
}

json compare_create_revision(std::string_view key, std::int64_t revision) {
  return {{"key", base64_encode(key)},
          {"target", "CREATE"},
          {"result", "EQUAL"},
          {"create_revision", std::to_string(revision)}};
}

json compare_mod_revision(std::string_view key, std::int64_t revision) {
  return {{"key", base64_encode(key)},
          {"target", "MOD"},
          {"result", "EQUAL"},
          {"mod_revision", std::to_string(revision)}};
}

json compare_prefix_mod_below(std::string_view prefix, std::int64_t revision) {
  return {{"key", base64_encode(prefix)},
          {"range_end", base64_encode(prefix_end(prefix))},
          {"target", "MOD"},
          {"result", "LESS"},
          {"mod_revision", std::to_string(revision)}};
}

json op_put(std::string_view key, std::string_view value, std::int64_t lease) {
  json put = {{"key", base64_encode(key)}, {"value", base64_encode(value)}};
  if (lease != 0) put["lease"] = std::to_string(lease);
  return {{"request_put", std::move(put)}};
}

json op_delete(std::string_view key) {
  return {{"request_delete_range", {{"key", base64_encode(key)}}}};
}

json op_range(std::string_view key) { return {{"request_range", {{"key", base64_encode(key)}}}}; }

json op_range_prefix(std::string_view prefix) {
  return {{"request_range",
           {{"key", base64_encode(prefix)}, {"range_end", base64_encode(prefix_end(prefix))}}}};
}

json txn(json compare, json success, json failure) {
  return {{"compare", std::move(compare)},
          {"success", std::move(success)},
          {"failure", std::move(failure)}};
}

std::int64_t header_revision(const json& reply) {
  const std::int64_t revision = int64_field(object_field(reply, "header"), "revision");
  if (revision <= 0) bad("the answer has no header revision, which etcd always gives");
  return revision;
}

std::vector<KeyValue> range_kvs(const json& range_response) {
  if (!range_response.is_object()) bad("a range response is not an object");
  std::vector<KeyValue> out;
  const auto it = range_response.find("kvs");
  if (it == range_response.end() || it->is_null()) return out;
  if (!it->is_array()) bad("'kvs' is not an array");
  out.reserve(it->size());
  for (const auto& kv : *it) out.push_back(parse_kv(kv));
  return out;
}

TxnReply parse_txn(const json& reply) {
  TxnReply out;
  out.revision = header_revision(reply);
  const auto ok = reply.find("succeeded");
  if (ok != reply.end() && !ok->is_null()) {
    if (!ok->is_boolean()) bad("'succeeded' is not a boolean");
    out.succeeded = ok->get<bool>();
  }
  const auto responses = reply.find("responses");
  if (responses != reply.end() && !responses->is_null()) {
    if (!responses->is_array()) bad("'responses' is not an array");
    out.responses.assign(responses->begin(), responses->end());
  }
  return out;
}

std::vector<KeyValue> txn_range(const TxnReply& reply, std::size_t index) {
  return range_kvs(txn_response(reply, index, "response_range"));
}

std::int64_t txn_deleted(const TxnReply& reply, std::size_t index) {
  return int64_field(txn_response(reply, index, "response_delete_range"), "deleted");
}

LeaseGrant parse_lease_grant(const json& reply) {
  LeaseGrant out;
  out.id = int64_field(reply, "ID");
  out.ttl_seconds = int64_field(reply, "TTL");
  if (reply.contains("error")) {
    const auto& e = reply["error"];
    bad("the lease was not granted: " + (e.is_string() ? e.get<std::string>() : e.dump()));
  }
  if (out.id == 0 || out.ttl_seconds <= 0) bad("the lease grant lacks an ID or a TTL");
  return out;
}

WatchMessage parse_watch_line(std::string_view line) {
  WatchMessage out;
  const json parsed = json::parse(line, nullptr, false);
  if (parsed.is_discarded() || !parsed.is_object()) bad("a watch message is not a JSON object");
  if (const auto e = parsed.find("error"); e != parsed.end() && !e->is_null()) {
    const json* message = e->is_object() && e->contains("message") ? &(*e)["message"] : &*e;
    out.error = message->is_string() ? message->get<std::string>() : message->dump();
    if (out.error.empty()) out.error = "the watch stream reported an error";
    return out;
  }
  const json& result = object_field(parsed, "result");
  out.revision = header_revision(result);
  for (const char* flag : {"created", "canceled"}) {
    const auto it = result.find(flag);
    if (it == result.end() || it->is_null()) continue;
    if (!it->is_boolean()) bad(std::string("'") + flag + "' is not a boolean");
    (flag[1] == 'r' ? out.created : out.canceled) = it->get<bool>();
  }
  if (out.canceled) {
    const auto reason = result.find("cancel_reason");
    out.error = reason != result.end() && reason->is_string() ? reason->get<std::string>()
                                                              : "the watch was canceled";
  }
  const auto events = result.find("events");
  if (events != result.end() && !events->is_null()) {
    if (!events->is_array()) bad("'events' is not an array");
    for (const auto& event : *events) {
      if (!event.is_object()) bad("a watch event is not an object");
      const auto type = event.find("type");
      if (type != event.end() && !type->is_null() && !type->is_string()) {
        bad("a watch event's type is not a string");
      }
      const bool deleted = type != event.end() && type->is_string() && *type == "DELETE";
      const json& kv = object_field(event, "kv");
      if (deleted) out.deleted.push_back(bytes_field(kv, "key"));
    }
  }
  return out;
}

}  // namespace verrou::detail::etcd
