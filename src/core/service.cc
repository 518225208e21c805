#include <memrun/protocol.hpp>
#include <memrun/routing.hpp>
#include <memrun/service.hpp>

#include "core/json_integer.hpp"

#include <nlohmann/json.hpp>

#include <cmath>
#include <string>
#include <type_traits>

namespace memrun {

Reply::Reply(const nlohmann::json& value) : body_(value.dump()) {}

Reply Reply::raw(std::string bytes) {
  Reply r;
  r.body_ = std::move(bytes);
  return r;
}

uint64_t parse_bytes(std::string_view text) {
  auto fail = [&] {
    return Error(Code::kInvalidArgument,
                 "invalid size '" + std::string(text) + "': expected e.g. 512Mi, 32Gi, 1.5G or 4096");
  };
  size_t i = 0;
  while (i < text.size() && ((text[i] >= '0' && text[i] <= '9') || text[i] == '.')) ++i;
  if (i == 0) throw fail();
  double number;
  try {
    size_t used = 0;
    number = std::stod(std::string(text.substr(0, i)), &used);
    if (used != i) throw fail();
  } catch (const std::logic_error&) {
    throw fail();
  }
  std::string_view unit = text.substr(i);
  if (!unit.empty() && unit.back() == 'B') unit.remove_suffix(1);  // "GiB", "MB"
  double mult;
  if (unit.empty()) mult = 1;
  else if (unit == "Ki") mult = 1024.0;
  else if (unit == "Mi") mult = 1024.0 * 1024;
  else if (unit == "Gi") mult = 1024.0 * 1024 * 1024;
  else if (unit == "Ti") mult = 1024.0 * 1024 * 1024 * 1024;
  else if (unit == "k" || unit == "K") mult = 1e3;
  else if (unit == "M") mult = 1e6;
  else if (unit == "G") mult = 1e9;
  else if (unit == "T") mult = 1e12;
  else throw fail();
  double bytes = number * mult;
  if (!std::isfinite(bytes) || bytes >= 1.8e19) throw fail();
  return static_cast<uint64_t>(bytes);
}

uint64_t MemoryService::memory_bytes() const { return parse_bytes(memory); }
uint64_t MemoryService::disk_bytes() const { return parse_bytes(disk); }

void MemoryService::validate() const {
  validate_fields();
  if (!handle)
    throw Error(Code::kInvalidArgument, "service '" + name + "': invalid handle: a request handler is required");
}

void MemoryService::validate_fields() const {
  auto bad = [&](const std::string& field, const std::string& why) {
    return Error(Code::kInvalidArgument,
                 "service '" + name + "': invalid " + field + ": " + why);
  };
  if (!protocol::valid_service_name(name))
    throw bad("name", "'" + name + "' must be 1-200 characters of [a-zA-Z0-9._-], starting with a letter or digit");
  try {
    memory_bytes();
    disk_bytes();
  } catch (const Error& e) {
    throw bad("memory/disk", e.what());
  }
  if (concurrency < 1 || concurrency > 4096) throw bad("concurrency", "must be 1..4096");
  if (!(timeout_seconds > 0) || timeout_seconds > 86400)
    throw bad("timeout_seconds", "must be > 0 and at most a day");
  if (partitions < 1 || partitions > 10000) throw bad("partitions", "must be 1..10000");
  if (max_payload_bytes < 2) throw bad("max_payload_bytes", "must be at least 2");
  if (max_attempts < 1 || max_attempts > 100) throw bad("max_attempts", "must be 1..100");
  if (retry_backoff_ms < 0 || retry_backoff_ms > 600000) throw bad("retry_backoff_ms", "must be 0..600000");
  if (dedup_window < 0) throw bad("dedup_window", "must be >= 0");
  if (max_crashes < 0 || max_crashes > 100) throw bad("max_crashes", "must be 0..100");
  try {
    StickyKey key(sticky_key);
  } catch (const Error& e) {
    throw bad("sticky_key", e.what());
  }
}

void apply_service_fields(MemoryService& s, const nlohmann::json& fields) {
  if (fields.is_null()) return;
  if (!fields.is_object())
    throw Error(Code::kInvalidArgument, "service fields must be a JSON object");
  for (const auto& field : fields.items()) {
    // Named references, not a structured binding: clang 14 (the fuzz
    // build's) cannot capture one in a lambda.
    const std::string& name = field.key();
    const nlohmann::json& value = field.value();
    // Counts are kept exactly as written: get<int>() would turn 1.5 into 1
    // and 4294967297 into 1, and 1e300 is undefined behaviour.
    const auto integer = [&](auto& out) {
      using T = std::remove_reference_t<decltype(out)>;
      const auto n = internal::json_integer<T>(value);
      if (!n)
        throw Error(Code::kInvalidArgument,
                    "service field '" + name + "' must be " + internal::json_integer_refusal<T>(value));
      out = *n;
    };
    try {
      if (name == "name") s.name = value.get<std::string>();
      else if (name == "memory") s.memory = value.get<std::string>();
      else if (name == "disk") s.disk = value.get<std::string>();
      else if (name == "concurrency") integer(s.concurrency);
      else if (name == "timeout_seconds") s.timeout_seconds = value.get<double>();
      else if (name == "sticky_key") s.sticky_key = value.get<std::string>();
      else if (name == "partitions") integer(s.partitions);
      else if (name == "max_payload_bytes") integer(s.max_payload_bytes);
      else if (name == "max_attempts") integer(s.max_attempts);
      else if (name == "retry_backoff_ms") integer(s.retry_backoff_ms);
      else if (name == "dedup_window") integer(s.dedup_window);
      else if (name == "dedup_window_bytes") integer(s.dedup_window_bytes);
      else if (name == "max_crashes") integer(s.max_crashes);
      else if (name == "strict_routing") s.strict_routing = value.get<bool>();
      else
        throw Error(Code::kInvalidArgument, "unknown service field '" + name + "'");
    } catch (const nlohmann::json::exception& e) {
      throw Error(Code::kInvalidArgument,
                  "service field '" + name + "' has the wrong type: " + e.what());
    }
  }
}

nlohmann::json service_fields(const MemoryService& s) {
  return {{"name", s.name},
          {"memory", s.memory},
          {"disk", s.disk},
          {"concurrency", s.concurrency},
          {"timeout_seconds", s.timeout_seconds},
          {"sticky_key", s.sticky_key},
          {"partitions", s.partitions},
          {"max_payload_bytes", s.max_payload_bytes},
          {"max_attempts", s.max_attempts},
          {"retry_backoff_ms", s.retry_backoff_ms},
          {"dedup_window", s.dedup_window},
          {"dedup_window_bytes", s.dedup_window_bytes},
          {"max_crashes", s.max_crashes},
          {"strict_routing", s.strict_routing}};
}

}  // namespace memrun
