#include "app/config.hpp"

#include "core/json_integer.hpp"

#include <sys/stat.h>

#include <memrun/service.hpp>
#include <memrun/status.hpp>

#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>

namespace memrun::app {

std::pair<std::string, std::string> split_property(const std::string& text) {
  auto eq = text.find('=');
  if (eq == std::string::npos || eq == 0)
    throw Error(Code::kInvalidArgument, "expected key=value, got '" + text + "'");
  return {text.substr(0, eq), text.substr(eq + 1)};
}

namespace {

// The "s3" object. A secret in a file others may read is refused: the file
// would hand the bucket to every user of the machine.
S3Settings s3_settings(const std::string& path, const nlohmann::json& value) {
  if (!value.is_object()) throw Error(Code::kInvalidArgument, path + ": 's3' must be an object");
  S3Settings s;
  const std::map<std::string, std::string*> fields{{"endpoint", &s.endpoint},
                                                   {"region", &s.region},
                                                   {"access_key_id", &s.access_key_id},
                                                   {"secret_access_key", &s.secret_access_key},
                                                   {"session_token", &s.session_token}};
  for (const auto& [k, v] : value.items()) {
    auto field = fields.find(k);
    if (field == fields.end()) throw Error(Code::kInvalidArgument, path + ": unknown key 's3." + k + "'");
    if (!v.is_string()) throw Error(Code::kInvalidArgument, path + ": 's3." + k + "' must be a string");
    *field->second = v.get<std::string>();
  }
  if (s.access_key_id.empty() != s.secret_access_key.empty())
    throw Error(Code::kInvalidArgument, path + ": 's3.access_key_id' and 's3.secret_access_key' go together");
  struct stat st {};
  if (!s.secret_access_key.empty() && ::stat(path.c_str(), &st) == 0 && (st.st_mode & (S_IRWXG | S_IRWXO)) != 0)
    throw Error(Code::kInvalidArgument, path + " holds an S3 secret but others may read it: chmod 600 " + path);
  return s;
}

// The "topics" object: how missing topics are made (memrun/topics.hpp).
TopicOptions topic_options(const std::string& path, const nlohmann::json& j) {
  if (!j.is_object()) throw Error(Code::kInvalidArgument, path + ": 'topics' must be an object");
  TopicOptions t;
  for (const auto& [k, v] : j.items()) {
    if (k == "replication_factor") {
      if (!v.is_number_integer() || (v.get<int64_t>() < 1 && v.get<int64_t>() != -1) || v.get<int64_t>() > 32767)
        throw Error(Code::kInvalidArgument,
                    path + ": 'topics.replication_factor' must be -1 (the broker's default) or 1 to 32767");
      t.replication_factor = v.get<int>();
    } else if (k == "timeout_ms") {
      if (!v.is_number_integer() || v.get<int64_t>() < 1 || v.get<int64_t>() > 600000)
        throw Error(Code::kInvalidArgument, path + ": 'topics.timeout_ms' must be 1 to 600000");
      t.timeout = std::chrono::milliseconds(v.get<int64_t>());
    } else if (k == "configs") {
      if (!v.is_object()) throw Error(Code::kInvalidArgument, path + ": 'topics.configs' must be an object");
      for (const auto& [ck, cv] : v.items()) t.configs[ck] = cv.is_string() ? cv.get<std::string>() : cv.dump();
    } else {
      throw Error(Code::kInvalidArgument, path + ": unknown key 'topics." + k + "'");
    }
  }
  return t;
}

}  // namespace

HostConfig load_config(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw Error(Code::kInvalidArgument, "cannot read config file " + path);
  std::stringstream text;
  text << in.rdbuf();
  auto j = nlohmann::json::parse(text.str(), nullptr, false);
  if (j.is_discarded() || !j.is_object())
    throw Error(Code::kInvalidArgument, "config file " + path + " is not a JSON object");
  HostConfig c;
  const auto str = [&](const nlohmann::json& v, const std::string& key) {
    if (!v.is_string()) throw Error(Code::kInvalidArgument, path + ": '" + key + "' must be a string");
    return v.get<std::string>();
  };
  for (const auto& [key, value] : j.items()) {
    if (key == "service") {
      if (!value.is_object()) throw Error(Code::kInvalidArgument, path + ": 'service' must be an object");
      c.service = value;
    } else if (key == "kafka") {
      if (!value.is_object()) throw Error(Code::kInvalidArgument, path + ": 'kafka' must be an object");
      for (const auto& [k, v] : value.items()) {
        if (k == "bootstrap_servers") {
          c.kafka.bootstrap_servers = str(v, "kafka.bootstrap_servers");
        } else if (k == "properties") {
          if (!v.is_object()) throw Error(Code::kInvalidArgument, path + ": 'kafka.properties' must be an object");
          for (const auto& [pk, pv] : v.items())
            c.kafka.properties[pk] = pv.is_string() ? pv.get<std::string>() : pv.dump();
        } else {
          throw Error(Code::kInvalidArgument, path + ": unknown key 'kafka." + k + "'");
        }
      }
    } else if (key == "topics") {
      c.topics = topic_options(path, value);
    } else if (key == "worker_id") {
      c.worker_id = str(value, key);
    } else if (key == "instance_id") {
      c.instance_id = str(value, key);
    } else if (key == "cache_root") {
      c.cache_root = str(value, key);
    } else if (key == "result_url") {
      c.result_url = str(value, key);
    } else if (key == "metrics_address") {
      c.metrics_address = str(value, key);
    } else if (key == "s3") {
      c.s3 = s3_settings(path, value);
    } else if (key == "file_roots") {
      if (!value.is_array()) throw Error(Code::kInvalidArgument, path + ": 'file_roots' must be a list of paths");
      for (const auto& root : value) {
        const std::string r = str(root, "file_roots[]");
        if (r.empty() || r.front() != '/')
          throw Error(Code::kInvalidArgument, path + ": 'file_roots' entry '" + r + "' is not an absolute path");
        c.file_roots.push_back(r);
      }
    } else if (key == "max_unacked_records") {
      const auto n = internal::json_integer<uint64_t>(value);
      if (!n || *n < 1)
        throw Error(Code::kInvalidArgument, path + ": 'max_unacked_records' must be a whole number of at least 1");
      c.max_unacked_records = *n;
    } else if (key == "range_chunk_bytes") {
      // A power of two, so chunks align with pages and with the disk tier's
      // checksummed chunks; the bounds keep a chunk worth one GET and within
      // what one Blob in RAM may take.
      uint64_t n = 0;
      try {
        n = parse_bytes(value.is_string() ? value.get<std::string>() : value.dump());
      } catch (const Error&) {
      }
      if (n < (64u << 10) || n > (1u << 30) || (n & (n - 1)) != 0)
        throw Error(Code::kInvalidArgument, path + ": 'range_chunk_bytes' must be a power of two from 64Ki to 1Gi (e.g. \"8Mi\"), not " + value.dump());
      c.range_chunk_bytes = n;
    } else if (key == "package_max_unpacked") {
      c.package_max_unpacked = parse_bytes(value.is_string() ? value.get<std::string>() : value.dump());
    } else {
      throw Error(Code::kInvalidArgument, path + ": unknown key '" + key + "'");
    }
  }
  return c;
}

std::string default_cache_root() {
  auto env = [](const char* name) -> std::string {
    const char* v = std::getenv(name);
    return v ? v : "";
  };
  if (auto root = env("MEMRUN_CACHE_ROOT"); !root.empty()) return root;
  if (auto xdg = env("XDG_CACHE_HOME"); !xdg.empty()) return xdg + "/memrun";
  if (auto home = env("HOME"); !home.empty()) return home + "/.cache/memrun";
  return "/tmp/memrun-cache";
}

}  // namespace memrun::app
