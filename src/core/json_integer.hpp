// Whole numbers out of JSON that came from outside (manifests, config files,
// cache meta files). nlohmann's get<int>() converts whatever number it finds:
// 1.5 becomes 1, 4294967297 becomes 1, and 1e300 is undefined behaviour. A
// count or a size read here is exactly the integer written, or refused.
// Any thread.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <utility>

namespace memrun::internal {

// `v` as a T when it is a JSON integer T can hold; nullopt for anything else
// (a fraction or exponent form, a string, out of T's range).
template <class T>
std::optional<T> json_integer(const nlohmann::json& v) {
  if (v.is_number_unsigned()) {
    const auto n = v.get<uint64_t>();
    if (std::in_range<T>(n)) return static_cast<T>(n);
  } else if (v.is_number_integer()) {
    const auto n = v.get<int64_t>();
    if (std::in_range<T>(n)) return static_cast<T>(n);
  }
  return std::nullopt;
}

// Why json_integer<T> refused `v`: "an integer from -2147483648 to 2147483647, not 1.5".
template <class T>
std::string json_integer_refusal(const nlohmann::json& v) {
  return "an integer from " + std::to_string(std::numeric_limits<T>::min()) + " to " +
         std::to_string(std::numeric_limits<T>::max()) + ", not " +
         (v.is_number() ? v.dump() : std::string("a ") + v.type_name());
}

}  // namespace memrun::internal
