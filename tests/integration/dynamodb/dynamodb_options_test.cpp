// SPDX-License-Identifier: Apache-2.0
// The DynamoDB store's options and URLs, and its credentials chain: no server needed.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>

#include "drivers/dynamodb/credentials.hpp"
#include "dynamodb_test_support.hpp"
#include "verrou/drivers/dynamodb.hpp"
#include "verrou/errors.hpp"
#include "verrou/open_store.hpp"
#include "verrou/testing/server.hpp"

namespace verrou::dynamodb_test {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;

// ---------------------------------------------------------------------------------------------
// Options and URLs

TEST(DynamoDbOptions, FromUrlReadsEveryOption) {
  const auto o = DynamoDbStoreOptions::from_url(
      "dynamodb://?region=eu-west-1&endpoint=http://127.0.0.1:8000&table=locks&profile=dev"
      "&create_table=false&connect_timeout=1s&request_timeout=2s&retry_deadline=250ms");
  EXPECT_EQ(o.region, "eu-west-1");
  EXPECT_EQ(o.endpoint, "http://127.0.0.1:8000");
  EXPECT_EQ(o.table, "locks");
  EXPECT_EQ(o.profile, "dev");
  EXPECT_FALSE(o.create_table);
  EXPECT_EQ(o.connect_timeout, 1s);
  EXPECT_EQ(o.request_timeout, 2s);
  EXPECT_EQ(o.retry_deadline, 250ms);
}

TEST(DynamoDbOptions, DefaultsFromABareUrl) {
  const auto o = DynamoDbStoreOptions::from_url("dynamodb://");
  EXPECT_EQ(o.table, "verrou");
  EXPECT_TRUE(o.create_table);
  EXPECT_TRUE(o.endpoint.empty());
}

TEST(DynamoDbOptions, BadUrlsAreRejected) {
  EXPECT_THAT(message_of([] { (void)DynamoDbStoreOptions::from_url("dynamodb://?regoin=x"); }),
              HasSubstr("regoin"));
  EXPECT_THROW((void)DynamoDbStoreOptions::from_url("dynamodb://host:8000"), InvalidArgumentError);
  EXPECT_THROW((void)DynamoDbStoreOptions::from_url("dynamodb://?retry_deadline=soon"),
               InvalidArgumentError);
  EXPECT_THROW((void)DynamoDbStoreOptions::from_url("redis://127.0.0.1"), InvalidArgumentError);
  // open_store rejects the typo before any request is made.
  EXPECT_THROW((void)open_store("dynamodb://?endpoint=http://127.0.0.1:9&tabel=x"),
               InvalidArgumentError);
}

TEST(DynamoDbOptions, BadOptionsAreRejectedBeforeAnyRequest) {
  auto with = [](auto change) {
    DynamoDbStoreOptions o{.endpoint = "http://127.0.0.1:9", .credentials = test_credentials()};
    change(o);
    return message_of([&] { DynamoDbStore store(o); });
  };
  EXPECT_THAT(with([](auto& o) { o.table = "a b"; }), HasSubstr("table name"));
  EXPECT_THAT(with([](auto& o) { o.region = "EU West"; }), HasSubstr("region"));
  EXPECT_THAT(with([](auto& o) { o.endpoint = "ftp://127.0.0.1:9"; }), HasSubstr("endpoint"));
  EXPECT_THAT(with([](auto& o) { o.request_timeout = 0ms; }), HasSubstr("request_timeout"));
  EXPECT_THAT(with([](auto& o) { o.credentials = AwsCredentials{"AKID", "", ""}; }),
              HasSubstr("secret_access_key"));
  try {
    DynamoDbStore store({.table = "x", .endpoint = "http://127.0.0.1:9",
                         .credentials = test_credentials()});
    FAIL() << "a two-letter table name was accepted";
  } catch (const InvalidArgumentError&) {
  }
}

// ---------------------------------------------------------------------------------------------
// Credentials

class FakeEnv {
 public:
  explicit FakeEnv(std::map<std::string, std::string> vars) : vars_(std::move(vars)) {}
  [[nodiscard]] detail::dynamodb::EnvLookup lookup() const {
    return [this](const char* name) -> std::optional<std::string> {
      const auto it = vars_.find(name);
      if (it == vars_.end()) return std::nullopt;
      return it->second;
    };
  }

 private:
  std::map<std::string, std::string> vars_;
};

class TempFile {
 public:
  explicit TempFile(const std::string& text)
      : path_(testing::TempDir() + "verrou-credentials-" + conformance::unique_suffix()) {
    std::ofstream(path_) << text;
  }
  ~TempFile() { std::remove(path_.c_str()); }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  [[nodiscard]] const std::string& path() const { return path_; }

 private:
  std::string path_;
};

const char* const kCredentialsFile =
    "# comment\n"
    "[default]\n"
    "aws_access_key_id = DEFAULTKEY\n"
    "aws_secret_access_key = defaultsecret\n"
    "\n"
    "[dev]\n"
    "AWS_ACCESS_KEY_ID=DEVKEY\n"
    "aws_secret_access_key=devsecret\n"
    "aws_session_token = devtoken\n"
    "s3 =\n"
    "  max_concurrent_requests = 10\n"
    "[profile broken]\n"
    "aws_access_key_id = ONLYKEY\n";

TEST(DynamoDbCredentials, ExplicitOptionsComeFirst) {
  const FakeEnv env({{"AWS_ACCESS_KEY_ID", "ENVKEY"}, {"AWS_SECRET_ACCESS_KEY", "envsecret"}});
  const auto r = detail::dynamodb::resolve_credentials(AwsCredentials{"OPTKEY", "optsecret", "t"},
                                                       "", env.lookup());
  EXPECT_EQ(r.credentials.access_key_id, "OPTKEY");
  EXPECT_EQ(r.credentials.session_token, "t");
  EXPECT_EQ(r.source, "options");
}

TEST(DynamoDbCredentials, EnvironmentComesBeforeTheFile) {
  TempFile file(kCredentialsFile);
  const FakeEnv env({{"AWS_ACCESS_KEY_ID", "ENVKEY"},
                     {"AWS_SECRET_ACCESS_KEY", "envsecret"},
                     {"AWS_SESSION_TOKEN", "envtoken"},
                     {"AWS_SHARED_CREDENTIALS_FILE", file.path()}});
  const auto r = detail::dynamodb::resolve_credentials(std::nullopt, "", env.lookup());
  EXPECT_EQ(r.credentials.access_key_id, "ENVKEY");
  EXPECT_EQ(r.credentials.secret_access_key, "envsecret");
  EXPECT_EQ(r.credentials.session_token, "envtoken");
  EXPECT_EQ(r.source, "environment");
}

TEST(DynamoDbCredentials, SharedFileDefaultAndNamedProfiles) {
  TempFile file(kCredentialsFile);
  {
    const FakeEnv env({{"AWS_SHARED_CREDENTIALS_FILE", file.path()}});
    const auto r = detail::dynamodb::resolve_credentials(std::nullopt, "", env.lookup());
    EXPECT_EQ(r.credentials.access_key_id, "DEFAULTKEY");
    EXPECT_EQ(r.credentials.secret_access_key, "defaultsecret");
    EXPECT_THAT(r.source, HasSubstr("'default'"));
  }
  {
    const FakeEnv env({{"AWS_SHARED_CREDENTIALS_FILE", file.path()}, {"AWS_PROFILE", "dev"}});
    const auto r = detail::dynamodb::resolve_credentials(std::nullopt, "", env.lookup());
    EXPECT_EQ(r.credentials.access_key_id, "DEVKEY");
    EXPECT_EQ(r.credentials.session_token, "devtoken");
  }
  {
    // A profile named in the options wins over the environment's keys.
    const FakeEnv env({{"AWS_SHARED_CREDENTIALS_FILE", file.path()},
                       {"AWS_ACCESS_KEY_ID", "ENVKEY"},
                       {"AWS_SECRET_ACCESS_KEY", "envsecret"}});
    const auto r = detail::dynamodb::resolve_credentials(std::nullopt, "dev", env.lookup());
    EXPECT_EQ(r.credentials.access_key_id, "DEVKEY");
  }
  {
    const FakeEnv env({{"HOME", testing::TempDir() + "no-such-home"}});
    TempFile home_file(kCredentialsFile);
    // ~/.aws/credentials under HOME when AWS_SHARED_CREDENTIALS_FILE is unset: absent here.
    EXPECT_THROW(detail::dynamodb::resolve_credentials(std::nullopt, "", env.lookup()),
                 InvalidArgumentError);
  }
}

TEST(DynamoDbCredentials, MissingOrIncompleteCredentialsAreClearErrors) {
  TempFile file(kCredentialsFile);
  auto fails = [](std::map<std::string, std::string> vars, const std::string& profile) {
    const FakeEnv env(std::move(vars));
    return message_of(
        [&] { (void)detail::dynamodb::resolve_credentials(std::nullopt, profile, env.lookup()); });
  };
  EXPECT_THAT(fails({}, ""), HasSubstr("AWS_ACCESS_KEY_ID"));
  EXPECT_THAT(fails({{"AWS_ACCESS_KEY_ID", "K"}}, ""), HasSubstr("AWS_SECRET_ACCESS_KEY is not"));
  EXPECT_THAT(fails({{"AWS_SHARED_CREDENTIALS_FILE", file.path()}, {"AWS_PROFILE", "nope"}}, ""),
              HasSubstr("no profile 'nope'"));
  EXPECT_THAT(fails({{"AWS_SHARED_CREDENTIALS_FILE", file.path()}}, "broken"),
              HasSubstr("lacks"));
  EXPECT_THAT(fails({{"AWS_SHARED_CREDENTIALS_FILE", file.path() + ".missing"}}, "dev"),
              HasSubstr("cannot be read"));
}

}  // namespace
}  // namespace verrou::dynamodb_test
