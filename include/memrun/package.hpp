// memrun/package.hpp — a deployable service: the plugin, its manifest and its
// data files in one .tar.zst.
//
//   memrun::PackageSpec spec;
//   spec.plugin_path = "build/libmy_service.so";
//   spec.data_files = {"model/weights.bin"};
//   spec.service = {{"memory", "8Gi"}, {"partitions", 64}};
//   spec.max_workers = 16;
//   memrun::write_package(spec, "my_service.tar.zst");
//
//   std::string url = memrun::deploy_package("my_service.tar.zst",
//       "s3://bucket/deployments/{service}/{deployment_id}/package.tar.zst");
//   // → "s3://bucket/deployments/my_service/20261124T120000Z-1a2b3c4d/package.tar.zst#sha256=..."
//
//   memrun::OpenedPackage p = memrun::open_package(url, "/var/cache/memrun");
//   auto plugin = memrun::load_plugin(p.plugin_path);
//
// Layout of a package (a POSIX tar, zstd-compressed, read and written with
// libarchive): `manifest.json` first, then `plugin/<file>.so`, then
// `data/<name>` for each data file. Only regular files; every file is listed
// in the manifest with its size and SHA-256, and nothing else may be in the
// archive.
//
// Trust: the manifest's digests catch corruption and truncation. A package
// URL carrying "#sha256=" (what deploy_package returns) also pins the whole
// package, manifest included, so a package rewritten in storage is refused.
#pragma once

#include <memrun/context.hpp>
#include <memrun/export.hpp>

#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace memrun {

// The package format this library writes and reads. Another value in a
// manifest is refused with a message naming both.
inline constexpr int kPackageFormat = 1;

struct PackageFile {
  std::string path;  // inside the package: "plugin/x.so", "data/name"
  uint64_t size = 0;
  std::string sha256;  // lowercase hex
};

struct MEMRUN_API PackageManifest {
  int format = kPackageFormat;
  // Service fields (see apply_service_fields): the defaults a host applies
  // on top of the plugin's own, before its config file and flags.
  nlohmann::json service = nlohmann::json::object();
  int max_workers = 1;  // the partition count is at least this
  int abi_major = 0;    // memrun ABI the plugin was built for
  int abi_minor = 0;
  std::string plugin_name;
  std::string plugin_version;
  PackageFile plugin;
  std::vector<PackageFile> files;  // data files
  std::string created;             // UTC, e.g. "2026-11-24T12:00:00Z"

  const std::string& service_name() const;
  nlohmann::json to_json() const;
  // Checks every field (paths relative and plain, digests well-formed, the
  // format this library reads). Throws Error(kInvalidArgument) naming the
  // problem.
  static PackageManifest from_json(const nlohmann::json& manifest);
};

struct PackageSpec {
  std::string plugin_path;
  // Files to ship: "path" (stored as data/<file name>) or "path=name"
  // (stored as data/<name>; name may hold '/').
  std::vector<std::string> data_files;
  // Overrides of the plugin's service defaults (name, memory, disk,
  // concurrency, sticky_key, timeout_seconds, partitions, ...).
  nlohmann::json service = nlohmann::json::object();
  int max_workers = 1;
};

// Builds the package at `output` (written to a temporary file, renamed when
// complete). Loads the plugin to read its descriptor — only its entry
// function runs — so a plugin the host would refuse is refused here.
// Throws Error(kInvalidArgument) for bad input (a missing file, partitions
// below max_workers, a broken plugin), Error(kUnavailable) for I/O failures.
MEMRUN_API PackageManifest write_package(const PackageSpec& spec, const std::string& output);

// Reads a package file and checks all of it (manifest, every digest) without
// unpacking anything. Throws Error(kInvalidArgument) when it is not a valid
// package.
MEMRUN_API PackageManifest verify_package(const std::string& path);

using TransferProgress = std::function<void(uint64_t done, uint64_t total)>;

// Checks the package (verify_package), then uploads it to `to`: an s3:// or
// file:// URL naming the object, in which "{service}" and "{deployment_id}"
// are replaced (the id is the UTC time and the first 8 hex digits of the
// package's SHA-256). A URL ending in '/' gets
// "deployments/{service}/{deployment_id}/package.tar.zst" appended. Returns
// the URL written, with "#sha256=<digest of the package>". Throws Error.
MEMRUN_API std::string deploy_package(const std::string& package_path, const std::string& to,
                                      const TransferProgress& progress = {});

struct OpenedPackage {
  PackageManifest manifest;
  std::string sha256;       // of the package file
  std::string dir;          // the unpacked files (owner-only directory)
  std::string plugin_path;  // dir + "/" + manifest.plugin.path
  Tier fetched_from = Tier::kRemote;  // where the tiered cache found the package
  bool reused = false;      // unpacked by an earlier start; its digests checked again
  double fetch_seconds = 0;
  double unpack_seconds = 0;  // verifying and unpacking
};

struct OpenPackageOptions {
  // Disk budget of the package cache, {cache_root}/.packages.
  uint64_t cache_bytes = 8ull << 30;
  TransferProgress progress{};
  S3Settings s3{};  // for an s3:// URL
  // The most bytes the package's files may take once unpacked (the sum of
  // the manifest's sizes, which the unpacking enforces file by file). A
  // package above it is refused before anything is written: compression
  // makes a small download a large disk write (2 GiB of zeros fit in under
  // 1 MB). The default, 4 GiB, is half the default package cache: a plugin
  // and its warm data; larger data belongs behind a URL the disk cache
  // fetches within the service's own disk budget.
  uint64_t max_unpacked_bytes = 4ull << 30;
  // Refuse a URL without "#sha256=" (Error kInvalidArgument) before fetching:
  // the manifest's digests vouch only for the files beside it, so an unpinned
  // package rewritten in storage would run unchecked. memrun-host sets it
  // unless --allow-unpinned.
  bool require_pin = false;
};

// Fetches `url` (s3://, http(s)://, file://, optionally "#sha256=") through a
// tiered cache in {cache_root}/.packages, so a restarted worker finds it on
// disk; checks the manifest and every digest; unpacks it to
// {cache_root}/{service}/package/{sha256}/ (reused, after checking its files
// again, when an earlier start unpacked it). Nothing is left in place from a
// package that fails a check. Throws Error(kInvalidArgument) for a tampered,
// truncated or unsupported package, or one larger unpacked than
// options.max_unpacked_bytes, kNotFound / kUnavailable when it cannot
// be fetched.
MEMRUN_API OpenedPackage open_package(const std::string& url, const std::string& cache_root,
                                      const OpenPackageOptions& options = {});

}  // namespace memrun
