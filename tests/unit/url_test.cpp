// SPDX-License-Identifier: Apache-2.0
#include <gtest/gtest.h>

#include "detail/url.hpp"
#include "verrou/errors.hpp"

namespace verrou::detail {
namespace {

TEST(Url, ParsesAuthorityHostsPathAndQuery) {
  const auto url = parse_url("Redis://us%40er:p%3Ass@cache.local:6380/2?timeout=5s&tls");
  EXPECT_EQ(url.scheme, "redis");
  EXPECT_TRUE(url.has_authority);
  EXPECT_EQ(url.username, "us@er");
  EXPECT_EQ(url.password, "p:ss");
  ASSERT_EQ(url.hosts.size(), 1U);
  EXPECT_EQ(url.hosts[0].host, "cache.local");
  EXPECT_EQ(url.hosts[0].port, 6380);
  EXPECT_EQ(url.path, "/2");
  EXPECT_EQ(url.param("timeout"), "5s");
  EXPECT_EQ(url.param("tls"), "");
  EXPECT_EQ(url.param("missing"), std::nullopt);
}

TEST(Url, ParsesHostListsIpv6AndOpaqueForms) {
  const auto cluster = parse_url("redis+cluster://10.0.0.1:7000,[::1]:7001,host");
  ASSERT_EQ(cluster.hosts.size(), 3U);
  EXPECT_EQ(cluster.hosts[1].host, "::1");
  EXPECT_EQ(cluster.hosts[1].port, 7001);
  EXPECT_EQ(cluster.hosts[2].port, std::nullopt);
  const auto sqlite = parse_url("sqlite:///var/lib/app/locks.db");
  EXPECT_TRUE(sqlite.hosts.empty());
  EXPECT_EQ(sqlite.path, "/var/lib/app/locks.db");
  const auto memory_db = parse_url("sqlite::memory:");
  EXPECT_FALSE(memory_db.has_authority);
  EXPECT_EQ(memory_db.opaque, ":memory:");
  const auto dynamo = parse_url("dynamodb://?region=eu-west-1&endpoint=http%3A%2F%2F127.0.0.1%3A8000");
  EXPECT_EQ(dynamo.param("endpoint"), "http://127.0.0.1:8000");
  EXPECT_EQ(parse_url("memory:").opaque, "");
}

TEST(Url, RejectsMalformedUrlsWithoutLeakingPasswords) {
  for (const std::string& bad : std::vector<std::string>{"", "no-scheme", "://host", "1redis://h", "re dis://h", "redis://h:0", "redis://h:65536",
        "redis://h:port", "redis://h:1:2", "redis://[::1", "redis://h,", "redis://:pw@h:6379#frag",
        "redis://h/%zz", "redis://h/%4", "redis://h/a%00b", "redis://h?=v", "redis://ü@h\n",
        "redis://u:secretpw@:6379", std::string(9000, 'a')}) {
    try {
      parse_url(bad);
      ADD_FAILURE() << "accepted " << bad.substr(0, 60);
    } catch (const InvalidArgumentError& e) {
      EXPECT_EQ(std::string(e.what()).find("secretpw"), std::string::npos) << e.what();
      EXPECT_EQ(std::string(e.what()).find("pw@"), std::string::npos) << e.what();
    }
  }
}

TEST(Url, UnknownOptionsAreRefused) {
  const auto url = parse_url("redis://h?timeout=1s&tiemout=2s");
  EXPECT_NO_THROW(url.check_params({"timeout", "tiemout"}));
  try {
    url.check_params({"timeout"});
    FAIL();
  } catch (const InvalidArgumentError& e) {
    EXPECT_NE(std::string(e.what()).find("\"tiemout\""), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("timeout"), std::string::npos);
  }
}

TEST(Url, ReadsBooleanOptions) {
  EXPECT_TRUE(parse_bool_param("tls", "yes"));
  EXPECT_TRUE(parse_bool_param("tls", "1"));
  EXPECT_FALSE(parse_bool_param("tls", "off"));
  EXPECT_THROW(parse_bool_param("tls", "maybe"), InvalidArgumentError);
}

}  // namespace
}  // namespace verrou::detail
