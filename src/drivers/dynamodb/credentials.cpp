// SPDX-License-Identifier: Apache-2.0
#include "drivers/dynamodb/credentials.hpp"

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "detail/text.hpp"
#include "verrou/errors.hpp"

namespace verrou::detail::dynamodb {
namespace {

constexpr std::string_view kHowTo =
    "set DynamoDbStoreOptions::credentials, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
    "or a profile in the shared credentials file (~/.aws/credentials, or the file "
    "AWS_SHARED_CREDENTIALS_FILE names; profile AWS_PROFILE or 'default')";

}  // namespace

std::optional<std::string> process_env(const char* name) {
  const char* value = std::getenv(name);
  if (value == nullptr || *value == '\0') return std::nullopt;
  return std::string(value);
}

std::map<std::string, std::map<std::string, std::string>> parse_ini(std::string_view text) {
  std::map<std::string, std::map<std::string, std::string>> sections;
  std::map<std::string, std::string>* current = nullptr;
  std::size_t pos = 0;
  while (pos <= text.size()) {
    auto end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    const std::string_view raw = text.substr(pos, end - pos);
    pos = end + 1;
    // Indented lines continue a nested setting (e.g. "s3 =" blocks): not credentials.
    if (!raw.empty() && (raw.front() == ' ' || raw.front() == '\t')) continue;
    const std::string_view line = trim(raw);
    if (line.empty() || line.front() == '#' || line.front() == ';') continue;
    if (line.front() == '[') {
      const auto close = line.find(']');
      std::string_view name = trim(line.substr(1, close == std::string_view::npos
                                                      ? std::string_view::npos
                                                      : close - 1));
      if (name.substr(0, 8) == "profile ") name = trim(name.substr(8));
      current = &sections[std::string(name)];
      continue;
    }
    const auto eq = line.find('=');
    if (current == nullptr || eq == std::string_view::npos) continue;
    (*current)[ascii_lower(trim(line.substr(0, eq)))] = std::string(trim(line.substr(eq + 1)));
  }
  return sections;
}

ResolvedCredentials resolve_credentials(const std::optional<AwsCredentials>& given,
                                        const std::string& profile, const EnvLookup& env) {
  if (given) {
    if (given->access_key_id.empty() || given->secret_access_key.empty()) {
      throw InvalidArgumentError(
          "DynamoDB credentials: DynamoDbStoreOptions::credentials needs both access_key_id "
          "and secret_access_key");
    }
    return {{given->access_key_id, given->secret_access_key, given->session_token}, "options"};
  }

  auto from_file = [&env](const std::string& name, bool required) -> std::optional<ResolvedCredentials> {
    std::string path;
    if (auto file = env("AWS_SHARED_CREDENTIALS_FILE")) {
      path = *file;
      if (path.rfind("~/", 0) == 0) {
        if (auto home = env("HOME")) path = *home + path.substr(1);
      }
    } else if (auto home = env("HOME")) {
      path = *home + "/.aws/credentials";
    }
    std::ifstream in(path);
    if (path.empty() || !in) {
      if (!required) return std::nullopt;
      throw InvalidArgumentError("DynamoDB credentials: profile '" + name +
                                 "' was asked for but the shared credentials file '" + path +
                                 "' cannot be read");
    }
    std::stringstream text;
    text << in.rdbuf();
    const auto sections = parse_ini(text.str());
    const auto section = sections.find(name);
    if (section == sections.end()) {
      if (!required) return std::nullopt;
      throw InvalidArgumentError("DynamoDB credentials: no profile '" + name + "' in '" + path +
                                 "'");
    }
    const auto& values = section->second;
    auto get = [&values](const char* key) -> std::string {
      const auto it = values.find(key);
      return it == values.end() ? std::string() : it->second;
    };
    ResolvedCredentials out{{get("aws_access_key_id"), get("aws_secret_access_key"),
                             get("aws_session_token")},
                            "profile '" + name + "' of " + path};
    if (out.credentials.access_key_id.empty() || out.credentials.secret_access_key.empty()) {
      throw InvalidArgumentError("DynamoDB credentials: profile '" + name + "' in '" + path +
                                 "' lacks aws_access_key_id or aws_secret_access_key");
    }
    return out;
  };

  if (!profile.empty()) return *from_file(profile, true);

  const auto key_id = env("AWS_ACCESS_KEY_ID");
  const auto secret = env("AWS_SECRET_ACCESS_KEY");
  if (key_id && secret) {
    return {{*key_id, *secret, env("AWS_SESSION_TOKEN").value_or("")}, "environment"};
  }
  if (key_id || secret) {
    throw InvalidArgumentError(
        std::string("DynamoDB credentials: ") +
        (key_id ? "AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not"
                : "AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is not"));
  }

  const auto env_profile = env("AWS_PROFILE");
  if (auto found = from_file(env_profile.value_or("default"), env_profile.has_value())) {
    return *found;
  }
  throw InvalidArgumentError("DynamoDB credentials: none found; " + std::string(kHowTo));
}

}  // namespace verrou::detail::dynamodb
