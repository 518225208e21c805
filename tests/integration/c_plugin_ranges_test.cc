// A plain C plugin (tests/plugins/c_ranges.c) streams and ranges a remote
// object through memrun-host, whose config file sets range_chunk_bytes: the
// C ABI's stream and range slots, their errors, and the config key's way
// from the file to the context, seen by the server as the size of each GET.
#include <memrun/client.hpp>
#include <memrun/plugin.h>
#include <memrun/protocol.hpp>

#include "support/flaky_http.hpp"
#include "support/host_process.hpp"
#include "support/temp_dir.hpp"
#include "support/wait.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cinttypes>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

using namespace std::chrono_literals;

namespace {

using memrun::test::big_slice;
using memrun::test::kBig;
using memrun::test::kChunk;

// As c_ranges.c hashes what it reads: FNV-1a, 64 bits, in 16 hex digits.
std::string fnv1a(const std::string& bytes) {
  uint64_t hash = 14695981039346656037ull;
  for (unsigned char c : bytes) {
    hash ^= c;
    hash *= 1099511628211ull;
  }
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016" PRIx64, hash);
  return hex;
}

class CPluginRanges : public memrun::test::FlakyHttp {
 protected:
  // The offsets of the GETs /stream/ saw, in arrival order.
  std::vector<uint64_t> offsets() {
    std::vector<uint64_t> out;
    std::stringstream list(ask("/order"));
    for (std::string offset; std::getline(list, offset, ',');) out.push_back(std::stoull(offset));
    return out;
  }
};

TEST_F(CPluginRanges, AStreamAndARangeThroughTheCAbiFetchTheConfiguredChunks) {
  constexpr uint64_t kConfigured = 64 << 10;  // not the default, not the tests' kChunk
  memrun::test::TempDir dir("memrun-c-ranges");
  const std::string config = dir.path + "/config.json";
  std::ofstream(config) << nlohmann::json{{"cache_root", dir.path + "/cache"}, {"range_chunk_bytes", "64Ki"}}.dump();
  auto h = memrun::test::start_host(C_RANGES_PLUGIN, {"--config", config});
  memrun::Client client(memrun::test::client_options(h.bootstrap));
  const std::string url = base_ + "/stream/big";
  const uint64_t offset = 3 * kChunk + 1000, length = 300000, step = 70000;  // reads across chunk ends
  memrun::Response r = client
                           .submit("c_ranges", {{"k", "a"},
                                                {"url", url},
                                                {"offset", offset},
                                                {"length", length},
                                                {"step", step}})
                           .get();
  ASSERT_TRUE(r.ok()) << r.error << "\n" << h.proc->output();
  const auto body = nlohmann::json::parse(r.body);
  EXPECT_EQ(body["size"], kBig);
  EXPECT_EQ(body["reads"], 5);
  EXPECT_EQ(body["fnv"], fnv1a(big_slice(offset, length))) << "the bytes read through the stream";
  EXPECT_EQ(body["footer_fnv"], fnv1a(big_slice(kBig - 16, 16))) << "the bytes of get_range";
  EXPECT_EQ(body["after_close"], MEMRUN_ERR_INVALID_ARGUMENT) << "a closed stream is refused, not read";

  // Every GET is one chunk of the configured size: aligned to it, and the
  // bytes sent are that many per GET (a GET under way when the stream closed
  // runs to its end first).
  std::vector<uint64_t> gets;
  ASSERT_TRUE(memrun::test::wait_until(
      [&] {
        gets = offsets();
        return !gets.empty() && counter("bytes", "/stream/big") == gets.size() * kConfigured;
      },
      30s))
      << counter("bytes", "/stream/big") << " bytes in " << gets.size() << " GETs";
  bool inside_a_mib = false;
  for (uint64_t at : gets) {
    EXPECT_EQ(at % kConfigured, 0u) << at;
    inside_a_mib = inside_a_mib || at % kChunk != 0;
  }
  EXPECT_TRUE(inside_a_mib) << "chunks of 64 KiB, not of 1 MiB or more";

  // Errors of the host's calls come back through the C plugin as they are.
  r = client.submit("c_ranges", {{"k", "a"}, {"url", url}, {"offset", kBig - 10}, {"length", 100}, {"step", 100}})
          .get();
  EXPECT_EQ(r.code, memrun::Code::kInvalidArgument) << r.error;
  EXPECT_NE(r.error.find(std::to_string(kBig) + " bytes"), std::string::npos) << r.error;
  r = client
          .submit("c_ranges",
                  {{"k", "a"}, {"url", base_ + "/ignore-range/big"}, {"offset", 0}, {"length", 1}, {"step", 1}})
          .get();
  EXPECT_EQ(r.code, memrun::Code::kUnimplemented) << r.error;
  memrun::test::expect_clean_stop(h);
}

}  // namespace
