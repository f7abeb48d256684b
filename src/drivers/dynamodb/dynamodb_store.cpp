// SPDX-License-Identifier: Apache-2.0
#include "verrou/drivers/dynamodb.hpp"

#include <charconv>
#include <chrono>
#include <cmath>
#include <nlohmann/json.hpp>
#include <thread>
#include <utility>

#include "detail/driver_registry.hpp"
#include "detail/owner.hpp"
#include "detail/url.hpp"
#include "drivers/dynamodb/client.hpp"
#include "drivers/dynamodb/credentials.hpp"
#include "verrou/errors.hpp"
#include "verrou/open_store.hpp"

namespace verrou {
namespace {

using detail::dynamodb::Client;
using detail::dynamodb::Reply;
using json = nlohmann::json;

// One attribute beyond Verrou's three: a random id per save call, so a save retried after a
// lost answer recognises its own earlier write instead of reporting the lock as taken (which
// would strand a lock nobody knows it holds). Verrou ignores attributes it does not know.
constexpr const char* kWriteIdAttribute = "write_id";

constexpr const char* kSaveCondition =
    "attribute_not_exists(#k) OR (attribute_exists(#e) AND #e < :now) OR #w = :w";
// Held by :o and not expired (no expires_at: never expires).
constexpr const char* kOwnedCondition = "#o = :o AND (attribute_not_exists(#e) OR #e >= :now)";

bool valid_utf8(std::string_view text) {
  std::size_t i = 0;
  while (i < text.size()) {
    const auto c = static_cast<unsigned char>(text[i]);
    std::size_t extra = 0;
    std::uint32_t code = 0;
    if (c < 0x80) {
      ++i;
      continue;
    }
    if ((c & 0xE0U) == 0xC0U) {
      extra = 1;
      code = c & 0x1FU;
    } else if ((c & 0xF0U) == 0xE0U) {
      extra = 2;
      code = c & 0x0FU;
    } else if ((c & 0xF8U) == 0xF0U) {
      extra = 3;
      code = c & 0x07U;
    } else {
      return false;
    }
    if (i + extra >= text.size()) return false;
    for (std::size_t k = 1; k <= extra; ++k) {
      const auto next = static_cast<unsigned char>(text[i + k]);
      if ((next & 0xC0U) != 0x80U) return false;
      code = (code << 6U) | (next & 0x3FU);
    }
    // Overlong forms, surrogates and values past U+10FFFF are not UTF-8.
    if ((extra == 1 && code < 0x80) || (extra == 2 && code < 0x800) ||
        (extra == 3 && code < 0x10000) || code > 0x10FFFF || (code >= 0xD800 && code <= 0xDFFF)) {
      return false;
    }
    i += extra + 1;
  }
  return true;
}

void check_key(const std::string& key) {
  validate_key(key);
  if (!valid_utf8(key)) {
    throw InvalidArgumentError(
        "DynamoDB store: the key is not valid UTF-8; DynamoDB keys are strings, so use UTF-8 "
        "text (encode binary keys, e.g. as hex)");
  }
}

json str(const std::string& value) { return json{{"S", value}}; }
json num(std::int64_t value) { return json{{"N", std::to_string(value)}}; }

bool valid_table_name(std::string_view name) {
  if (name.size() < 3 || name.size() > 255) return false;
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '-' || c == '.';
    if (!ok) return false;
  }
  return true;
}

bool valid_region(std::string_view region) {
  if (region.empty()) return false;
  for (char c : region) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) return false;
  }
  return true;
}

// expires_at as written by us or by Verrou (an integer; tolerate a decimal).
std::optional<std::int64_t> parse_epoch_ms(const std::string& text) {
  std::int64_t value = 0;
  const auto* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (ec == std::errc() && ptr == end) return value;
  try {
    std::size_t used = 0;
    const double d = std::stod(text, &used);
    // Only values an int64 holds: converting anything else is undefined behaviour.
    constexpr double kLimit = 9.2e18;
    if (used == text.size() && std::isfinite(d) && d > -kLimit && d < kLimit) {
      return static_cast<std::int64_t>(std::floor(d));
    }
  } catch (const std::exception&) {
  }
  return std::nullopt;
}

Duration duration_param(const detail::Url& url, std::string_view name, Duration fallback) {
  const auto value = url.param(name);
  if (!value) return fallback;
  try {
    return parse_duration(*value);
  } catch (const InvalidArgumentError& e) {
    throw InvalidArgumentError("dynamodb URL: option " + std::string(name) + "='" + *value +
                               "' is not a duration (e.g. 500ms, 2s): " + e.what());
  }
}

DynamoDbStoreOptions options_from_url(const detail::Url& url) {
  if (url.scheme != "dynamodb") {
    throw InvalidArgumentError("dynamodb URL: expected the scheme dynamodb://, got '" +
                               url.scheme + "://'");
  }
  if (!url.hosts.empty() || url.username || url.password || !url.opaque.empty() ||
      (!url.path.empty() && url.path != "/")) {
    throw InvalidArgumentError(
        "dynamodb URL: give everything as query options, e.g. "
        "dynamodb://?region=us-east-1&endpoint=http://127.0.0.1:8000&table=locks (no host, "
        "path or credentials in the URL; credentials come from the environment or a profile)");
  }
  url.check_params({"region", "endpoint", "table", "profile", "create_table", "connect_timeout",
                    "request_timeout", "retry_deadline"});
  DynamoDbStoreOptions options;
  if (auto v = url.param("region")) options.region = *v;
  if (auto v = url.param("endpoint")) options.endpoint = *v;
  if (auto v = url.param("table")) options.table = *v;
  if (auto v = url.param("profile")) options.profile = *v;
  if (auto v = url.param("create_table")) {
    options.create_table = detail::parse_bool_param("create_table", *v);
  }
  options.connect_timeout = duration_param(url, "connect_timeout", options.connect_timeout);
  options.request_timeout = duration_param(url, "request_timeout", options.request_timeout);
  options.retry_deadline = duration_param(url, "retry_deadline", options.retry_deadline);
  return options;
}

}  // namespace

struct DynamoDbStore::Impl {
  std::string table;
  std::string endpoint;  // redacted, for messages
  std::string credential_source;
  std::unique_ptr<Client> client;

  // The one place client failures become exceptions.
  [[noreturn]] void fail(std::string_view operation, const Reply& reply,
                         const std::string* key = nullptr) const {
    std::string message = "DynamoDB " + std::string(operation) + " on table '" + table + "'";
    if (key != nullptr) message += " (key '" + *key + "')";
    message += " at " + endpoint + " failed: ";
    if (reply.kind == Reply::Kind::transport_error) {
      message += "cannot reach DynamoDB: " + reply.message;
    } else {
      message += reply.error_type + ": " + reply.message;
      const std::string& t = reply.error_type;
      if (t == "UnrecognizedClientException" || t == "InvalidSignatureException" ||
          t == "MissingAuthenticationTokenException" || t == "MissingAuthenticationToken" ||
          t == "ExpiredTokenException" || t == "InvalidClientTokenId") {
        message += " (check the AWS credentials, taken from " + credential_source + ")";
      } else if (t == "AccessDeniedException") {
        message += " (the credentials from " + credential_source +
                   " lack a permission; see docs/dynamodb.md)";
      } else if (t == "ResourceNotFoundException") {
        message += " (the table does not exist; enable create_table or create it)";
      }
    }
    if (reply.attempts > 1) message += " [after " + std::to_string(reply.attempts) + " attempts]";
    throw LockStorageError(message);
  }

  Reply call(std::string_view operation, const json& request) const {
    return client->call(operation, request);
  }

  // The TableStatus inside `body[object]`, or "" when the reply lacks it or has another shape
  // (a hostile or broken endpoint must give an error, never a JSON exception).
  static std::string table_status(const json& body, const char* object) {
    if (!body.is_object()) return {};
    const auto described = body.find(object);
    if (described == body.end() || !described->is_object()) return {};
    const auto status = described->find("TableStatus");
    if (status == described->end() || !status->is_string()) return {};
    return status->get<std::string>();
  }

  void ensure_table(Duration ready_timeout) const {
    const auto deadline = std::chrono::steady_clock::now() + ready_timeout;
    const json describe = {{"TableName", table}};
    Duration pause{20};
    for (;;) {
      std::string status;
      Reply r = call("DescribeTable", describe);
      if (r.ok()) {
        status = table_status(r.body, "Table");
      } else if (r.error_type == "ResourceNotFoundException") {
        const json create = {
            {"TableName", table},
            {"AttributeDefinitions", json::array({{{"AttributeName", "key"},
                                                   {"AttributeType", "S"}}})},
            {"KeySchema", json::array({{{"AttributeName", "key"}, {"KeyType", "HASH"}}})},
            {"BillingMode", "PAY_PER_REQUEST"},
        };
        Reply c = call("CreateTable", create);
        if (c.ok()) {
          status = table_status(c.body, "TableDescription");
        } else if (c.error_type != "ResourceInUseException") {
          // ResourceInUseException: another process created it first, which is fine.
          fail("CreateTable", c);
        }
      } else {
        fail("DescribeTable", r);
      }
      // UPDATING (throughput or index changes) still serves reads and writes.
      if (status == "ACTIVE" || status == "UPDATING") return;
      if (std::chrono::steady_clock::now() + pause > deadline) {
        throw LockStorageError("DynamoDB table '" + table + "' at " + endpoint +
                               " is not ACTIVE after " + format_duration(ready_timeout) +
                               (status.empty() ? std::string() : " (status " + status + ")"));
      }
      std::this_thread::sleep_for(pause);
      pause = std::min(pause * 2, Duration{500});
    }
  }
};

DynamoDbStoreOptions DynamoDbStoreOptions::from_url(std::string_view url) {
  return options_from_url(detail::parse_url(url));
}

DynamoDbStore::DynamoDbStore(DynamoDbStoreOptions options) : impl_(std::make_unique<Impl>()) {
  if (!valid_table_name(options.table)) {
    throw InvalidArgumentError("DynamoDB store: table name '" + options.table +
                               "' is not valid: 3 to 255 characters among a-z A-Z 0-9 _ - .");
  }
  std::string region = options.region;
  if (region.empty()) {
    region = detail::dynamodb::process_env("AWS_REGION")
                 .value_or(detail::dynamodb::process_env("AWS_DEFAULT_REGION").value_or(""));
  }
  if (region.empty() && !options.endpoint.empty()) region = "us-east-1";
  if (region.empty()) {
    throw InvalidArgumentError(
        "DynamoDB store: no region: set DynamoDbStoreOptions::region (URL option region=), "
        "AWS_REGION or AWS_DEFAULT_REGION");
  }
  if (!valid_region(region)) {
    throw InvalidArgumentError("DynamoDB store: region '" + region +
                               "' is not valid: lower-case letters, digits and '-', e.g. "
                               "eu-west-1");
  }
  for (auto [name, value] : {std::pair{"connect_timeout", options.connect_timeout},
                             std::pair{"request_timeout", options.request_timeout}}) {
    if (value <= Duration::zero()) {
      throw InvalidArgumentError(std::string("DynamoDB store: ") + name +
                                 " must be more than zero");
    }
  }
  if (options.retry_deadline < Duration::zero()) {
    throw InvalidArgumentError("DynamoDB store: retry_deadline must not be negative");
  }
  std::string endpoint = options.endpoint;
  if (endpoint.empty()) {
    endpoint = "https://dynamodb." + region + ".amazonaws.com";
    if (region.rfind("cn-", 0) == 0) endpoint += ".cn";
  }
  auto credentials = detail::dynamodb::resolve_credentials(options.credentials, options.profile,
                                                           detail::dynamodb::process_env);

  impl_->table = options.table;
  impl_->endpoint = redact_url(endpoint);
  impl_->credential_source = credentials.source;
  impl_->client = std::make_unique<Client>(detail::dynamodb::ClientOptions{
      .endpoint = endpoint,
      .region = region,
      .credentials = std::move(credentials.credentials),
      .connect_timeout = options.connect_timeout,
      .request_timeout = options.request_timeout,
      .retry_deadline = options.retry_deadline,
      .max_idle_handles = options.max_idle_connections,
  });
  if (options.create_table) impl_->ensure_table(options.table_ready_timeout);
}

DynamoDbStore::~DynamoDbStore() = default;

const std::string& DynamoDbStore::table() const { return impl_->table; }
const std::string& DynamoDbStore::endpoint() const { return impl_->endpoint; }

bool DynamoDbStore::save(const std::string& key, const std::string& owner,
                         std::optional<Duration> ttl) {
  check_key(key);
  validate_ttl(ttl);
  // Expiry is judged by this client's clock: DynamoDB conditions cannot read the server's.
  const std::int64_t now = epoch_ms_now();
  const std::string write_id = detail::new_owner_token();
  json item = {{"key", str(key)}, {"owner", str(owner)}, {kWriteIdAttribute, str(write_id)}};
  if (ttl) item["expires_at"] = num(now + ttl->count());
  const json request = {
      {"TableName", impl_->table},
      {"Item", std::move(item)},
      {"ConditionExpression", kSaveCondition},
      {"ExpressionAttributeNames",
       {{"#k", "key"}, {"#e", "expires_at"}, {"#w", kWriteIdAttribute}}},
      {"ExpressionAttributeValues", {{":now", num(now)}, {":w", str(write_id)}}},
  };
  const Reply r = impl_->call("PutItem", request);
  if (r.ok()) return true;
  if (r.error_type == "ConditionalCheckFailedException") return false;
  impl_->fail("PutItem", r, &key);
}

void DynamoDbStore::remove(const std::string& key, const std::string& owner) {
  check_key(key);
  const json request = {
      {"TableName", impl_->table},
      {"Key", {{"key", str(key)}}},
      {"ConditionExpression", kOwnedCondition},
      {"ExpressionAttributeNames", {{"#o", "owner"}, {"#e", "expires_at"}}},
      {"ExpressionAttributeValues", {{":o", str(owner)}, {":now", num(epoch_ms_now())}}},
  };
  const Reply r = impl_->call("DeleteItem", request);
  if (r.ok()) return;
  if (r.error_type == "ConditionalCheckFailedException") {
    // An earlier attempt whose answer was lost may have deleted the item: the owner does
    // not hold the lock either way, which is what release promises.
    if (r.earlier_attempt_may_have_applied) return;
    throw LockNotOwnedError("DynamoDB store: the lock '" + key +
                            "' is not held by this owner (never acquired, released, or "
                            "expired and perhaps taken by another)");
  }
  impl_->fail("DeleteItem", r, &key);
}

void DynamoDbStore::force_remove(const std::string& key) {
  check_key(key);
  const json request = {{"TableName", impl_->table}, {"Key", {{"key", str(key)}}}};
  const Reply r = impl_->call("DeleteItem", request);
  if (!r.ok()) impl_->fail("DeleteItem", r, &key);
}

bool DynamoDbStore::exists(const std::string& key) {
  check_key(key);
  const json request = {
      {"TableName", impl_->table},
      {"Key", {{"key", str(key)}}},
      {"ConsistentRead", true},
  };
  const Reply r = impl_->call("GetItem", request);
  if (!r.ok()) impl_->fail("GetItem", r, &key);
  const auto item = r.body.find("Item");
  if (item == r.body.end() || !item->is_object()) return false;
  const auto expires = item->find("expires_at");
  if (expires == item->end()) return true;  // never expires
  const auto number = expires->find("N");
  if (number == expires->end() || !number->is_string()) {
    Reply bad = r;
    bad.kind = Reply::Kind::service_error;
    bad.error_type = "InvalidItem";
    bad.message = "expires_at is not a number: " + expires->dump();
    impl_->fail("GetItem", bad, &key);
  }
  const auto at = parse_epoch_ms(number->get<std::string>());
  if (!at) {
    Reply bad = r;
    bad.kind = Reply::Kind::service_error;
    bad.error_type = "InvalidItem";
    bad.message = "expires_at is not a number: " + number->get<std::string>();
    impl_->fail("GetItem", bad, &key);
  }
  return *at >= epoch_ms_now();
}

void DynamoDbStore::extend(const std::string& key, const std::string& owner, Duration duration) {
  check_key(key);
  validate_ttl(duration);
  const std::int64_t now = epoch_ms_now();
  const json request = {
      {"TableName", impl_->table},
      {"Key", {{"key", str(key)}}},
      {"UpdateExpression", "SET #e = :e"},
      {"ConditionExpression", kOwnedCondition},
      {"ExpressionAttributeNames", {{"#o", "owner"}, {"#e", "expires_at"}}},
      {"ExpressionAttributeValues",
       {{":o", str(owner)}, {":now", num(now)}, {":e", num(now + duration.count())}}},
  };
  const Reply r = impl_->call("UpdateItem", request);
  if (r.ok()) return;
  if (r.error_type == "ConditionalCheckFailedException") {
    throw LockNotOwnedError("DynamoDB store: cannot extend the lock '" + key +
                            "': it is not held by this owner (released, or expired and "
                            "perhaps taken by another)");
  }
  impl_->fail("UpdateItem", r, &key);
}

StoreFactory dynamodb_store(DynamoDbStoreOptions options) {
  return StoreFactory{
      .driver = "dynamodb",
      .create = [options = std::move(options)]() -> std::shared_ptr<LockStore> {
        return std::make_shared<DynamoDbStore>(options);
      },
  };
}

namespace detail {

void register_dynamodb_driver(DriverRegistry& registry) {
  registry.add("dynamodb", [](const Url& url) -> std::shared_ptr<LockStore> {
    return std::make_shared<DynamoDbStore>(options_from_url(url));
  });
}

}  // namespace detail
}  // namespace verrou
