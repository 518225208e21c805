// Soak: three supervised memrun-host workers under mixed traffic for a fixed
// time, with a kill -9 of a random worker every minute, a poison request (one
// that crashes the worker) every few minutes, and more distinct objects than
// the disk tier holds. Then it checks every request sent: exactly one reply,
// or a dead letter. The mock cluster lives in this process, so killing
// workers never kills Kafka. `bench/soak --help` lists the knobs.
//
// Threads: main (set-up, drain, report), the traffic thread, the killer, one
// supervisor per worker (soak_supervisor.hpp), the Client's reader.
// Ctrl-C / SIGTERM end the run early; every worker is stopped either way.
#include <memrun/client.hpp>
#include <memrun/embedded_kafka.hpp>
#include <memrun/protocol.hpp>

#include "soak_supervisor.hpp"
#include "support/kafka_probe.hpp"

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>

namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;

std::atomic<bool> g_interrupted{false};
void on_signal(int) { g_interrupted = true; }

struct Options {
  int seconds = 600;
  double rate = 10;  // requests per second
  int workers = 3;
  int kill_every = 60;
  int poison_every = 150;
  int objects = 40;
  int object_mib = 2;
  int drain = 300;  // at most this long after traffic ends for the last replies
  unsigned seed = 1;
  std::string host, plugin, dir;
};

enum class Kind { kGood, kSlow, kFetch, kBadJson, kNoKey, kPoison };
constexpr Kind kKinds[] = {Kind::kGood, Kind::kSlow, Kind::kFetch, Kind::kBadJson, Kind::kNoKey, Kind::kPoison};

const char* kind_name(Kind k) {
  switch (k) {
    case Kind::kGood: return "good";
    case Kind::kSlow: return "slow";
    case Kind::kFetch: return "fetch";
    case Kind::kBadJson: return "bad JSON";
    case Kind::kNoKey: return "no sticky key";
    case Kind::kPoison: return "poison";
  }
  return "?";
}

// The worker's reply partition for Client requests; raw (malformed) ones use 0.
constexpr int kClientReplyPartition = 1;
constexpr int kProbeReplyPartition = 0;

struct Sent {
  Kind kind;
  std::string id;  // known at once for raw sends; from the Response for Client sends
  Clock::time_point at;
  std::future<memrun::Response> reply;  // Client sends only
  std::optional<memrun::Response> response;
  int object = -1;
};

uint64_t fnv1a(const std::string& bytes) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : bytes) h = (h ^ c) * 0x100000001b3ULL;
  return h;
}

struct Object {
  std::string url;
  uint64_t size = 0, fnv = 0;
};

// Distinct objects, pseudo-random bytes, together larger than the disk budget.
std::vector<Object> write_objects(const std::string& dir, int count, int mib) {
  fs::create_directories(dir);
  std::vector<Object> out;
  for (int i = 0; i < count; ++i) {
    std::mt19937_64 gen(static_cast<uint64_t>(i) + 1000);
    std::string bytes(static_cast<size_t>(mib) << 20, '\0');
    for (size_t j = 0; j + 8 <= bytes.size(); j += 8) {
      uint64_t v = gen();
      std::memcpy(bytes.data() + j, &v, 8);
    }
    const std::string path = dir + "/object-" + std::to_string(i) + ".bin";
    std::ofstream(path, std::ios::binary) << bytes;
    out.push_back({"file://" + path, bytes.size(), fnv1a(bytes)});
  }
  return out;
}

double percentile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[static_cast<size_t>(q * static_cast<double>(v.size() - 1))];
}

// Sleeps until `t` unless the run is interrupted; false if interrupted.
bool sleep_until(Clock::time_point t) {
  while (Clock::now() < t) {
    if (g_interrupted) return false;
    std::this_thread::sleep_for(std::min<Clock::duration>(t - Clock::now(), 200ms));
  }
  return !g_interrupted;
}

double seconds_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  CLI::App app("memrun soak: supervised workers under mixed traffic, kill -9 and poison requests");
  app.add_option("--seconds", o.seconds, "Traffic duration")->check(CLI::Range(10, 24 * 3600));
  app.add_option("--rate", o.rate, "Requests per second")->check(CLI::Range(0.5, 1000.0));
  app.add_option("--workers", o.workers, "Supervised workers")->check(CLI::Range(1, 8));
  app.add_option("--kill-every", o.kill_every, "Seconds between kill -9 of a random worker (0: never)");
  app.add_option("--poison-every", o.poison_every, "Seconds between poison requests (0: never)");
  app.add_option("--objects", o.objects, "Distinct objects fetched through the tiered cache")->check(CLI::Range(1, 1000));
  app.add_option("--object-mib", o.object_mib, "Size of each object (the service's disk budget is 32 MiB)")
      ->check(CLI::Range(1, 64));
  app.add_option("--drain", o.drain, "Seconds to wait for the last replies after traffic ends");
  app.add_option("--seed", o.seed, "Random seed (traffic mix, kills)");
  app.add_option("--host", o.host, "memrun-host binary")->required();
  app.add_option("--plugin", o.plugin, "The soak plugin (libmemrun_soak_plugin.so)")->required();
  app.add_option("--dir", o.dir, "Work directory: objects, cache roots, worker logs (kept)")->required();
  CLI11_PARSE(app, argc, argv);

  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

  std::printf("soak: %d s, %.1f req/s, %d workers, kill -9 every %d s, poison every %d s, %d objects x %d MiB, dir %s\n",
              o.seconds, o.rate, o.workers, o.kill_every, o.poison_every, o.objects, o.object_mib, o.dir.c_str());
  auto objects = write_objects(o.dir + "/objects", o.objects, o.object_mib);

  memrun::EmbeddedKafka kafka(3);
  constexpr int kPartitions = 16;
  kafka.create_service_topics("soak", kPartitions);
  const std::string bootstrap = kafka.bootstrap_servers();

  std::vector<std::unique_ptr<memrun::bench::WorkerSlot>> slots;
  for (int i = 0; i < o.workers; ++i) {
    const std::string id = "w" + std::to_string(i + 1);
    std::vector<std::string> args{o.host, "--plugin", o.plugin, "-b", bootstrap, "--worker-id", id,
                                  "--cache-root", o.dir + "/" + id, "--metrics-address", "127.0.0.1:0",
                                  "--heartbeat-interval", "5",
                                  // The bench's WorkerSlot restarts workers as systemd would, and
                                  // samples the worker's own RSS and descriptors: one process each.
                                  "--no-supervise"};
    for (auto& f : memrun::test::fast_group_flags()) args.push_back(f);
    fs::create_directories(o.dir + "/" + id);
    slots.push_back(std::make_unique<memrun::bench::WorkerSlot>(id, args, o.dir + "/" + id));
    slots.back()->start();
  }

  memrun::ClientOptions copts;
  copts.kafka.bootstrap_servers = bootstrap;
  copts.kafka.properties = memrun::EmbeddedKafka::client_properties();
  copts.reply_partition = kClientReplyPartition;
  memrun::Client client(copts);
  client.set_sticky_key("soak", "k");
  memrun::test::KafkaProbe probe(bootstrap, kProbeReplyPartition);

  // Traffic starts once every worker is up (the group may still be forming).
  for (auto until = Clock::now() + 90s; Clock::now() < until && !g_interrupted;) {
    if (std::all_of(slots.begin(), slots.end(), [](auto& s) { return s->ready(); })) break;
    std::this_thread::sleep_for(100ms);
  }
  const auto t0 = Clock::now();
  const auto traffic_end = t0 + std::chrono::seconds(o.seconds);
  std::vector<Sent> sent;  // the traffic thread's until it is joined
  std::atomic<int> kills{0};

  std::thread traffic([&] {
    std::mt19937 rng(o.seed);
    const auto gap = std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(1.0 / o.rate));
    auto next_poison = o.poison_every > 0 ? t0 + std::chrono::seconds(o.poison_every / 2) : Clock::time_point::max();
    int raw_n = 0;
    for (long i = 0;; ++i) {
      const auto at = t0 + i * gap;
      if (at >= traffic_end || !sleep_until(at)) break;
      const std::string key = "user-" + std::to_string(rng() % 200);
      // A poison request costs several worker deaths; none in the last
      // minute, so its dead letter (or its 300 s timeout) comes within the drain.
      const bool poison = at >= next_poison && at + 60s < traffic_end;
      if (poison) next_poison += std::chrono::seconds(o.poison_every);
      const unsigned roll = poison ? 0 : rng() % 100;
      try {
        if (poison) {
          sent.push_back({Kind::kPoison, "", at, client.submit("soak", {{"k", key}, {"op", "crash"}}, 300s), {}});
        } else if (roll < 70) {
          sent.push_back({Kind::kGood, "", at, client.submit("soak", {{"k", key}, {"op", "echo"}, {"n", i}}, 120s), {}});
        } else if (roll < 80) {
          const int ms = 200 + static_cast<int>(rng() % 1800);
          sent.push_back({Kind::kSlow, "", at, client.submit("soak", {{"k", key}, {"op", "sleep"}, {"ms", ms}}, 120s), {}});
        } else if (roll < 92) {
          const int obj = static_cast<int>(rng() % objects.size());
          sent.push_back({Kind::kFetch, "", at,
                          client.submit("soak", {{"k", key}, {"op", "fetch"}, {"url", objects[obj].url}}, 120s), {},
                          obj});
        } else {
          // Malformed records go out raw: the Client refuses a missing sticky key.
          const bool bad_json = roll < 96;
          const std::string id = "soak-raw-" + std::to_string(o.seed) + "-" + std::to_string(raw_n++);
          const auto deadline = std::chrono::duration_cast<std::chrono::milliseconds>(
                                    std::chrono::system_clock::now().time_since_epoch() + 120s).count();
          probe.send(memrun::protocol::request_topic("soak"), key,
                     bad_json ? R"({"k": ")" + key + R"(", "op": "echo", "n": )" : R"({"op": "echo", "n": 1})", id,
                     deadline);
          sent.push_back({bad_json ? Kind::kBadJson : Kind::kNoKey, id, at, {}, {}});
        }
      } catch (const std::exception& e) {
        std::fprintf(stderr, "soak: send failed: %s\n", e.what());
      }
    }
  });

  std::thread killer([&] {
    if (o.kill_every <= 0) return;
    std::mt19937 rng(o.seed + 7);
    for (int n = 1;; ++n) {
      const auto at = t0 + std::chrono::seconds(n * o.kill_every);
      if (at >= traffic_end || !sleep_until(at)) return;
      // A random worker that is up; if it is restarting, another one.
      const size_t first = rng() % slots.size();
      for (size_t k = 0; k < slots.size(); ++k) {
        auto& slot = slots[(first + k) % slots.size()];
        if (slot->request_kill()) {
          ++kills;
          std::printf("soak: %5.0f s kill -9 %s\n", seconds_between(t0, Clock::now()), slot->name().c_str());
          std::fflush(stdout);
          break;
        }
      }
    }
  });

  // Progress once a minute.
  while (Clock::now() < traffic_end && sleep_until(std::min(traffic_end, Clock::now() + 60s)))
    std::printf("soak: %5.0f s\n", seconds_between(t0, Clock::now())), std::fflush(stdout);
  traffic.join();
  killer.join();

  // Drain: every Client request gets its reply or its own timeout; then the
  // raw requests' replies, read from the topic.
  const auto traffic_stopped = Clock::now();
  const auto drain_end = traffic_stopped + std::chrono::seconds(o.drain);
  for (auto& s : sent) {
    if (s.reply.valid() && !g_interrupted && s.reply.wait_until(drain_end) == std::future_status::ready) {
      s.response = s.reply.get();
      s.id = s.response->request_id;
    }
  }
  const double drained_s = seconds_between(traffic_stopped, Clock::now());

  // Every record of the reply partitions in use and of the dead-letter topic.
  const std::string replies_topic(memrun::protocol::kReplyTopic);
  const int reply_partitions = std::max(kClientReplyPartition, kProbeReplyPartition) + 1;
  std::map<std::string, std::vector<memrun::test::RawRecord>> replies, dead;
  std::set<std::string> raw_ids;
  for (auto& s : sent)
    if (!s.reply.valid() && !s.response) raw_ids.insert(s.id);
  do {
    replies.clear();
    for (auto& r : probe.read_topic(replies_topic, reply_partitions, probe.count(replies_topic, reply_partitions), 60s))
      replies[r.headers["memrun-request-id"]].push_back(std::move(r));
    bool all = std::all_of(raw_ids.begin(), raw_ids.end(), [&](auto& id) { return replies.count(id); });
    if (all || g_interrupted) break;
  } while (sleep_until(std::min(drain_end, Clock::now() + 2s)) && Clock::now() < drain_end);
  const std::string dlq = memrun::protocol::dlq_topic("soak");
  for (auto& r : probe.read_topic(dlq, kPartitions, probe.count(dlq, kPartitions), 60s))
    dead[r.headers["memrun-request-id"]].push_back(std::move(r));

  for (auto& slot : slots) slot->stop();
  const auto stopped = Clock::now();

  // ---- report -----------------------------------------------------------------
  std::printf("\n== soak report%s ==\n", g_interrupted ? " (INTERRUPTED: partial)" : "");
  std::printf("traffic %.0f s at %.1f req/s; drain %.1f s; %zu requests sent\n", seconds_between(t0, traffic_stopped),
              o.rate, drained_s, sent.size());
  std::map<Kind, int> sent_by;
  std::map<Kind, int> lost_by, dup_by, dead_by, timeout_by;
  std::map<Kind, std::map<std::string, int>> outcome_by;
  std::map<Kind, std::vector<double>> latency_ms;
  int lost = 0, duplicates = 0, bad_fetch = 0, unresolved = 0;
  std::map<std::string, int> fetch_tiers;
  int dup_other_worker = 0;
  std::vector<std::string> dup_examples;
  for (auto& s : sent) {
    ++sent_by[s.kind];
    if (s.id.empty()) {
      // A Client request without a Response by the end (only when
      // interrupted: every one has a timeout shorter than the drain); its id
      // is unknown, so it cannot be looked up.
      ++unresolved;
      continue;
    }
    const auto rit = replies.find(s.id);
    const size_t n_replies = rit == replies.end() ? 0 : rit->second.size();
    const bool dead_lettered = dead.count(s.id) > 0;
    if (dead_lettered) ++dead_by[s.kind];
    if (n_replies == 0 && !dead_lettered) {
      ++lost_by[s.kind];
      ++lost;
    }
    if (n_replies > 1) {
      ++dup_by[s.kind];
      ++duplicates;
      // Who answered, from which request record: a redelivery after a kill
      // comes from the partition's next owner, at the same offset.
      std::set<std::string> workers;
      std::string example = std::string(kind_name(s.kind)) + " " + s.id + ":";
      for (auto& r : rit->second) {
        workers.insert(r.headers["memrun-worker"]);
        example += " " + r.headers["memrun-worker"] + "@" + r.headers["memrun-partition"] + "/" +
                   r.headers["memrun-offset"];
      }
      dup_other_worker += workers.size() > 1;
      if (dup_examples.size() < 5) dup_examples.push_back(example);
    }
    std::string outcome = "no reply";
    if (n_replies > 0) {
      const auto& first = rit->second.front().headers;
      outcome = first.count("memrun-error-code") ? first.at("memrun-error-code") : "ok";
    }
    ++outcome_by[s.kind][outcome];
    if (s.response) {
      if (s.response->worker_id.empty()) ++timeout_by[s.kind];  // the Client's own timeout
      else latency_ms[s.kind].push_back(static_cast<double>(s.response->latency.count()) / 1000.0);
      if (s.kind == Kind::kFetch && s.response->ok()) {
        auto body = nlohmann::json::parse(s.response->body);
        const auto& want = objects[static_cast<size_t>(s.object)];
        if (body["size"].get<uint64_t>() != want.size || body["fnv1a"].get<uint64_t>() != want.fnv) ++bad_fetch;
        static const char* const kTiers[] = {"RAM", "disk", "remote"};
        const auto tier = body["tier"].get<unsigned>();
        ++fetch_tiers[tier < 3 ? kTiers[tier] : "?"];
      }
    }
  }
  std::printf("\n%-14s %6s %6s %6s %9s %8s %9s %9s %9s  first reply\n", "kind", "sent", "lost", "dup", "dead-let",
              "timeout", "p50 ms", "p99 ms", "max ms");
  for (Kind k : kKinds) {
    if (!sent_by[k]) continue;
    auto& l = latency_ms[k];
    std::string outcomes;
    for (auto& [name, n] : outcome_by[k]) outcomes += name + " " + std::to_string(n) + "  ";
    std::printf("%-14s %6d %6d %6d %9d %8d %9.1f %9.1f %9.1f  %s\n", kind_name(k), sent_by[k], lost_by[k], dup_by[k],
                dead_by[k], timeout_by[k], percentile(l, 0.5), percentile(l, 0.99),
                l.empty() ? 0.0 : *std::max_element(l.begin(), l.end()), outcomes.c_str());
  }
  std::vector<double> all_ms;
  for (Kind k : {Kind::kGood, Kind::kSlow, Kind::kFetch})
    all_ms.insert(all_ms.end(), latency_ms[k].begin(), latency_ms[k].end());
  if (g_interrupted)  // replies still on their way are not losses
    std::printf("\nrequests without a reply or dead letter when interrupted: %d of %zu (not a verdict)\n", lost,
                sent.size());
  else
    std::printf("\nrequests lost (no reply and no dead letter): %d of %zu\n", lost, sent.size());
  if (unresolved) std::printf("Client requests unresolved at the end (not checked): %d\n", unresolved);
  std::printf("requests answered more than once: %d (%d of them by two different workers)\n", duplicates,
              dup_other_worker);
  for (auto& e : dup_examples) std::printf("  %s\n", e.c_str());
  std::printf("fetch replies with wrong bytes: %d; served by", bad_fetch);
  for (auto& [tier, n] : fetch_tiers) std::printf(" %s %d", tier.c_str(), n);
  std::printf(" (%d distinct objects, %d MiB together; disk budget 32 MiB per worker)\n", o.objects,
              o.objects * o.object_mib);
  std::printf("latency, good+slow+fetch with a worker's reply: p50 %.1f ms, p99 %.1f ms (%zu replies)\n",
              percentile(all_ms, 0.5), percentile(all_ms, 0.99), all_ms.size());
  size_t dead_records = 0;
  for (auto& [id, recs] : dead) dead_records += recs.size();
  std::printf("dead letters: %zu records for %zu request ids\n", dead_records, dead.size());
  for (auto& s : sent) {
    if (s.kind != Kind::kPoison) continue;
    std::printf("  poison sent at %5.0f s: ", seconds_between(t0, s.at));
    if (auto d = dead.find(s.id); d != dead.end()) {
      auto& h = d->second.front().headers;
      std::printf("dead-lettered (%s, attempts %s, by %s)", h["memrun-dlq-error-class"].c_str(),
                  h["memrun-dlq-attempts"].c_str(), h["memrun-dlq-worker"].c_str());
    } else {
      std::printf("NOT dead-lettered");
    }
    if (s.response) std::printf(", reply after %.1f s: %s", static_cast<double>(s.response->latency.count()) / 1e6,
                                s.response->ok() ? "ok" : s.response->error.c_str());
    std::printf("\n");
  }

  int restarts = 0, bench_kills = 0, deaths = 0;
  std::printf("\nworkers (RSS and RssAnon in MiB, open fds; 'ready' = after the worker said ready, 'end' = last look "
              "before it ended, at most 1 s earlier):\n");
  std::printf("%-4s %3s %7s %7s  %-22s %15s %15s %11s\n", "slot", "#", "pid", "alive s", "how it ended", "RSS ready>end",
              "anon ready>end", "fds");
  for (auto& slot : slots) {
    const auto& lives = slot->lives();
    restarts += static_cast<int>(lives.size()) - 1;
    for (size_t n = 0; n < lives.size(); ++n) {
      const auto& l = lives[n];
      bench_kills += l.killed_by_bench;
      // A death: neither our kill nor our stop (under ASan a segfault is "exited: 1").
      deaths += !l.killed_by_bench && l.how_ended.rfind("stopped", 0) != 0;
      std::printf("%-4s %3zu %7d %7.0f  %-22s %6.1f>%6.1f %7.1f>%6.1f %5ld>%4ld\n", slot->name().c_str(), n, l.pid,
                  l.became_ready ? seconds_between(l.ready, l.ended) : 0.0, l.how_ended.c_str(),
                  static_cast<double>(l.at_ready.rss_kb) / 1024, static_cast<double>(l.last_seen.rss_kb) / 1024,
                  static_cast<double>(l.at_ready.anon_kb) / 1024, static_cast<double>(l.last_seen.anon_kb) / 1024,
                  l.at_ready.fds, l.last_seen.fds);
    }
  }
  std::printf("restarts: %d (%d after the bench's kill -9, %d after a worker died on its own); kills requested %d "
              "(one that finds its worker already dying does not land)\n",
              restarts, bench_kills, deaths, kills.load());
  std::printf("disk tier at the end (MiB, files under {cache-root}/soak):");
  for (auto& slot : slots) {
    uint64_t bytes = 0;
    std::error_code ec;
    for (auto it = fs::recursive_directory_iterator(o.dir + "/" + slot->name() + "/soak", ec);
         !ec && it != fs::recursive_directory_iterator(); it.increment(ec))
      if (it->is_regular_file(ec)) bytes += it->file_size(ec);
    std::printf(" %s %.1f", slot->name().c_str(), static_cast<double>(bytes) / (1 << 20));
  }
  std::printf("\n");
  std::printf("run took %.0f s; worker logs and cache roots in %s\n", seconds_between(t0, stopped), o.dir.c_str());
  if (g_interrupted) return 130;
  return lost == 0 && bad_fetch == 0 && unresolved == 0 ? 0 : 1;
}
