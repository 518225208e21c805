// A whole decimal number read from text that came from outside (a header, a
// property): all of `text`, or nothing. Any thread.
#pragma once

#include <charconv>
#include <cstdint>
#include <optional>
#include <string_view>

namespace memrun::internal {

inline std::optional<int64_t> parse_int(std::string_view text) {
  int64_t out = 0;
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  if (ec != std::errc() || ptr != text.data() + text.size()) return std::nullopt;
  return out;
}

}  // namespace memrun::internal
