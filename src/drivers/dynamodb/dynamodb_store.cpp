// SPDX-License-Identifier: Apache-2.0
#include "verrou/drivers/dynamodb.hpp"

#include <chrono>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>
#include <utility>

#include "detail/driver_registry.hpp"
#include "detail/owner.hpp"
#include "detail/store_factory.hpp"
#include "detail/store_options.hpp"
#include "detail/url.hpp"
#include "drivers/dynamodb/client.hpp"
#include "drivers/dynamodb/credentials.hpp"
#include "drivers/dynamodb/items.hpp"
#include "drivers/dynamodb/store_impl.hpp"
#include "verrou/errors.hpp"
#include "verrou/open_store.hpp"

namespace verrou {
namespace {

using detail::dynamodb::Client;
using detail::dynamodb::Reply;
using json = nlohmann::json;

using detail::dynamodb::check_key;
using detail::dynamodb::kFencingAttribute;
using detail::dynamodb::kWriteIdAttribute;
using detail::dynamodb::num;
using detail::dynamodb::str;
using detail::dynamodb::valid_table_name;

// Free (no item), expired, or this very save's own earlier write. A comparison with a missing
// attribute is false, so an item without expires_at (a lock that never expires) is held; the
// short form also costs servers that parse expressions on every request less.
constexpr const char* kSaveCondition = "attribute_not_exists(#k) OR #e < :now OR #w = :w";
// Held by :o and not expired (no expires_at: never expires).
constexpr const char* kOwnedCondition = "#o = :o AND (attribute_not_exists(#e) OR #e >= :now)";
// What a release leaves: an item nobody holds, expired for every clock (expires_at 0), that
// keeps the key's fencing counter (docs/dynamodb.md, "Fencing tokens").
constexpr const char* kReleaseUpdate = "SET #e = :free REMOVE #o, #w";

bool valid_region(std::string_view region) {
  if (region.empty()) return false;
  for (char c : region) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) return false;
  }
  return true;
}

// Where a key's fencing counter starts when its item has none (a key never locked, or an
// item written by Verrou, which replaces the whole item): the time in microseconds, above
// every token an earlier counter of the key can have reached unless it counted more than a
// million acquisitions a second, or the clocks disagree by more than the time since.
std::int64_t fencing_base() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
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
  url.check_params({"region", "endpoint", "table", "semaphore_table", "profile", "create_table",
                    "connect_timeout", "request_timeout", "retry_deadline"});
  DynamoDbStoreOptions options;
  if (auto v = url.param("region")) options.region = *v;
  if (auto v = url.param("endpoint")) options.endpoint = *v;
  if (auto v = url.param("table")) options.table = *v;
  if (auto v = url.param("semaphore_table")) options.semaphore_table = *v;
  if (auto v = url.param("profile")) options.profile = *v;
  if (auto v = url.param("create_table")) {
    options.create_table = detail::parse_bool_param("create_table", *v);
  }
  options.connect_timeout =
      detail::duration_param(url, "connect_timeout", options.connect_timeout);
  options.request_timeout =
      detail::duration_param(url, "request_timeout", options.request_timeout);
  options.retry_deadline = detail::duration_param(url, "retry_deadline", options.retry_deadline,
                                                  detail::ZeroDuration::allowed);
  return options;
}

}  // namespace

void detail::dynamodb::StoreState::fail(std::string_view operation, const Reply& reply,
                               const std::string* key, const std::string* on_table) const {
  std::string message = "DynamoDB " + std::string(operation) + " on table '" +
                        (on_table != nullptr ? *on_table : table) + "'";
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

void detail::dynamodb::StoreState::bad_item(std::string_view operation, const std::string& key,
                                   const std::string& what, const std::string* on_table) const {
  Reply bad;
  bad.kind = Reply::Kind::service_error;
  bad.error_type = "InvalidItem";
  bad.message = what + " (not written by verrou-cpp or Verrou; fix or delete the item)";
  fail(operation, bad, &key, on_table);
}

namespace {

// The TableStatus inside `body[object]`, or "" when the reply lacks it or has another shape
// (a hostile or broken endpoint must give an error, never a JSON exception).
std::string table_status(const json& body, const char* object) {
  if (!body.is_object()) return {};
  const auto described = body.find(object);
  if (described == body.end() || !described->is_object()) return {};
  const auto status = described->find("TableStatus");
  if (status == described->end() || !status->is_string()) return {};
  return status->get<std::string>();
}

}  // namespace

void detail::dynamodb::StoreState::ensure_table(const std::string& name) const {
  const auto deadline = std::chrono::steady_clock::now() + table_ready_timeout;
  const json describe = {{"TableName", name}};
  Duration pause{20};
  for (;;) {
    std::string status;
    Reply r = call("DescribeTable", describe);
    if (r.ok()) {
      status = table_status(r.body, "Table");
    } else if (r.error_type == "ResourceNotFoundException") {
      const json create = {
          {"TableName", name},
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
        fail("CreateTable", c, nullptr, &name);
      }
    } else {
      fail("DescribeTable", r, nullptr, &name);
    }
    // UPDATING (throughput or index changes) still serves reads and writes.
    if (status == "ACTIVE" || status == "UPDATING") return;
    if (std::chrono::steady_clock::now() + pause > deadline) {
      throw LockStorageError("DynamoDB table '" + name + "' at " + endpoint +
                             " is not ACTIVE after " + format_duration(table_ready_timeout) +
                             (status.empty() ? std::string() : " (status " + status + ")"));
    }
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, Duration{500});
  }
}

void detail::dynamodb::StoreState::ensure_semaphore_table() {
  if (!create_table || semaphore_table_ready.load(std::memory_order_acquire)) return;
  std::lock_guard lock(semaphore_table_mutex);
  if (semaphore_table_ready.load(std::memory_order_relaxed)) return;
  ensure_table(semaphore_table);  // throws: the next call tries again
  semaphore_table_ready.store(true, std::memory_order_release);
}

DynamoDbStoreOptions DynamoDbStoreOptions::from_url(std::string_view url) {
  return options_from_url(detail::parse_url(url));
}

DynamoDbStore::DynamoDbStore(DynamoDbStoreOptions options) : impl_(std::make_unique<Impl>()) {
  if (!valid_table_name(options.table)) {
    throw InvalidArgumentError("DynamoDB store: table name '" + options.table +
                               "' is not valid: 3 to 255 characters among a-z A-Z 0-9 _ - .");
  }
  std::string semaphore_table = options.semaphore_table;
  if (semaphore_table.empty()) semaphore_table = options.table + "_semaphores";
  if (!valid_table_name(semaphore_table)) {
    throw InvalidArgumentError("DynamoDB store: semaphore table name '" + semaphore_table +
                               "' is not valid: 3 to 255 characters among a-z A-Z 0-9 _ - .");
  }
  if (semaphore_table == options.table) {
    throw InvalidArgumentError("DynamoDB store: the semaphore table must not be the lock table '" +
                               options.table + "': semaphores and locks of one name are kept "
                               "apart by their tables");
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
  detail::check_duration("DynamoDB store: DynamoDbStoreOptions::connect_timeout",
                         options.connect_timeout);
  detail::check_duration("DynamoDB store: DynamoDbStoreOptions::request_timeout",
                         options.request_timeout);
  detail::check_duration("DynamoDB store: DynamoDbStoreOptions::retry_deadline",
                         options.retry_deadline, detail::ZeroDuration::allowed);
  std::string endpoint = options.endpoint;
  if (endpoint.empty()) {
    endpoint = "https://dynamodb." + region + ".amazonaws.com";
    if (region.rfind("cn-", 0) == 0) endpoint += ".cn";
  }
  auto credentials = detail::dynamodb::resolve_credentials(options.credentials, options.profile,
                                                           detail::dynamodb::process_env);

  impl_->table = options.table;
  impl_->semaphore_table = std::move(semaphore_table);
  impl_->create_table = options.create_table;
  impl_->table_ready_timeout = options.table_ready_timeout;
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
  if (options.create_table) impl_->ensure_table(impl_->table);
}

DynamoDbStore::~DynamoDbStore() = default;

const std::string& DynamoDbStore::table() const { return impl_->table; }
const std::string& DynamoDbStore::endpoint() const { return impl_->endpoint; }

const std::string& DynamoDbStore::semaphore_table() const { return impl_->semaphore_table; }

bool DynamoDbStore::save(const std::string& key, const std::string& owner,
                         std::optional<Duration> ttl) {
  return save_fenced(key, owner, ttl).has_value();
}

std::optional<std::uint64_t> DynamoDbStore::save_fenced(const std::string& key,
                                                         const std::string& owner,
                                                         std::optional<Duration> ttl) {
  check_key(key);
  validate_ttl(ttl);
  // Expiry is judged by this client's clock: DynamoDB conditions cannot read the server's.
  const std::int64_t now = epoch_ms_now();
  const std::string write_id = detail::new_owner_token();
  // One conditional UpdateItem takes the lock and counts the acquisition, so the token can
  // never be separated from the write that took the lock.
  std::string update = "SET #o = :o, #w = :w, #f = if_not_exists(#f, :base) + :one";
  json values = {{":o", str(owner)},       {":w", str(write_id)}, {":now", num(now)},
                 {":base", num(fencing_base())}, {":one", num(1)}};
  if (ttl) {
    update += ", #e = :e";
    values[":e"] = num(now + ttl->count());
  } else {
    update += " REMOVE #e";
  }
  const json request = {
      {"TableName", impl_->table},
      {"Key", {{"key", str(key)}}},
      {"UpdateExpression", std::move(update)},
      {"ConditionExpression", kSaveCondition},
      {"ExpressionAttributeNames",
       {{"#k", "key"},
        {"#o", "owner"},
        {"#e", "expires_at"},
        {"#w", kWriteIdAttribute},
        {"#f", kFencingAttribute}}},
      {"ExpressionAttributeValues", std::move(values)},
      {"ReturnValues", "UPDATED_NEW"},
  };
  const Reply r = impl_->call("UpdateItem", request);
  if (!r.ok()) {
    if (r.error_type == "ConditionalCheckFailedException") return std::nullopt;
    if (r.error_type == "ValidationException") {
      // The one validation a well-formed request can meet: a fencing_token that is not a
      // number, so `+` cannot add to it. Nothing was written.
      impl_->bad_item("UpdateItem", key,
                      std::string("the item's ") + kFencingAttribute +
                          " attribute cannot be counted on (" + r.message + ")");
    }
    impl_->fail("UpdateItem", r, &key);
  }
  const auto attributes = r.body.find("Attributes");
  const auto text = attributes == r.body.end()
                        ? std::optional<std::string>()
                        : detail::dynamodb::number_attribute(*attributes, kFencingAttribute);
  const auto token = text ? detail::dynamodb::parse_counter(*text) : std::nullopt;
  if (token) return token;
  // The lock was taken but its token cannot be read (a counter DynamoDB holds but a uint64
  // cannot: fractional, negative, past 2^64-1): give the lock back rather than hand out a
  // lock without its token, then say why.
  const json undo = {
      {"TableName", impl_->table},
      {"Key", {{"key", str(key)}}},
      {"UpdateExpression", kReleaseUpdate},
      {"ConditionExpression", "#w = :w"},
      {"ExpressionAttributeNames", {{"#o", "owner"}, {"#e", "expires_at"}, {"#w", kWriteIdAttribute}}},
      {"ExpressionAttributeValues", {{":w", str(write_id)}, {":free", num(0)}}},
  };
  const Reply u = impl_->call("UpdateItem", undo);
  if (!u.ok() && u.error_type != "ConditionalCheckFailedException") {
    impl_->fail("UpdateItem (giving back a lock whose fencing token is unreadable)", u, &key);
  }
  impl_->bad_item("UpdateItem", key,
                  std::string("the item's ") + kFencingAttribute + " attribute is " +
                      (text ? "'" + *text + "'" : std::string("missing from the answer")) +
                      ", not a counter from 0 to 2^64-1; the lock was given back");
}

void DynamoDbStore::remove(const std::string& key, const std::string& owner) {
  check_key(key);
  // The item stays, free and expired, so the key's fencing counter survives the release.
  const json request = {
      {"TableName", impl_->table},
      {"Key", {{"key", str(key)}}},
      {"UpdateExpression", kReleaseUpdate},
      {"ConditionExpression", kOwnedCondition},
      {"ExpressionAttributeNames",
       {{"#o", "owner"}, {"#e", "expires_at"}, {"#w", kWriteIdAttribute}}},
      {"ExpressionAttributeValues",
       {{":o", str(owner)}, {":now", num(epoch_ms_now())}, {":free", num(0)}}},
  };
  const Reply r = impl_->call("UpdateItem", request);
  if (r.ok()) return;
  if (r.error_type == "ConditionalCheckFailedException") {
    // An earlier attempt whose answer was lost may have released it: the owner does not hold
    // the lock either way, which is what release promises.
    if (r.earlier_attempt_may_have_applied) return;
    throw LockNotOwnedError("DynamoDB store: the lock '" + key +
                            "' is not held by this owner (never acquired, released, or "
                            "expired and perhaps taken by another)");
  }
  impl_->fail("UpdateItem", r, &key);
}

void DynamoDbStore::force_remove(const std::string& key) {
  check_key(key);
  // As a release, whoever holds it; a key without an item keeps having none.
  const json request = {
      {"TableName", impl_->table},
      {"Key", {{"key", str(key)}}},
      {"UpdateExpression", kReleaseUpdate},
      {"ConditionExpression", "attribute_exists(#k)"},
      {"ExpressionAttributeNames",
       {{"#k", "key"}, {"#o", "owner"}, {"#e", "expires_at"}, {"#w", kWriteIdAttribute}}},
      {"ExpressionAttributeValues", {{":free", num(0)}}},
  };
  const Reply r = impl_->call("UpdateItem", request);
  if (r.ok() || r.error_type == "ConditionalCheckFailedException") return;
  impl_->fail("UpdateItem", r, &key);
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
  const auto text = detail::dynamodb::number_attribute(*item, "expires_at");
  if (!text) return true;  // never expires
  const auto at = detail::dynamodb::parse_epoch_ms(*text);
  if (!at) {
    const auto shown = item->find("expires_at")->dump();
    impl_->bad_item("GetItem", key, "expires_at is not a number: " + shown);
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
  return detail::store_factory<DynamoDbStore>("dynamodb", std::move(options));
}

namespace detail {

void register_dynamodb_driver(DriverRegistry& registry) {
  registry.add("dynamodb", [](const Url& url) -> std::shared_ptr<LockStore> {
    return std::make_shared<DynamoDbStore>(options_from_url(url));
  });
}

}  // namespace detail
}  // namespace verrou
