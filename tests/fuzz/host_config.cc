// memrun-host's --config file (app/config.cc), and its "service" object as
// the host applies it over a plugin's fields (core/service.cc).
#include "app/config.hpp"
#include "contract.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <memrun/service.hpp>

#include <cstdlib>
#include <filesystem>

using namespace memrun;
namespace fs = std::filesystem;

namespace {

// One scratch file per fuzzing process, mode 0600 as a config with a secret
// must be; removed at exit (never freed: the exit handler runs after static
// destructors).
const std::string& scratch() {
  static const std::string* path = [] {
    auto* p = new std::string(fs::temp_directory_path().string() + "/memrun-fuzz-config.XXXXXX");
    const int fd = ::mkstemp(p->data());
    FUZZ_CHECK(fd >= 0);
    ::close(fd);
    std::atexit([] { ::unlink(scratch().c_str()); });
    return p;
  }();
  return *path;
}

void write(const std::string& path, std::string_view bytes) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_TRUNC);
  FUZZ_CHECK(fd >= 0);
  FUZZ_CHECK(::write(fd, bytes.data(), bytes.size()) == static_cast<ssize_t>(bytes.size()));
  ::close(fd);
}

void check_service(const nlohmann::json& fields) {
  MemoryService s;
  s.name = "fuzz";
  if (!fuzz::accepts([&] { apply_service_fields(s, fields); s.validate_fields(); }, {Code::kInvalidArgument}))
    return;
  // Each field is kept as written: 1.5 or 2^32+1 turned into 1 is a value
  // nobody wrote (JSON compares numbers by value).
  const auto kept = service_fields(s);
  for (const auto& [name, value] : fields.items()) FUZZ_CHECK(kept.at(name) == value);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string& path = scratch();
  write(path, fuzz::text_of(data, size));
  app::HostConfig c;
  if (!fuzz::accepts([&] { c = app::load_config(path); }, {Code::kInvalidArgument})) return 0;
  // Accepted: an object of known keys, strings kept as written.
  const auto j = nlohmann::json::parse(fuzz::text_of(data, size));
  FUZZ_CHECK(j.is_object());
  for (const auto& [key, value] : j.items()) {
    if (key == "worker_id") FUZZ_CHECK(value == c.worker_id);
    else if (key == "cache_root") FUZZ_CHECK(value == c.cache_root);
    else if (key == "result_url") FUZZ_CHECK(value == c.result_url);
    else if (key == "metrics_address") FUZZ_CHECK(value == c.metrics_address);
    else if (key == "range_chunk_bytes")  // a power of two from 64 KiB to 1 GiB
      FUZZ_CHECK(c.range_chunk_bytes >= (64u << 10) && c.range_chunk_bytes <= (1u << 30) &&
                 (c.range_chunk_bytes & (c.range_chunk_bytes - 1)) == 0);
    else if (key == "instance_id") FUZZ_CHECK(value == c.instance_id);
    else if (key == "file_roots") {  // absolute paths, all of them, in order
      FUZZ_CHECK(value.size() == c.file_roots.size());
      for (size_t i = 0; i < c.file_roots.size(); ++i)
        FUZZ_CHECK(value[i] == c.file_roots[i] && c.file_roots[i].front() == '/');
    } else if (key == "max_unacked_records") FUZZ_CHECK(c.max_unacked_records >= 1 && value == c.max_unacked_records);
    else FUZZ_CHECK(key == "service" || key == "kafka" || key == "s3" || key == "topics" ||
                    key == "package_max_unpacked");
  }
  FUZZ_CHECK(c.s3.access_key_id.empty() == c.s3.secret_access_key.empty());
  FUZZ_CHECK(c.service.is_object());
  check_service(c.service);
  return 0;
}
