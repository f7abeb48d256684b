// SPDX-License-Identifier: Apache-2.0
// The DynamoDB driver's request signing against AWS's published Signature Version 4 examples
// (the aws-sig-v4-test-suite cases and the IAM ListUsers walkthrough of the SigV4 docs).
#include <gtest/gtest.h>

#include <chrono>

#include "drivers/dynamodb/sigv4.hpp"

namespace sigv4 = verrou::detail::sigv4;

namespace {

// The constants of every case of the published suite.
constexpr const char* kDate = "20150830T123600Z";
const sigv4::Credentials kCredentials{"AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", ""};
constexpr const char* kScope = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, ";

sigv4::Request request(std::string method,
                       std::vector<std::pair<std::string, std::string>> extra_headers = {},
                       std::vector<std::pair<std::string, std::string>> query = {},
                       std::string_view payload = {}) {
  sigv4::Request r{.method = std::move(method), .path = "/", .query = std::move(query),
                   .headers = {{"Host", "example.amazonaws.com"}, {"X-Amz-Date", kDate}},
                   .payload = payload};
  for (auto& h : extra_headers) r.headers.push_back(std::move(h));
  return r;
}

std::string authorization(const sigv4::Request& r,
                          const sigv4::Credentials& credentials = kCredentials) {
  return sigv4::sign(r, credentials, "us-east-1", "service", kDate).authorization;
}

std::string hex(const std::string& bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (char ch : bytes) {
    const auto c = static_cast<unsigned char>(ch);
    out.push_back(kDigits[c >> 4U]);
    out.push_back(kDigits[c & 0x0FU]);
  }
  return out;
}

}  // namespace

TEST(SigV4, GetVanilla) {
  EXPECT_EQ(authorization(request("GET")),
            std::string(kScope) +
                "SignedHeaders=host;x-amz-date, "
                "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
}

TEST(SigV4, PostVanilla) {
  EXPECT_EQ(authorization(request("POST")),
            std::string(kScope) +
                "SignedHeaders=host;x-amz-date, "
                "Signature=5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b");
}

TEST(SigV4, GetVanillaQueryOrderKeyCase) {
  EXPECT_EQ(authorization(request("GET", {}, {{"Param2", "value2"}, {"Param1", "value1"}})),
            std::string(kScope) +
                "SignedHeaders=host;x-amz-date, "
                "Signature=b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500");
}

TEST(SigV4, GetVanillaQueryUnreserved) {
  const std::string unreserved =
      "-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
  EXPECT_EQ(authorization(request("GET", {}, {{unreserved, unreserved}})),
            std::string(kScope) +
                "SignedHeaders=host;x-amz-date, "
                "Signature=9c3e54bfcdf0b19771a7f523ee5669cdf59bc7cc0884027167c21bb143a40197");
}

TEST(SigV4, GetHeaderValueTrim) {
  const auto r = request("GET", {{"My-Header1", " value1"}, {"My-Header2", " \"a   b   c\""}});
  const auto s = sigv4::sign(r, kCredentials, "us-east-1", "service", kDate);
  EXPECT_NE(s.canonical_request.find("my-header1:value1\nmy-header2:\"a b c\"\n"),
            std::string::npos)
      << s.canonical_request;
  EXPECT_EQ(s.authorization,
            std::string(kScope) +
                "SignedHeaders=host;my-header1;my-header2;x-amz-date, "
                "Signature=acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736");
}

TEST(SigV4, PostHeaderKeySort) {
  EXPECT_EQ(authorization(request("POST", {{"My-Header1", "value1"}})),
            std::string(kScope) +
                "SignedHeaders=host;my-header1;x-amz-date, "
                "Signature=c5410059b04c1ee005303aed430f6e6645f61f4dc9e1461ec8f8916fdf18852c");
}

TEST(SigV4, PostXWwwFormUrlencodedSignsThePayload) {
  const auto r = request("POST", {{"Content-Type", "application/x-www-form-urlencoded"}}, {},
                         "Param1=value1");
  const auto s = sigv4::sign(r, kCredentials, "us-east-1", "service", kDate);
  EXPECT_EQ(s.canonical_request,
            "POST\n/\n\ncontent-type:application/x-www-form-urlencoded\n"
            "host:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\n"
            "content-type;host;x-amz-date\n"
            "9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e");
  EXPECT_EQ(s.string_to_sign,
            "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\n"
            "42a5e5bb34198acb3e84da4f085bb7927f2bc277ca766e6d19c73c2154021281");
  EXPECT_EQ(s.signature, "ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a");
}

TEST(SigV4, GetVanillaWithSessionToken) {
  sigv4::Credentials with_token = kCredentials;
  with_token.session_token = "6e86291e8372ff2a2260956d9b8aae1d763fbf315fa00fa31553b73ebf194267";
  EXPECT_EQ(authorization(request("GET", {{"X-Amz-Security-Token", with_token.session_token}}),
                          with_token),
            std::string(kScope) +
                "SignedHeaders=host;x-amz-date;x-amz-security-token, "
                "Signature=07ec1639c89043aa0e3e2de82b96708f198cceab042d4a97044c66dd9f74e7f8");
}

// The worked example of the SigV4 documentation (IAM ListUsers), which also publishes the
// derived signing key: it tells a wrong key derivation from a wrong canonical request.
TEST(SigV4, IamListUsersWalkthrough) {
  EXPECT_EQ(hex(sigv4::signing_key(kCredentials.secret_access_key, "20150830", "us-east-1", "iam")),
            "c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9");
  const sigv4::Request r{
      .method = "GET",
      .path = "/",
      .query = {{"Action", "ListUsers"}, {"Version", "2010-05-08"}},
      .headers = {{"Content-Type", "application/x-www-form-urlencoded; charset=utf-8"},
                  {"Host", "iam.amazonaws.com"},
                  {"X-Amz-Date", kDate}},
      .payload = {},
  };
  const auto s = sigv4::sign(r, kCredentials, "us-east-1", "iam", kDate);
  EXPECT_EQ(s.string_to_sign,
            "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/iam/aws4_request\n"
            "f536975d06c0309214f805bb90ccff089219ecd68b2577efef23edd43b7e1a59");
  EXPECT_EQ(s.signature, "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7");
  // With the day's signing key derived once by the caller (as the client caches it): the same.
  const auto key = sigv4::signing_key(kCredentials.secret_access_key, "20150830", "us-east-1", "iam");
  EXPECT_EQ(sigv4::sign(r, kCredentials, "us-east-1", "iam", kDate, key).authorization,
            s.authorization);
}

TEST(SigV4, AmzDateIsUtc) {
  // 2015-08-30T12:36:00Z
  const auto when = std::chrono::system_clock::time_point(std::chrono::seconds(1440938160));
  EXPECT_EQ(sigv4::amz_date(when), kDate);
}

TEST(SigV4, UriEncodeKeepsOnlyUnreserved) {
  EXPECT_EQ(sigv4::uri_encode("a b/c=d&é~"), "a%20b%2Fc%3Dd%26%C3%A9~");
}

TEST(SigV4, Sha256OfEmpty) {
  EXPECT_EQ(sigv4::sha256_hex(""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}
