// SPDX-License-Identifier: Apache-2.0
// redact_url: every form a secret can take in the URLs and connection strings the stores
// accept is hidden, and nothing else is changed.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "verrou/open_store.hpp"

namespace verrou {
namespace {

struct Case {
  std::string text;
  std::string redacted;
};

class Redact : public ::testing::TestWithParam<Case> {};

TEST_P(Redact, HidesTheSecretAndKeepsTheRest) {
  EXPECT_EQ(redact_url(GetParam().text), GetParam().redacted);
}

INSTANTIATE_TEST_SUITE_P(
    Forms, Redact,
    ::testing::Values(
        // userinfo
        Case{"redis://user:secret@host:6379/0", "redis://user:***@host:6379/0"},
        Case{"redis://:secret@host", "redis://:***@host"},
        Case{"postgres://u:p%40ss@h/db?sslmode=require", "postgres://u:***@h/db?sslmode=require"},
        Case{"postgres://user@srv:secret@h/db", "postgres://user@srv:***@h/db"},
        Case{"redis+cluster://u:secret@a:1,b:2", "redis+cluster://u:***@a:1,b:2"},
        Case{"mysql://u:secret@[::1]:3306/db", "mysql://u:***@[::1]:3306/db"},
        // a password with raw '/', '?' or '#': malformed, hidden to the last '@'
        Case{"redis://u:pa/ss@host", "redis://u:***@host"},
        Case{"redis://u:pa?ss@host", "redis://u:***@host"},
        Case{"redis://u:pass%40host", "redis://u:***"},
        Case{"redis://u:password", "redis://u:***"},
        Case{"redis://u:a%20b@h", "redis://u:***@h"},
        Case{"redis://h:6379?passredis://h:6word=x&db=1", "redis://h:6379?passredis://h:6word=x&db=1"},
        Case{"redis://h:6379,[::1]:6380/0@x", "redis://h:6379,[::1]:6380/0@x"},
        Case{"postgres:/x:y://:a:1?flag=b@h", "postgres:/x:y://:a:1?flag=b@h"},
        Case{"x:/p?o=-c%20password='a&b=1", "x:/p?o=-c%20password=***&b=1"},
        Case{"redis://79%3aauth?x=1", "redis://79%3aauth?x=1"},
        Case{"redis://u%3Ax:secret@h", "redis://u%3Ax:***@h"},
        // query parameters, names in any case, percent-encoded or not
        Case{"redis://h:6379?password=secret", "redis://h:6379?password=***"},
        Case{"redis://h?username=u&password=secret&db=1", "redis://h?username=u&password=***&db=1"},
        Case{"redis://h?PassWord=secret", "redis://h?PassWord=***"},
        Case{"redis://h?pass%77ord=secret&db=1", "redis://h?pass%77ord=***&db=1"},
        Case{"redis://h?password=se%26cret&db=1", "redis://h?password=***&db=1"},
        Case{"redis://h?password=se@cret", "redis://h?password=***"},
        Case{"dynamodb://?region=x&secret_access_key=abc&session_token=t&table=t",
             "dynamodb://?region=x&secret_access_key=***&session_token=***&table=t"},
        // a URL with credentials inside a parameter
        Case{"dynamodb://?endpoint=http://k:secret@127.0.0.1:8000&table=t",
             "dynamodb://?endpoint=http://k:***@127.0.0.1:8000&table=t"},
        // SOCI: the connection string is the path, percent-encoded
        Case{"soci://postgresql/host=db%20password=secret%20dbname=app?table=t",
             "soci://postgresql/host=db%20password=***%20dbname=app?table=t"},
        Case{"soci://postgresql/host=db%20password%3Dsecret", "soci://postgresql/host=db%20password%3D***"},
        Case{"soci://postgresql/password='se cret'%20host=db", "soci://postgresql/password=***%20host=db"},
        Case{"soci://postgresql/password=%27se%20cret%27%20host=db",
             "soci://postgresql/password=***%20host=db"},
        Case{"soci://mysql/db=app%20user=u%20pass=secret", "soci://mysql/db=app%20user=u%20pass=***"},
        Case{"soci://odbc/DRIVER=%7BPostgreSQL%7D;PWD=%7Bse;cr%7D%7Det%7D;UID=u",
             "soci://odbc/DRIVER=%7BPostgreSQL%7D;PWD=***;UID=u"},
        Case{"soci://app:secret@postgresql/host=db", "soci://app:***@postgresql/host=db"},
        // a SOCI connection string in URI form, itself percent-encoded in the path
        Case{"soci://postgresql/postgresql%3A%2F%2Fu%3Asecret%40db%2Fapp",
             "soci://postgresql/postgresql%3A%2F%2Fu%3A***%40db%2Fapp"},
        // bare connection strings: libpq conninfo, ODBC
        Case{"host=db port=5432 password=secret dbname=app", "host=db port=5432 password=*** dbname=app"},
        Case{"host=db password = 'se cr\\'et' user=u", "host=db password = *** user=u"},
        Case{"host=db sslpassword=secret", "host=db sslpassword=***"},
        // libpq does not percent-decode a conninfo: "%20" is part of the value there
        Case{"host=db password=se%20cret user=u", "host=db password=*** user=u"},
        Case{"DSN=locks;UID=u;PWD=secret", "DSN=locks;UID=u;PWD=***"},
        Case{"DSN=locks;PWD={se;cret};UID=u", "DSN=locks;PWD=***;UID=u"},
        Case{"postgresql://u:secret@db/app", "postgresql://u:***@db/app"},
        // nothing secret: unchanged
        Case{"redis://h:6379/0?key_prefix=app@1:", "redis://h:6379/0?key_prefix=app@1:"},
        Case{"sqlite:///home/u@x/locks.db", "sqlite:///home/u@x/locks.db"},
        Case{"memory:", "memory:"},
        Case{"postgres://u@h/db", "postgres://u@h/db"},
        Case{"", ""}));

TEST(RedactUrl, NeverThrowsAndCutsLongText) {
  const std::string huge(100000, '%');
  EXPECT_LE(redact_url(huge).size(), 8192U);
  EXPECT_EQ(redact_url("redis://u:%zz@h"), "redis://u:***@h");
}

}  // namespace
}  // namespace verrou
