#include <memrun/protocol.hpp>
#include <memrun/service.hpp>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

using memrun::parse_bytes;

TEST(ParseBytes, BinaryAndDecimalSuffixes) {
  EXPECT_EQ(parse_bytes("4096"), 4096u);
  EXPECT_EQ(parse_bytes("512Mi"), 512ull << 20);
  EXPECT_EQ(parse_bytes("32Gi"), 32ull << 30);
  EXPECT_EQ(parse_bytes("32GiB"), 32ull << 30);
  EXPECT_EQ(parse_bytes("1Ti"), 1ull << 40);
  EXPECT_EQ(parse_bytes("1.5G"), 1500000000ull);
  EXPECT_EQ(parse_bytes("2k"), 2000u);
}

TEST(ParseBytes, RejectsGarbage) {
  for (const char* bad : {"", "Gi", "12Xi", "-1", "1..2G", "1e3", "99999999999999999999Ti"})
    EXPECT_THROW(parse_bytes(bad), memrun::Error) << bad;
}

memrun::MemoryService valid() {
  memrun::MemoryService s;
  s.name = "svc";
  s.sticky_key = "user_id";
  s.handle = [](memrun::RequestContext&) { return memrun::Reply::raw("x"); };
  return s;
}

TEST(MemoryService, DefaultsAreValid) {
  auto s = valid();
  EXPECT_EQ(s.concurrency, 16);
  EXPECT_NO_THROW(s.validate());
}

TEST(MemoryService, ValidateNamesTheBadField) {
  auto expect_bad = [](memrun::MemoryService s, const std::string& field) {
    try {
      s.validate();
      FAIL() << field;
    } catch (const memrun::Error& e) {
      EXPECT_NE(std::string(e.what()).find(field), std::string::npos) << e.what();
    }
  };
  auto s = valid(); s.name = "has space"; expect_bad(s, "name");
  s = valid(); s.memory = "lots"; expect_bad(s, "memory");
  s = valid(); s.concurrency = 0; expect_bad(s, "concurrency");
  s = valid(); s.timeout_seconds = 0; expect_bad(s, "timeout_seconds");
  s = valid(); s.sticky_key = "a::b"; expect_bad(s, "sticky_key");
  s = valid(); s.handle = nullptr; expect_bad(s, "handle");
}

TEST(MemoryService, ApplyFieldsOverridesAndRejectsUnknown) {
  auto s = valid();
  memrun::apply_service_fields(s, nlohmann::json{{"concurrency", 4}, {"memory", "2Gi"}, {"sticky_key", "a:b"}});
  EXPECT_EQ(s.concurrency, 4);
  EXPECT_EQ(s.memory_bytes(), 2ull << 30);
  EXPECT_EQ(s.sticky_key, "a:b");
  EXPECT_THROW(memrun::apply_service_fields(s, nlohmann::json{{"concurency", 4}}), memrun::Error);
  EXPECT_THROW(memrun::apply_service_fields(s, nlohmann::json{{"concurrency", "four"}}), memrun::Error);
  auto fields = memrun::service_fields(s);
  EXPECT_EQ(fields["concurrency"], 4);
  EXPECT_EQ(fields["name"], "svc");
}

TEST(MemoryService, EveryFieldSurvivesARoundTripThroughItsJson) {
  auto s = valid();
  s.concurrency = 3;
  s.timeout_seconds = 2.5;
  s.sticky_key = "a.b:c";
  s.partitions = 7;
  s.max_payload_bytes = 1234;
  s.max_attempts = 5;
  s.retry_backoff_ms = 9;
  s.dedup_window = 11;
  s.dedup_window_bytes = 1ull << 40;
  s.max_crashes = 4;
  s.strict_routing = true;
  const auto fields = memrun::service_fields(s);
  auto t = valid();
  memrun::apply_service_fields(t, fields);
  EXPECT_EQ(memrun::service_fields(t), fields);
  EXPECT_EQ(t.dedup_window_bytes, 1ull << 40);
  EXPECT_NE(memrun::service_fields(valid()), fields);
}

// Found by tests/fuzz (manifest, host_config): counts were converted, not
// read, so 4294967297 became 1 and 2.9 became 2, silently; 1e300 was
// undefined behaviour.
TEST(MemoryService, ApplyFieldsKeepsCountsExactlyAsWrittenOrRefuses) {
  for (const auto& bad : {nlohmann::json(4294967297ull), nlohmann::json(2.9), nlohmann::json(1e300), nlohmann::json(true)}) {
    auto s = valid();
    EXPECT_THROW(memrun::apply_service_fields(s, nlohmann::json{{"concurrency", bad}}), memrun::Error) << bad;
    EXPECT_EQ(s.concurrency, valid().concurrency);
  }
  for (const auto& bad : {nlohmann::json(-1), nlohmann::json(1e300), nlohmann::json(65536.5)}) {
    auto s = valid();
    EXPECT_THROW(memrun::apply_service_fields(s, nlohmann::json{{"max_payload_bytes", bad}}), memrun::Error) << bad;
  }
  auto s = valid();
  memrun::apply_service_fields(s, nlohmann::json{{"max_payload_bytes", 18446744073709551615ull}, {"retry_backoff_ms", 0}});
  EXPECT_EQ(s.max_payload_bytes, 18446744073709551615ull);
  EXPECT_EQ(s.retry_backoff_ms, 0);
}

TEST(Protocol, NamesFollowTheService) {
  EXPECT_EQ(memrun::protocol::request_topic("echo"), "memrun.requests.echo");
  EXPECT_EQ(memrun::protocol::consumer_group("echo"), "memrun-echo");
  EXPECT_TRUE(memrun::protocol::valid_service_name("a.b-c_9"));
  EXPECT_FALSE(memrun::protocol::valid_service_name("a/b"));
  EXPECT_FALSE(memrun::protocol::valid_service_name(""));
  // The name is a directory under the cache root too.
  EXPECT_FALSE(memrun::protocol::valid_service_name("."));
  EXPECT_FALSE(memrun::protocol::valid_service_name(".."));
  EXPECT_FALSE(memrun::protocol::valid_service_name(".hidden"));
  EXPECT_FALSE(memrun::protocol::valid_service_name("-flag"));
}

TEST(Status, CodesRoundTripThroughNames) {
  for (int i = 0; i <= 10; ++i) {
    auto code = memrun::code_from_int(i);
    EXPECT_EQ(static_cast<int>(code), i);
    EXPECT_EQ(memrun::code_from_name(memrun::code_name(code)), code);
  }
  EXPECT_EQ(memrun::code_from_int(999), memrun::Code::kInternal);
  EXPECT_TRUE(memrun::is_retriable(memrun::Code::kUnavailable));
  EXPECT_FALSE(memrun::is_retriable(memrun::Code::kInvalidArgument));
}
