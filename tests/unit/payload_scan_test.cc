// The worker's one-pass payload scan (core/payload_scan.hpp) against the
// tree it replaces: the same refusals, the same keys, and the tree left to
// decide wherever the scan's text could differ from extract()'s.
// tests/fuzz/sticky_key.cc holds it to the same rules on generated inputs.
#include "core/payload_scan.hpp"

#include <memrun/routing.hpp>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <string>

using memrun::StickyKey;
using memrun::internal::PayloadScanner;
using memrun::internal::ScannedPayload;
using Outcome = ScannedPayload::Outcome;

namespace {

ScannedPayload scan(std::string_view spec, std::string_view payload) {
  return PayloadScanner(StickyKey(spec)).scan(payload);
}

// The scan's outcome agrees with the tree's: refused alike, and where the
// scan keys, its key is extract()'s.
void expect_agrees(std::string_view spec, std::string_view payload) {
  SCOPED_TRACE(std::string(payload));
  const auto tree = nlohmann::json::parse(payload, nullptr, false);
  const auto s = scan(spec, payload);
  EXPECT_EQ(s.outcome == Outcome::kNotJson, tree.is_discarded());
  if (s.outcome == Outcome::kKey) {
    EXPECT_EQ(s.key, StickyKey(spec).extract(tree));
  }
}

}  // namespace

TEST(PayloadScan, KeysPlainStringsIntegersAndBoolsWithoutATree) {
  auto s = scan("user_id", R"({"pad": "xxxx", "user_id": 42})");
  EXPECT_EQ(s.outcome, Outcome::kKey);
  EXPECT_EQ(s.key, "42");
  s = scan("user.id:ds", R"( {"user": {"name": "a", "id": "u-7"}, "ds": true, "v": [1, 2.5, {"x": null}]} )");
  EXPECT_EQ(s.outcome, Outcome::kKey);
  EXPECT_EQ(s.key, "u-7:true");
  s = scan("k", "{\"k\": \"caf\xc3\xa9\"}");
  EXPECT_EQ(s.outcome, Outcome::kKey);
  EXPECT_EQ(s.key, "caf\xc3\xa9");
  s = scan("k", R"({"k": -123456789012345678})");
  EXPECT_EQ(s.outcome, Outcome::kKey);
  EXPECT_EQ(s.key, "-123456789012345678");
}

TEST(PayloadScan, WithoutAStickyKeyOnlyValidates) {
  EXPECT_EQ(scan("", "[1, 2]").outcome, Outcome::kKey);
  EXPECT_EQ(scan("", "\"text\"").key, "");
  EXPECT_EQ(scan("", "[1, 2").outcome, Outcome::kNotJson);
}

TEST(PayloadScan, TheLastOfDuplicateNamesWinsAsInTheTree) {
  auto s = scan("a", R"({"a": 1, "a": 2})");
  EXPECT_EQ(s.outcome, Outcome::kKey);
  EXPECT_EQ(s.key, "2");
  // The later "user" replaced the one holding the field: the tree refuses.
  EXPECT_EQ(scan("user.id", R"({"user": {"id": 1}, "user": {"name": 2}})").outcome, Outcome::kNeedsTree);
  EXPECT_EQ(scan("user.id", R"({"user": {"id": 1}, "user": 5})").outcome, Outcome::kNeedsTree);
  expect_agrees("a", R"({"a": 1, "a": 2})");
}

TEST(PayloadScan, LeavesToTheTreeWhatItsTextCouldGetWrong) {
  for (const char* payload : {R"({"k": "a\"b"})", R"({"k": 2.5})", R"({"k": 1e2})", R"({"k": -0})",
                              R"({"k": 1234567890123456789})", R"({"\u006b": 1})", R"({"k": null})",
                              R"({"k": {}})", R"({"k": []})", R"({"j": 1})", R"([{"k": 1}])", R"("k")"}) {
    EXPECT_EQ(scan("k", payload).outcome, Outcome::kNeedsTree) << payload;
    expect_agrees("k", payload);
  }
}

TEST(PayloadScan, RefusesWhatTheTreeRefuses) {
  for (const char* payload :
       {"", " ", "{", "{\"k\": 1", "{\"k\" 1}", "{\"k\": 1,}", "[1,]", "{k: 1}", "{\"k\": 01}", "{\"k\": 1.}",
        "{\"k\": .5}", "{\"k\": 1e}", "{\"k\": -}", "{\"k\": 1e400}", "{\"k\": tru}", "{\"k\": 1} x", "{\"k\": \"\x01\"}",
        "{\"k\": \"\\x\"}", "{\"k\": \"\\ud800\"}", "{\"k\": \"\\udc00\"}", "{\"k\": \"\\ud800\\u0041\"}",
        "{\"k\": \"\xc0\xaf\"}", "{\"k\": \"\xed\xa0\x80\"}", "{\"k\": \"\xf4\x90\x80\x80\"}", "{\"k\": \"\xe2\x82\"}",
        "\xef\xbb{}"}) {
    EXPECT_EQ(scan("k", payload).outcome, Outcome::kNotJson) << payload;
    expect_agrees("k", payload);
  }
  const std::string nul_in_value("{\"k\": \0}", 8);
  EXPECT_EQ(scan("k", nul_in_value).outcome, Outcome::kNotJson);
  expect_agrees("k", nul_in_value);
}

// nlohmann's lexer ends its input at a NUL byte outside strings, so a value
// followed by one is accepted whatever comes after; the scan agrees.
TEST(PayloadScan, ANulAfterTheValueEndsItAsInTheTree) {
  const std::string trailing("{\"k\": 1}\0garbage", 16);
  const auto s = scan("k", trailing);
  EXPECT_EQ(s.outcome, Outcome::kKey);
  EXPECT_EQ(s.key, "1");
  expect_agrees("k", trailing);
}

TEST(PayloadScan, AcceptsWhatTheTreeAccepts) {
  for (const char* payload :
       {"\xef\xbb\xbf{\"k\": 1}", "{\"k\": \"\\ud83d\\ude00\"}", "{\"k\": \"\xf0\x9f\x98\x80\"}", "{\"k\": 1e308}",
        "{\"k\": 1, \"n\": 123456789012345678901234567890}", "{\"k\": 1, \"deep\": [[[[[[[[[[]]]]]]]]]]}",
        "\t\r\n{\"k\":\"v\"}\n"}) {
    EXPECT_NE(scan("k", payload).outcome, Outcome::kNotJson) << payload;
    expect_agrees("k", payload);
  }
}

TEST(PayloadScan, NestsDeeperThanAStackWouldAllow) {
  const std::string deep = "{\"k\": 1, \"d\": " + std::string(200000, '[') + std::string(200000, ']') + "}";
  const auto s = scan("k", deep);
  EXPECT_EQ(s.outcome, Outcome::kKey);
  EXPECT_EQ(s.key, "1");
}
