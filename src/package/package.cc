// Packages: build, check, deploy, and open (fetch through the tiered cache,
// verify, unpack). One reader serves every path, so "checked" means the same
// thing when a developer deploys and when a worker starts.
#include <memrun/package.hpp>
#include <memrun/plugin.h>
#include <memrun/plugin_loader.hpp>
#include <memrun/logging.hpp>
#include <memrun/service.hpp>

#include "cache/mapped_file.hpp"
#include "context/remote_fetch.hpp"
#include "core/digest.hpp"
#include "core/file_io.hpp"
#include "package/archive.hpp"
#include "remote/url_rules.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstdint>
#include <chrono>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <map>

namespace fs = std::filesystem;

namespace memrun {
namespace {

using internal::package::ArchiveReader;
using internal::package::ArchiveWriter;
using Clock = std::chrono::steady_clock;

constexpr std::string_view kManifestName = "manifest.json";
constexpr uint64_t kManifestLimit = 1u << 20;

Error invalid(const std::string& what) { return Error(Code::kInvalidArgument, "package: " + what); }

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

std::string utc_now(const char* format) {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char text[32];
  std::strftime(text, sizeof text, format, &tm);
  return text;
}

std::string_view view_of(const internal::MappedFile& map) {
  return {reinterpret_cast<const char*>(map.data()), map.size};
}

// The one comparison of a file's bytes against its manifest line.
void check_file(const PackageFile& f, uint64_t size, const std::string& sha256) {
  if (size != f.size)
    throw invalid("'" + f.path + "' is " + std::to_string(size) + " bytes, the manifest says " +
                  std::to_string(f.size));
  if (sha256 != f.sha256) throw invalid("sha256 of '" + f.path + "' is " + sha256 + ", the manifest says " + f.sha256);
}

// What read_package does with each part of a package as it streams by.
class Visitor {
 public:
  virtual ~Visitor() = default;
  // The manifest, checked. False: stop here, the files are not needed.
  virtual bool manifest(const PackageManifest&) { return true; }
  virtual void begin(const PackageFile&) {}
  virtual void data(const std::byte*, size_t) {}
  // The file arrived whole and matched its size and digest.
  virtual void end(const PackageFile&) {}
};

// Reads a package: the manifest first, then exactly the files it lists, each
// checked against its size and SHA-256 as it streams to the visitor.
PackageManifest read_package(std::string_view bytes, Visitor& visitor) {
  ArchiveReader reader(reinterpret_cast<const std::byte*>(bytes.data()), bytes.size());
  std::string name;
  uint64_t size = 0;
  if (!reader.next(&name, &size) || name != kManifestName)
    throw invalid("manifest.json must be the first entry (found '" + name + "')");
  std::string text;
  reader.read([&](const std::byte* d, size_t n) { text.append(reinterpret_cast<const char*>(d), n); }, kManifestLimit);
  auto json = nlohmann::json::parse(text, nullptr, false);
  if (json.is_discarded()) throw invalid("manifest.json is not valid JSON");
  PackageManifest m = PackageManifest::from_json(json);
  if (!visitor.manifest(m)) return m;

  std::map<std::string, const PackageFile*> expected{{m.plugin.path, &m.plugin}};
  for (const auto& f : m.files) expected.emplace(f.path, &f);
  while (reader.next(&name, &size)) {
    auto it = expected.find(name);
    if (it == expected.end())
      throw invalid(name == kManifestName ? "manifest.json appears twice"
                                          : "'" + name + "' is not listed in the manifest (or appears twice)");
    const PackageFile& f = *it->second;
    internal::Sha256 digest;
    uint64_t seen = 0;
    visitor.begin(f);
    reader.read(
        [&](const std::byte* d, size_t n) {
          digest.update(d, n);
          seen += n;
          visitor.data(d, n);
        },
        f.size);
    check_file(f, seen, digest.hex());
    visitor.end(f);
    expected.erase(it);
  }
  if (!expected.empty()) throw invalid("'" + expected.begin()->first + "' is listed in the manifest but missing");
  return m;
}

// Writes each file of a package under `dir` as it arrives. Files are created
// exclusively and never followed through a link; the directory is the
// caller's fresh private one.
class Unpacker final : public Visitor {
 public:
  explicit Unpacker(fs::path dir) : dir_(std::move(dir)) {}
  ~Unpacker() override {
    if (fd_ >= 0) ::close(fd_);
  }

  void begin(const PackageFile& f) override {
    const fs::path path = dir_ / f.path;
    std::error_code ec;
    fs::create_directories(path.parent_path(), ec);
    if (ec) throw Error(Code::kUnavailable, "cannot create " + path.parent_path().string() + ": " + ec.message());
    const mode_t mode = f.path.rfind("plugin/", 0) == 0 ? 0700 : 0600;
    fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
    if (fd_ < 0) fail("cannot create", path, errno);
    current_ = path;
  }

  void data(const std::byte* d, size_t n) override {
    if (!internal::write_all(fd_, d, n)) fail("cannot write", current_, errno);
  }

  void end(const PackageFile&) override {
    const int rc = ::close(fd_);
    fd_ = -1;
    if (rc != 0) fail("cannot write", current_, errno);
  }

 private:
  [[noreturn]] static void fail(const std::string& what, const fs::path& path, int err) {
    throw Error(err == ENOSPC || err == EDQUOT ? Code::kResourceExhausted : Code::kUnavailable,
                what + " " + path.string() + ": " + std::strerror(err));
  }

  fs::path dir_;
  fs::path current_;
  int fd_ = -1;
};

// Checks files unpacked by an earlier start against the manifest.
void verify_unpacked(const fs::path& dir, const PackageManifest& m) {
  auto check = [&](const PackageFile& f) {
    auto map = internal::map_file((dir / f.path).string(), "unpacked file " + f.path);
    check_file(f, map->size, internal::sha256_hex(view_of(*map)));
  };
  check(m.plugin);
  for (const auto& f : m.files) check(f);
}

void write_file(const fs::path& path, std::string_view text) {
  Unpacker out(path.parent_path());
  PackageFile f{path.filename().string(), text.size(), ""};
  out.begin(f);
  out.data(reinterpret_cast<const std::byte*>(text.data()), text.size());
  out.end(f);
}

// "path" → ("path", "data/<file name>"); "path=name" → ("path", "data/name").
std::pair<std::string, std::string> data_source(const std::string& spec) {
  const auto eq = spec.rfind('=');
  if (eq == std::string::npos) return {spec, "data/" + fs::path(spec).filename().string()};
  return {spec.substr(0, eq), "data/" + spec.substr(eq + 1)};
}

// The bytes a package's files take unpacked (saturating: a manifest may
// claim sizes whose sum overflows).
uint64_t unpacked_size(const PackageManifest& m) {
  uint64_t total = m.plugin.size;
  for (const auto& f : m.files) total = f.size > UINT64_MAX - total ? UINT64_MAX : total + f.size;
  return total;
}

void replace_all(std::string& text, std::string_view from, const std::string& to) {
  for (size_t at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size()))
    text.replace(at, from.size(), to);
}

}  // namespace

PackageManifest write_package(const PackageSpec& spec, const std::string& output) {
  auto plugin = load_plugin(spec.plugin_path);
  MemoryService svc = plugin->service();
  apply_service_fields(svc, spec.service);
  svc.validate();

  PackageManifest m;
  m.service = service_fields(svc);
  m.max_workers = spec.max_workers;
  m.abi_major = plugin->abi_major();
  m.abi_minor = plugin->abi_minor();
  m.plugin_name = plugin->name();
  m.plugin_version = plugin->version();
  m.created = utc_now("%Y-%m-%dT%H:%M:%SZ");

  struct Source {
    PackageFile file;
    std::shared_ptr<internal::MappedFile> map;
  };
  auto source = [](const std::string& path, std::string name) {
    auto map = internal::map_file(path, "'" + path + "'");
    return Source{{std::move(name), map->size, internal::sha256_hex(view_of(*map))}, map};
  };
  std::vector<Source> sources{source(spec.plugin_path, "plugin/" + fs::path(spec.plugin_path).filename().string())};
  for (const auto& d : spec.data_files) {
    auto [path, name] = data_source(d);
    sources.push_back(source(path, name));
  }
  m.plugin = sources.front().file;
  for (size_t i = 1; i < sources.size(); ++i) m.files.push_back(sources[i].file);
  // The checks a host will make, made now: a package is never built only to
  // be refused at deploy or start.
  PackageManifest::from_json(m.to_json());

  const std::string tmp = output + ".tmp." + std::to_string(::getpid());
  try {
    const std::time_t now = std::time(nullptr);
    ArchiveWriter w(tmp);
    w.add(std::string(kManifestName), m.to_json().dump(2), 0644, now);
    for (const auto& s : sources)
      w.add(s.file.path, view_of(*s.map), s.file.path == m.plugin.path ? 0755 : 0644, now);
    w.close();
    if (::rename(tmp.c_str(), output.c_str()) != 0)
      throw Error(Code::kUnavailable, "cannot write " + output + ": " + std::strerror(errno));
  } catch (...) {
    ::unlink(tmp.c_str());
    throw;
  }
  return m;
}

PackageManifest verify_package(const std::string& path) {
  auto map = internal::map_file(path, "package " + path);
  Visitor check_only;
  return read_package(view_of(*map), check_only);
}

std::string deploy_package(const std::string& package_path, const std::string& to, const TransferProgress& progress) {
  auto map = internal::map_file(package_path, "package " + package_path);
  Visitor check_only;
  const PackageManifest m = read_package(view_of(*map), check_only);
  const std::string sha = internal::sha256_hex(view_of(*map));

  std::string url = to;
  if (url.rfind("s3://", 0) != 0 && url.rfind("file://", 0) != 0)
    throw Error(Code::kInvalidArgument, "deploy target '" + to + "' must be an s3:// or file:// URL");
  if (url.back() == '/') url += "deployments/{service}/{deployment_id}/package.tar.zst";
  replace_all(url, "{service}", m.service_name());
  replace_all(url, "{deployment_id}", utc_now("%Y%m%dT%H%M%SZ") + "-" + sha.substr(0, 8));
  const auto slash = url.rfind('/');
  const std::string written =
      internal::store_result(url.substr(0, slash), url.substr(slash + 1), view_of(*map), progress);
  return written + "#sha256=" + sha;
}

OpenedPackage open_package(const std::string& url, const std::string& cache_root, const OpenPackageOptions& options) {
  OpenedPackage out;
  const auto start = Clock::now();
  internal::refuse_control_characters(url);
  if (options.require_pin && internal::split_digest(url).second.empty())
    throw Error(Code::kInvalidArgument, "package URL " + redact_credentials(url) +
                                            " has no #sha256= pin; run the URL `memrun deploy` printed (it ends in "
                                            "#sha256=...), or pass --allow-unpinned");
  SharedWorkerContext::Options fetch_options;
  fetch_options.service = "packages";
  fetch_options.memory_budget_bytes = options.cache_bytes;
  fetch_options.disk_dir = cache_root + "/.packages";  // '.' starts no service name
  fetch_options.disk_budget_bytes = options.cache_bytes;
  fetch_options.s3 = options.s3;
  // The operator named this package: file:// may read it, and only it.
  if (const std::string plain = internal::split_digest(url).first; plain.rfind("file://", 0) == 0)
    fetch_options.file_roots = {plain.substr(7)};
  if (options.progress)
    fetch_options.on_progress = [&](const std::string&, uint64_t done, uint64_t total) {
      options.progress(done, total);
    };
  SharedWorkerContext fetcher(std::move(fetch_options));
  const Blob blob = fetcher.get_or_fetch(url);  // checks a "#sha256=" pin
  const std::string_view bytes = blob.view();
  out.fetched_from = blob.tier();
  out.fetch_seconds = seconds_since(start);

  const auto unpack_start = Clock::now();
  const std::string pinned = internal::split_digest(url).second;
  out.sha256 = pinned.empty() ? internal::sha256_hex(bytes) : pinned;

  // The manifest alone says where the package goes and whether it can run here.
  struct ManifestOnly final : Visitor {
    bool manifest(const PackageManifest&) override { return false; }
  } manifest_only;
  out.manifest = read_package(bytes, manifest_only);
  if (out.manifest.abi_major != MEMRUN_ABI_MAJOR)
    throw Error(Code::kAbiMismatch, fmt::format("package {} holds a plugin built for memrun ABI {}.{}; this host "
                                                "runs ABI {}.{}",
                                                redact_credentials(url), out.manifest.abi_major, out.manifest.abi_minor,
                                                MEMRUN_ABI_MAJOR, MEMRUN_ABI_MINOR));

  const fs::path dir = fs::path(cache_root) / out.manifest.service_name() / "package" / out.sha256;
  out.dir = dir.string();
  out.plugin_path = (dir / out.manifest.plugin.path).string();
  std::error_code ec;
  if (fs::exists(dir / kManifestName, ec)) {
    try {
      verify_unpacked(dir, out.manifest);
      out.reused = true;
      out.unpack_seconds = seconds_since(unpack_start);
      return out;
    } catch (const Error& e) {
      spdlog::warn("unpacked package in {} fails its check ({}); unpacking it again", dir.string(), e.what());
      fs::remove_all(dir, ec);
    }
  }

  // Refused before anything is written. The manifest's sizes are the most
  // the unpacking writes: each file is cut off at its size.
  if (const uint64_t size = unpacked_size(out.manifest); size > options.max_unpacked_bytes)
    throw invalid(fmt::format("{} unpacks to {} bytes, above the limit of {} (package_max_unpacked in the config)",
                              redact_credentials(url), size, options.max_unpacked_bytes));

  // Unpacked beside its final place, then renamed: a half-unpacked package is
  // never where a later start looks.
  const fs::path tmp = dir.string() + ".tmp." + std::to_string(::getpid());
  fs::remove_all(tmp, ec);
  fs::create_directories(dir.parent_path(), ec);
  if (ec || ::mkdir(tmp.c_str(), 0700) != 0)
    throw Error(Code::kUnavailable, "cannot create " + tmp.string() + ": " + (ec ? ec.message() : std::strerror(errno)));
  try {
    Unpacker unpacker(tmp);
    read_package(bytes, unpacker);
    write_file(tmp / kManifestName, out.manifest.to_json().dump(2));
    if (::rename(tmp.c_str(), dir.c_str()) != 0) {
      // Another process unpacked the same package first: use theirs, checked.
      if (errno != EEXIST && errno != ENOTEMPTY)
        throw Error(Code::kUnavailable, "cannot move " + tmp.string() + " into place: " + std::strerror(errno));
      verify_unpacked(dir, out.manifest);
      out.reused = true;
      fs::remove_all(tmp, ec);
    }
  } catch (...) {
    fs::remove_all(tmp, ec);
    throw;
  }
  out.unpack_seconds = seconds_since(unpack_start);
  return out;
}

}  // namespace memrun
