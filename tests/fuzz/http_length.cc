// Byte counts in HTTP headers (remote/http.cc): Content-Length of a 200 and
// Content-Range of a 206, which size a download's target before its body.
//
// Input: the header value, tried as both. Its first 24 bytes, as three
// numbers, also make a Content-Range that must read back as those numbers.
#include "contract.hpp"
#include "remote/http.hpp"

#include <algorithm>
#include <cstring>

using namespace memrun;
using namespace memrun::internal;

namespace {

// Digits only, leading zeros aside the shortest form of `value`.
bool is_decimal_of(std::string_view text, uint64_t value) {
  if (text.empty() || !std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return false;
  while (text.size() > 1 && text.front() == '0') text.remove_prefix(1);
  return text == std::to_string(value);
}

std::string range_text(const http::ContentRange& r) {
  return "bytes " + std::to_string(r.first) + "-" + std::to_string(r.last) + "/" + std::to_string(r.total);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text = fuzz::text_of(data, size);
  uint64_t length = 0;
  if (fuzz::accepts([&] { length = http::parse_length(text, "fuzz"); }, {Code::kUnavailable}))
    FUZZ_CHECK(is_decimal_of(text, length));

  http::ContentRange range;
  if (fuzz::accepts([&] { range = http::parse_content_range(text, "fuzz"); }, {Code::kUnavailable})) {
    FUZZ_CHECK(range.first <= range.last && range.last < range.total);
    // Nothing but "bytes ", three numbers and their separators.
    const auto dash = text.find('-'), slash = text.find('/');
    FUZZ_CHECK(text.rfind("bytes ", 0) == 0 && dash != std::string_view::npos && slash != std::string_view::npos);
    FUZZ_CHECK(is_decimal_of(text.substr(6, dash - 6), range.first));
    FUZZ_CHECK(is_decimal_of(text.substr(dash + 1, slash - dash - 1), range.last));
    FUZZ_CHECK(is_decimal_of(text.substr(slash + 1), range.total));
  }

  if (size < 3 * sizeof(uint64_t)) return 0;
  uint64_t n[3];
  std::memcpy(n, data, sizeof n);
  std::sort(n, n + 3);
  const http::ContentRange made{n[0], n[1], n[2]};
  http::ContentRange read;
  const bool accepted = fuzz::accepts([&] { read = http::parse_content_range(range_text(made), "fuzz"); },
                                      {Code::kUnavailable});
  FUZZ_CHECK(accepted == (made.last < made.total));
  if (accepted) FUZZ_CHECK(read.first == made.first && read.last == made.last && read.total == made.total);
  return 0;
}
