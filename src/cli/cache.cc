// memrun cache ls|stats|verify|evict: looks into a worker's disk cache
// directory, checks it and trims it, through memrun::CacheDirectory. URLs are
// shown redacted: a cached URL may carry a password or a presigned signature.
#include "app/config.hpp"
#include "cli/commands.hpp"
#include "cli/progress.hpp"

#include <memrun/cache_admin.hpp>
#include <memrun/logging.hpp>
#include <memrun/protocol.hpp>
#include <memrun/service.hpp>

#include <fmt/core.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <ctime>
#include <functional>
#include <memory>

namespace memrun::cli {
namespace {

// Which directory: {cache_root}/{service}, as the worker lays it out, or one
// named outright.
struct Location {
  std::string cache_root, service, dir;

  void add_to(CLI::App& cmd) {
    auto* root = cmd.add_option("--cache-root", cache_root,
                                "The workers' cache root (default $MEMRUN_CACHE_ROOT, else ~/.cache/memrun)")
                     ->type_name("DIR");
    auto* svc = cmd.add_option("--service", service, "Service whose cache to use: {cache-root}/{service}")
                    ->type_name("NAME");
    cmd.add_option("--dir", dir, "The cache directory itself, instead of --cache-root and --service")
        ->type_name("DIR")
        ->excludes(root)
        ->excludes(svc);
  }

  // Throws Error(kInvalidArgument) for a missing or malformed service name.
  std::string path() const {
    if (!dir.empty()) return dir;
    if (service.empty()) throw Error(Code::kInvalidArgument, "name the cache with --service NAME or --dir DIR");
    if (!protocol::valid_service_name(service))
      throw Error(Code::kInvalidArgument, "'" + service + "' is not a service name ([a-zA-Z0-9._-], 1..200)");
    return (cache_root.empty() ? app::default_cache_root() : cache_root) + "/" + service;
  }
};

// Binary units, as the service's `disk` budget is usually written ("200Gi").
std::string human_bytes(uint64_t bytes) {
  constexpr std::array<const char*, 5> kUnits = {"KiB", "MiB", "GiB", "TiB", "PiB"};
  if (bytes < 1024) return std::to_string(bytes) + "B";
  double value = static_cast<double>(bytes) / 1024;
  size_t unit = 0;
  for (; value >= 1024 && unit + 1 < kUnits.size(); ++unit) value /= 1024;
  return fmt::format("{:.1f}{}", value, kUnits[unit]);
}

std::string human_age(std::chrono::system_clock::time_point when) {
  const auto s = std::max<int64_t>(
      0, std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now() - when).count());
  if (s < 120) return std::to_string(s) + "s";
  if (s < 2 * 3600) return std::to_string(s / 60) + "m";
  if (s < 2 * 86400) return std::to_string(s / 3600) + "h";
  return std::to_string(s / 86400) + "d";
}

std::string iso8601_utc(std::chrono::system_clock::time_point when) {
  const std::time_t t = std::chrono::system_clock::to_time_t(when);
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string count_entries(uint64_t n) { return std::to_string(n) + (n == 1 ? " entry" : " entries"); }

std::string holder_text(const std::optional<int64_t>& pid) {
  if (!pid) return "nobody";
  return *pid ? "pid " + std::to_string(*pid) : std::string("a process of unknown pid");
}

// Runs one subcommand: maps the library's errors onto exit codes. Refusals
// (the directory is held) and I/O failures are failures; a directory that
// does not exist, or a malformed argument, is bad input.
int run(const char* name, const std::function<int()>& body) {
  try {
    return body();
  } catch (const Error& e) {
    return report(fmt::format("cache {}", name), e);
  } catch (const std::exception& e) {
    fmt::print(stderr, "memrun cache {}: {}\n", name, e.what());
    return kExitFailed;
  }
}

int list(const Location& where, bool json) {
  const auto entries = CacheDirectory(where.path()).list();
  if (json) {
    auto out = nlohmann::json::array();
    for (const auto& e : entries)
      out.push_back({{"url", redact_credentials(e.url)},
                     {"size", e.size},
                     {"chunks", e.chunks},
                     {"stored", e.stored},
                     {"chunks_held", e.chunks_held},
                     {"committed", iso8601_utc(e.modified)},
                     {"data_path", e.data_path}});
    fmt::print("{}\n", out.dump(2));
    return kExitOk;
  }
  // A partial entry (built by ranged reads) shows the chunks it holds of all.
  fmt::print("{:>9}  {:>5}  {:>11}  {}\n", "SIZE", "AGE", "CHUNKS", "URL");
  for (const auto& e : entries)
    fmt::print("{:>9}  {:>5}  {:>11}  {}\n", human_bytes(e.size), human_age(e.modified),
               e.chunks_held < e.chunks ? fmt::format("{}/{}", e.chunks_held, e.chunks) : std::to_string(e.chunks),
               redact_credentials(e.url));
  return kExitOk;
}

int stats(const Location& where, bool json) {
  const CacheDirectory cache(where.path());
  const CacheDirectoryStats s = cache.stats();
  if (json) {
    fmt::print("{}\n", nlohmann::json{{"dir", cache.path()},
                                      {"entries", s.entries},
                                      {"bytes", s.bytes},
                                      {"temp_files", s.temp_files},
                                      {"temp_bytes", s.temp_bytes},
                                      {"orphans", s.orphans},
                                      {"holder_pid", s.holder_pid ? nlohmann::json(*s.holder_pid) : nullptr}}
                           .dump(2));
    return kExitOk;
  }
  fmt::print("directory   {}\n", cache.path());
  fmt::print("entries     {}\n", s.entries);
  fmt::print("bytes       {} ({})\n", human_bytes(s.bytes), s.bytes);
  fmt::print("temp files  {} ({})\n", s.temp_files, human_bytes(s.temp_bytes));
  fmt::print("orphans     {}\n", s.orphans);
  fmt::print("held by     {}\n", holder_text(s.holder_pid));
  return kExitOk;
}

// One line per entry that is not fine, so a clean cache prints only the summary.
void print_problem(const CacheVerifyResult& r) {
  const char* suffix = r.dropped ? " (dropped)" : "";
  if (r.status == CacheVerifyResult::Status::kCorrupt)
    fmt::print("corrupt     {}: {}{}\n", redact_credentials(r.url), r.problem, suffix);
  else if (r.status == CacheVerifyResult::Status::kUnreadableMeta)
    fmt::print("bad meta    {}: {}{}\n", r.data_path, r.problem, suffix);
}

int verify(const Location& where, bool drop) {
  const CacheDirectory cache(where.path());
  ProgressBar bar("verify");
  const auto results =
      cache.verify({.drop = drop, .progress = [&](uint64_t done, uint64_t total) { bar.update(done, total); }});
  bar.finish();
  uint64_t ok = 0, bad = 0, dropped = 0, gone = 0, bytes = 0;
  for (const auto& r : results) {
    print_problem(r);
    ok += r.status == CacheVerifyResult::Status::kOk;
    gone += r.status == CacheVerifyResult::Status::kGone;
    bad += r.status == CacheVerifyResult::Status::kCorrupt || r.status == CacheVerifyResult::Status::kUnreadableMeta;
    dropped += r.dropped;
    if (r.status == CacheVerifyResult::Status::kOk) bytes += r.size;
  }
  fmt::print("{}: {} ok ({}), {} damaged", count_entries(results.size()), ok, human_bytes(bytes), bad);
  if (dropped) fmt::print(", {} dropped", dropped);
  if (gone) fmt::print(", {} removed by the worker meanwhile", gone);
  fmt::print("\n");
  // Damage that is still in the directory fails the check; what --drop
  // removed is gone, and the worker fetches it again when asked.
  return bad > dropped ? kExitFailed : kExitOk;
}

struct EvictArgs {
  Location where;
  std::vector<std::string> urls;
  bool all = false;
  std::string to_bytes;
};

int evict(const EvictArgs& a) {
  if (static_cast<int>(!a.urls.empty()) + a.all + !a.to_bytes.empty() != 1)
    throw Error(Code::kInvalidArgument, "say what to evict: --url URL..., --all or --to-bytes SIZE");
  CacheDirectory cache(a.where.path());
  CacheEvictResult r;
  if (!a.to_bytes.empty()) r = cache.evict_to_bytes(parse_bytes(a.to_bytes));
  else if (a.all) r = cache.evict_all();
  else r = cache.evict_urls(a.urls);  // as ls printed them, or exact
  for (const auto& e : r.removed) fmt::print("removed  {:>9}  {}\n", human_bytes(e.size), redact_credentials(e.url));
  fmt::print("{} removed ({}), {} left", count_entries(r.removed.size()), human_bytes(r.bytes_removed),
             human_bytes(r.bytes_left));
  if (a.all) fmt::print(", {} leftover files of unfinished writes removed", r.leftovers_removed);
  fmt::print("\n");
  for (const auto& url : r.not_found) fmt::print(stderr, "memrun cache evict: not cached: {}\n", redact_credentials(url));
  return r.not_found.empty() ? kExitOk : kExitFailed;
}

}  // namespace

void add_cache(CLI::App& app, int* exit_code) {
  auto* cache = app.add_subcommand(
      "cache", "Look into, check and trim a worker's disk cache ({cache-root}/{service}). Changes are refused while a "
               "worker holds the directory");
  cache->require_subcommand(1);

  struct ReadArgs {
    Location where;
    bool json = false, drop = false;
  };
  auto ls = std::make_shared<ReadArgs>();
  auto* ls_cmd = cache->add_subcommand("ls", "List the cached entries, oldest first (URLs redacted)");
  ls->where.add_to(*ls_cmd);
  ls_cmd->add_flag("--json", ls->json, "Print a JSON array instead of a table");
  ls_cmd->callback([ls, exit_code] { *exit_code = run("ls", [&] { return list(ls->where, ls->json); }); });

  auto st = std::make_shared<ReadArgs>();
  auto* st_cmd = cache->add_subcommand(
      "stats", "Entries and bytes, unfinished writes (temp files, orphans) and the pid of the worker holding it");
  st->where.add_to(*st_cmd);
  st_cmd->add_flag("--json", st->json, "Print a JSON object");
  st_cmd->callback([st, exit_code] { *exit_code = run("stats", [&] { return stats(st->where, st->json); }); });

  auto vf = std::make_shared<ReadArgs>();
  auto* vf_cmd = cache->add_subcommand(
      "verify", "Read every chunk of every entry and check its checksum; exits 1 if damage remains");
  vf->where.add_to(*vf_cmd);
  vf_cmd->add_flag("--drop", vf->drop, "Remove the damaged entries (refused while a worker holds the directory)");
  vf_cmd->callback([vf, exit_code] { *exit_code = run("verify", [&] { return verify(vf->where, vf->drop); }); });

  auto ev = std::make_shared<EvictArgs>();
  auto* ev_cmd = cache->add_subcommand(
      "evict", "Remove entries: by URL, all of them, or the oldest down to a size (refused while a worker holds the "
               "directory)");
  ev->where.add_to(*ev_cmd);
  auto* url = ev_cmd->add_option("--url", ev->urls, "The entries of these URLs (exact, or as `ls` prints them)")
                  ->type_name("URL");
  auto* all = ev_cmd->add_flag("--all", ev->all, "Every entry, and what unfinished writes left behind");
  auto* to = ev_cmd->add_option("--to-bytes", ev->to_bytes, "Remove the oldest entries until at most SIZE remain, e.g. 8Gi")
                 ->type_name("SIZE");
  url->excludes(all)->excludes(to);
  all->excludes(to);
  ev_cmd->callback([ev, exit_code] { *exit_code = run("evict", [&] { return evict(*ev); }); });
}

}  // namespace memrun::cli
