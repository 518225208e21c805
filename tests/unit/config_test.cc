// The host's config file: each key read into HostConfig, wrong types and
// unknown keys refused with the key named.
#include "app/config.hpp"

#include <memrun/status.hpp>

#include "support/temp_dir.hpp"

#include <gtest/gtest.h>

#include <fstream>

namespace {

std::string write(const memrun::test::TempDir& dir, const std::string& text) {
  const std::string path = dir.path + "/host.json";
  std::ofstream(path) << text;
  return path;
}

TEST(HostConfig, ReadsTheWorkerAndInstanceIds) {
  memrun::test::TempDir dir("memrun-config");
  auto c = memrun::app::load_config(write(dir, R"({"worker_id": "w1", "instance_id": "pod-1"})"));
  EXPECT_EQ(c.worker_id, "w1");
  EXPECT_EQ(c.instance_id, "pod-1");
  EXPECT_EQ(memrun::app::load_config(write(dir, "{}")).instance_id, "") << "no static membership by default";
}

TEST(HostConfig, ReadsTheBoundOnRecordsAwaitingKafka) {
  memrun::test::TempDir dir("memrun-config");
  EXPECT_EQ(memrun::app::load_config(write(dir, R"({"max_unacked_records": 64})")).max_unacked_records, 64u);
  EXPECT_EQ(memrun::app::load_config(write(dir, "{}")).max_unacked_records, 0u) << "0: the worker's default";
  for (const char* bad : {R"({"max_unacked_records": 0})", R"({"max_unacked_records": 1.5})",
                          R"({"max_unacked_records": "many"})"})
    EXPECT_THROW(memrun::app::load_config(write(dir, bad)), memrun::Error) << bad;
}

TEST(HostConfig, ReadsTheRangeChunkSizeAPowerOfTwoWithinBounds) {
  memrun::test::TempDir dir("memrun-config");
  EXPECT_EQ(memrun::app::load_config(write(dir, R"({"range_chunk_bytes": "4Mi"})")).range_chunk_bytes, 4u << 20);
  EXPECT_EQ(memrun::app::load_config(write(dir, R"({"range_chunk_bytes": 65536})")).range_chunk_bytes, 65536u);
  EXPECT_EQ(memrun::app::load_config(write(dir, R"({"range_chunk_bytes": "1Gi"})")).range_chunk_bytes, 1u << 30);
  EXPECT_EQ(memrun::app::load_config(write(dir, "{}")).range_chunk_bytes, 0u) << "0: the context's default";
  for (const char* bad : {R"({"range_chunk_bytes": "3Mi"})", R"({"range_chunk_bytes": "32Ki"})",
                          R"({"range_chunk_bytes": "2Gi"})", R"({"range_chunk_bytes": 0})",
                          R"({"range_chunk_bytes": "lots"})", R"({"range_chunk_bytes": true})"}) {
    try {
      memrun::app::load_config(write(dir, bad));
      ADD_FAILURE() << "accepted " << bad;
    } catch (const memrun::Error& e) {
      EXPECT_EQ(e.code(), memrun::Code::kInvalidArgument) << e.what();
      EXPECT_NE(std::string(e.what()).find("power of two from 64Ki to 1Gi"), std::string::npos) << e.what();
    }
  }
}

TEST(HostConfig, AWrongTypeOrAnUnknownKeyIsRefusedByName) {
  memrun::test::TempDir dir("memrun-config");
  for (const auto& [text, named] : std::vector<std::pair<std::string, std::string>>{
           {R"({"instance_id": 7})", "instance_id"}, {R"({"instance": "pod-1"})", "instance"}}) {
    try {
      memrun::app::load_config(write(dir, text));
      ADD_FAILURE() << "accepted " << text;
    } catch (const memrun::Error& e) {
      EXPECT_EQ(e.code(), memrun::Code::kInvalidArgument) << e.what();
      EXPECT_NE(std::string(e.what()).find(named), std::string::npos) << e.what();
    }
  }
}

}  // namespace
