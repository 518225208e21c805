// What every fuzz target holds a parser to, beyond not crashing: a refusal
// is a memrun::Error of the expected code (any other exception escapes the
// target, and libFuzzer reports the uncaught exception as a crash), and a
// broken promise about an accepted value aborts with the promise's text.
#pragma once

#include <memrun/status.hpp>

#include <nlohmann/json.hpp>

#include <cstdio>
#include <cstdlib>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

#define FUZZ_CHECK(cond)                                                                        \
  do {                                                                                          \
    if (!(cond)) {                                                                              \
      std::fprintf(stderr, "fuzz contract broken at %s:%d: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                             \
    }                                                                                           \
  } while (0)

namespace memrun::fuzz {

// Runs `parse`; true when it accepted, false when it refused with an Error
// of one of `codes`. An Error of another code aborts.
template <class F>
bool accepts(F&& parse, std::initializer_list<Code> codes) {
  try {
    parse();
    return true;
  } catch (const Error& e) {
    for (Code c : codes)
      if (e.code() == c) return false;
    std::fprintf(stderr, "fuzz contract broken: refused with code %s: %s\n", std::string(code_name(e.code())).c_str(),
                 e.what());
    std::abort();
  }
}

// True when `j` is the JSON integer `n`: not 2.0 for 2, and not -1 for
// 2^64-1, which nlohmann's operator== takes as equal.
template <class T>
bool is_integer(const nlohmann::json& j, T n) {
  if (j.is_number_unsigned()) return std::cmp_equal(j.get<uint64_t>(), n);
  if (j.is_number_integer()) return std::cmp_equal(j.get<int64_t>(), n);
  return false;
}

inline std::string_view text_of(const uint8_t* data, size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

// Splits off the text before the first '\n' (all of it when there is none).
inline std::string_view take_line(std::string_view& rest) {
  const auto nl = rest.find('\n');
  std::string_view line = rest.substr(0, nl);
  rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
  return line;
}

}  // namespace memrun::fuzz
