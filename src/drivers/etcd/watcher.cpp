// SPDX-License-Identifier: Apache-2.0
#include "drivers/etcd/watcher.hpp"

#include <curl/curl.h>

#include <algorithm>
#include <stdexcept>
#include <string_view>
#include <utility>

namespace verrou::detail::etcd {
namespace {

// How long the stream stays open after the last waiter left: a key contended now is likely
// contended again soon, and reopening costs a round trip.
constexpr auto kLinger = std::chrono::seconds(10);
// How long a silent stream is trusted before its member is asked a quorum read.
constexpr auto kProbeAfter = std::chrono::seconds(3);
// Longest line the stream may send (deletion events carry keys only).
constexpr std::size_t kMaxLine = 16U << 20U;

struct StreamEnded : std::runtime_error {
  using std::runtime_error::runtime_error;
};

std::size_t on_data(char* data, std::size_t size, std::size_t count, void* user) {
  auto* buffer = static_cast<std::string*>(user);
  if (buffer->size() + size * count > kMaxLine) return 0;  // ends the transfer
  buffer->append(data, size * count);
  return size * count;
}

}  // namespace

struct Watcher::Key {
  std::uint64_t events = 0;
  int interested = 0;
  std::condition_variable changed;
};

Watcher::Watcher(Client& client, std::string prefix)
    : client_(client), prefix_(std::move(prefix)) {}

Watcher::~Watcher() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    if (multi_ != nullptr) curl_multi_wakeup(static_cast<CURLM*>(multi_));
    for (auto& [name, key] : keys_) key->changed.notify_all();
    for (auto& [name, key] : prefixes_) key->changed.notify_all();
  }
  idle_.notify_all();
  live_changed_.notify_all();
  if (thread_.joinable()) thread_.join();
}

bool Watcher::wanted(Clock::time_point now) const {
  return interests_ > 0 || now - last_interest_ < kLinger;
}

Watcher::Interest::Interest(Watcher& watcher, const std::string& key, Match match)
    : watcher_(watcher), map_(match == Match::key ? watcher.keys_ : watcher.prefixes_) {
  std::lock_guard lock(watcher_.mutex_);
  auto& slot = map_[key];
  if (!slot) slot = std::make_shared<Key>();
  key_ = slot;
  key_->interested++;
  watcher_.interests_++;
  watcher_.last_interest_ = Clock::now();
  if (!watcher_.started_ && !watcher_.stopping_) {
    watcher_.started_ = true;
    watcher_.thread_ = std::thread([w = &watcher_] { w->loop(); });
  }
  watcher_.idle_.notify_all();
}

Watcher::Interest::~Interest() {
  std::lock_guard lock(watcher_.mutex_);
  watcher_.interests_--;
  watcher_.last_interest_ = Clock::now();
  if (--key_->interested == 0) {
    for (auto it = map_.begin(); it != map_.end(); ++it) {
      if (it->second == key_) {
        map_.erase(it);
        break;
      }
    }
  }
}

std::uint64_t Watcher::Interest::events() const {
  std::lock_guard lock(watcher_.mutex_);
  return key_->events;
}

bool Watcher::Interest::live() const {
  std::lock_guard lock(watcher_.mutex_);
  return watcher_.live_;
}

bool Watcher::Interest::wait_live(Clock::time_point until) const {
  std::unique_lock lock(watcher_.mutex_);
  watcher_.live_changed_.wait_until(lock, until,
                                    [&] { return watcher_.live_ || watcher_.stopping_; });
  return watcher_.live_;
}

bool Watcher::Interest::wait(std::uint64_t seen, Clock::time_point until) const {
  std::unique_lock lock(watcher_.mutex_);
  return key_->changed.wait_until(lock, until,
                                  [&] { return key_->events != seen || watcher_.stopping_; });
}

void Watcher::broke() {
  std::lock_guard lock(mutex_);
  live_ = false;
  for (auto* map : {&keys_, &prefixes_}) {
    for (auto& [name, key] : *map) {
      key->events++;
      key->changed.notify_all();
    }
  }
  live_changed_.notify_all();
}

void Watcher::on_line(const std::string& line) {
  WatchMessage message;
  try {
    message = parse_watch_line(line);
  } catch (const ProtocolError& e) {
    throw StreamEnded(e.what());
  }
  if (!message.error.empty()) throw StreamEnded(message.error);
  std::lock_guard lock(mutex_);
  if (message.created && !live_) {
    live_ = true;
    live_changed_.notify_all();
  }
  for (const auto& name : message.deleted) {
    if (const auto it = keys_.find(name); it != keys_.end()) {
      it->second->events++;
      it->second->changed.notify_all();
    }
    for (auto& [prefix, key] : prefixes_) {
      if (name.compare(0, prefix.size(), prefix) != 0) continue;
      key->events++;
      key->changed.notify_all();
    }
  }
}

void Watcher::loop() {
  std::size_t member = client_.endpoints().preferred();
  Duration pause{50};
  for (;;) {
    {
      std::unique_lock lock(mutex_);
      idle_.wait(lock, [&] { return stopping_ || wanted(Clock::now()); });
      if (stopping_) break;
    }
    bool healthy = true;
    try {
      run_stream(member);
    } catch (const std::exception&) {
      // Broken, silent, answering garbage, or no token (authentication failed).
      healthy = false;
    }
    broke();
    std::unique_lock lock(mutex_);
    if (stopping_) break;
    if (healthy) {
      pause = Duration{50};
      member = client_.endpoints().preferred();
    } else {
      client_.endpoints().failed(member);
      member = client_.endpoints().nth_after(member, 1);
      // Interrupted by the store's destruction only.
      idle_.wait_for(lock, pause, [&] { return stopping_; });
      pause = std::min(pause * 2, Duration{1000});
    }
  }
}

// Runs one stream until it ends: returns when nobody has wanted it for a while or the store
// stops; throws when it broke or its member stopped serving.
void Watcher::run_stream(std::size_t member) {
  const std::string token = client_.token(Clock::now() + client_.request_timeout());
  try {
    stream(member, token);
  } catch (const StreamEnded& e) {
    if (std::string_view(e.what()).find("auth token") != std::string_view::npos) {
      client_.token_rejected(token);
    }
    throw;
  }
}

void Watcher::stream(std::size_t member, const std::string& token) {
  const json request = {{"create_request",
                         {{"key", base64_encode(prefix_)},
                          {"range_end", base64_encode(prefix_end(prefix_))},
                          {"filters", json::array({"NOPUT"})}}}};
  const std::string body = request.dump();
  const std::string url = client_.endpoints().url(member) + "/v3/watch";
  std::string buffer;

  struct Handles {
    CURLM* multi = curl_multi_init();
    CURL* easy = curl_easy_init();
    curl_slist* headers = nullptr;
    bool added = false;
    ~Handles() {
      if (added) curl_multi_remove_handle(multi, easy);
      if (easy != nullptr) curl_easy_cleanup(easy);
      if (multi != nullptr) curl_multi_cleanup(multi);
      curl_slist_free_all(headers);
    }
  } h;
  if (h.multi == nullptr || h.easy == nullptr) throw StreamEnded("curl could not allocate");
  for (const std::string& line : {std::string("Content-Type: application/json"),
                                  token.empty() ? std::string() : "Authorization: " + token}) {
    if (line.empty()) continue;
    curl_slist* next = curl_slist_append(h.headers, line.c_str());
    if (next == nullptr) throw StreamEnded("curl could not allocate");
    h.headers = next;
  }
  CURL* easy = h.easy;
  curl_easy_setopt(easy, CURLOPT_URL, url.c_str());
  curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(easy, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(easy, CURLOPT_TCP_KEEPIDLE, 5L);
  curl_easy_setopt(easy, CURLOPT_TCP_KEEPINTVL, 2L);
  curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS,
                   static_cast<long>(client_.connect_timeout().count()));
  curl_easy_setopt(easy, CURLOPT_HTTPHEADER, h.headers);
  curl_easy_setopt(easy, CURLOPT_POSTFIELDS, body.c_str());
  curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, &on_data);
  curl_easy_setopt(easy, CURLOPT_WRITEDATA, &buffer);
  configure_tls(easy, client_.tls());
  curl_multi_add_handle(h.multi, easy);
  h.added = true;

  struct Published {
    Watcher& w;
    Published(Watcher& watcher, CURLM* multi) : w(watcher) {
      std::lock_guard lock(w.mutex_);
      w.multi_ = multi;
    }
    ~Published() {
      std::lock_guard lock(w.mutex_);
      w.multi_ = nullptr;
    }
  } published(*this, h.multi);

  auto last_data = Clock::now();
  auto last_probe = last_data;
  std::size_t scanned = 0;
  for (;;) {
    int running = 0;
    curl_multi_perform(h.multi, &running);
    const auto now = Clock::now();
    if (buffer.size() > scanned) last_data = now;
    std::size_t begin = 0;
    for (;;) {
      const auto newline = buffer.find('\n', scanned);
      if (newline == std::string::npos) break;
      const std::string line = buffer.substr(begin, newline - begin);
      begin = newline + 1;
      scanned = begin;
      if (line.find_first_not_of(" \r\t") != std::string::npos) on_line(line);
    }
    buffer.erase(0, begin);
    scanned = buffer.size();
    if (running == 0) {
      int left = 0;
      CURLMsg* info = curl_multi_info_read(h.multi, &left);
      std::string why = "the watch stream ended";
      if (info != nullptr && info->msg == CURLMSG_DONE && info->data.result != CURLE_OK) {
        why += std::string(": ") + curl_easy_strerror(info->data.result);
      }
      if (!buffer.empty() && buffer.find_first_not_of(" \r\t\n") != std::string::npos) {
        on_line(buffer);  // an error object without a final newline
      }
      throw StreamEnded(why);
    }
    bool live = false;
    bool waiters = false;
    {
      std::lock_guard lock(mutex_);
      if (stopping_ || !wanted(now)) return;
      live = live_;
      waiters = interests_ > 0;
    }
    if (live && waiters && now - last_data > kProbeAfter && now - last_probe > kProbeAfter) {
      // A member cut off from the others sends nothing: ask it something only a quorum
      // answers.
      last_probe = now;
      const Result r = client_.call_member(
          member, "/v3/kv/range",
          {{"key", base64_encode(prefix_)}, {"keys_only", true}, {"limit", "1"}},
          client_.request_timeout());
      if (r.kind == Result::Kind::unavailable) throw StreamEnded("the member failed a probe");
    }
    curl_multi_poll(h.multi, nullptr, 0, 250, nullptr);
  }
}

}  // namespace verrou::detail::etcd
