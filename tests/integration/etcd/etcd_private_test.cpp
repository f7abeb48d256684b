// SPDX-License-Identifier: Apache-2.0
// The etcd store against private members this test starts on its own ports (20000-20499):
// authentication (users, wrong passwords, missing permissions, expiring tokens), TLS with
// client certificates, and tokens across a restart.
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <thread>

#include "etcd_test_support.hpp"
#include "verrou/drivers/etcd.hpp"
#include "verrou/errors.hpp"
#include "verrou/lock_factory.hpp"
#include "verrou/open_store.hpp"
#include "verrou/testing/server.hpp"

// This program links verrou::testing for its server helpers, not for the suite.
namespace verrou::conformance {
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(StoreConformance);
}  // namespace verrou::conformance

namespace {

using namespace std::chrono_literals;
namespace support = verrou_test::etcd;

std::string message_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const verrou::Error& e) {
    return e.what();
  }
  return "(no error)";
}

// Users: root (needed to enable authentication), alice (read/write under verrou/), bob (read
// only under verrou/).
bool enable_auth(const support::PrivateEtcd& etcd) {
  for (const char* step :
       {"user add root:rootpw", "role add root", "user grant-role root root",
        "user add alice:s3cret-pw", "role add locks",
        "role grant-permission locks --prefix=true readwrite verrou/", "user grant-role alice locks",
        "user add bob:bobpw", "role add reader",
        "role grant-permission reader --prefix=true read verrou/", "user grant-role bob reader",
        "auth enable"}) {
    if (etcd.etcdctl(step) != 0) return false;
  }
  return true;
}

TEST(EtcdAuth, UsersAuthenticateAndFailuresAreClearWithoutThePassword) {
  // Simple tokens expire after 1 s of disuse here, so the store must renew them.
  support::PrivateEtcd etcd({"--auth-token-ttl", "1"});
  if (!etcd.ok()) VERROU_SKIP_OR_FAIL(etcd.why_not());
  ASSERT_TRUE(enable_auth(etcd));
  const std::string members = etcd.host_port();

  auto store = verrou::open_store("etcd://alice:s3cret-pw@" + members);
  verrou::LockFactory locks(store);
  auto lock = locks.create_lock("auth-lock", 30s);
  ASSERT_TRUE(lock.acquire_immediately());
  std::this_thread::sleep_for(2500ms);  // the token expires
  EXPECT_TRUE(lock.is_locked());
  lock.extend();
  // A waiter (watch stream with the token) still gets the lock on release.
  std::thread releaser([&] {
    std::this_thread::sleep_for(300ms);
    lock.release();
  });
  auto waiter = locks.create_lock("auth-lock", 30s);
  EXPECT_TRUE(waiter.acquire({.retry = {.delay = 20s, .timeout = 10s}}));
  releaser.join();
  waiter.release();

  const std::string wrong = message_of([&] {
    (void)verrou::open_store("etcd://alice:not-the-password@" + members)->exists("auth-lock");
  });
  EXPECT_NE(wrong.find("authentication as user 'alice' failed"), std::string::npos) << wrong;
  EXPECT_EQ(wrong.find("not-the-password"), std::string::npos) << wrong;

  const std::string anonymous =
      message_of([&] { (void)verrou::open_store("etcd://" + members)->exists("auth-lock"); });
  EXPECT_NE(anonymous, "(no error)") << "a cluster with authentication let a stranger in";

  const std::string reader = message_of([&] {
    (void)verrou::open_store("etcd://bob:bobpw@" + members)->save("auth-lock", "bob", 10s);
  });
  EXPECT_NE(reader.find("permission"), std::string::npos) << reader;

  const std::string outside = message_of([&] {
    (void)verrou::open_store("etcd://alice:s3cret-pw@" + members + "?prefix=elsewhere/")
        ->save("auth-lock", "alice", 10s);
  });
  EXPECT_NE(outside.find("permission"), std::string::npos) << outside;
}

class EtcdTls : public ::testing::Test {
 protected:
  void SetUp() override {
    char templ[] = "/tmp/verrou-etcd-certs.XXXXXX";
    ASSERT_NE(::mkdtemp(templ), nullptr);
    dir_ = templ;
    if (!support::make_certificates(dir_)) VERROU_SKIP_OR_FAIL("openssl could not make certificates");
  }
  void TearDown() override { support::shell("rm -rf '" + dir_ + "'"); }
  std::string dir_;
};

TEST_F(EtcdTls, ClientCertificatesAndTheMembersAuthorityAreChecked) {
  support::PrivateEtcd etcd({}, support::PrivateEtcd::Tls{.ca_file = dir_ + "/ca.pem",
                                                          .cert_file = dir_ + "/server.pem",
                                                          .key_file = dir_ + "/server-key.pem",
                                                          .client_cert_auth = true});
  if (!etcd.ok()) VERROU_SKIP_OR_FAIL(etcd.why_not());
  const std::string base = "etcds://" + etcd.host_port() + "?operation_timeout=2s&ca_file=" +
                           dir_ + "/ca.pem";
  const std::string client = "&cert_file=" + dir_ + "/client.pem&key_file=" + dir_ +
                             "/client-key.pem";
  verrou::LockFactory locks(verrou::open_store(base + client));
  auto lock = locks.create_lock("tls-lock", 30s);
  ASSERT_TRUE(lock.acquire_immediately());
  EXPECT_TRUE(lock.fencing_token().has_value());
  std::thread releaser([&] {
    std::this_thread::sleep_for(300ms);
    lock.release();
  });
  auto waiter = locks.create_lock("tls-lock", 30s);
  const auto start = std::chrono::steady_clock::now();
  EXPECT_TRUE(waiter.acquire({.retry = {.delay = 20s, .timeout = 10s}}));
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s) << "no wake-up over TLS";
  releaser.join();
  waiter.release();

  EXPECT_THROW((void)verrou::open_store(base)->exists("tls-lock"), verrou::LockStorageError)
      << "a member requiring client certificates let a client without one in";
  EXPECT_THROW((void)verrou::open_store("etcds://" + etcd.host_port() +
                                        "?operation_timeout=2s&ca_file=" + dir_ +
                                        "/other-ca.pem" + client)
                   ->exists("tls-lock"),
               verrou::LockStorageError)
      << "a member whose certificate no trusted authority signed was believed";
  EXPECT_THROW((void)verrou::open_store("etcd://" + etcd.host_port() + "?operation_timeout=1s")
                   ->exists("tls-lock"),
               verrou::LockStorageError);
}

TEST(EtcdRestart, TokensKeepIncreasingAfterTheMemberRestarts) {
  support::PrivateEtcd etcd;
  if (!etcd.ok()) VERROU_SKIP_OR_FAIL(etcd.why_not());
  const std::string url = "etcd://" + etcd.host_port() + "?operation_timeout=5s";
  verrou::LockFactory locks(verrou::open_store(url));
  auto held = locks.create_lock("restart-held", verrou::forever);
  ASSERT_TRUE(held.acquire_immediately());
  auto a = locks.create_lock("restart-lock", 30s);
  ASSERT_TRUE(a.acquire_immediately());
  const auto before = *a.fencing_token();
  a.release();
  ASSERT_TRUE(etcd.restart());
  // The same store object reconnects; the held lock survived.
  EXPECT_TRUE(held.is_locked());
  auto b = locks.create_lock("restart-lock", 30s);
  ASSERT_TRUE(b.acquire_immediately());
  EXPECT_GT(*b.fencing_token(), before);
  b.release();
  held.release();
}

}  // namespace
