// The fixture of the ranged and streaming read tests: flaky_http.py (a
// well-behaved ranged server, misbehaving ones, and /stream/, whose GETs a
// test can hold, cut short and list), and what those tests share.
#pragma once

#include <memrun/context.hpp>
#include <memrun/status.hpp>

#include "support/subprocess.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>

namespace memrun::test {

inline constexpr uint64_t kChunk = 1 << 20;
inline constexpr uint64_t kBig = 20 << 20;  // flaky_http.py's objects: byte i is i % 251

inline std::string big_slice(uint64_t offset, uint64_t length) {
  std::string out(length, '\0');
  for (uint64_t i = 0; i < length; ++i) out[i] = static_cast<char>((offset + i) % 251);
  return out;
}

inline std::string text(const memrun::Blob& b) { return std::string(b.view()); }

inline SharedWorkerContext::Options options(const std::string& disk_dir = "") {
  SharedWorkerContext::Options o;
  o.service = "ranges";
  o.memory_budget_bytes = 64 << 20;
  o.disk_dir = disk_dir;
  o.disk_budget_bytes = disk_dir.empty() ? 0 : 64 << 20;
  o.range_chunk_bytes = kChunk;
  return o;
}

inline memrun::Error error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const memrun::Error& e) {
    return e;
  }
  return memrun::Error(memrun::Code::kOk, "no error");
}

inline bool contains(const memrun::Error& e, const std::string& part) {
  return std::string(e.what()).find(part) != std::string::npos;
}

class FlakyHttp : public testing::Test {
 protected:
  void SetUp() override {
    server_ = std::make_unique<Subprocess>(std::vector<std::string>{"/usr/bin/python3", FLAKY_HTTP});
    auto port = server_->wait_for("listening on ", std::chrono::seconds(30));
    ASSERT_TRUE(port) << server_->output();
    base_ = "http://127.0.0.1:" + *port;
  }
  // What the server answers to `path` (a counter, or a control of /stream/).
  std::string ask(const std::string& path) {
    SharedWorkerContext probe({"probe", 1 << 20, ""});
    return text(probe.get_or_fetch(base_ + path));
  }
  // What the server says about `path` (its /hits/ or /bytes/ counters).
  uint64_t counter(const std::string& kind, const std::string& path) {
    return std::stoull(ask("/" + kind + path));
  }

  std::unique_ptr<Subprocess> server_;
  std::string base_;
};

}  // namespace memrun::test
