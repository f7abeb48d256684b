// SPDX-License-Identifier: Apache-2.0
#include "dynamodb_test_support.hpp"

#include <map>
#include <mutex>

#include "drivers/dynamodb/client.hpp"
#include "verrou/testing/server.hpp"

namespace verrou::dynamodb_test {

Server dynalite() {
  return {"dynalite",
          conformance::env_or("VERROU_DYNAMODB_URL",
                              "dynamodb://?region=us-east-1&endpoint=http://127.0.0.1:8000"
                              "&table=verrou_tests")};
}

Server dynamodb_local() {
  return {"dynamodb_local",
          conformance::env_or("VERROU_DYNAMODB_LOCAL_URL",
                              "dynamodb://?region=us-east-1&endpoint=http://127.0.0.1:8001"
                              "&table=verrou_tests")};
}

AwsCredentials test_credentials() { return {"verrouTests", "verrouTestsSecret", ""}; }

DynamoDbStoreOptions options_for(const Server& server) {
  DynamoDbStoreOptions options = DynamoDbStoreOptions::from_url(server.url);
  if (options.profile.empty()) options.credentials = test_credentials();
  return options;
}

std::optional<std::string> unavailable(const Server& server) {
  // Asked once per server and process: every test's SetUp calls this.
  static std::mutex mutex;
  static std::map<std::string, std::optional<std::string>> known;
  std::lock_guard lock(mutex);
  if (auto it = known.find(server.url); it != known.end()) return it->second;
  const DynamoDbStoreOptions options = options_for(server);
  std::optional<std::string> why;
  try {
    detail::dynamodb::Client client({
        .endpoint = options.endpoint,
        .region = options.region.empty() ? std::string("us-east-1") : options.region,
        .credentials = {test_credentials().access_key_id, test_credentials().secret_access_key, ""},
        .connect_timeout = Duration{1000},
        .request_timeout = Duration{3000},
        .retry_deadline = Duration{0},
        .max_idle_handles = 1,
    });
    const auto reply = client.call("ListTables", {{"Limit", 1}});
    if (reply.kind == detail::dynamodb::Reply::Kind::transport_error) {
      why = "no " + server.name + " at " + options.endpoint + " (" + reply.message + ")";
    }
  } catch (const std::exception& e) {
    why = "cannot probe " + server.name + " at " + options.endpoint + ": " + e.what();
  }
  known[server.url] = why;
  return why;
}

std::string unique_table(const std::string& stem) {
  return "verrou_" + stem + "_" + conformance::unique_suffix();
}

}  // namespace verrou::dynamodb_test
