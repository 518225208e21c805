#include <memrun/routing.hpp>
#include <memrun/status.hpp>

#include "core/split.hpp"

#include <nlohmann/json.hpp>

#include <cstring>

namespace memrun {
namespace {

std::string key_text(const nlohmann::json& value, const std::string& field) {
  switch (value.type()) {
    case nlohmann::json::value_t::string:
      return value.get<std::string>();
    case nlohmann::json::value_t::number_integer:
    case nlohmann::json::value_t::number_unsigned:
    case nlohmann::json::value_t::number_float:
    case nlohmann::json::value_t::boolean:
      // dump() gives decimal integers, shortest round-trip floats, true/false:
      // the same text any JSON producer would write for that value.
      return value.dump();
    default:
      throw Error(Code::kInvalidArgument,
                  "sticky-key field '" + field + "' must be a string, number or bool, not " +
                      value.type_name());
  }
}

}  // namespace

StickyKey::StickyKey(std::string_view spec) : spec_(spec) {
  if (spec.empty()) return;
  fields_ = internal::split(spec, ':');
  for (const auto& f : fields_) {
    if (f.empty() || f.front() == '.' || f.back() == '.' || f.find("..") != std::string::npos)
      throw Error(Code::kInvalidArgument, "invalid sticky_key '" + spec_ +
                                              "': fields are names or dotted paths joined by ':'");
  }
}

std::string StickyKey::extract(const nlohmann::json& payload) const {
  if (fields_.empty()) return {};
  if (!payload.is_object())
    throw Error(Code::kInvalidArgument, std::string("payload must be a JSON object, not ") +
                                            payload.type_name() + " (sticky_key '" + spec_ + "')");
  std::string key;
  for (size_t i = 0; i < fields_.size(); ++i) {
    const nlohmann::json* node = &payload;
    for (const auto& part : internal::split(fields_[i], '.')) {
      if (!node->is_object()) { node = nullptr; break; }
      auto it = node->find(part);
      if (it == node->end()) { node = nullptr; break; }
      node = &*it;
    }
    if (node == nullptr)
      throw Error(Code::kInvalidArgument, "payload lacks sticky-key field '" + fields_[i] +
                                              "' (sticky_key '" + spec_ + "')");
    if (i) key += ':';
    key += key_text(*node, fields_[i]);
  }
  return key;
}

int32_t murmur2(std::string_view data) noexcept {
  // Kafka's variant of MurmurHash2: fixed seed, little-endian 4-byte blocks.
  constexpr uint32_t kSeed = 0x9747b28c;
  constexpr uint32_t m = 0x5bd1e995;
  constexpr int r = 24;
  const auto* bytes = reinterpret_cast<const unsigned char*>(data.data());
  const size_t length = data.size();
  uint32_t h = kSeed ^ static_cast<uint32_t>(length);
  const size_t blocks = length / 4;
  for (size_t i = 0; i < blocks; ++i) {
    const unsigned char* p = bytes + 4 * i;
    uint32_t k = uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 | uint32_t(p[3]) << 24;
    k *= m;
    k ^= k >> r;
    k *= m;
    h *= m;
    h ^= k;
  }
  const unsigned char* tail = bytes + 4 * blocks;
  switch (length % 4) {
    case 3: h ^= uint32_t(tail[2]) << 16; [[fallthrough]];
    case 2: h ^= uint32_t(tail[1]) << 8; [[fallthrough]];
    case 1: h ^= uint32_t(tail[0]); h *= m;
  }
  h ^= h >> 13;
  h *= m;
  h ^= h >> 15;
  int32_t out;
  std::memcpy(&out, &h, sizeof out);
  return out;
}

int32_t kafka_partition(std::string_view key, int32_t partitions) noexcept {
  return static_cast<int32_t>((static_cast<uint32_t>(murmur2(key)) & 0x7fffffffu) %
                              static_cast<uint32_t>(partitions));
}

}  // namespace memrun
