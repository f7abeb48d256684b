// SPDX-License-Identifier: Apache-2.0
// Where the DynamoDB driver finds its AWS credentials, in the order the AWS SDKs use.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "drivers/dynamodb/sigv4.hpp"
#include "verrou/drivers/dynamodb.hpp"

namespace verrou::detail::dynamodb {

// Reads an environment variable; a parameter so tests need not change the process's.
using EnvLookup = std::function<std::optional<std::string>(const char* name)>;

// The process environment (unset and empty variables are nullopt).
std::optional<std::string> process_env(const char* name);

struct ResolvedCredentials {
  sigv4::Credentials credentials;
  std::string source;  // for messages: "options", "environment", "profile 'dev' of /root/.aws/credentials"
};

// explicit credentials → explicit profile → AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY
// (+AWS_SESSION_TOKEN) → the shared credentials file's profile (AWS_PROFILE or "default").
// Throws InvalidArgumentError when nothing is found or what is found is incomplete.
ResolvedCredentials resolve_credentials(const std::optional<AwsCredentials>& given,
                                        const std::string& profile, const EnvLookup& env);

// An AWS shared config/credentials file: section → key → value (keys lower-cased; a
// "[profile name]" section is stored as "name").
std::map<std::string, std::map<std::string, std::string>> parse_ini(std::string_view text);

}  // namespace verrou::detail::dynamodb
