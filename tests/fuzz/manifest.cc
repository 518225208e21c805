// manifest.json as a package carries it (package/manifest.cc): bytes from
// storage the host does not control.
#include "contract.hpp"

#include <memrun/package.hpp>

#include <nlohmann/json.hpp>

#include <set>

using namespace memrun;

namespace {

// A path that cannot leave the directory it is unpacked into.
bool stays_inside(const std::string& path) {
  size_t start = 0;
  for (;;) {
    const size_t end = path.find('/', start);
    const std::string part = path.substr(start, end == std::string::npos ? end : end - start);
    if (part.empty() || part == "." || part == "..") return false;
    if (end == std::string::npos) return path.front() != '/';
    start = end + 1;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // package.cc parses the entry the same way before from_json.
  const auto json = nlohmann::json::parse(fuzz::text_of(data, size), nullptr, false);
  if (json.is_discarded()) return 0;
  PackageManifest m;
  if (!fuzz::accepts([&] { m = PackageManifest::from_json(json); }, {Code::kInvalidArgument})) return 0;

  // An accepted manifest means what it says: each number is the integer
  // written (not 1.5 or 2^32+1 kept as 1).
  FUZZ_CHECK(fuzz::is_integer(json["format"], m.format) && m.format == kPackageFormat);
  FUZZ_CHECK(fuzz::is_integer(json["max_workers"], m.max_workers) && m.max_workers >= 1);
  FUZZ_CHECK(fuzz::is_integer(json["abi"]["major"], m.abi_major) && fuzz::is_integer(json["abi"]["minor"], m.abi_minor));
  FUZZ_CHECK(fuzz::is_integer(json["plugin"]["file"]["size"], m.plugin.size));
  FUZZ_CHECK(json["files"].is_array() && json["files"].size() == m.files.size());
  for (size_t i = 0; i < m.files.size(); ++i) FUZZ_CHECK(fuzz::is_integer(json["files"][i]["size"], m.files[i].size));
  FUZZ_CHECK(!m.service_name().empty());
  FUZZ_CHECK(m.plugin.path.rfind("plugin/", 0) == 0 && stays_inside(m.plugin.path));
  std::set<std::string> paths{m.plugin.path};
  for (const auto& f : m.files) {
    FUZZ_CHECK(f.path.rfind("data/", 0) == 0 && stays_inside(f.path));
    FUZZ_CHECK(paths.insert(f.path).second);
  }
  // What write_package stores reads back as the same manifest.
  const auto written = m.to_json();
  PackageManifest again;
  FUZZ_CHECK(fuzz::accepts([&] { again = PackageManifest::from_json(written); }, {}));
  FUZZ_CHECK(again.to_json() == written);
  return 0;
}
