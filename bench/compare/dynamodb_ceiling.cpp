// SPDX-License-Identifier: Apache-2.0
//
// The DynamoDB server's own ceiling for a lock's acquire/release cycle: a minimal libcurl
// loop, `--lanes` requests in flight (default 32) on one curl multi handle, each lane on its
// own key and keep-alive connection, alternating the acquire and release requests without any
// library around them (no signing: the local servers check none; bodies are printf'd). What
// verrou-cpp reaches with as many workers is then its share of this (ceiling_dynamodb.sh).
//
//   dynamodb_ceiling --endpoint http://127.0.0.1:8000 --table T [--lanes 32] [--seconds 5]
//                    [--pair fenced|verrou]
//
// --pair fenced: verrou-cpp's requests (UpdateItem that takes the lock and raises the fencing
// counter; UpdateItem that leaves a free item). --pair verrou: Verrou's (PutItem, DeleteItem).
// The table must exist (hash key `key`, string). Prints one JSON line.
#include <curl/curl.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <random>
#include <string>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

std::int64_t epoch_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

struct Lane {
  CURL* easy = nullptr;
  curl_slist* headers[2] = {nullptr, nullptr};
  std::string key;
  std::string owner;
  std::string body;
  bool acquiring = true;
  std::uint64_t cycles = 0;
};

std::size_t discard(char*, std::size_t size, std::size_t n, void*) { return size * n; }

curl_slist* headers_for(const std::string& operation) {
  curl_slist* h = nullptr;
  h = curl_slist_append(h, "Content-Type: application/x-amz-json-1.0");
  h = curl_slist_append(h, ("X-Amz-Target: DynamoDB_20120810." + operation).c_str());
  h = curl_slist_append(h, "X-Amz-Date: 20240101T000000Z");
  h = curl_slist_append(h,
                        "Authorization: AWS4-HMAC-SHA256 Credential=verrouBench/20240101/"
                        "us-east-1/dynamodb/aws4_request, SignedHeaders=content-type;host;"
                        "x-amz-date;x-amz-target, Signature=0000000000000000000000000000000000000"
                        "000000000000000000000000000");
  h = curl_slist_append(h, "Expect:");
  return h;
}

void prepare(Lane& lane, const std::string& table, bool fenced) {
  const auto now = epoch_ms();
  char buffer[2048];
  if (lane.acquiring && fenced) {
    const auto us = now * 1000;
    std::snprintf(buffer, sizeof buffer,
                  R"j({"TableName":"%s","Key":{"key":{"S":"%s"}},)j"
                  R"j("UpdateExpression":"SET #o = :o, #w = :w, #f = if_not_exists(#f, :base) + :one, #e = :e",)j"
                  R"j("ConditionExpression":"attribute_not_exists(#k) OR #e < :now OR #w = :w",)j"
                  R"j("ExpressionAttributeNames":{"#k":"key","#o":"owner","#e":"expires_at","#w":"write_id","#f":"fencing_token"},)j"
                  R"j("ExpressionAttributeValues":{":o":{"S":"%s"},":w":{"S":"%s%lld"},":now":{"N":"%lld"},)j"
                  R"j(":base":{"N":"%lld"},":one":{"N":"1"},":e":{"N":"%lld"}},"ReturnValues":"UPDATED_NEW"})j",
                  table.c_str(), lane.key.c_str(), lane.owner.c_str(), lane.owner.c_str(),
                  static_cast<long long>(lane.cycles), static_cast<long long>(now),
                  static_cast<long long>(us), static_cast<long long>(now + 30000));
  } else if (lane.acquiring) {
    std::snprintf(buffer, sizeof buffer,
                  R"j({"TableName":"%s","Item":{"key":{"S":"%s"},"owner":{"S":"%s"},)j"
                  R"j("write_id":{"S":"%s%lld"},"expires_at":{"N":"%lld"}},)j"
                  R"j("ConditionExpression":"attribute_not_exists(#k) OR #e < :now OR #w = :w",)j"
                  R"j("ExpressionAttributeNames":{"#k":"key","#e":"expires_at","#w":"write_id"},)j"
                  R"j("ExpressionAttributeValues":{":now":{"N":"%lld"},":w":{"S":"%s%lld"}}})j",
                  table.c_str(), lane.key.c_str(), lane.owner.c_str(), lane.owner.c_str(),
                  static_cast<long long>(lane.cycles), static_cast<long long>(now + 30000),
                  static_cast<long long>(now), lane.owner.c_str(),
                  static_cast<long long>(lane.cycles));
  } else if (fenced) {
    std::snprintf(buffer, sizeof buffer,
                  R"j({"TableName":"%s","Key":{"key":{"S":"%s"}},)j"
                  R"j("UpdateExpression":"SET #e = :free REMOVE #o, #w",)j"
                  R"j("ConditionExpression":"#o = :o AND (attribute_not_exists(#e) OR #e >= :now)",)j"
                  R"j("ExpressionAttributeNames":{"#o":"owner","#e":"expires_at","#w":"write_id"},)j"
                  R"j("ExpressionAttributeValues":{":o":{"S":"%s"},":now":{"N":"%lld"},":free":{"N":"0"}}})j",
                  table.c_str(), lane.key.c_str(), lane.owner.c_str(), static_cast<long long>(now));
  } else {
    std::snprintf(buffer, sizeof buffer,
                  R"j({"TableName":"%s","Key":{"key":{"S":"%s"}},)j"
                  R"j("ConditionExpression":"#o = :o AND (attribute_not_exists(#e) OR #e >= :now)",)j"
                  R"j("ExpressionAttributeNames":{"#o":"owner","#e":"expires_at"},)j"
                  R"j("ExpressionAttributeValues":{":o":{"S":"%s"},":now":{"N":"%lld"}}})j",
                  table.c_str(), lane.key.c_str(), lane.owner.c_str(), static_cast<long long>(now));
  }
  lane.body = buffer;
  curl_easy_setopt(lane.easy, CURLOPT_POSTFIELDS, lane.body.c_str());
  curl_easy_setopt(lane.easy, CURLOPT_POSTFIELDSIZE, static_cast<long>(lane.body.size()));
  curl_easy_setopt(lane.easy, CURLOPT_HTTPHEADER, lane.headers[lane.acquiring ? 0 : 1]);
}

}  // namespace

int main(int argc, char** argv) {
  std::string endpoint = "http://127.0.0.1:8000";
  std::string table;
  std::string pair = "fenced";
  int lanes = 32;
  double seconds = 5;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    if (a == "--endpoint") endpoint = argv[i + 1];
    else if (a == "--table") table = argv[i + 1];
    else if (a == "--lanes") lanes = std::atoi(argv[i + 1]);
    else if (a == "--seconds") seconds = std::atof(argv[i + 1]);
    else if (a == "--pair") pair = argv[i + 1];
  }
  if (table.empty() || lanes < 1 || (pair != "fenced" && pair != "verrou")) {
    std::cerr << "usage: dynamodb_ceiling --endpoint URL --table T [--lanes 32] [--seconds 5] "
                 "[--pair fenced|verrou]\n";
    return 2;
  }
  const bool fenced = pair == "fenced";
  curl_global_init(CURL_GLOBAL_DEFAULT);
  CURLM* multi = curl_multi_init();
  curl_multi_setopt(multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, static_cast<long>(lanes));
  const std::string run = std::to_string(std::random_device{}());
  const std::string url = endpoint + "/";
  std::vector<Lane> all(static_cast<std::size_t>(lanes));
  for (std::size_t i = 0; i < all.size(); ++i) {
    Lane& lane = all[i];
    lane.key = "ceiling:" + run + ":" + std::to_string(i);
    lane.owner = "owner" + run + "x" + std::to_string(i);
    lane.headers[0] = headers_for(fenced ? "UpdateItem" : "PutItem");
    lane.headers[1] = headers_for(fenced ? "UpdateItem" : "DeleteItem");
    lane.easy = curl_easy_init();
    curl_easy_setopt(lane.easy, CURLOPT_URL, url.c_str());
    curl_easy_setopt(lane.easy, CURLOPT_POST, 1L);
    curl_easy_setopt(lane.easy, CURLOPT_WRITEFUNCTION, &discard);
    curl_easy_setopt(lane.easy, CURLOPT_PRIVATE, &lane);
    curl_easy_setopt(lane.easy, CURLOPT_NOSIGNAL, 1L);
    prepare(lane, table, fenced);
    curl_multi_add_handle(multi, lane.easy);
  }
  std::uint64_t errors = 0;
  std::uint64_t refused = 0;
  const auto start = Clock::now();
  const auto end = start + std::chrono::duration<double>(seconds);
  int active = lanes;  // handles in the multi handle
  while (active > 0) {
    int running = 0;
    curl_multi_perform(multi, &running);
    bool restarted = false;
    int left = 0;
    while (CURLMsg* m = curl_multi_info_read(multi, &left)) {
      if (m->msg != CURLMSG_DONE) continue;
      CURL* easy = m->easy_handle;
      const CURLcode result = m->data.result;
      Lane* lane = nullptr;
      curl_easy_getinfo(easy, CURLINFO_PRIVATE, &lane);
      long status = 0;
      curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
      if (result != CURLE_OK) ++errors;
      else if (status != 200) ++refused;
      if (!lane->acquiring) ++lane->cycles;
      lane->acquiring = !lane->acquiring;
      curl_multi_remove_handle(multi, easy);
      --active;
      // Past the end, a lane still finishes its cycle (releases what it took).
      if (Clock::now() < end || !lane->acquiring) {
        prepare(*lane, table, fenced);
        curl_multi_add_handle(multi, easy);
        ++active;
        restarted = true;
      }
    }
    if (!restarted && active > 0) curl_multi_poll(multi, nullptr, 0, 100, nullptr);
  }
  const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  std::uint64_t cycles = 0;
  for (Lane& lane : all) {
    cycles += lane.cycles;
    curl_easy_cleanup(lane.easy);
    curl_slist_free_all(lane.headers[0]);
    curl_slist_free_all(lane.headers[1]);
  }
  curl_multi_cleanup(multi);
  std::printf("{\"pair\":\"%s\",\"lanes\":%d,\"rate\":%.1f,\"cycles\":%llu,\"refused\":%llu,"
              "\"errors\":%llu}\n",
              pair.c_str(), lanes, static_cast<double>(cycles) / elapsed,
              static_cast<unsigned long long>(cycles), static_cast<unsigned long long>(refused),
              static_cast<unsigned long long>(errors));
  return errors == 0 && refused == 0 ? 0 : 1;
}
