// The thesis bench's driver (bench/thesis runs it; docs/thesis.md explains
// the figures). Three subcommands, each run on the main thread except the
// closed-loop clients of `run`:
//
//   plan    checks the scale flags and prints, as shell assignments, what the
//           script needs: the memory and disk budgets per worker.
//   run     waits until the fleet's group is stable, then replays one seeded
//           Zipf trace closed-loop against a running fleet and writes every
//           request's outcome to OUT/MODE.csv (plus OUT/MODE.json).
//   report  reads those files and prints the table, the LRU model beside the
//           measured hit ratios and the targets; writes OUT/table.md and the
//           gnuplot script OUT/thesis.gp.
//
// Every subcommand takes the same scale flags, so the trace, the budgets and
// the model agree.
#include <memrun/client.hpp>
#include <memrun/routing.hpp>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <list>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr const char* kService = "vector_search";
const std::vector<std::string> kModes{"sticky", "stateless", "cold", "redis", "scaleout"};

struct Scale {
  int datasets = 24;
  uint32_t rows = 20000;
  uint32_t dim = 384;
  int requests = 1000;
  double zipf = 1.1;
  uint64_t seed = 42;
  int clients = 4;
  int workers = 3;
  int partitions = 16;
  // fetch.wait.max.ms of workers and clients: the mock cluster holds every
  // fetch this long, so it is the floor of each Kafka hop.
  int fetch_wait_ms = 5;

  uint64_t decoded_bytes() const { return uint64_t{rows} * dim * sizeof(float); }
  uint64_t raw_bytes() const { return 16 + decoded_bytes(); }
  // Datasets one worker's RAM tier holds: 1/K of the working set, rounded up,
  // so the fleet holds it all and no single worker can.
  int capacity() const { return (datasets + workers - 1) / workers; }
  // Exactly `capacity` decoded matrices: raw blobs are spare (docs/cache.md),
  // so they use no room a matrix needs.
  uint64_t memory_bytes() const { return capacity() * decoded_bytes(); }
  // The disk tier holds twice what RAM does, in raw bytes.
  uint64_t disk_bytes() const { return 2 * capacity() * raw_bytes(); }
  std::string dataset_name(int d) const {
    char buf[32];
    std::snprintf(buf, sizeof buf, "ds%03d.emb", d);
    return buf;
  }
};

void add_scale_flags(CLI::App& app, Scale& s) {
  app.add_option("--datasets", s.datasets, "Datasets D")->check(CLI::Range(1, 500));
  app.add_option("--rows", s.rows, "Rows per dataset")->check(CLI::Range(100, 2000000));
  app.add_option("--dim", s.dim, "Dimensions per row")->check(CLI::Range(8, 4096));
  app.add_option("--requests", s.requests, "Requests T in the trace")->check(CLI::Range(10, 1000000));
  app.add_option("--zipf", s.zipf, "Zipf exponent s of the dataset popularity")->check(CLI::Range(0.0, 4.0));
  app.add_option("--seed", s.seed, "Seed of the trace");
  app.add_option("--clients", s.clients, "Closed-loop clients")->check(CLI::Range(1, 64));
  app.add_option("--workers", s.workers, "Workers K (scaleout adds one)")->check(CLI::Range(1, 8));
  app.add_option("--partitions", s.partitions, "Partitions of the request topic")->check(CLI::Range(1, 256));
  app.add_option("--fetch-wait-ms", s.fetch_wait_ms, "fetch.wait.max.ms of workers and clients")
      ->check(CLI::Range(1, 500));
}

struct TraceEntry {
  int dataset;
  uint32_t query;
  std::string random_key;  // the stateless mode's sticky-key value
};

// The same T entries for every mode: Zipf(s) over the datasets (rank r has
// weight 1/r^s, dataset d has rank d+1) by inverse CDF on the generator's raw
// bits, so the trace does not depend on the standard library's distributions.
std::vector<TraceEntry> make_trace(const Scale& s) {
  std::vector<double> cdf(s.datasets);
  double total = 0;
  for (int d = 0; d < s.datasets; ++d) cdf[d] = total += 1.0 / std::pow(d + 1, s.zipf);
  std::mt19937_64 rng(s.seed);
  const auto unit = [&] { return static_cast<double>(rng() >> 11) * 0x1.0p-53; };
  std::vector<TraceEntry> trace;
  trace.reserve(s.requests);
  for (int i = 0; i < s.requests; ++i) {
    const double u = unit() * total;
    const int d = static_cast<int>(std::upper_bound(cdf.begin(), cdf.end(), u) - cdf.begin());
    const auto query = static_cast<uint32_t>(rng() % s.rows);
    trace.push_back({std::min(d, s.datasets - 1), query, "r" + std::to_string(rng())});
  }
  return trace;
}

// ---- run ----

struct Outcome {
  int index = 0;
  int dataset = 0;
  bool ok = false;
  int partition = -1;
  std::string worker;
  std::string served_by;  // decoded, ram, disk, remote, redis; "error"
  uint64_t raw_bytes = 0;
  double start_ms = 0, latency_ms = 0;
  std::string error;
};

// A key of the sticky field that lands on each partition, for probes.
std::vector<std::string> probe_keys(int partitions) {
  std::vector<std::string> keys(partitions);
  int found = 0;
  for (int i = 0; found < partitions; ++i) {
    std::string k = "probe-" + std::to_string(i);
    auto& slot = keys[memrun::kafka_partition(k, partitions)];
    if (slot.empty()) {
      slot = k;
      ++found;
    }
  }
  return keys;
}

// The partition → worker map, once every partition answers, `workers`
// workers answer, and the answers have not changed for `kSettled`: longer
// than one rebalance round of the mock cluster (about session.timeout.ms),
// so a cooperative rebalance's second round cannot be still to come. A
// probe names a file no worker may read, so it fails at once and warms
// nothing.
constexpr auto kSettled = 7s;
std::map<int, std::string> wait_for_group(memrun::Client& client, const Scale& s, int workers,
                                          std::chrono::seconds limit) {
  const auto keys = probe_keys(s.partitions);
  const auto deadline = Clock::now() + limit;
  std::map<int, std::string> last;
  auto since = Clock::now();
  while (Clock::now() < deadline) {
    std::vector<std::future<memrun::Response>> replies;
    for (const auto& k : keys)
      replies.push_back(client.submit(kService, {{"dataset_id", k}, {"dataset", "file:///memrun-bench-probe"},
                                                  {"query", 0}}, 20s));
    std::map<int, std::string> now;
    for (auto& f : replies) {
      auto r = f.get();
      if (!r.worker_id.empty()) now[r.partition] = r.worker_id;
    }
    std::set<std::string> who;
    for (auto& [p, w] : now) who.insert(w);
    const bool complete = static_cast<int>(now.size()) == s.partitions && static_cast<int>(who.size()) == workers;
    if (!complete || now != last) since = Clock::now();
    else if (Clock::now() - since >= kSettled) return now;
    last = now;
    std::this_thread::sleep_for(500ms);
  }
  throw std::runtime_error("the group did not settle on " + std::to_string(workers) + " workers within " +
                           std::to_string(limit.count()) + " s (is every worker up?)");
}

int run(const Scale& s, const std::string& mode, const std::string& bootstrap, const std::string& source,
        const std::string& out, const std::string& halfway_file, int group_timeout_s) {
  memrun::ClientOptions o;
  o.kafka.bootstrap_servers = bootstrap;
  o.kafka.properties = {{"fetch.wait.max.ms", std::to_string(s.fetch_wait_ms)}};
  o.timeout = 120s;
  memrun::Client client(o);
  client.set_sticky_key(kService, "dataset_id");

  const auto initial = wait_for_group(client, s, s.workers, std::chrono::seconds(group_timeout_s));
  const auto trace = make_trace(s);
  std::vector<Outcome> outcomes(trace.size());
  std::atomic<int> next{0};
  // Scale-out: the trace holds at its halfway mark until the group has
  // settled with one more worker (the script starts it when halfway_file
  // appears), so the second half measures the moved partitions, not the
  // mock cluster's rebalance rounds.
  const int half = static_cast<int>(trace.size()) / 2;
  std::atomic<double> halfway_ms{-1}, resume_ms{-1};
  std::mutex hold_mu;
  std::condition_variable held;
  bool holding = !halfway_file.empty();  // GUARDED_BY(hold_mu)
  std::string hold_error;                // GUARDED_BY(hold_mu)
  std::map<int, std::string> after;      // written before holding ends
  const auto t0 = Clock::now();
  const auto ms = [&](Clock::time_point t) { return std::chrono::duration<double, std::milli>(t - t0).count(); };
  // Only sticky routing keys by dataset; the stateless fleets are keyed at random.
  const bool random_key = mode == "stateless" || mode == "cold" || mode == "redis";
  std::vector<std::thread> clients;
  for (int c = 0; c < s.clients; ++c)
    clients.emplace_back([&] {
      for (int i; (i = next++) < static_cast<int>(trace.size());) {
        if (i == half && !halfway_file.empty()) {
          halfway_ms = ms(Clock::now());
          std::ofstream(halfway_file) << i << "\n";
          std::string error;
          try {
            after = wait_for_group(client, s, s.workers + 1, std::chrono::seconds(group_timeout_s));
          } catch (const std::exception& ex) {
            error = ex.what();
          }
          resume_ms = ms(Clock::now());
          std::lock_guard lock(hold_mu);
          holding = false;
          hold_error = error;
          held.notify_all();
        } else if (i > half) {
          std::unique_lock lock(hold_mu);
          held.wait(lock, [&] { return !holding; });
        }
        const auto& e = trace[i];
        const std::string name = s.dataset_name(e.dataset);
        const nlohmann::json payload{{"dataset_id", random_key ? e.random_key : name},
                                     {"dataset", source + name},
                                     {"query", e.query},
                                     {"k", 5}};
        Outcome& r = outcomes[i];
        r.index = i;
        r.dataset = e.dataset;
        const auto start = Clock::now();
        auto reply = client.submit(kService, payload).get();
        r.start_ms = ms(start);
        r.latency_ms = ms(Clock::now()) - r.start_ms;
        r.ok = reply.ok();
        r.partition = reply.partition;
        r.worker = reply.worker_id;
        r.served_by = "error";
        if (!reply.ok()) {
          r.error = reply.error;
          continue;
        }
        try {
          const auto body = nlohmann::json::parse(reply.body);
          r.served_by = body.at("served_by").get<std::string>();
          r.raw_bytes = body.value("raw_bytes", uint64_t{0});
        } catch (const std::exception& ex) {
          r.ok = false;
          r.error = std::string("unreadable reply: ") + ex.what();
        }
      }
    });
  for (auto& t : clients) t.join();
  const double total_ms = ms(Clock::now());
  if (!hold_error.empty()) throw std::runtime_error("scale-out: " + hold_error);

  std::ofstream csv(out + "/" + mode + ".csv");
  csv << "index,dataset,ok,partition,worker,served_by,raw_bytes,start_ms,latency_ms\n";
  int failed = 0;
  for (const auto& r : outcomes) {
    csv << r.index << ',' << r.dataset << ',' << r.ok << ',' << r.partition << ',' << r.worker << ','
        << r.served_by << ',' << r.raw_bytes << ',' << r.start_ms << ',' << r.latency_ms << '\n';
    if (!r.ok) {
      if (failed++ < 5) std::cerr << "thesis: request " << r.index << " failed: " << r.error << "\n";
    }
  }
  nlohmann::json meta{
      {"mode", mode}, {"total_ms", total_ms}, {"halfway_ms", halfway_ms.load()}, {"resume_ms", resume_ms.load()}};
  for (auto& [p, w] : initial) meta["initial_assignment"][std::to_string(p)] = w;
  for (auto& [p, w] : after) meta["after_assignment"][std::to_string(p)] = w;
  std::ofstream(out + "/" + mode + ".json") << meta.dump(2) << "\n";
  std::cout << "thesis: " << mode << ": " << trace.size() << " requests in " << total_ms / 1000 << " s, " << failed
            << " failed\n";
  return failed == 0 ? 0 : 1;
}

// ---- report ----

struct ModeRun {
  std::string mode;
  std::vector<Outcome> rows;
  double total_ms = 0, halfway_ms = -1, resume_ms = -1;
  std::map<int, std::string> initial, after;
};

std::vector<std::string> split(const std::string& line, char sep) {
  std::vector<std::string> out;
  std::string field;
  std::istringstream in(line);
  while (std::getline(in, field, sep)) out.push_back(field);
  if (!line.empty() && line.back() == sep) out.emplace_back();
  return out;
}

bool load(const std::string& out, const std::string& mode, ModeRun& m) {
  std::ifstream csv(out + "/" + mode + ".csv");
  std::ifstream meta_file(out + "/" + mode + ".json");
  if (!csv || !meta_file) return false;
  m.mode = mode;
  std::string line;
  std::getline(csv, line);
  while (std::getline(csv, line)) {
    const auto f = split(line, ',');
    if (f.size() != 9) throw std::runtime_error(out + "/" + mode + ".csv: bad line '" + line + "'");
    Outcome r;
    r.index = std::stoi(f[0]);
    r.dataset = std::stoi(f[1]);
    r.ok = f[2] == "1";
    r.partition = std::stoi(f[3]);
    r.worker = f[4];
    r.served_by = f[5];
    r.raw_bytes = std::stoull(f[6]);
    r.start_ms = std::stod(f[7]);
    r.latency_ms = std::stod(f[8]);
    m.rows.push_back(r);
  }
  const auto meta = nlohmann::json::parse(meta_file);
  m.total_ms = meta.at("total_ms");
  m.halfway_ms = meta.at("halfway_ms");
  m.resume_ms = meta.value("resume_ms", -1.0);
  for (auto& [p, w] : meta.at("initial_assignment").items()) m.initial[std::stoi(p)] = w.get<std::string>();
  if (meta.contains("after_assignment"))
    for (auto& [p, w] : meta.at("after_assignment").items()) m.after[std::stoi(p)] = w.get<std::string>();
  return true;
}

bool is_hit(const Outcome& r) { return r.served_by == "decoded"; }
bool is_remote(const Outcome& r) { return r.served_by == "remote" || r.served_by == "redis"; }

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t i = std::min(v.size() - 1, static_cast<size_t>(std::ceil(p * v.size())) - (p > 0 ? 1 : 0));
  return v[i];
}

// One LRU of `capacity` datasets per worker; each request goes to the worker
// that really served it (the group's partition → worker assignment as the
// replies reported it, before and after a scale-out). True per request that
// the model serves from RAM.
std::vector<bool> lru_model(const std::vector<Outcome>& rows, int capacity) {
  std::map<std::string, std::list<int>> lru;  // most recent first
  std::vector<bool> hit(rows.size(), false);
  for (size_t i = 0; i < rows.size(); ++i) {
    auto& l = lru[rows[i].worker];
    auto it = std::find(l.begin(), l.end(), rows[i].dataset);
    hit[i] = it != l.end();
    if (hit[i]) l.erase(it);
    l.push_front(rows[i].dataset);
    if (static_cast<int>(l.size()) > capacity) l.pop_back();
  }
  return hit;
}

std::string fmt(double v, int precision = 1) {
  std::ostringstream o;
  o.setf(std::ios::fixed);
  o.precision(precision);
  o << v;
  return o.str();
}

std::string mb(uint64_t bytes) { return fmt(bytes / 1e6, 0); }

struct Row {
  std::string mode;
  int requests = 0, failed = 0, ram = 0, disk = 0, remote = 0;
  uint64_t remote_bytes = 0, remote_bytes_warm = 0;
  double p50 = 0, p95 = 0, p99 = 0, seconds = 0, hit = 0, ram_disk_hit = 0, model = -1;
  std::string per_worker;
};

Row summarise(const ModeRun& m, const Scale& s) {
  Row row;
  row.mode = m.mode;
  row.requests = static_cast<int>(m.rows.size());
  std::vector<double> latency;
  std::map<std::string, int> per_worker;
  const size_t warm_from = m.rows.size() / 4;
  for (const auto& r : m.rows) {
    if (!r.ok) ++row.failed;
    latency.push_back(r.latency_ms);
    ++per_worker[r.worker];
    if (r.served_by == "decoded" || r.served_by == "ram") ++row.ram;
    else if (r.served_by == "disk") ++row.disk;
    else if (is_remote(r)) ++row.remote;
    if (is_remote(r)) {
      row.remote_bytes += r.raw_bytes;
      if (static_cast<size_t>(r.index) >= warm_from) row.remote_bytes_warm += r.raw_bytes;
    }
  }
  row.p50 = percentile(latency, 0.50);
  row.p95 = percentile(latency, 0.95);
  row.p99 = percentile(latency, 0.99);
  row.seconds = m.total_ms / 1000;
  row.hit = row.requests ? static_cast<double>(row.ram) / row.requests : 0;
  row.ram_disk_hit = row.requests ? static_cast<double>(row.ram + row.disk) / row.requests : 0;
  if (m.mode != "cold" && m.mode != "redis") {
    const auto model = lru_model(m.rows, s.capacity());
    row.model = static_cast<double>(std::count(model.begin(), model.end(), true)) / row.requests;
  }
  for (auto& [w, n] : per_worker) row.per_worker += (row.per_worker.empty() ? "" : "/") + std::to_string(n);
  return row;
}

struct ScaleOut {
  bool present = false;
  int moved = 0, cold_measured = 0, cold_model = 0, cold_by_move_model = 0, after_requests = 0;
  double recover_s = -1;
  int recover_requests = -1, window = 0;
};

// Partitions moved: those the group assigned to another worker after the
// scale-out than before. Cold requests: requests of the second half on a
// moved partition that did not find their matrix in RAM, measured and in the
// model; of the model's, those that would have hit had nothing moved went
// cold because of the move. Recovery: the first N requests after the hold such that the last W
// of them were served from RAM as often as the W before the halfway mark.
ScaleOut analyse_scale_out(const ModeRun& m, const Scale& s) {
  ScaleOut so;
  if (m.after.empty()) return so;
  so.present = true;
  std::set<int> moved;
  for (auto& [p, w] : m.after)
    if (!m.initial.count(p) || m.initial.at(p) != w) moved.insert(p);
  so.moved = static_cast<int>(moved.size());
  const auto& rows = m.rows;  // in trace order
  const size_t half = rows.size() / 2;
  const auto model = lru_model(rows, s.capacity());
  std::vector<Outcome> unmoved = rows;
  for (auto& r : unmoved)
    if (m.initial.count(r.partition)) r.worker = m.initial.at(r.partition);
  const auto model_unmoved = lru_model(unmoved, s.capacity());
  for (size_t i = half; i < rows.size(); ++i) {
    ++so.after_requests;
    if (!moved.count(rows[i].partition)) continue;
    so.cold_measured += !is_hit(rows[i]);
    so.cold_model += !model[i];
    so.cold_by_move_model += !model[i] && model_unmoved[i];
  }
  so.window = std::max(20, s.requests / 20);
  const size_t w = static_cast<size_t>(so.window);
  if (half < w) return so;
  int base = 0;
  for (size_t i = half - w; i < half; ++i) base += is_hit(rows[i]);
  int current = 0;
  for (size_t i = half; i < rows.size(); ++i) {
    current += is_hit(rows[i]);
    if (i >= half + w) current -= is_hit(rows[i - w]);
    if (i + 1 >= half + w && current >= base) {
      so.recover_requests = static_cast<int>(i + 1 - half);
      so.recover_s = (rows[i].start_ms + rows[i].latency_ms - m.resume_ms) / 1000;
      break;
    }
  }
  return so;
}

void write_plot(const std::string& out, const std::vector<ModeRun>& runs, const std::vector<Row>& table,
                double scale_mark_s) {
  for (const auto& m : runs) {
    std::ofstream d(out + "/" + m.mode + ".latency.dat");
    for (const auto& r : m.rows) d << r.start_ms / 1000 << ' ' << std::max(r.latency_ms, 0.01) << '\n';
  }
  {
    std::ofstream d(out + "/remote_bytes.dat");
    for (const auto& row : table) d << row.mode << ' ' << row.remote_bytes / 1e6 << '\n';
  }
  std::ofstream gp(out + "/thesis.gp");
  gp << "set terminal pngcairo size 1400,600 font ',10'\n"
     << "set output '" << out << "/thesis.png'\n"
     << "set datafile separator whitespace\n"
     << "set multiplot layout 1,2\n"
     << "set title 'Latency per request over the run'\n"
     << "set xlabel 'seconds since the mode started'\nset ylabel 'ms (log)'\nset logscale y\n"
     << "set key top right\n";
  if (scale_mark_s >= 0)
    gp << "set arrow from " << scale_mark_s << ", graph 0 to " << scale_mark_s
       << ", graph 1 nohead dashtype 2 lc 'black'\n"
       << "set label 'scale-out: 4th worker' at " << scale_mark_s << ", graph 0.95 offset 0.5,0\n";
  gp << "plot ";
  for (size_t i = 0; i < runs.size(); ++i)
    gp << (i ? ", " : "") << "'" << out << "/" << runs[i].mode << ".latency.dat' using 1:2 with points pt 7 ps 0.4 title '"
       << runs[i].mode << "'";
  gp << "\nunset arrow\nunset label\nunset logscale y\n"
     << "set title 'Bytes fetched remotely (S3 or Redis)'\nset xlabel ''\nset ylabel 'MB'\n"
     << "set style fill solid 0.6\nset boxwidth 0.6\nset yrange [0:*]\nunset key\n"
     << "plot '" << out << "/remote_bytes.dat' using 0:2:xtic(1) with boxes lc 'steelblue'\n"
     << "unset multiplot\n";
}

// The smoke test's assertions: every request of every mode answered, and
// sticky served more requests from RAM than stateless.
int check(const std::vector<Row>& table, const Scale& s) {
  int bad = 0;
  const Row* sticky = nullptr;
  const Row* stateless = nullptr;
  for (const auto& r : table) {
    if (r.failed > 0 || r.requests != s.requests) {
      std::cerr << "thesis: check: " << r.mode << " answered " << r.requests - r.failed << " of " << s.requests
                << " requests\n";
      ++bad;
    }
    if (r.mode == "sticky") sticky = &r;
    if (r.mode == "stateless") stateless = &r;
  }
  if (sticky && stateless && sticky->ram <= stateless->ram) {
    std::cerr << "thesis: check: sticky served " << sticky->ram << " requests from RAM, stateless " << stateless->ram
              << ": sticky should win\n";
    ++bad;
  }
  return bad == 0 ? 0 : 1;
}

int report(const Scale& s, const std::string& out, bool checking) {
  std::vector<ModeRun> runs;
  for (const auto& mode : kModes) {
    ModeRun m;
    if (load(out, mode, m)) runs.push_back(std::move(m));
  }
  if (runs.empty()) throw std::runtime_error("no mode's results under " + out);
  std::vector<Row> table;
  for (const auto& m : runs) table.push_back(summarise(m, s));

  std::ostringstream md;
  md << "| mode | requests | failed | RAM | disk | remote | RAM hit | RAM+disk hit | model hit | remote MB | "
        "remote MB after warm-up | p50 ms | p95 ms | p99 ms | req/s | total s | requests per worker |\n"
     << "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n";
  for (const auto& r : table)
    md << "| " << r.mode << " | " << r.requests << " | " << r.failed << " | " << r.ram << " | " << r.disk << " | "
       << r.remote << " | " << fmt(r.hit, 2) << " | " << fmt(r.ram_disk_hit, 2) << " | "
       << (r.model < 0 ? "-" : fmt(r.model, 2)) << " | " << mb(r.remote_bytes) << " | " << mb(r.remote_bytes_warm)
       << " | " << fmt(r.p50) << " | " << fmt(r.p95) << " | " << fmt(r.p99) << " | "
       << fmt(r.requests / std::max(r.seconds, 1e-9)) << " | " << fmt(r.seconds) << " | " << r.per_worker << " |\n";

  const auto find = [&](const std::string& mode) -> const Row* {
    for (const auto& r : table)
      if (r.mode == mode) return &r;
    return nullptr;
  };
  std::ostringstream notes;
  double mark_s = -1;
  for (const auto& m : runs)
    if (m.mode == "scaleout") {
      const auto so = analyse_scale_out(m, s);
      if (!so.present) {
        notes << "scale-out: the group never settled with the new worker\n";
        continue;
      }
      mark_s = m.resume_ms / 1000;
      notes << "scale-out: at request " << m.rows.size() / 2 << " (" << fmt(m.halfway_ms / 1000)
            << " s) worker " << s.workers + 1 << " started; the trace held until the group had settled with it ("
            << fmt((m.resume_ms - m.halfway_ms) / 1000) << " s); partitions moved: " << so.moved << " of "
            << s.partitions << "; of the " << so.after_requests
            << " requests after it, those on moved partitions that missed RAM: measured " << so.cold_measured
            << ", model " << so.cold_model << " (of which the model says " << so.cold_by_move_model
            << " went cold because their partition moved); RAM hit ratio (window " << so.window << ") back to its pre-scale-out level "
            << (so.recover_requests < 0 ? std::string("not within the run")
                                        : "after " + std::to_string(so.recover_requests) + " requests (" +
                                              fmt(so.recover_s) + " s)")
            << "\n";
      if (so.cold_model > 0)
        notes << "target scale-out cold <= 1.2x model: " << so.cold_measured << " vs " << so.cold_model << " = "
              << fmt(static_cast<double>(so.cold_measured) / so.cold_model, 2) << "x -> "
              << (so.cold_measured <= 1.2 * so.cold_model ? "met" : "NOT met") << "\n";
    }
  if (const Row* st = find("sticky")) {
    if (st->model > 0)
      notes << "target sticky RAM+disk hit >= 0.95x model: " << fmt(st->ram_disk_hit, 2) << " vs "
            << fmt(st->model, 2) << " = " << fmt(st->ram_disk_hit / st->model, 2) << "x -> "
            << (st->ram_disk_hit >= 0.95 * st->model ? "met" : "NOT met") << "\n";
    for (const char* other : {"cold", "redis"})
      if (const Row* o = find(other))
        notes << "target sticky p50 >= 10x lower than " << other << ": " << fmt(st->p50) << " ms vs " << fmt(o->p50)
              << " ms = " << fmt(o->p50 / std::max(st->p50, 1e-9)) << "x -> "
              << (o->p50 >= 10 * st->p50 ? "met" : "NOT met") << "\n";
    if (const Row* sl = find("stateless"))
      notes << "target sticky remote bytes after warm-up <= 1/" << s.workers << " of stateless: " << mb(st->remote_bytes_warm)
            << " MB vs " << mb(sl->remote_bytes_warm) << " MB -> "
            << (st->remote_bytes_warm * s.workers <= sl->remote_bytes_warm ? "met" : "NOT met") << "\n";
  }
  std::ostringstream head;
  head << "thesis bench: " << s.workers << " workers, " << s.datasets << " datasets of " << s.rows << "x" << s.dim
       << " float32 (" << mb(s.raw_bytes()) << " MB each), " << s.requests << " requests, Zipf(" << s.zipf << "), seed "
       << s.seed << ", " << s.clients << " clients, fetch.wait.max.ms " << s.fetch_wait_ms << "; RAM per worker " << mb(s.memory_bytes()) << " MB ("
       << s.capacity() << " decoded datasets = the model's LRU size), disk per worker " << mb(s.disk_bytes())
       << " MB; warm-up = the first quarter of the trace\n";
  std::ofstream(out + "/table.md") << head.str() << "\n" << md.str() << "\n" << notes.str();
  std::cout << head.str() << "\n" << md.str() << "\n" << notes.str();
  write_plot(out, runs, table, mark_s);
  return checking ? check(table, s) : 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"memrun thesis bench driver (bench/thesis runs it)"};
  app.require_subcommand(1);
  app.fallthrough();  // the scale flags may follow the subcommand
  Scale s;
  add_scale_flags(app, s);
  auto* plan = app.add_subcommand("plan", "Check the scale flags and modes; print the budgets as shell assignments");
  std::vector<std::string> plan_modes;
  plan->add_option("--modes", plan_modes, "Modes to run, comma-separated")
      ->delimiter(',')
      ->check(CLI::IsMember(kModes));
  std::string mode, bootstrap, source, out, halfway_file;
  int group_timeout_s = 180;
  auto* run_cmd = app.add_subcommand("run", "Replay the trace against a running fleet");
  run_cmd->add_option("--mode", mode, "Mode")->required()->check(CLI::IsMember(kModes));
  run_cmd->add_option("--bootstrap", bootstrap, "Kafka bootstrap servers")->required();
  run_cmd->add_option("--source", source, "Prefix of the dataset URLs (s3://bucket/ or redis://IP:PORT/)")
      ->required();
  run_cmd->add_option("--out", out, "Result directory")->required()->check(CLI::ExistingDirectory);
  run_cmd->add_option("--halfway-file", halfway_file, "File written when the trace is half issued");
  run_cmd->add_option("--group-timeout", group_timeout_s, "Seconds to wait for the group to settle")
      ->check(CLI::Range(1, 3600));
  auto* report_cmd = app.add_subcommand("report", "Print the table and write table.md and thesis.gp");
  report_cmd->add_option("--out", out, "Result directory")->required()->check(CLI::ExistingDirectory);
  bool checking = false;
  report_cmd->add_flag("--check", checking, "Exit 1 unless every request was answered and sticky beat stateless on RAM hits");
  CLI11_PARSE(app, argc, argv);
  try {
    if (plan->parsed()) {
      std::cout << "datasets=" << s.datasets << "\nrows=" << s.rows << "\ndim=" << s.dim << "\nworkers=" << s.workers
                << "\npartitions=" << s.partitions << "\nfetch_wait_ms=" << s.fetch_wait_ms << "\nmemory_bytes=" << s.memory_bytes() << "\ndisk_bytes=" << s.disk_bytes()
                << "\ncapacity=" << s.capacity() << "\nraw_bytes=" << s.raw_bytes() << "\n";
      for (int d = 0; d < s.datasets; ++d) std::cout << "dataset_names+=(" << s.dataset_name(d) << ")\n";
      return 0;
    }
    if (run_cmd->parsed()) return run(s, mode, bootstrap, source, out, halfway_file, group_timeout_s);
    return report(s, out, checking);
  } catch (const std::exception& e) {
    std::cerr << "thesis: " << e.what() << "\n";
    return 1;
  }
}
