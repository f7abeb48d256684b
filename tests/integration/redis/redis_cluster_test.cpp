// SPDX-License-Identifier: Apache-2.0
// Redis Cluster: routing by hash slot, and a slot moved between masters (as
// `redis-cli --cluster reshard` does: SETSLOT IMPORTING/MIGRATING, MIGRATE, SETSLOT NODE)
// while locks in it are held and contended. No lock may be lost or doubled.
#include <gtest/gtest.h>
#include <verrou/lock_factory.hpp>
#include <verrou/testing/conformance.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <set>
#include <sstream>
#include <thread>

#include "drivers/redis/hash_slot.hpp"
#include "redis_test_support.hpp"

namespace verrou::conformance {
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(StoreConformance);
}

namespace verrou {
namespace {

using namespace std::chrono_literals;

std::string shell(const std::string& command) {
  std::string out;
  if (FILE* pipe = ::popen((command + " 2>&1").c_str(), "r")) {
    char buffer[4096];
    while (std::fgets(buffer, sizeof buffer, pipe) != nullptr) out += buffer;
    ::pclose(pipe);
  }
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  return out;
}

struct Node {
  std::string id;
  std::string host;
  int port = 0;
};

class RedisClusterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (auto why = redis_test::unavailable(redis_test::cluster_url())) VERROU_SKIP_OR_FAIL(*why);
    if (std::system("redis-cli --version >/dev/null 2>&1") != 0) {
      VERROU_SKIP_OR_FAIL("redis-cli is not installed");
    }
    auto c = RedisConnection::from_url(redis_test::cluster_url());
    seed_ = c.endpoints.front();
    store_ = redis_test::make_store(redis_test::cluster_url());
  }

  std::string cli(const Node& n, const std::string& args) const {
    return shell("redis-cli -h " + n.host + " -p " + std::to_string(n.port) + " " + args);
  }
  std::string cli(const std::string& args) const {
    return shell("redis-cli -h " + seed_.host + " -p " + std::to_string(seed_.port) + " " + args);
  }

  // The masters, and which of them serves `slot`.
  std::vector<Node> masters(int slot, Node& owner) const {
    std::vector<Node> out;
    std::istringstream lines(cli("cluster nodes"));
    std::string line;
    while (std::getline(lines, line)) {
      std::istringstream fields(line);
      std::vector<std::string> f;
      for (std::string x; fields >> x;) f.push_back(x);
      if (f.size() < 8 || f[2].find("master") == std::string::npos) continue;
      Node n;
      n.id = f[0];
      auto address = f[1].substr(0, f[1].find('@'));
      n.host = address.substr(0, address.rfind(':'));
      n.port = std::stoi(address.substr(address.rfind(':') + 1));
      out.push_back(n);
      for (std::size_t i = 8; i < f.size(); ++i) {
        if (f[i].front() == '[') continue;  // a migration in progress
        auto dash = f[i].find('-');
        int first = std::stoi(f[i].substr(0, dash));
        int last = dash == std::string::npos ? first : std::stoi(f[i].substr(dash + 1));
        if (slot >= first && slot <= last) owner = n;
      }
    }
    return out;
  }

  RedisEndpoint seed_;
  std::shared_ptr<RedisStore> store_;
};

TEST_F(RedisClusterTest, KeysSpreadOverTheMastersAndAreFoundThere) {
  // Keys chosen to land on different masters; each is written where its slot lives.
  std::string prefix = "verrou-cluster-spread:" + conformance::unique_suffix() + ":";
  std::vector<std::string> keys;
  for (int i = 0; i < 30; ++i) keys.push_back(prefix + std::to_string(i));
  for (const auto& k : keys) ASSERT_TRUE(store_->save(k, "o", 30s)) << k;
  std::set<int> ports;
  for (const auto& k : keys) {
    Node owner;
    masters(detail::redis::key_slot(k), owner);
    ASSERT_FALSE(owner.id.empty());
    EXPECT_EQ(cli(owner, "get " + k), "o") << k;  // the node itself has it, no redirection
    ports.insert(owner.port);
  }
  EXPECT_GE(ports.size(), 2u) << "30 keys all landed on one master";
  for (const auto& k : keys) store_->remove(k, "o");
}

// Moves `slot` from `from` to `to` in steps, calling `between(step)` after each step.
void migrate_slot(const RedisClusterTest& t, int slot, const Node& from, const Node& to,
                  const std::vector<Node>& all, const std::function<void(int)>& between,
                  const std::function<std::string(const Node&, const std::string&)>& cli) {
  auto s = std::to_string(slot);
  ASSERT_EQ(cli(to, "cluster setslot " + s + " importing " + from.id), "OK");
  ASSERT_EQ(cli(from, "cluster setslot " + s + " migrating " + to.id), "OK");
  between(1);  // both states set, no key moved yet
  bool first_batch = true;
  for (int round = 0; round < 1000; ++round) {
    auto listed = cli(from, "cluster getkeysinslot " + s + " 1");
    if (listed.empty()) break;
    ASSERT_EQ(cli(from, "migrate " + to.host + " " + std::to_string(to.port) + " \"\" 0 5000 keys " + listed),
              "OK")
        << listed;
    if (first_batch) between(2);  // some keys moved, others not
    first_batch = false;
  }
  for (const auto& n : all) ASSERT_EQ(cli(n, "cluster setslot " + s + " node " + to.id), "OK");
  between(3);  // done; clients holding the old map get MOVED
  (void)t;
}

TEST_F(RedisClusterTest, MovingASlotWhileLocksAreHeldLosesAndDoublesNothing) {
  const std::string tag = "{verrou-migrate-" + conformance::unique_suffix() + "}";
  const int slot = detail::redis::key_slot(tag);
  Node from;
  auto all = masters(slot, from);
  ASSERT_FALSE(from.id.empty()) << "no master serves slot " << slot;
  ASSERT_GE(all.size(), 2u);
  Node to = all[0].id == from.id ? all[1] : all[0];
  auto node_cli = [this](const Node& n, const std::string& a) { return cli(n, a); };

  // Held before the move: one with a TTL, one forever, plus several more to move in batches.
  const std::string a = tag + "a", b = tag + "b", c = tag + "c";
  ASSERT_TRUE(store_->save(a, "owner-a", 60s));
  ASSERT_TRUE(store_->save(b, "owner-b", forever));
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(store_->save(tag + "extra" + std::to_string(i), "x", 60s));

  // Contention on one key of the slot all through the move.
  LockFactory factory(store_);
  std::atomic<bool> stop{false};
  std::atomic<bool> in_use{false};
  std::atomic<int> overlaps{0};
  std::atomic<int> cycles{0};
  std::atomic<int> errors{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      while (!stop) {
        auto lock = factory.create_lock(tag + "hot", 30s);
        try {
          if (!lock.acquire({.retry = {.delay = 2ms, .timeout = 30s}})) continue;
          if (in_use.exchange(true)) overlaps++;
          std::this_thread::sleep_for(200us);
          in_use = false;
          lock.release();
          cycles++;
        } catch (const Error& e) {
          errors++;
          ADD_FAILURE() << "during the move: " << e.what();
        }
      }
    });
  }

  bool c_created = false;
  auto check = [&](int step) {
    SCOPED_TRACE("step " + std::to_string(step));
    // Every held lock is still held by its owner and by nobody else.
    EXPECT_FALSE(store_->save(a, "intruder", 60s));
    EXPECT_FALSE(store_->save(b, "intruder", 60s));
    EXPECT_TRUE(store_->exists(a));
    EXPECT_TRUE(store_->exists(b));
    EXPECT_NO_THROW(store_->extend(a, "owner-a", 60s));
    EXPECT_THROW(store_->extend(b, "intruder", 60s), LockNotOwnedError);
    if (step == 1 && !c_created) {
      // A new key in a migrating slot is created on the importing node (ASK).
      EXPECT_TRUE(store_->save(c, "owner-c", 60s));
      EXPECT_NE(cli(to, "cluster getkeysinslot " + std::to_string(slot) + " 100").find(c),
                std::string::npos) << "the new key is not on the importing node";
      c_created = true;
    }
    EXPECT_TRUE(store_->exists(c));
    EXPECT_FALSE(store_->save(c, "intruder", 60s));
    std::this_thread::sleep_for(100ms);  // let the contending threads run in this state
  };
  migrate_slot(*this, slot, from, to, all, check, node_cli);
  // The slot is now on `to`, and the keys with it.
  EXPECT_EQ(cli(to, "get " + a), "owner-a");
  EXPECT_EQ(cli(to, "get " + b), "owner-b");
  std::this_thread::sleep_for(200ms);

  // And back again, so the cluster is as it was.
  migrate_slot(*this, slot, to, from, all, check, node_cli);
  stop = true;
  for (auto& t : threads) t.join();

  EXPECT_EQ(overlaps.load(), 0) << "two holders held the lock at once during the move";
  EXPECT_EQ(errors.load(), 0);
  EXPECT_GT(cycles.load(), 0);
  store_->remove(a, "owner-a");
  store_->remove(b, "owner-b");
  store_->remove(c, "owner-c");
  for (int i = 0; i < 5; ++i) store_->remove(tag + "extra" + std::to_string(i), "x");
  EXPECT_FALSE(store_->exists(a));
}

TEST_F(RedisClusterTest, WaitersAreWokenAcrossNodes) {
  // The subscriber listens on one node; releases on any master reach it.
  LockFactory factory(store_);
  std::string prefix = "verrou-cluster-wake:" + conformance::unique_suffix() + ":";
  for (int i = 0; i < 6; ++i) {
    auto k = prefix + std::to_string(i);
    auto holder = factory.create_lock(k, 30s);
    ASSERT_TRUE(holder.acquire());
    std::atomic<bool> got{false};
    std::thread waiter([&] {
      auto lock = factory.create_lock(k, 30s);
      got = lock.acquire({.retry = {.delay = 30s, .timeout = 60s}});
      if (got) lock.release();
    });
    std::this_thread::sleep_for(100ms);
    auto released = std::chrono::steady_clock::now();
    holder.release();
    waiter.join();
    EXPECT_TRUE(got.load());
    EXPECT_LT(std::chrono::steady_clock::now() - released, 10s) << k;
  }
}

// A black-holed node: connections to it never complete (its accept queue is full and never
// served, so its SYNs go unanswered), as for a host that dropped off the network.
class SilentListener {
 public:
  SilentListener() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address);
    ::listen(fd_, 0);
    socklen_t length = sizeof address;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &length);
    port_ = ntohs(address.sin_port);
    for (int& filler : fillers_) {  // fill the queue
      filler = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
      ::connect(filler, reinterpret_cast<sockaddr*>(&address), sizeof address);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ~SilentListener() {
    for (int filler : fillers_) ::close(filler);
    ::close(fd_);
  }
  SilentListener(const SilentListener&) = delete;
  SilentListener& operator=(const SilentListener&) = delete;
  [[nodiscard]] std::string address() const { return "127.0.0.1:" + std::to_string(port_); }

 private:
  int fd_ = -1;
  int fillers_[4] = {-1, -1, -1, -1};
  std::uint16_t port_ = 0;
};

TEST(RedisClusterFaults, SilentSeedsDoNotHoldCallersPastTheirDeadline) {
  if (auto why = redis_test::unavailable(redis_test::cluster_url())) VERROU_SKIP_OR_FAIL(*why);
  // Five seeds that never answer come first; the cluster's own nodes after them.
  SilentListener silent[5];
  auto real = RedisConnection::from_url(redis_test::cluster_url());
  std::string url = "redis+cluster://" + silent[0].address();
  for (int i = 1; i < 5; ++i) url += "," + silent[i].address();
  for (const auto& e : real.endpoints) url += "," + e.host + ":" + std::to_string(e.port);
  auto store = redis_test::make_store(url + "?connect_timeout=300ms&command_timeout=300ms");
  const std::string key = "verrou-cluster-silent:" + conformance::unique_suffix();
  // Each call ends within connect + command timeout of retries plus one command timeout for
  // its reply (900 ms), whatever the other callers do (none waits for another's reading of
  // the map past its own deadline); soon the map is read and calls work.
  std::atomic<int> succeeded{0};
  std::atomic<long long> longest_ms{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 6; ++i) {
        const auto start = std::chrono::steady_clock::now();
        try {
          (void)store->exists(key + std::to_string(t));
          succeeded++;
        } catch (const LockStorageError&) {
        }
        const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::steady_clock::now() - start).count();
        long long seen = longest_ms.load();
        while (ms > seen && !longest_ms.compare_exchange_weak(seen, ms)) {
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_LT(longest_ms.load(), 900 + 1100) << "a caller was held far past its deadline";
  EXPECT_GT(succeeded.load(), 0) << "the silent seeds kept every caller from the cluster";
}

TEST(RedisClusterUrl, AStandaloneServerIsNotACluster) {
  if (auto why = redis_test::unavailable(redis_test::standalone_url())) VERROU_SKIP_OR_FAIL(*why);
  auto c = RedisConnection::from_url(redis_test::standalone_url());
  c.cluster = true;
  RedisStore store({.connection = c, .key_prefix = ""});
  try {
    store.exists("k");
    FAIL() << "a standalone server was used as a cluster";
  } catch (const LockStorageError& e) {
    EXPECT_NE(std::string(e.what()).find("not a cluster"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace verrou
