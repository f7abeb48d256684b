// SPDX-License-Identifier: Apache-2.0
// Shared by the DynamoDB store's tests: where the servers are, and how to reach them.
#pragma once

#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "verrou/drivers/dynamodb.hpp"

namespace verrou::dynamodb_test {

// A DynamoDB-compatible server the tests run against.
struct Server {
  std::string name;  // "dynalite", "dynamodb_local"
  std::string url;   // dynamodb://?region=…&endpoint=…
};

// dynalite (VERROU_DYNAMODB_URL, default port 8000).
Server dynalite();
// AWS DynamoDB Local (VERROU_DYNAMODB_LOCAL_URL, default port 8001).
Server dynamodb_local();

// Credentials the local servers accept (they check no signature); letters only, as DynamoDB
// Local requires.
AwsCredentials test_credentials();

// Options from the server's URL with the test credentials, unless the URL names a profile.
DynamoDbStoreOptions options_for(const Server& server);

// nullopt when the server answers, else why not.
std::optional<std::string> unavailable(const Server& server);

// A fresh table name for one test.
std::string unique_table(const std::string& stem);

// The message of what `f` throws, or "(no exception)".
inline std::string message_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "(no exception)";
}

}  // namespace verrou::dynamodb_test
