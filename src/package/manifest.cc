// manifest.json: what a package holds and the service it runs, checked field
// by field when read, because it comes from storage the host does not control.
#include <memrun/package.hpp>
#include <memrun/protocol.hpp>
#include <memrun/service.hpp>

#include "core/json_integer.hpp"

#include <algorithm>
#include <cctype>
#include <set>

namespace memrun {
namespace {

Error bad(const std::string& what) { return Error(Code::kInvalidArgument, "package manifest: " + what); }

// j[key] as the exact integer written; `name` says where it is.
template <class T>
T integer(const nlohmann::json& j, const char* key, const std::string& name) {
  const nlohmann::json& v = j.at(key);
  if (auto n = internal::json_integer<T>(v)) return *n;
  throw bad(name + " must be " + internal::json_integer_refusal<T>(v));
}

// Paths inside a package are plain: components of [A-Za-z0-9._-], none empty,
// "." or "..", under the expected top folder. They become file names on the
// host, so nothing else is let through.
void check_path(const std::string& path, std::string_view top) {
  const std::string prefix = std::string(top) + "/";
  if (path.rfind(prefix, 0) != 0 || path.size() == prefix.size() || path.size() > 1024)
    throw bad("path '" + path + "' must be " + prefix + "<name>");
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string::npos) end = path.size();
    const std::string_view part(path.data() + start, end - start);
    const bool plain = std::all_of(part.begin(), part.end(), [](unsigned char c) {
      return std::isalnum(c) || c == '.' || c == '_' || c == '-';
    });
    if (part.empty() || part == "." || part == ".." || !plain)
      throw bad("path '" + path + "' must be '/'-separated names of [A-Za-z0-9._-]");
    start = end + 1;
  }
}

PackageFile file_from_json(const nlohmann::json& j, std::string_view top) {
  PackageFile f;
  f.path = j.at("path").get<std::string>();
  f.size = integer<uint64_t>(j, "size", "size of '" + f.path + "'");
  f.sha256 = j.at("sha256").get<std::string>();
  check_path(f.path, top);
  if (f.sha256.size() != 64 ||
      !std::all_of(f.sha256.begin(), f.sha256.end(), [](char c) { return std::isxdigit(c) && !std::isupper(c); }))
    throw bad("sha256 of '" + f.path + "' is not 64 lowercase hex digits");
  return f;
}

nlohmann::json file_to_json(const PackageFile& f) {
  return {{"path", f.path}, {"size", f.size}, {"sha256", f.sha256}};
}

}  // namespace

const std::string& PackageManifest::service_name() const {
  static const std::string kNone;
  auto it = service.find("name");
  return it != service.end() && it->is_string() ? it->get_ref<const std::string&>() : kNone;
}

nlohmann::json PackageManifest::to_json() const {
  nlohmann::json files_json = nlohmann::json::array();
  for (const auto& f : files) files_json.push_back(file_to_json(f));
  return {{"format", format},
          {"service", service},
          {"max_workers", max_workers},
          {"abi", {{"major", abi_major}, {"minor", abi_minor}}},
          {"plugin", {{"name", plugin_name}, {"version", plugin_version}, {"file", file_to_json(plugin)}}},
          {"files", files_json},
          {"created", created}};
}

PackageManifest PackageManifest::from_json(const nlohmann::json& j) {
  if (!j.is_object()) throw bad("not a JSON object");
  PackageManifest m;
  try {
    m.format = integer<int>(j, "format", "format");
    if (m.format != kPackageFormat)
      throw bad("format " + std::to_string(m.format) + " is not supported: this memrun reads format " +
                std::to_string(kPackageFormat));
    m.service = j.at("service");
    m.max_workers = integer<int>(j, "max_workers", "max_workers");
    m.abi_major = integer<int>(j.at("abi"), "major", "abi.major");
    m.abi_minor = integer<int>(j.at("abi"), "minor", "abi.minor");
    m.plugin_name = j.at("plugin").at("name").get<std::string>();
    m.plugin_version = j.at("plugin").at("version").get<std::string>();
    m.plugin = file_from_json(j.at("plugin").at("file"), "plugin");
    // An array only: iterating an object would take its values as the list.
    const auto& files = j.at("files");
    if (!files.is_array()) throw bad("'files' must be an array");
    for (const auto& f : files) m.files.push_back(file_from_json(f, "data"));
    m.created = j.at("created").get<std::string>();
  } catch (const nlohmann::json::exception& e) {
    throw bad(std::string("missing or mistyped field: ") + e.what());
  }
  // The service fields must be ones a host accepts, with the same checks.
  MemoryService fields;
  apply_service_fields(fields, m.service);
  fields.validate_fields();
  if (m.service_name().empty()) throw bad("the service has no name");
  if (m.max_workers < 1) throw bad("max_workers must be at least 1");
  if (fields.partitions < m.max_workers)
    throw bad("partitions (" + std::to_string(fields.partitions) + ") must be at least max_workers (" +
              std::to_string(m.max_workers) + "): a worker without a partition serves nothing");
  std::set<std::string> seen{m.plugin.path};
  for (const auto& f : m.files)
    if (!seen.insert(f.path).second) throw bad("'" + f.path + "' is listed twice");
  return m;
}

}  // namespace memrun
