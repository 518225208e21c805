// Packages: built by write_package, read back by GNU tar (an independent
// reader), opened through the tiered cache; and every kind of damage forged
// with GNU tar and zstd refused, with nothing of it left on disk.
#include <memrun/package.hpp>
#include <memrun/plugin.h>

#include "support/subprocess.hpp"
#include "support/temp_dir.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

const std::string kGreeting = "hello from a package\n";

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

void write_text(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary) << text;
}

std::string plugin_file() { return "plugin/" + fs::path(SDK_PLUGIN).filename().string(); }

class Package : public testing::Test {
 protected:
  void SetUp() override {
    write_text(dir("greeting.txt"), kGreeting);
    spec_.plugin_path = SDK_PLUGIN;
    spec_.data_files = {dir("greeting.txt").string(), dir("greeting.txt").string() + "=nested/copy.txt"};
    spec_.service = {{"name", "pkgtest"}, {"partitions", 8}};
    spec_.max_workers = 4;
    manifest_ = memrun::write_package(spec_, package());
  }

  fs::path dir(const std::string& name) const { return fs::path(work_.path) / name; }
  std::string package() const { return dir("pkgtest.tar.zst").string(); }
  std::string cache_root() const { return dir("cache").string(); }
  std::string url(const std::string& path) const { return "file://" + path; }
  fs::path unpacked_root() const { return dir("cache") / "pkgtest" / "package"; }

  // Unpacks the package with GNU tar into `to` (the forger's workbench).
  void gnu_extract(const fs::path& to) const {
    fs::create_directories(to);
    auto [code, out] = memrun::test::run({"/usr/bin/tar", "--zstd", "-xf", package(), "-C", to.string()}, 30s);
    ASSERT_EQ(code, 0) << out;
  }
  // Packs `entries` of `from`, in this order, into a new .tar.zst with GNU tar.
  std::string gnu_pack(const fs::path& from, const std::vector<std::string>& entries, const std::string& name,
                       const std::vector<std::string>& flags = {}) const {
    const std::string out_path = dir(name).string();
    std::vector<std::string> argv{"/usr/bin/tar", "--zstd", "-cf", out_path, "-C", from.string()};
    argv.insert(argv.end(), flags.begin(), flags.end());
    argv.insert(argv.end(), entries.begin(), entries.end());
    auto [code, out] = memrun::test::run(argv, 30s);
    EXPECT_EQ(code, 0) << out;
    return out_path;
  }
  std::vector<std::string> all_entries() const {
    return {"manifest.json", plugin_file(), "data/greeting.txt", "data/nested/copy.txt"};
  }
  void edit_manifest(const fs::path& tree, const std::function<void(nlohmann::json&)>& edit) const {
    auto m = nlohmann::json::parse(read_file(tree / "manifest.json"));
    edit(m);
    write_text(tree / "manifest.json", m.dump(2));
  }

  // Opening `path` fails with `code` and a message holding `words`, and
  // leaves nothing unpacked.
  void expect_refused(const std::string& path_or_url, memrun::Code code, const std::string& words) {
    const std::string u = path_or_url.rfind("file://", 0) == 0 ? path_or_url : url(path_or_url);
    try {
      memrun::open_package(u, cache_root());
      ADD_FAILURE() << "opened " << u;
    } catch (const memrun::Error& e) {
      EXPECT_EQ(e.code(), code) << e.what();
      EXPECT_NE(std::string(e.what()).find(words), std::string::npos) << e.what();
    }
    std::error_code ec;
    EXPECT_TRUE(!fs::exists(unpacked_root(), ec) || fs::is_empty(unpacked_root(), ec))
        << "something was left in " << unpacked_root();
  }

  memrun::test::TempDir work_{"memrun-package"};
  memrun::PackageSpec spec_;
  memrun::PackageManifest manifest_;
};

TEST_F(Package, ManifestDescribesServicePluginAndFilesAndGnuTarReadsIt) {
  EXPECT_EQ(manifest_.service_name(), "pkgtest");
  EXPECT_EQ(manifest_.service["sticky_key"], "k");  // the plugin's default, kept
  EXPECT_EQ(manifest_.service["partitions"], 8);
  EXPECT_EQ(manifest_.max_workers, 4);
  EXPECT_EQ(manifest_.abi_major, MEMRUN_ABI_MAJOR);
  EXPECT_EQ(manifest_.plugin_name, "sdk_test");
  EXPECT_EQ(manifest_.plugin.path, plugin_file());
  ASSERT_EQ(manifest_.files.size(), 2u);
  EXPECT_EQ(manifest_.files[1].path, "data/nested/copy.txt");
  EXPECT_EQ(manifest_.files[0].size, kGreeting.size());

  auto [code, listing] = memrun::test::run({"/usr/bin/tar", "--zstd", "-tf", package()}, 30s);
  ASSERT_EQ(code, 0) << listing;
  EXPECT_EQ(listing, "manifest.json\n" + plugin_file() + "\ndata/greeting.txt\ndata/nested/copy.txt\n");
  auto [sha_code, sha] = memrun::test::run({"/usr/bin/sha256sum", SDK_PLUGIN}, 30s);
  ASSERT_EQ(sha_code, 0);
  EXPECT_EQ(sha.substr(0, 64), manifest_.plugin.sha256);
  EXPECT_EQ(memrun::verify_package(package()).to_json(), manifest_.to_json());
}

// Found by tests/fuzz/manifest.cc: numbers were converted, not read, so a
// manifest saying max_workers 4294967298 was accepted as 2, and a size of
// 1e300 was undefined behaviour.
TEST_F(Package, ManifestNumbersAreTheIntegersWrittenOrRefused) {
  const nlohmann::json good = manifest_.to_json();
  EXPECT_EQ(memrun::PackageManifest::from_json(good).to_json(), good);
  const std::vector<std::pair<nlohmann::json::json_pointer, nlohmann::json>> edits = {
      {"/max_workers"_json_pointer, 4294967298ull},      {"/max_workers"_json_pointer, 2.5},
      {"/format"_json_pointer, 4294967297ull},           {"/abi/major"_json_pointer, 1e300},
      {"/plugin/file/size"_json_pointer, 1e300},         {"/files/0/size"_json_pointer, -1},
      {"/files/0/size"_json_pointer, static_cast<double>(kGreeting.size())}};
  for (const auto& [where, value] : edits) {
    nlohmann::json m = good;
    m[where] = value;
    try {
      memrun::PackageManifest::from_json(m);
      ADD_FAILURE() << where.to_string() << " = " << value << " was accepted";
    } catch (const memrun::Error& e) {
      EXPECT_EQ(e.code(), memrun::Code::kInvalidArgument) << e.what();
    }
  }
}

// Found with tests/fuzz/manifest.cc's contract: an object in place of the
// files array was read as the list of its values.
TEST_F(Package, ManifestFilesMustBeAnArray) {
  nlohmann::json m = manifest_.to_json();
  m["files"] = {{"first", m["files"][0]}};
  EXPECT_THROW(memrun::PackageManifest::from_json(m), memrun::Error);
}

TEST_F(Package, OpensIntoAPrivateDirectoryAndASecondOpenReusesTheCachedPackage) {
  auto first = memrun::open_package(url(package()), cache_root());
  EXPECT_EQ(first.fetched_from, memrun::Tier::kRemote);
  EXPECT_FALSE(first.reused);
  EXPECT_EQ(first.dir, (unpacked_root() / first.sha256).string());
  EXPECT_EQ(read_file(fs::path(first.dir) / "data" / "nested" / "copy.txt"), kGreeting);
  EXPECT_TRUE(fs::exists(first.plugin_path));
  struct stat st {};
  ASSERT_EQ(::stat(first.dir.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);

  auto second = memrun::open_package(url(package()), cache_root());
  EXPECT_EQ(second.fetched_from, memrun::Tier::kDisk);  // from {cache_root}/.packages
  EXPECT_TRUE(second.reused);
  EXPECT_EQ(second.sha256, first.sha256);

  // An unpacked file changed behind the host's back is noticed and replaced.
  write_text(fs::path(first.dir) / "data" / "greeting.txt", "tampered");
  auto third = memrun::open_package(url(package()), cache_root());
  EXPECT_FALSE(third.reused);
  EXPECT_EQ(read_file(fs::path(third.dir) / "data" / "greeting.txt"), kGreeting);
}

TEST_F(Package, AFlippedByteInAPinnedPackageIsRefused) {
  const std::string pin = "#sha256=" + memrun::open_package(url(package()), dir("other-cache").string()).sha256;
  std::string bytes = read_file(package());
  bytes[bytes.size() / 2] ^= 0x01;
  write_text(dir("flipped.tar.zst"), bytes);
  expect_refused(url(dir("flipped.tar.zst").string()) + pin, memrun::Code::kInvalidArgument, "expected");
}

TEST_F(Package, AReplacedPluginIsRefusedByItsManifestDigest) {
  const fs::path tree = dir("tree");
  gnu_extract(tree);
  // Same size, one byte changed: only the digest can tell.
  std::string so = read_file(tree / plugin_file());
  so[so.size() / 2] ^= 0x01;
  write_text(tree / plugin_file(), so);
  expect_refused(gnu_pack(tree, all_entries(), "patched.tar.zst"), memrun::Code::kInvalidArgument,
                 "sha256 of '" + plugin_file() + "'");
  // Another plugin altogether.
  fs::copy_file(C_ECHO_PLUGIN, tree / plugin_file(), fs::copy_options::overwrite_existing);
  expect_refused(gnu_pack(tree, all_entries(), "replaced.tar.zst"), memrun::Code::kInvalidArgument,
                 "'" + plugin_file() + "' is " + std::to_string(fs::file_size(C_ECHO_PLUGIN)) + " bytes");
}

TEST_F(Package, ATruncatedPackageIsRefused) {
  const std::string bytes = read_file(package());
  write_text(dir("truncated.tar.zst"), bytes.substr(0, bytes.size() / 2));
  expect_refused(dir("truncated.tar.zst").string(), memrun::Code::kInvalidArgument, "truncated");
}

TEST_F(Package, AnotherFormatOrAbiMajorIsRefusedNamingBoth) {
  const fs::path tree = dir("tree");
  gnu_extract(tree);
  edit_manifest(tree, [](nlohmann::json& m) { m["format"] = 2; });
  expect_refused(gnu_pack(tree, all_entries(), "format2.tar.zst"), memrun::Code::kInvalidArgument,
                 "format 2 is not supported: this memrun reads format 1");
  edit_manifest(tree, [](nlohmann::json& m) {
    m["format"] = 1;
    m["abi"]["major"] = MEMRUN_ABI_MAJOR + 1;
  });
  expect_refused(gnu_pack(tree, all_entries(), "abi.tar.zst"), memrun::Code::kAbiMismatch,
                 "built for memrun ABI " + std::to_string(MEMRUN_ABI_MAJOR + 1) + "." +
                     std::to_string(MEMRUN_ABI_MINOR) + "; this host runs ABI " + std::to_string(MEMRUN_ABI_MAJOR));
}

TEST_F(Package, ExtraMissingMisorderedOrEscapingEntriesAreRefused) {
  const fs::path tree = dir("tree");
  gnu_extract(tree);
  write_text(tree / "data" / "extra.bin", "not in the manifest");
  auto entries = all_entries();
  entries.push_back("data/extra.bin");
  expect_refused(gnu_pack(tree, entries, "extra.tar.zst"), memrun::Code::kInvalidArgument,
                 "'data/extra.bin' is not listed in the manifest");

  expect_refused(gnu_pack(tree, {"manifest.json", plugin_file(), "data/greeting.txt"}, "missing.tar.zst"),
                 memrun::Code::kInvalidArgument, "'data/nested/copy.txt' is listed in the manifest but missing");

  expect_refused(gnu_pack(tree, {plugin_file(), "manifest.json", "data/greeting.txt", "data/nested/copy.txt"},
                          "order.tar.zst"),
                 memrun::Code::kInvalidArgument, "manifest.json must be the first entry");

  // An entry named ../escape.txt: never written outside the package's directory.
  write_text(tree / "escape.txt", "outside");
  auto escaping = all_entries();
  escaping.push_back("escape.txt");
  expect_refused(gnu_pack(tree, escaping, "escape.tar.zst", {"-P", "--transform", "s,^escape,../escape,"}),
                 memrun::Code::kInvalidArgument, "'../escape.txt' is not listed");
  EXPECT_FALSE(fs::exists(dir("cache") / "pkgtest" / "escape.txt"));

  // A manifest that lists an escaping path is refused before anything is read.
  edit_manifest(tree, [](nlohmann::json& m) { m["files"][0]["path"] = "data/../../../escape.txt"; });
  expect_refused(gnu_pack(tree, all_entries(), "listed-escape.tar.zst"), memrun::Code::kInvalidArgument,
                 "path 'data/../../../escape.txt'");
}

TEST_F(Package, LinksAndDirectoriesAreNotRegularFilesAndAreRefused) {
  const fs::path tree = dir("tree");
  gnu_extract(tree);
  fs::remove(tree / "data" / "greeting.txt");
  fs::create_symlink("/etc/passwd", tree / "data" / "greeting.txt");
  expect_refused(gnu_pack(tree, all_entries(), "symlink.tar.zst"), memrun::Code::kInvalidArgument,
                 "'data/greeting.txt' is not a regular file");
  expect_refused(gnu_pack(tree, {"manifest.json", "plugin"}, "dir.tar.zst"), memrun::Code::kInvalidArgument,
                 "not a regular file");
}

// Small to download, large unpacked (the probe's 2 GiB of zeros from 767 KB,
// at test scale): refused before anything is written.
TEST_F(Package, APackageLargerUnpackedThanItsLimitIsRefusedBeforeUnpacking) {
  write_text(dir("zeros.bin"), std::string(3 << 20, '\0'));
  spec_.data_files = {dir("zeros.bin").string()};
  const std::string zeros = dir("zeros.tar.zst").string();
  memrun::write_package(spec_, zeros);
  EXPECT_LT(fs::file_size(zeros), fs::file_size(SDK_PLUGIN) + (1u << 20)) << "it compresses";
  memrun::OpenPackageOptions options;
  options.max_unpacked_bytes = fs::file_size(SDK_PLUGIN) + (1u << 20);
  try {
    memrun::open_package(url(zeros), cache_root(), options);
    ADD_FAILURE() << "opened";
  } catch (const memrun::Error& e) {
    EXPECT_EQ(e.code(), memrun::Code::kInvalidArgument) << e.what();
    EXPECT_NE(std::string(e.what()).find("unpacks to"), std::string::npos) << e.what();
  }
  std::error_code ec;
  EXPECT_TRUE(!fs::exists(unpacked_root(), ec) || fs::is_empty(unpacked_root(), ec)) << "something was unpacked";
  EXPECT_FALSE(memrun::open_package(url(zeros), cache_root()).reused) << "the default limit lets it through";
}

TEST_F(Package, SomethingThatIsNotAPackageIsRefused) {
  write_text(dir("plain.tar.zst"), "just some text, not zstd");
  expect_refused(dir("plain.tar.zst").string(), memrun::Code::kInvalidArgument, "package");
  expect_refused(dir("absent.tar.zst").string(), memrun::Code::kNotFound, "absent.tar.zst");
}

TEST_F(Package, BuildingRefusesWhatAHostWouldRefuse) {
  auto expect_error = [&](memrun::PackageSpec spec, memrun::Code code, const std::string& words) {
    try {
      memrun::write_package(spec, dir("refused.tar.zst").string());
      ADD_FAILURE() << "built";
    } catch (const memrun::Error& e) {
      EXPECT_EQ(e.code(), code) << e.what();
      EXPECT_NE(std::string(e.what()).find(words), std::string::npos) << e.what();
    }
    EXPECT_FALSE(fs::exists(dir("refused.tar.zst")));
  };
  auto spec = spec_;
  spec.max_workers = 9;  // partitions 8
  expect_error(spec, memrun::Code::kInvalidArgument, "partitions (8) must be at least max_workers (9)");
  spec = spec_;
  spec.data_files = {dir("no-such-file").string()};
  expect_error(spec, memrun::Code::kNotFound, "no-such-file");
  spec = spec_;
  spec.data_files = {dir("greeting.txt").string() + "=bad name"};
  expect_error(spec, memrun::Code::kInvalidArgument, "'data/bad name'");
  spec = spec_;
  spec.plugin_path = BROKEN_ABI_MAJOR;
  expect_error(spec, memrun::Code::kAbiMismatch, "ABI");
  spec = spec_;
  spec.service["concurency"] = 4;
  expect_error(spec, memrun::Code::kInvalidArgument, "unknown service field 'concurency'");
}

TEST_F(Package, DeployToAFileStoreFillsThePlaceholdersAndPinsTheDigest) {
  const std::string store = dir("store").string();
  uint64_t last_done = 0, last_total = 0;
  const std::string deployed = memrun::deploy_package(package(), url(store) + "/", [&](uint64_t done, uint64_t total) {
    last_done = done;
    last_total = total;
  });
  const auto hash = deployed.find("#sha256=");
  ASSERT_NE(hash, std::string::npos) << deployed;
  const std::string sha = deployed.substr(hash + 8);
  EXPECT_EQ(sha.size(), 64u);
  const std::string prefix = url(store) + "/deployments/pkgtest/";
  EXPECT_EQ(deployed.rfind(prefix, 0), 0u) << deployed;
  const std::string id = deployed.substr(prefix.size(), deployed.find('/', prefix.size()) - prefix.size());
  EXPECT_EQ(id.substr(id.size() - 8), sha.substr(0, 8)) << deployed;
  EXPECT_EQ(deployed.substr(0, hash), prefix + id + "/package.tar.zst");
  EXPECT_EQ(read_file(deployed.substr(7, hash - 7)), read_file(package()));
  EXPECT_EQ(last_done, last_total);
  EXPECT_GT(last_total, 0u);

  // What deploy printed runs: the pin checks out.
  EXPECT_EQ(memrun::open_package(deployed, cache_root()).sha256, sha);

  // A file that is not a package is never uploaded.
  write_text(dir("junk.tar.zst"), "junk");
  EXPECT_THROW(memrun::deploy_package(dir("junk.tar.zst").string(), url(store) + "/junk.tar.zst"), memrun::Error);
  EXPECT_FALSE(fs::exists(fs::path(store) / "junk.tar.zst"));
}

}  // namespace
