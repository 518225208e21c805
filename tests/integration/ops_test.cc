// Operating memrun: a package deployed to s3rver and run by URL, first start
// vs restart; a tampered package refused by the host; /metrics read by the
// official Prometheus parser while traffic moves its counters; readiness only
// after init; JSON log lines that never carry a credential; the CLI's help and
// errors for package and deploy.
#include <memrun/client.hpp>
#include <memrun/protocol.hpp>

#include "support/host_process.hpp"
#include "support/s3rver.hpp"
#include "support/subprocess.hpp"
#include "support/temp_dir.hpp"

#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using memrun::test::http_get;
using memrun::test::scrape_metrics;
using memrun::test::HostProcess;

namespace {

std::pair<int, std::string> cli(const std::vector<std::string>& args) {
  std::vector<std::string> argv{MEMRUN_CLI};
  argv.insert(argv.end(), args.begin(), args.end());
  return memrun::test::run(argv, 120s);
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

memrun::Response call(const std::string& bootstrap, const std::string& service, const nlohmann::json& payload) {
  memrun::Client client(memrun::test::client_options(bootstrap));
  return client.submit(service, payload).get();
}

// ---- packages -----------------------------------------------------------------

// The cold-start table's package rows: where the package came from, and
// whether it was unpacked or reused.
void expect_package_phases(memrun::test::HostProcess& h, const std::string& tier, const std::string& unpack) {
  auto fetched = h.proc->wait_for("  package fetch ", 5s);
  ASSERT_TRUE(fetched) << h.proc->output();
  EXPECT_NE(fetched->find(tier), std::string::npos) << *fetched;
  auto unpacked = h.proc->wait_for("  package verify + unpack ", 1s);
  ASSERT_TRUE(unpacked) << h.proc->output();
  EXPECT_NE(unpacked->find(unpack), std::string::npos) << *unpacked;
}

TEST(Package, DeployedToS3rverItRunsByUrlAndTheSecondStartFindsItOnDisk) {
  memrun::test::S3rver s3;
  memrun::test::TempDir work("memrun-pkg");
  std::ofstream(work.path + "/greeting.txt") << "hello from s3";
  const std::string package = work.path + "/pkgsvc.tar.zst";
  auto [pcode, pout] = cli({"package", "--plugin", SDK_PLUGIN, "--data", work.path + "/greeting.txt", "--name",
                            "pkgsvc", "--partitions", "16", "--max-workers", "4", "-o", package});
  ASSERT_EQ(pcode, 0) << pout;

  auto [dcode, dout] = cli({"deploy", package, "--to",
                            std::string("s3://") + memrun::test::S3rver::kBucket +
                                "/deployments/{service}/{deployment_id}/package.tar.zst"});
  ASSERT_EQ(dcode, 0) << dout;
  std::smatch m;
  const std::regex printed(R"((s3://memrun-test/deployments/pkgsvc/[0-9]{8}T[0-9]{6}Z-[0-9a-f]{8}/package\.tar\.zst)#sha256=([0-9a-f]{64}))");
  ASSERT_TRUE(std::regex_search(dout, m, printed)) << dout;
  const std::string url = m[0], object = m[1];

  // awscli, an independent client, finds the very bytes memrun uploaded.
  auto [acode, aout] = s3.aws({"s3", "cp", object, work.path + "/downloaded.tar.zst"});
  ASSERT_EQ(acode, 0) << aout;
  EXPECT_EQ(read_file(work.path + "/downloaded.tar.zst"), read_file(package));

  const std::vector<std::string> flags{"--cache-root", work.path + "/cache", "--metrics-address", "127.0.0.1:0"};
  {
    HostProcess h = memrun::test::start_host_from({"--package", url}, flags);
    ASSERT_TRUE(memrun::test::wait_assigned(h)) << h.proc->output();
    expect_package_phases(h, "remote", "unpacked 2 files");
    // The service's name and its data file come from the package.
    auto r = call(h.bootstrap, "pkgsvc", {{"k", "a"}, {"op", "package_file"}, {"name", "greeting.txt"}});
    ASSERT_TRUE(r.ok()) << r.error;
    EXPECT_EQ(nlohmann::json::parse(r.body)["text"], "hello from s3");
    memrun::test::expect_clean_stop(h);
  }
  {
    HostProcess h = memrun::test::start_host_from({"--package", url}, flags);
    ASSERT_TRUE(memrun::test::wait_assigned(h)) << h.proc->output();
    expect_package_phases(h, "disk", "reused 2 files, digests checked");
    auto samples = scrape_metrics(memrun::test::metrics_port(h));
    EXPECT_EQ(samples[R"(memrun_startup_phase_info{detail="disk",phase="package fetch"})"], 1);
    auto r = call(h.bootstrap, "pkgsvc", {{"k", "b"}, {"op", "package_file"}, {"name", "greeting.txt"}});
    ASSERT_TRUE(r.ok()) << r.error;
    memrun::test::expect_clean_stop(h);
  }
}

TEST(Package, TheHostRefusesATamperedPackageAndLoadsNothing) {
  memrun::test::TempDir work("memrun-pkg");
  const std::string package = work.path + "/p.tar.zst";
  auto [pcode, pout] = cli({"package", "--plugin", SDK_PLUGIN, "--name", "tampered", "-o", package});
  ASSERT_EQ(pcode, 0) << pout;
  auto [dcode, url] = cli({"deploy", package, "--to", "file://" + work.path + "/store/"});
  ASSERT_EQ(dcode, 0) << url;
  url = url.substr(0, url.find('\n'));
  const std::string stored = url.substr(7, url.find('#') - 7);
  std::string bytes = read_file(stored);
  bytes[bytes.size() / 3] ^= 0x20;
  std::ofstream(stored, std::ios::binary | std::ios::trunc) << bytes;

  auto [code, out] = memrun::test::run(
      {MEMRUN_HOST, "--package", url, "--embedded-kafka", "--cache-root", work.path + "/cache"}, 60s);
  EXPECT_EQ(code, 3) << out;
  EXPECT_NE(out.find("package refused: sha256 of"), std::string::npos) << out;
  EXPECT_EQ(out.find("embedded Kafka bootstrap"), std::string::npos) << "refused before anything ran:\n" << out;
  EXPECT_FALSE(fs::exists(work.path + "/cache/tampered")) << "nothing unpacked";
}

// ---- metrics, readiness, logs ---------------------------------------------------

TEST(Metrics, ThePrometheusParserReadsThemAndCountersMoveWithTraffic) {
  memrun::test::TempDir data("memrun-metrics-data");
  const std::string blob = "0123456789abcdef";
  std::ofstream(data.path + "/blob.bin") << blob;
  const std::string config = data.path + "/config.json";
  std::ofstream(config) << nlohmann::json{{"file_roots", {data.path}}}.dump();  // file:// reads only there
  HostProcess h = memrun::test::start_host(SDK_PLUGIN, {"--metrics-address", "127.0.0.1:0", "--service", "metered",
                                                        "--config", config});
  ASSERT_TRUE(memrun::test::wait_assigned(h)) << h.proc->output();
  const int port = memrun::test::metrics_port(h);
  ASSERT_GT(port, 0) << h.proc->output();

  auto before = scrape_metrics(port);
  EXPECT_EQ(before[R"(memrun_requests_total{outcome="ok"})"], 0);
  EXPECT_EQ(before["memrun_ready{}"], 1);
  EXPECT_EQ(before[R"(memrun_worker_info{service="metered",worker="w1"})"], 1);
  EXPECT_GT(before[R"(memrun_startup_phase_seconds{phase="group join + first assignment"})"], 0);

  memrun::Client client(memrun::test::client_options(h.bootstrap));
  std::vector<std::future<memrun::Response>> replies;
  for (int i = 0; i < 5; ++i) replies.push_back(client.submit("metered", {{"k", i}, {"op", "object"}}));
  replies.push_back(client.submit("metered", {{"k", "f"}, {"op", "bad_field"}}));  // invalid_argument: no retry
  for (auto& r : replies) r.get();
  const std::string url = "file://" + data.path + "/blob.bin";
  for (int i = 0; i < 2; ++i) ASSERT_TRUE(call(h.bootstrap, "metered", {{"k", "x"}, {"op", "fetch"}, {"url", url}}).ok());

  auto after = scrape_metrics(port);
  EXPECT_EQ(after[R"(memrun_requests_total{outcome="ok"})"], 7);
  EXPECT_EQ(after[R"(memrun_requests_total{outcome="error"})"], 1);
  EXPECT_EQ(after["memrun_request_duration_seconds_count{}"], 8);
  EXPECT_EQ(after[R"(memrun_request_duration_seconds_bucket{le="+Inf"})"], 8);
  EXPECT_GT(after["memrun_request_duration_seconds_sum{}"], 0);
  EXPECT_EQ(after["memrun_remote_fetches_total{}"], 1);
  EXPECT_EQ(after["memrun_remote_bytes_total{}"], blob.size());
  EXPECT_EQ(after[R"(memrun_cache_hits_total{tier="ram"})"], 1);
  EXPECT_GE(after["memrun_object_store_bytes{}"], blob.size());
  EXPECT_EQ(after["memrun_assigned_partitions{}"], memrun::test::kTestPartitions);
  int lag_series = 0;
  for (const auto& [name, value] : after) {
    if (name.rfind("memrun_partition_lag{", 0) != 0) continue;
    ++lag_series;
    EXPECT_EQ(value, 0) << name;
  }
  EXPECT_EQ(lag_series, memrun::test::kTestPartitions);
  EXPECT_EQ(http_get(port, "/healthz").first, 200);
  memrun::test::expect_clean_stop(h);
}

TEST(Metrics, ReadyzTurnsReadyOnlyAfterInitAndTheFirstAssignment) {
  ::setenv("SDK_PLUGIN_INIT_MS", "3000", 1);
  auto proc = std::make_unique<memrun::test::Subprocess>(std::vector<std::string>{
      MEMRUN_HOST, "--plugin", SDK_PLUGIN, "--embedded-kafka", "--metrics-address", "127.0.0.1:0", "-X",
      "session.timeout.ms=6000", "-X", "heartbeat.interval.ms=500", "-X", "max.poll.interval.ms=8000"});
  ::unsetenv("SDK_PLUGIN_INIT_MS");
  auto port_text = proc->wait_for("memrun-host: metrics http://127.0.0.1:", 30s);
  ASSERT_TRUE(port_text) << proc->output();
  const int port = std::stoi(*port_text);
  // Init is still sleeping: alive, not ready.
  EXPECT_EQ(http_get(port, "/healthz").first, 200);
  auto [status, body] = http_get(port, "/readyz");
  EXPECT_EQ(status, 503) << body;
  EXPECT_FALSE(proc->wait_for("memrun-host: ready", 100ms)) << "init should still be running";
  ASSERT_TRUE(proc->wait_for("assigned partitions", 60s)) << proc->output();
  EXPECT_EQ(http_get(port, "/readyz").first, 200);
  proc->signal(SIGTERM);
  EXPECT_EQ(proc->wait(30s), 0) << proc->output();
}

TEST(Logs, JsonLinesCarryNoCredential) {
  ::setenv("AWS_SECRET_ACCESS_KEY", "SuperSecretValue123", 1);
  HostProcess h = memrun::test::start_host(SDK_PLUGIN, {"--log-format", "json", "--log-level", "debug",
                                                        "--metrics-address", "off", "--service", "logged"});
  ::unsetenv("AWS_SECRET_ACCESS_KEY");
  ASSERT_TRUE(memrun::test::wait_assigned(h)) << h.proc->output();
  // Nothing listens on port 9: the fetch fails, and the URL is logged.
  const std::string url = "http://alice:hunter2pass@127.0.0.1:9/data.bin?X-Amz-Signature=deadbeefcafe";
  auto r = call(h.bootstrap, "logged", {{"k", "a"}, {"op", "fetch"}, {"url", url}});
  EXPECT_FALSE(r.ok());
  memrun::test::expect_clean_stop(h);

  const std::string out = h.proc->output();
  EXPECT_NE(out.find("***@127.0.0.1:9"), std::string::npos) << "the URL was logged, redacted:\n" << out;
  for (const char* secret : {"hunter2pass", "deadbeefcafe", "SuperSecretValue123"})
    EXPECT_EQ(out.find(secret), std::string::npos) << secret << " leaked:\n" << out;
  std::istringstream lines(out);
  int json_lines = 0;
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("memrun-host: ", 0) == 0) continue;  // announcements for supervisors, not log lines
    auto j = nlohmann::json::parse(line, nullptr, false);
    ASSERT_FALSE(j.is_discarded()) << "not a JSON line: " << line;
    for (const char* key : {"time", "level", "program", "message"}) EXPECT_TRUE(j.contains(key)) << line;
    ++json_lines;
  }
  EXPECT_GT(json_lines, 10);
}

// ---- the CLI ---------------------------------------------------------------------

TEST(Cli, PackageAndDeployExplainThemselvesAndRefuseBadArguments) {
  for (const char* sub : {"package", "deploy"}) {
    auto [code, out] = cli({sub, "--help"});
    EXPECT_EQ(code, 0) << out;
    EXPECT_NE(out.find(sub == std::string("package") ? "--max-workers" : "--to"), std::string::npos) << out;
  }
  memrun::test::TempDir work("memrun-cli");
  auto [c1, o1] = cli({"deploy", work.path + "/p.tar.zst"});
  EXPECT_EQ(c1, 2) << o1;
  EXPECT_NE(o1.find("--to is required"), std::string::npos) << o1;
  auto [c2, o2] = cli({"package", "--plugin", work.path + "/missing.so", "-o", work.path + "/p.tar.zst"});
  EXPECT_EQ(c2, 2) << o2;
  EXPECT_NE(o2.find("missing.so"), std::string::npos) << o2;
  auto [c3, o3] = cli({"package", "--plugin", SDK_PLUGIN, "--partitions", "2", "--max-workers", "3", "-o",
                       work.path + "/p.tar.zst"});
  EXPECT_EQ(c3, 2) << o3;
  EXPECT_NE(o3.find("partitions (2) must be at least max_workers (3)"), std::string::npos) << o3;
  std::ofstream(work.path + "/junk.tar.zst") << "junk";
  auto [c4, o4] = cli({"deploy", work.path + "/junk.tar.zst", "--to", "file://" + work.path + "/store/"});
  EXPECT_EQ(c4, 2) << o4;
  EXPECT_NE(o4.find("package archive"), std::string::npos) << o4;
  auto [c5, o5] = cli({"deploy", work.path + "/junk.tar.zst", "--to", "ftp://x/y"});
  EXPECT_EQ(c5, 2) << o5;
}

}  // namespace
