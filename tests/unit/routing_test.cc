#include <memrun/routing.hpp>
#include <memrun/status.hpp>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

using memrun::StickyKey;
using nlohmann::json;

// Kafka's own vectors: UtilsTest.testMurmur2 in the Java client.
TEST(Murmur2, MatchesKafkaJavaTestVectors) {
  EXPECT_EQ(memrun::murmur2("21"), -973932308);
  EXPECT_EQ(memrun::murmur2("foobar"), -790332482);
  EXPECT_EQ(memrun::murmur2("a-little-bit-long-string"), -985981536);
  EXPECT_EQ(memrun::murmur2("a-little-bit-longer-string"), -1486304829);
  EXPECT_EQ(memrun::murmur2("lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8"), -58897971);
  EXPECT_EQ(memrun::murmur2("abc"), 479470107);
}

TEST(Murmur2, PartitionIsToPositiveModulo) {
  // toPositive clears the sign bit; it is not abs().
  int32_t h = memrun::murmur2("21");
  EXPECT_EQ(memrun::kafka_partition("21", 64), static_cast<int32_t>((static_cast<uint32_t>(h) & 0x7fffffff) % 64));
  for (int p = 1; p < 50; ++p) {
    int32_t part = memrun::kafka_partition("user-7", p);
    EXPECT_GE(part, 0);
    EXPECT_LT(part, p);
  }
}

TEST(StickyKey, JoinsFieldsWithColon) {
  StickyKey key("user_id:dataset_id");
  EXPECT_EQ(key.extract(json{{"user_id", 42}, {"dataset_id", "ds7"}, {"other", 1}}), "42:ds7");
  EXPECT_EQ(key.fields().size(), 2u);
}

TEST(StickyKey, ValueTypesBecomeText) {
  StickyKey key("v");
  EXPECT_EQ(key.extract(json{{"v", "text"}}), "text");
  EXPECT_EQ(key.extract(json{{"v", -12}}), "-12");
  EXPECT_EQ(key.extract(json{{"v", 18446744073709551615ull}}), "18446744073709551615");
  EXPECT_EQ(key.extract(json{{"v", 1.5}}), "1.5");
  EXPECT_EQ(key.extract(json{{"v", 0.1}}), "0.1");
  EXPECT_EQ(key.extract(json{{"v", true}}), "true");
  EXPECT_EQ(key.extract(json{{"v", ""}}), "");
}

TEST(StickyKey, NestedDottedPaths) {
  StickyKey key("user.id:ds");
  EXPECT_EQ(key.extract(json::parse(R"({"user":{"id":"u1"},"ds":3})")), "u1:3");
  EXPECT_THROW(key.extract(json::parse(R"({"user":"flat","ds":3})")), memrun::Error);
}

TEST(StickyKey, MissingFieldIsNamed) {
  StickyKey key("user_id:dataset_id");
  try {
    key.extract(json{{"user_id", 1}});
    FAIL() << "expected an error";
  } catch (const memrun::Error& e) {
    EXPECT_EQ(e.code(), memrun::Code::kInvalidArgument);
    EXPECT_NE(std::string(e.what()).find("'dataset_id'"), std::string::npos) << e.what();
  }
}

TEST(StickyKey, RejectsUnusableValuesAndPayloads) {
  StickyKey key("k");
  for (const auto& bad : {json{{"k", nullptr}}, json{{"k", json::array({1})}}, json{{"k", json::object()}}}) {
    try {
      key.extract(bad);
      FAIL() << bad.dump();
    } catch (const memrun::Error& e) {
      EXPECT_NE(std::string(e.what()).find("'k'"), std::string::npos) << e.what();
    }
  }
  for (const auto& not_object : {json::array({1, 2}), json("s"), json(5), json(nullptr)}) {
    try {
      key.extract(not_object);
      FAIL() << not_object.dump();
    } catch (const memrun::Error& e) {
      EXPECT_NE(std::string(e.what()).find("must be a JSON object"), std::string::npos) << e.what();
    }
  }
}

TEST(StickyKey, EmptySpecMeansEmptyKey) {
  StickyKey key("");
  EXPECT_EQ(key.extract(json{{"a", 1}}), "");
}

TEST(StickyKey, MalformedSpecsAreRefused) {
  for (const char* spec : {":", "a:", ":a", "a..b", ".a", "a."}) EXPECT_THROW(StickyKey{spec}, memrun::Error) << spec;
}
