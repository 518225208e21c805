// A hash for maps keyed by std::string that are looked up by string_view
// too, without making a string: use with std::equal_to<> (both transparent).
// Any thread.
#pragma once

#include <cstddef>
#include <functional>
#include <string_view>

namespace memrun::internal {

struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};

}  // namespace memrun::internal
