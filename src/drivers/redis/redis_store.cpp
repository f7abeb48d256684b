// SPDX-License-Identifier: Apache-2.0
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <utility>

#include "detail/driver_registry.hpp"
#include "detail/url.hpp"
#include "drivers/redis/redis_client.hpp"
#include "verrou/drivers/redis.hpp"
#include "verrou/errors.hpp"
#include "verrou/open_store.hpp"

namespace verrou {

namespace {

using detail::redis::Clock;
using detail::redis::Client;
using detail::redis::Connection;
using detail::redis::Reply;
using detail::redis::storage_failure;

constexpr std::string_view kChannelPrefix = "verrou:released:";

// A Lua script sent as EVALSHA, and as EVAL when the server does not know it yet.
struct Script {
  std::string body;
  std::string sha1;

  explicit Script(std::string text) : body(std::move(text)) {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int length = 0;
    EVP_Digest(body.data(), body.size(), digest, &length, EVP_sha1(), nullptr);
    static constexpr char kHex[] = "0123456789abcdef";
    for (unsigned int i = 0; i < length; ++i) {
      sha1 += kHex[digest[i] >> 4];
      sha1 += kHex[digest[i] & 15];
    }
  }
};

// Release: delete the key only when this owner holds it, and tell waiters.
const Script& release_script() {
  static const Script s(
      "if redis.call('get', KEYS[1]) == ARGV[1] then\n"
      "  redis.call('del', KEYS[1])\n"
      "  redis.call('publish', ARGV[2], '')\n"
      "  return 1\n"
      "end\n"
      "return 0\n");
  return s;
}

// Forced release: delete whoever holds it, and tell waiters when something was deleted.
const Script& force_release_script() {
  static const Script s(
      "if redis.call('del', KEYS[1]) == 1 then\n"
      "  redis.call('publish', ARGV[1], '')\n"
      "end\n"
      "return 1\n");
  return s;
}

// Extend: set a new expiry only when this owner holds the lock.
const Script& extend_script() {
  static const Script s(
      "if redis.call('get', KEYS[1]) == ARGV[1] then\n"
      "  return redis.call('pexpire', KEYS[1], ARGV[2])\n"
      "end\n"
      "return 0\n");
  return s;
}

// Save for a waiter: take the lock, or say how long the holder's lease has left (-1: none,
// -2: gone meanwhile), so the waiter also wakes when the lease runs out.
const Script& save_or_ttl_script() {
  static const Script s(
      "local ok\n"
      "if ARGV[2] == '' then\n"
      "  ok = redis.call('set', KEYS[1], ARGV[1], 'NX')\n"
      "else\n"
      "  ok = redis.call('set', KEYS[1], ARGV[1], 'PX', ARGV[2], 'NX')\n"
      "end\n"
      "if ok then return -3 end\n"
      "return redis.call('pttl', KEYS[1])\n");
  return s;
}

// Waiting threads of one store share one subscriber connection, run by one thread: it
// subscribes to the channels waiters need, wakes them when a release is announced, and
// keeps a channel subscribed for a while after its last waiter left, so a hand-off between
// two threads does not pay a SUBSCRIBE each time.
class Subscriber {
 public:
  struct Channel {
    int waiters = 0;
    std::uint64_t messages = 0;  // bumped on each announcement (and on reconnects)
    bool subscribed = false;     // as of the replies read so far
    std::deque<bool> in_flight;  // SUBSCRIBE (true) / UNSUBSCRIBE (false) sent, not yet confirmed
    Clock::time_point idle_since;
    std::condition_variable changed;
    [[nodiscard]] bool wanted(Clock::time_point now) const {
      return waiters > 0 || now - idle_since < kLinger;
    }
    [[nodiscard]] bool will_be_subscribed() const {
      return in_flight.empty() ? subscribed : in_flight.back();
    }
  };
  static constexpr auto kLinger = std::chrono::seconds(2);

  // Registration of one waiting thread on one channel.
  class Watch {
   public:
    Watch(Subscriber& owner, std::string channel) : owner_(owner), name_(std::move(channel)) {
      channel_ = owner_.join(name_);
    }
    ~Watch() { owner_.leave(*channel_); }
    Watch(const Watch&) = delete;
    Watch& operator=(const Watch&) = delete;

    // The announcement count, to compare after an attempt.
    std::uint64_t messages() {
      std::lock_guard lock(owner_.mutex_);
      return channel_->messages;
    }
    // Waits until subscribed (so no release is missed after this returns true), or until
    // `deadline`. False when the subscriber could not subscribe in time.
    bool wait_subscribed(Clock::time_point deadline) {
      std::unique_lock lock(owner_.mutex_);
      return channel_->changed.wait_until(lock, deadline, [&] {
        return channel_->subscribed && channel_->in_flight.empty();
      });
    }
    // Waits until an announcement after `seen`, or `deadline`. True when one came.
    bool wait_message(std::uint64_t seen, Clock::time_point deadline) {
      std::unique_lock lock(owner_.mutex_);
      return channel_->changed.wait_until(lock, deadline,
                                          [&] { return channel_->messages != seen; });
    }

   private:
    Subscriber& owner_;
    std::string name_;
    std::shared_ptr<Channel> channel_;
  };

  explicit Subscriber(Client& client) : client_(client) {}

  // Whether `name` is subscribed now (someone waited on it lately): the key is contended.
  bool subscribed(const std::string& name) {
    std::lock_guard lock(mutex_);
    auto it = channels_.find(name);
    return it != channels_.end() && it->second->subscribed;
  }

  ~Subscriber() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    wake();
    if (thread_.joinable()) thread_.join();
    if (wake_fd_ >= 0) ::close(wake_fd_);
  }
  Subscriber(const Subscriber&) = delete;
  Subscriber& operator=(const Subscriber&) = delete;

 private:
  std::shared_ptr<Channel> join(const std::string& name) {
    bool start = false;
    bool changed = false;
    std::shared_ptr<Channel> channel;
    {
      std::lock_guard lock(mutex_);
      auto& slot = channels_[name];
      if (!slot) slot = std::make_shared<Channel>();
      channel = slot;
      channel->waiters++;
      changed = !channel->will_be_subscribed();
      if (!started_) {
        started_ = true;
        start = true;
        wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
      }
      if (start) thread_ = std::thread([this] { loop(); });
    }
    if (changed) wake();
    return channel;
  }

  void leave(Channel& channel) {
    std::lock_guard lock(mutex_);
    channel.waiters--;
    channel.idle_since = Clock::now();
  }

  void wake() {
    if (wake_fd_ < 0) return;
    std::uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(wake_fd_, &one, sizeof one);
  }

  void drain_wake() {
    std::uint64_t value = 0;
    [[maybe_unused]] auto n = ::read(wake_fd_, &value, sizeof value);
  }

  // Everything the connection lost: waiters try again (and fall back to their deadlines).
  void on_disconnect() {
    std::lock_guard lock(mutex_);
    for (auto& [name, channel] : channels_) {
      channel->subscribed = false;
      channel->in_flight.clear();
      channel->messages++;
      channel->changed.notify_all();
    }
  }

  // SUBSCRIBE/UNSUBSCRIBE what changed since the last round.
  std::vector<std::vector<std::string>> plan() {
    std::vector<std::string> subscribe{"SUBSCRIBE"};
    std::vector<std::string> unsubscribe{"UNSUBSCRIBE"};
    auto now = Clock::now();
    std::lock_guard lock(mutex_);
    for (auto it = channels_.begin(); it != channels_.end();) {
      Channel& c = *it->second;
      bool wanted = c.wanted(now);
      if (wanted != c.will_be_subscribed()) {
        c.in_flight.push_back(wanted);
        (wanted ? subscribe : unsubscribe).push_back(it->first);
      }
      if (!wanted && c.waiters == 0 && !c.subscribed && c.in_flight.empty()) {
        it = channels_.erase(it);
      } else {
        ++it;
      }
    }
    std::vector<std::vector<std::string>> commands;
    if (subscribe.size() > 1) commands.push_back(std::move(subscribe));
    if (unsubscribe.size() > 1) commands.push_back(std::move(unsubscribe));
    return commands;
  }

  void handle(const Reply& reply) {
    if (reply.type != Reply::Type::kArray || reply.elements.size() < 2) return;
    const std::string& kind = reply.elements[0].str;
    const std::string& name = reply.elements[1].str;
    std::lock_guard lock(mutex_);
    auto it = channels_.find(name);
    if (it == channels_.end()) return;
    Channel& c = *it->second;
    if (kind == "message") {
      c.messages++;
    } else if (kind == "subscribe" || kind == "unsubscribe") {
      if (!c.in_flight.empty()) c.in_flight.pop_front();
      c.subscribed = kind == "subscribe";
    } else {
      return;
    }
    c.changed.notify_all();
  }

  bool stopping() {
    std::lock_guard lock(mutex_);
    return stopping_;
  }

  void loop() {
    std::unique_ptr<Connection> connection;
    std::size_t attempt = 0;
    Clock::time_point connected_at;
    while (!stopping()) {
      if (!connection) {
        try {
          auto target = client_.subscriber_target(attempt);
          connection = std::make_unique<Connection>(target, client_.options(), client_.tls());
          connection->open(Clock::now() + client_.options().connect_timeout);
          connected_at = Clock::now();
          attempt = 0;
        } catch (...) {
          // Waiters fall back to their own deadlines meanwhile; try again shortly.
          connection.reset();
          attempt++;
          auto pause = std::min<long>(1000, 50L << std::min<std::size_t>(attempt, 5));
          pollfd p{wake_fd_, POLLIN, 0};
          ::poll(&p, 1, static_cast<int>(pause));
          drain_wake();
          continue;
        }
      }
      try {
        for (const auto& command : plan()) {
          connection->send(command, Clock::now() + client_.options().command_timeout);
        }
        auto replies = connection->read_some(Clock::now() + std::chrono::milliseconds(250), wake_fd_);
        drain_wake();
        for (const auto& reply : replies) handle(reply);
      } catch (...) {
        // Lost connection (or anything else): start over; waiters retry meanwhile. A server
        // that drops connections at once (maxclients) is not hammered in a tight loop.
        connection.reset();
        on_disconnect();
        if (Clock::now() - connected_at < std::chrono::seconds(1)) {
          pollfd p{wake_fd_, POLLIN, 0};
          ::poll(&p, 1, 100);
          drain_wake();
        }
      }
    }
    connection.reset();
    OPENSSL_thread_stop();  // this thread's TLS state, which OpenSSL keeps per thread
  }

  Client& client_;
  std::mutex mutex_;
  std::unordered_map<std::string, std::shared_ptr<Channel>> channels_;
  bool started_ = false;
  bool stopping_ = false;
  int wake_fd_ = -1;
  std::thread thread_;
};

void validate_connection(const RedisConnection& c) {
  if (c.unix_socket.empty() && c.endpoints.empty()) {
    throw InvalidArgumentError(
        "redis: no server given; set RedisConnection::endpoints (or unix_socket), e.g. "
        "RedisConnection::from_url(\"redis://127.0.0.1:6379\")");
  }
  for (const auto& e : c.endpoints) {
    if (e.host.empty()) throw InvalidArgumentError("redis: an endpoint has an empty host name");
    if (e.port == 0) throw InvalidArgumentError("redis: endpoint " + e.host + " has port 0; give 1-65535");
  }
  if (c.cluster && !c.unix_socket.empty()) {
    throw InvalidArgumentError("redis: a cluster is reached over TCP; unix_socket cannot be used with cluster");
  }
  if (c.cluster && c.database != 0) {
    throw InvalidArgumentError("redis: Redis Cluster has only database 0; got database " +
                               std::to_string(c.database));
  }
  if (c.database < 0) {
    throw InvalidArgumentError("redis: database must be 0 or more; got " + std::to_string(c.database));
  }
  if (c.connect_timeout.count() <= 0 || c.command_timeout.count() <= 0) {
    throw InvalidArgumentError("redis: connect_timeout and command_timeout must be more than 0 ms");
  }
  if (c.pool_size == 0) throw InvalidArgumentError("redis: pool_size must be at least 1");
}

}  // namespace

// ---------------------------------------------------------------------------------------

struct RedisStore::Impl {
  explicit Impl(RedisStoreOptions o) : options(std::move(o)), client(options.connection), subscriber(client) {}

  RedisStoreOptions options;
  Client client;
  Subscriber subscriber;

  [[nodiscard]] std::string full_key(const std::string& key) const {
    validate_key(key);
    return options.key_prefix + key;
  }
  static std::string channel_of(const std::string& full) {
    return std::string(kChannelPrefix) + full;
  }

  // EVALSHA, falling back to EVAL on NOSCRIPT. An error reply (e.g. WRONGTYPE when the key
  // holds something that is not a lock) becomes LockStorageError.
  Reply eval(const Script& script, const std::string& key, std::vector<std::string> args,
             std::string_view operation) {
    std::vector<std::string> command{"EVALSHA", script.sha1, "1", key};
    for (auto& a : args) command.push_back(std::move(a));
    Reply reply = client.run(key, command, operation);
    if (reply.error_starts_with("NOSCRIPT")) {
      command[0] = "EVAL";
      command[1] = script.body;
      reply = client.run(key, command, operation);
    }
    if (reply.is_error()) unexpected(operation, key, reply);
    return reply;
  }

  [[noreturn]] void unexpected(std::string_view operation, const std::string& key,
                               const Reply& reply) const {
    std::string detail = "unexpected reply " + reply.describe() + " for key \"" + key + "\"";
    if (reply.str.find("WRONGTYPE") != std::string::npos) {
      detail += " (the key holds a value that is not a lock; is another program using it?)";
    }
    storage_failure(client.describe(), operation, detail);
  }

  bool set_nx(const std::string& full, const std::string& owner, std::optional<Duration> ttl) {
    std::vector<std::string> command{"SET", full, owner};
    if (ttl) {
      command.emplace_back("PX");
      command.push_back(std::to_string(ttl->count()));
    }
    command.emplace_back("NX");
    Reply reply = client.run(full, command, "save (SET NX)");
    if (reply.type == Reply::Type::kStatus && reply.str == "OK") return true;
    if (reply.type == Reply::Type::kNil) return false;
    unexpected("save (SET NX)", full, reply);
  }
};

RedisStore::RedisStore(RedisStoreOptions options) {
  validate_connection(options.connection);
  impl_ = std::make_unique<Impl>(std::move(options));
}

RedisStore::~RedisStore() = default;

bool RedisStore::save(const std::string& key, const std::string& owner, std::optional<Duration> ttl) {
  std::string full = impl_->full_key(key);
  validate_ttl(ttl);
  return impl_->set_nx(full, owner, ttl);
}

void RedisStore::remove(const std::string& key, const std::string& owner) {
  std::string full = impl_->full_key(key);
  Reply reply = impl_->eval(release_script(), full, {owner, Impl::channel_of(full)}, "release");
  if (reply.type != Reply::Type::kInteger) impl_->unexpected("release", full, reply);
  if (reply.integer != 1) {
    throw LockNotOwnedError("lock \"" + key +
                            "\" is not held by this owner: it was released, expired, or taken "
                            "by another owner");
  }
}

void RedisStore::force_remove(const std::string& key) {
  std::string full = impl_->full_key(key);
  impl_->eval(force_release_script(), full, {Impl::channel_of(full)}, "force release");
}

bool RedisStore::exists(const std::string& key) {
  std::string full = impl_->full_key(key);
  Reply reply = impl_->client.run(full, {"EXISTS", full}, "exists (EXISTS)");
  if (reply.type != Reply::Type::kInteger) impl_->unexpected("exists (EXISTS)", full, reply);
  return reply.integer > 0;
}

void RedisStore::extend(const std::string& key, const std::string& owner, Duration duration) {
  std::string full = impl_->full_key(key);
  validate_ttl(duration);
  Reply reply = impl_->eval(extend_script(), full, {owner, std::to_string(duration.count())}, "extend");
  if (reply.type != Reply::Type::kInteger) impl_->unexpected("extend", full, reply);
  if (reply.integer != 1) {
    throw LockNotOwnedError("lock \"" + key +
                            "\" is not held by this owner: it was released, expired, or taken "
                            "by another owner");
  }
}

std::optional<Acquired> RedisStore::save_waiting(
    const std::string& key, const std::string& owner, std::optional<Duration> ttl,
    std::chrono::steady_clock::time_point until,
    std::chrono::steady_clock::time_point /*waiting_since*/) {
  std::string full = impl_->full_key(key);
  validate_ttl(ttl);
  const std::string channel = Impl::channel_of(full);
  std::chrono::system_clock::time_point written_at;
  // Most locks are free: one SET, no subscription. A key someone waited on lately is still
  // subscribed, and likely taken: skip straight to the attempt that also reads the lease.
  if (!impl_->subscriber.subscribed(channel)) {
    written_at = std::chrono::system_clock::now();
    if (impl_->set_nx(full, owner, ttl)) return Acquired{.written_at = written_at};
    if (Clock::now() >= until) return std::nullopt;
  }

  // Subscribed before the next attempt, so a release between that attempt and the wait
  // is not missed. If subscribing takes too long, the waiter still wakes at its deadline or
  // when the holder's lease ends.
  Subscriber::Watch watch(impl_->subscriber, channel);
  watch.wait_subscribed(std::min(until, Clock::now() + impl_->options.connection.command_timeout));
  const std::string ttl_text = ttl ? std::to_string(ttl->count()) : std::string();
  for (;;) {
    std::uint64_t seen = watch.messages();
    written_at = std::chrono::system_clock::now();
    Reply reply = impl_->eval(save_or_ttl_script(), full, {owner, ttl_text}, "save (waiting)");
    if (reply.type != Reply::Type::kInteger) impl_->unexpected("save (waiting)", full, reply);
    if (reply.integer == -3) return Acquired{.written_at = written_at};
    auto now = Clock::now();
    if (now >= until) return std::nullopt;
    if (reply.integer == -2) continue;  // released between SET and PTTL: try again at once
    auto wake_at = until;
    if (reply.integer >= 0) {
      wake_at = std::min(until, now + std::chrono::milliseconds(reply.integer + 1));
    }
    if (!watch.wait_message(seen, wake_at) && wake_at >= until) return std::nullopt;
  }
}

void RedisStore::ping() {
  for (const auto& reply : impl_->client.run_everywhere({"PING"}, "PING")) {
    if (reply.is_error()) storage_failure(impl_->client.describe(), "PING", reply.describe());
  }
}

std::string RedisStore::release_channel(std::string_view key) const {
  return Impl::channel_of(impl_->options.key_prefix + std::string(key));
}

StoreFactory redis_store(RedisStoreOptions options) {
  validate_connection(options.connection);
  return StoreFactory{
      .driver = "redis",
      .create = [options = std::move(options)] { return std::make_shared<RedisStore>(options); },
  };
}

// ---------------------------------------------------------------------------------------
// URLs

namespace {

Duration duration_param(const detail::Url& url, std::string_view name, Duration fallback) {
  auto text = url.param(name);
  if (!text) return fallback;
  Duration d;
  try {
    d = parse_duration(*text);
  } catch (const InvalidArgumentError& e) {
    throw InvalidArgumentError("redis URL option " + std::string(name) + ": " + e.what());
  }
  if (d.count() <= 0) {
    throw InvalidArgumentError("redis URL option " + std::string(name) + " must be more than 0 ms");
  }
  return d;
}

long long integer_param(std::string_view name, const std::string& text, long long low, long long high) {
  long long value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || ptr != text.data() + text.size() || value < low || value > high) {
    throw InvalidArgumentError("redis URL option " + std::string(name) + "=\"" + text +
                               "\" is not a whole number from " + std::to_string(low) + " to " +
                               std::to_string(high));
  }
  return value;
}

RedisConnection connection_from(const detail::Url& url, bool allow_key_prefix) {
  const std::string& scheme = url.scheme;
  RedisConnection c;
  c.tls = scheme == "rediss" || scheme == "rediss+cluster";
  c.cluster = scheme == "redis+cluster" || scheme == "rediss+cluster";
  bool unix = scheme == "redis+unix";
  if (!c.tls && !c.cluster && !unix && scheme != "redis") {
    throw InvalidArgumentError("not a Redis URL scheme: \"" + scheme +
                               "\"; use redis://, rediss://, redis+unix:// or redis+cluster://");
  }
  if (!url.has_authority) {
    throw InvalidArgumentError("a " + scheme + " URL needs \"//\": " + scheme +
                               (unix ? ":///path/to/redis.sock" : "://host:port"));
  }
  std::vector<std::string_view> known = {"connect_timeout", "command_timeout", "pool_size", "db",
                                         "username", "password"};
  if (c.tls) {
    for (auto n : {"ca_file", "insecure_skip_verify", "tls_server_name", "cert_file", "key_file"}) {
      known.emplace_back(n);
    }
  }
  if (allow_key_prefix) known.emplace_back("key_prefix");
  for (const auto& [name, value] : url.query) {
    if (std::find(known.begin(), known.end(), name) == known.end()) {
      std::string list;
      for (auto k : known) list += (list.empty() ? "" : ", ") + std::string(k);
      bool tls_option = name == "ca_file" || name == "insecure_skip_verify" ||
                        name == "tls_server_name" || name == "cert_file" || name == "key_file";
      throw InvalidArgumentError("unknown option \"" + name + "\" in a " + scheme + ": URL" +
                                 (tls_option ? " (TLS options need rediss:// or rediss+cluster://)"
                                             : "") +
                                 "; known options: " + list);
    }
  }
  if (url.username) c.username = *url.username;
  if (url.password) c.password = *url.password;
  if (auto u = url.param("username")) c.username = *u;
  if (auto p = url.param("password")) c.password = *p;

  if (unix) {
    if (!url.hosts.empty()) {
      throw InvalidArgumentError("a redis+unix URL takes a socket path, not a host: "
                                 "redis+unix:///run/redis/redis.sock");
    }
    if (url.path.size() < 2) {
      throw InvalidArgumentError("a redis+unix URL needs the socket's path: redis+unix:///run/redis/redis.sock");
    }
    c.unix_socket = url.path;
  } else {
    if (url.hosts.empty()) {
      throw InvalidArgumentError("a " + scheme + " URL needs a host: " + scheme + "://127.0.0.1:6379");
    }
    if (!c.cluster && url.hosts.size() > 1) {
      throw InvalidArgumentError("a " + scheme +
                                 " URL takes one host; for Redis Cluster use redis+cluster://h1:p1,h2:p2");
    }
    for (const auto& h : url.hosts) c.endpoints.push_back({h.host, h.port.value_or(6379)});
    if (!url.path.empty() && url.path != "/") {
      if (c.cluster) {
        throw InvalidArgumentError("a " + scheme + " URL takes no database path (Redis Cluster has only database 0)");
      }
      c.database = static_cast<int>(integer_param("database (the URL path)", url.path.substr(1), 0, 1'000'000));
    }
  }
  if (auto db = url.param("db")) {
    c.database = static_cast<int>(integer_param("db", *db, 0, 1'000'000));
  }
  c.connect_timeout = duration_param(url, "connect_timeout", c.connect_timeout);
  c.command_timeout = duration_param(url, "command_timeout", c.command_timeout);
  if (auto p = url.param("pool_size")) {
    c.pool_size = static_cast<std::size_t>(integer_param("pool_size", *p, 1, 100'000));
  }
  if (auto v = url.param("ca_file")) c.tls_ca_file = *v;
  if (auto v = url.param("tls_server_name")) c.tls_server_name = *v;
  if (auto v = url.param("cert_file")) c.tls_cert_file = *v;
  if (auto v = url.param("key_file")) c.tls_key_file = *v;
  if (auto v = url.param("insecure_skip_verify")) {
    c.tls_insecure_skip_verify = detail::parse_bool_param("insecure_skip_verify", *v);
  }
  validate_connection(c);
  return c;
}

std::shared_ptr<LockStore> open_redis(const detail::Url& url) {
  RedisStoreOptions options{.connection = connection_from(url, true),
                            .key_prefix = url.param("key_prefix").value_or("")};
  return std::make_shared<RedisStore>(std::move(options));
}

}  // namespace

RedisConnection RedisConnection::from_url(std::string_view url) {
  return connection_from(detail::parse_url(url), false);
}

std::string RedisConnection::describe() const {
  std::string text;
  if (!unix_socket.empty()) return "unix:" + unix_socket;
  if (cluster) text = "cluster ";
  for (std::size_t i = 0; i < endpoints.size(); ++i) {
    if (i > 0) text += ",";
    const auto& e = endpoints[i];
    bool ipv6 = e.host.find(':') != std::string::npos;
    if (ipv6) text += '[';
    text += e.host;
    if (ipv6) text += ']';
    text += ':';
    text += std::to_string(e.port);
  }
  return text;
}

namespace detail {
void register_redis_driver(DriverRegistry& registry) {
  for (const char* scheme : {"redis", "rediss", "redis+unix", "redis+cluster", "rediss+cluster"}) {
    registry.add(scheme, &open_redis);
  }
}
}  // namespace detail

}  // namespace verrou
