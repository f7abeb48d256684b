// SPDX-License-Identifier: Apache-2.0
#include "drivers/etcd/client.hpp"

#include <algorithm>
#include <thread>
#include <utility>

#include "verrou/errors.hpp"

namespace verrou::detail::etcd {
namespace {

constexpr int kCodeDeadlineExceeded = 4;
constexpr int kCodeResourceExhausted = 8;
constexpr int kCodeInternal = 13;
constexpr int kCodeUnavailable = 14;

std::string excerpt(const std::string& text) {
  std::string out = text.substr(0, 160);
  for (char& c : out) {
    if (static_cast<unsigned char>(c) < 0x20) c = ' ';
  }
  return out;
}

std::string dump(const json& request) {
  try {
    return request.dump();
  } catch (const json::type_error& e) {
    throw InvalidArgumentError(std::string("etcd: a request could not be encoded: ") + e.what());
  }
}

}  // namespace

Client::Client(ClientOptions options)
    : options_(std::move(options)),
      endpoints_(options_.endpoints),
      http_(options_.tls, options_.connect_timeout, options_.max_idle_connections),
      auth_(options_.username, options_.password) {
  options_.password.clear();  // kept by auth_ only
}

std::string Client::describe() const { return "etcd at " + endpoints_.describe(); }

std::string Client::token(Clock::time_point deadline) {
  return auth_.token([&](const std::string& body) {
    Result r = run("/v3/auth/authenticate", body, false, deadline);
    if (!r.ok()) {
      throw LockStorageError("authentication as user '" + auth_.username() + "' failed: " +
                             r.message +
                             (r.kind == Result::Kind::rejected
                                  ? " (check the user name and password)"
                                  : ""));
    }
    const auto it = r.body.find("token");
    if (it == r.body.end() || !it->is_string() || it->get_ref<const std::string&>().empty()) {
      throw LockStorageError("authentication as user '" + auth_.username() +
                             "' answered no token (is authentication enabled on the cluster?)");
    }
    return it->get<std::string>();
  });
}

Client::Outcome Client::attempt(std::size_t member, std::string_view path,
                                const std::string& body, const std::string& token,
                                Duration timeout, Result& result) {
  ++result.attempts;
  const std::string where = " (member " + endpoints_.name(member) + ")";
  HttpReply reply = http_.post(endpoints_.url(member) + std::string(path), body, token, timeout);
  if (reply.kind == HttpReply::Kind::transport_error) {
    result.kind = Result::Kind::unavailable;
    result.message = "cannot reach etcd: " + reply.error + where;
    if (reply.maybe_sent) result.may_have_applied = true;
    return Outcome::next_member;
  }
  json parsed = json::parse(reply.body, nullptr, false);
  if (reply.status == 200) {
    if (parsed.is_discarded() || !parsed.is_object()) {
      result.kind = Result::Kind::unavailable;
      result.message = "the answer is not a JSON object: \"" + excerpt(reply.body) + "\"" + where;
      result.may_have_applied = true;
      return Outcome::next_member;
    }
    result.kind = Result::Kind::ok;
    result.body = std::move(parsed);
    result.message.clear();
    return Outcome::done;
  }
  int code = -1;
  std::string message;
  if (!parsed.is_discarded() && parsed.is_object()) {
    if (auto c = parsed.find("code"); c != parsed.end() && c->is_number_integer()) {
      code = c->get<int>();
    }
    for (const char* name : {"message", "error"}) {
      if (auto m = parsed.find(name); m != parsed.end() && m->is_string() && message.empty()) {
        message = m->get<std::string>();
      }
    }
  }
  if (message.empty()) message = "HTTP " + std::to_string(reply.status) + " \"" + excerpt(reply.body) + "\"";
  result.message = message + where;
  result.code = code;
  if (code == kCodeUnauthenticated && !token.empty()) {
    auth_.rejected(token);
    result.kind = Result::Kind::rejected;
    return Outcome::retry_same;
  }
  if (code == kCodeUnavailable || code == kCodeDeadlineExceeded || code == kCodeInternal ||
      (code < 0 && reply.status >= 500)) {
    // No leader, leader changed, request timed out: the member cannot serve it now; a
    // timed-out proposal may still be applied.
    result.kind = Result::Kind::unavailable;
    result.may_have_applied = true;
    return Outcome::next_member;
  }
  if (code == kCodeResourceExhausted) {
    result.kind = Result::Kind::unavailable;  // too many requests: refused before applying
    return Outcome::next_member;
  }
  result.kind = Result::Kind::rejected;
  if (code < 0 && (reply.status == 404 || reply.status == 405 || reply.status == 501)) {
    result.message += ": this server has no etcd v3 JSON gateway at " + std::string(path) +
                      " (etcd 3.4 or later serves it on the client port)";
  }
  return Outcome::done;
}

Result Client::run(std::string_view path, const std::string& body, bool with_token,
                   Clock::time_point deadline) {
  Result result;
  result.kind = Result::Kind::unavailable;
  result.message = "the call's deadline passed before any member was tried";
  int token_renewals = 0;
  const std::size_t first = endpoints_.preferred();
  Duration pause{25};
  for (std::size_t n = 0;; ++n) {
    const std::size_t member = endpoints_.nth_after(first, n);
    for (;;) {
      const auto remaining =
          std::chrono::duration_cast<Duration>(deadline - Clock::now());
      if (remaining <= Duration::zero()) return result;
      const std::string token = with_token ? this->token(deadline) : std::string();
      const Outcome outcome =
          attempt(member, path, body, token, std::min(remaining, options_.request_timeout), result);
      if (outcome == Outcome::done) {
        if (result.ok()) endpoints_.answered(member);
        return result;
      }
      if (outcome == Outcome::retry_same && ++token_renewals <= 2) continue;
      if (outcome == Outcome::retry_same) return result;
      endpoints_.failed(member);
      break;
    }
    if ((n + 1) % endpoints_.size() == 0) {
      // Every member failed once: pause before the next round, within the deadline.
      const auto remaining = deadline - Clock::now();
      if (remaining <= pause) return result;
      std::this_thread::sleep_for(pause);
      pause = std::min(pause * 2, Duration{500});
    }
  }
}

Result Client::call(std::string_view path, const json& request, Clock::time_point deadline) {
  return run(path, dump(request), true, deadline);
}

Result Client::call_member(std::size_t member, std::string_view path, const json& request,
                           Duration timeout) {
  Result result;
  const std::string body = dump(request);
  for (int tries = 0; tries < 2; ++tries) {
    const std::string token = this->token(Clock::now() + timeout);
    if (attempt(member, path, body, token, timeout, result) != Outcome::retry_same) break;
  }
  return result;
}

}  // namespace verrou::detail::etcd
