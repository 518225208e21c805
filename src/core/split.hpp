// Text split at a separator, every part kept (empty ones too): "a..b" at '.'
// is {"a", "", "b"}. Sticky-key specs ("user.id:ds") are read with it by
// StickyKey and the payload scan. Any thread.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace memrun::internal {

inline std::vector<std::string> split(std::string_view text, char sep) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (true) {
    const size_t end = text.find(sep, start);
    parts.emplace_back(text.substr(start, end == std::string_view::npos ? end : end - start));
    if (end == std::string_view::npos) break;
    start = end + 1;
  }
  return parts;
}

}  // namespace memrun::internal
