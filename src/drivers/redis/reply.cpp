// SPDX-License-Identifier: Apache-2.0
#include "drivers/redis/reply.hpp"

#include <hiredis/hiredis.h>

#include <charconv>
#include <memory>
#include <new>
#include <stdexcept>

namespace verrou::detail::redis {

namespace {

// hiredis 1.x counts array elements in size_t and can bound them itself (`maxelements`);
// 0.14 counts them in int and cannot. Both are built the same way below.
#if defined(HIREDIS_MAJOR) && HIREDIS_MAJOR >= 1
using ElementCount = std::size_t;
#else
using ElementCount = int;
#endif

thread_local long long refused_elements = 0;
void* (*hiredis_create_array)(const redisReadTask*, ElementCount) = nullptr;

void* bounded_create_array(const redisReadTask* task, ElementCount elements) {
  const auto count = static_cast<long long>(elements);
  if (count < 0 || count > ReplyReader::kMaxReplyElements) {
    refused_elements = count;
    return nullptr;  // the reader reports an error; next() explains it
  }
  return hiredis_create_array(task, elements);
}

const redisReplyObjectFunctions* bounded_reply_functions() {
  static const redisReplyObjectFunctions functions = [] {
    redisReader* probe = redisReaderCreate();
    if (probe == nullptr) throw std::bad_alloc();
    redisReplyObjectFunctions f = *probe->fn;
    redisReaderFree(probe);
    hiredis_create_array = f.createArray;
    f.createArray = &bounded_create_array;
    return f;
  }();
  return &functions;
}

Reply convert(const redisReply* r) {
  Reply out;
  switch (r->type) {
    case REDIS_REPLY_STRING:
      out.type = Reply::Type::kString;
      out.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_STATUS:
      out.type = Reply::Type::kStatus;
      out.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_ERROR:
      out.type = Reply::Type::kError;
      out.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_INTEGER:
      out.type = Reply::Type::kInteger;
      out.integer = r->integer;
      break;
    case REDIS_REPLY_ARRAY:
      out.type = Reply::Type::kArray;
      out.elements.reserve(r->elements);
      for (std::size_t i = 0; i < r->elements; ++i) out.elements.push_back(convert(r->element[i]));
      break;
    default:
      out.type = Reply::Type::kNil;
      break;
  }
  return out;
}

}  // namespace

std::string_view Reply::error_code() const {
  if (type != Type::kError) return {};
  std::string_view text = str;
  // A script's redis.call error, as Redis 6 words it: "ERR Error running script (call to
  // f_…): @user_script:3: -READONLY You can't write…". Redis 7 passes the code through.
  if (text.substr(0, 24) == "ERR Error running script") {
    if (auto dash = text.find(": -"); dash != std::string_view::npos) text.remove_prefix(dash + 3);
  }
  return text.substr(0, text.find(' '));
}

std::string Reply::describe() const {
  switch (type) {
    case Type::kString: return "\"" + str.substr(0, 100) + "\"";
    case Type::kStatus: return str;
    case Type::kError: return "(error) " + str;
    case Type::kInteger: return "(integer) " + std::to_string(integer);
    case Type::kNil: return "(nil)";
    case Type::kArray: return "(array of " + std::to_string(elements.size()) + ")";
  }
  return "?";
}

namespace {
// "<marker><n>\r\n", as RESP writes lengths.
void append_header(std::string& out, char marker, std::size_t n) {
  char digits[24];
  auto end = std::to_chars(digits, digits + sizeof digits, n).ptr;
  out += marker;
  out.append(digits, end);
  out += "\r\n";
}

template <class Range>
void append_all(std::string& out, const Range& args, std::size_t count) {
  std::size_t size = 16;
  for (const auto& a : args) size += a.size() + 16;
  out.reserve(out.size() + size);
  append_header(out, '*', count);
  for (const auto& a : args) {
    append_header(out, '$', a.size());
    out.append(a.data(), a.size());
    out += "\r\n";
  }
}
}  // namespace

// Formatting is this simple and runs once per command, so it is done here directly into the
// send buffer (hiredis's redisFormatCommandArgv needs an array of pointers and prints each
// length with sprintf).
void append_command(std::string& out, std::initializer_list<std::string_view> args) {
  append_all(out, args, args.size());
}

void append_command(std::string& out, const std::vector<std::string>& args) {
  append_all(out, args, args.size());
}

void append_command(std::string& out, const std::vector<std::string_view>& args) {
  append_all(out, args, args.size());
}

ReplyReader::ReplyReader() : reader_(redisReaderCreate()) {
  if (reader_ == nullptr) throw std::bad_alloc();
  reader_->fn = const_cast<redisReplyObjectFunctions*>(bounded_reply_functions());
#if defined(HIREDIS_MAJOR) && HIREDIS_MAJOR >= 1
  reader_->maxelements = kMaxReplyElements;
#endif
}

ReplyReader::~ReplyReader() { redisReaderFree(reader_); }

bool ReplyReader::feed(const char* data, std::size_t size) {
  return redisReaderFeed(reader_, data, size) == REDIS_OK;
}

std::optional<Reply> ReplyReader::next() {
  void* raw = nullptr;
  refused_elements = 0;
  if (redisReaderGetReply(reader_, &raw) != REDIS_OK) {
    if (refused_elements != 0) {
      throw std::runtime_error("bad reply from server: an array of " +
                               std::to_string(refused_elements) + " elements, more than the " +
                               std::to_string(kMaxReplyElements) + " a lock command can receive");
    }
    throw std::runtime_error(std::string("bad reply from server: ") + reader_->errstr);
  }
  if (raw == nullptr) return std::nullopt;
  std::unique_ptr<void, decltype(&freeReplyObject)> owned(raw, freeReplyObject);
  return convert(static_cast<const redisReply*>(raw));
}

}  // namespace verrou::detail::redis
