// URL and file hygiene through a real memrun-host: a credentialed URL whose
// fetch fails reaches the reply, the dead letter and the host's output only
// redacted; a package URL that is refused is printed redacted, and one with
// a line break is refused at once; file:// in a request reads only under the
// configured roots; an S3 key with dot segments is sent as it was signed.
#include <memrun/context.hpp>
#include <memrun/protocol.hpp>

#include "support/host_process.hpp"
#include "support/kafka_probe.hpp"
#include "support/subprocess.hpp"
#include "support/temp_dir.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

using namespace std::chrono_literals;
using memrun::test::HostProcess;
using memrun::test::KafkaProbe;

namespace {

const std::string kSecretUrl = "http://alice:hunter2pass@127.0.0.1:9/data.bin?X-Amz-Signature=deadbeefcafe";
const char* const kSecrets[] = {"hunter2pass", "deadbeefcafe"};

std::string config_file(const std::string& name, const nlohmann::json& json) {
  const std::string path = testing::TempDir() + "/" + name;
  std::ofstream(path) << json.dump();
  ::chmod(path.c_str(), 0600);
  return path;
}

void expect_no_secret(const std::string& where, const std::string& text) {
  for (const char* secret : kSecrets) EXPECT_EQ(text.find(secret), std::string::npos) << where << ": " << text;
}

TEST(Hygiene, ACredentialedUrlReachesTheReplyTheDeadLetterAndTheLogsOnlyRedacted) {
  const auto config = config_file("hygiene_retry.json", {{"service", {{"max_attempts", 2}, {"retry_backoff_ms", 20}}}});
  HostProcess h = memrun::test::start_host(SDK_PLUGIN, {"--config", config, "--metrics-address", "off",
                                                        "--service", "hygiene"});
  KafkaProbe probe(h.bootstrap);
  const std::string topic = memrun::protocol::request_topic("hygiene");
  probe.send(topic, "a", nlohmann::json{{"k", "a"}, {"op", "fetch"}, {"url", kSecretUrl}}.dump(), "r-secret");
  auto replies = probe.collect({"r-secret"}, 60s);
  ASSERT_EQ(replies.size(), 1u) << h.proc->output();
  const auto& reply = replies["r-secret"];
  EXPECT_EQ(reply.status, "error");
  EXPECT_EQ(reply.error_code, "unavailable") << reply.value;
  EXPECT_NE(reply.value.find("***@127.0.0.1:9"), std::string::npos) << reply.value;
  expect_no_secret("reply", reply.value);

  auto dead = probe.read_topic(memrun::protocol::dlq_topic("hygiene"), memrun::test::kTestPartitions, 1, 30s);
  ASSERT_EQ(dead.size(), 1u) << h.proc->output();
  const std::string message = dead[0].headers["memrun-dlq-error-message"];
  EXPECT_NE(message.find("***@127.0.0.1:9"), std::string::npos) << message;
  expect_no_secret("memrun-dlq-error-message", message);
  memrun::test::expect_clean_stop(h);
  expect_no_secret("host output", h.proc->output());
}

// A package URL without its pin is refused before anything is fetched: a
// package rewritten in storage would otherwise run unchecked.
TEST(Hygiene, AnUnpinnedPackageUrlIsRefusedBeforeAnyFetch) {
  memrun::test::TempDir root("memrun-hygiene");
  memrun::test::TempDir store("memrun-hygiene-store");
  std::ofstream(store.path + "/p.tar.zst") << "not fetched";
  auto [code, out] = memrun::test::run({MEMRUN_HOST, "--package", "file://" + store.path + "/p.tar.zst",
                                        "--cache-root", root.path, "--metrics-address", "off"},
                                       120s);
  EXPECT_EQ(code, 3) << out;
  EXPECT_NE(out.find("has no #sha256= pin"), std::string::npos) << out;
  EXPECT_NE(out.find("--allow-unpinned"), std::string::npos) << out;
  EXPECT_FALSE(std::filesystem::exists(root.path + "/.packages")) << "it fetched before refusing\n" << out;
}

TEST(Hygiene, ARefusedPackageUrlIsPrintedRedactedAndALineBreakIsRefusedAtOnce) {
  memrun::test::TempDir root("memrun-hygiene");
  auto [code, out] = memrun::test::run({MEMRUN_HOST, "--package", kSecretUrl, "--allow-unpinned", "--cache-root",
                                        root.path, "--metrics-address", "off"},
                                       120s);
  EXPECT_EQ(code, 1) << "unreachable: a runtime failure\n" << out;
  EXPECT_NE(out.find("package refused: GET http://***@127.0.0.1:9"), std::string::npos) << out;
  expect_no_secret("host stderr", out);

  std::tie(code, out) = memrun::test::run({MEMRUN_HOST, "--package", "http://127.0.0.1:9/p.tar.zst\nFORGED line",
                                           "--cache-root", root.path, "--metrics-address", "off"},
                                          120s);
  EXPECT_EQ(code, 3) << "invalid_argument: refused, not retried\n" << out;
  EXPECT_EQ(out.find("\nFORGED"), std::string::npos) << out;
  EXPECT_EQ(out.find("attempt"), std::string::npos) << "no retries:\n" << out;
}

TEST(Hygiene, RequestsReadFileUrlsOnlyUnderTheConfiguredRoots) {
  memrun::test::TempDir data("memrun-hygiene-data");
  std::ofstream(data.path + "/ok.txt") << "allowed";
  const auto config = config_file("hygiene_roots.json", {{"file_roots", {data.path}}});
  HostProcess h = memrun::test::start_host(SDK_PLUGIN, {"--config", config, "--metrics-address", "off",
                                                        "--service", "roots"});
  KafkaProbe probe(h.bootstrap);
  const std::string topic = memrun::protocol::request_topic("roots");
  auto fetch = [](const std::string& url) { return nlohmann::json{{"k", "a"}, {"op", "fetch"}, {"url", url}}.dump(); };
  probe.send(topic, "a", fetch("file://" + data.path + "/ok.txt"), "r-ok");
  probe.send(topic, "a", fetch("file:///etc/passwd"), "r-passwd");
  probe.send(topic, "a", fetch("file:///proc/self/environ"), "r-environ");
  auto replies = probe.collect({"r-ok", "r-passwd", "r-environ"}, 60s);
  ASSERT_EQ(replies.size(), 3u) << h.proc->output();
  EXPECT_EQ(replies["r-ok"].status, "ok") << replies["r-ok"].value;
  EXPECT_EQ(nlohmann::json::parse(replies["r-ok"].value)["text"], "allowed");
  for (const char* id : {"r-passwd", "r-environ"}) {
    EXPECT_EQ(replies[id].status, "error") << id;
    EXPECT_EQ(replies[id].error_code, "invalid_argument") << id << " " << replies[id].value;
  }
  memrun::test::expect_clean_stop(h);
}

// S3 signs the path it names; libcurl used to remove "." and ".." segments
// after signing and so send another. flaky_http.py answers /sleep-0/... with
// the path it was asked for.
TEST(Hygiene, AnS3KeyWithDotSegmentsIsSentAsSigned) {
  memrun::test::Subprocess server({"/usr/bin/python3", FLAKY_HTTP});
  auto port = server.wait_for("listening on ", 30s);
  ASSERT_TRUE(port) << server.output();
  ::setenv("AWS_ENDPOINT_URL", ("http://127.0.0.1:" + *port).c_str(), 1);
  memrun::SharedWorkerContext ctx({"dots", 1 << 20, ""});
  EXPECT_EQ(ctx.get_or_fetch("s3://sleep-0/a/./b/../c").view(), "payload of /sleep-0/a/./b/../c");
  EXPECT_EQ(ctx.get_or_fetch("http://127.0.0.1:" + *port + "/sleep-0/x/../y").view(), "payload of /sleep-0/x/../y");
  ::unsetenv("AWS_ENDPOINT_URL");
}

}  // namespace
