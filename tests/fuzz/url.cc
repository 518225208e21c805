// URLs from requests, configs and manifests: the "#sha256=" pin
// (core/digest.cc), s3://bucket/key (s3/client.cc), and the percent-encoding
// a key gets on its way into a signed request (s3/sigv4.cc).
#include "contract.hpp"
#include "core/digest.hpp"
#include "s3/client.hpp"
#include "s3/sigv4.hpp"

#include <algorithm>
#include <cctype>
#include <optional>

using namespace memrun;
using namespace memrun::internal;

namespace {

bool is_hex_digit(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }

// RFC 3986 decoding of what uri_encode makes; nullopt for anything else.
std::optional<std::string> uri_decode(std::string_view text, bool keep_slash) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '%') {
      if (i + 2 >= text.size()) return std::nullopt;
      const std::string hex(text.substr(i + 1, 2));
      if (!std::all_of(hex.begin(), hex.end(), [](char h) { return (h >= '0' && h <= '9') || (h >= 'A' && h <= 'F'); }))
        return std::nullopt;
      out += static_cast<char>(std::stoi(hex, nullptr, 16));
      i += 2;
    } else if (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.' || c == '~' ||
               (keep_slash && c == '/')) {
      out += c;
    } else {
      return std::nullopt;
    }
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string url(fuzz::text_of(data, size));

  std::pair<std::string, std::string> pinned;
  if (fuzz::accepts([&] { pinned = split_digest(url); }, {Code::kInvalidArgument})) {
    const auto& [base, digest] = pinned;
    FUZZ_CHECK(base.find('#') == std::string::npos);
    if (digest.empty()) {
      FUZZ_CHECK(base == url);
    } else {
      FUZZ_CHECK(digest.size() == 64 && std::all_of(digest.begin(), digest.end(), is_hex_digit));
      FUZZ_CHECK(url.size() == base.size() + 8 + 64 && url.rfind(base + "#sha256=", 0) == 0);
    }
  }

  s3::Location at;
  if (fuzz::accepts([&] { at = s3::parse_url(url); }, {Code::kInvalidArgument})) {
    FUZZ_CHECK(!at.bucket.empty() && !at.key.empty() && at.bucket.find('/') == std::string::npos);
    FUZZ_CHECK("s3://" + at.bucket + "/" + at.key == url);
  }

  // Whatever bytes a key holds, its encoding is plain ASCII that decodes back.
  for (bool keep_slash : {false, true}) {
    const std::string encoded = s3::uri_encode(url, keep_slash);
    FUZZ_CHECK(uri_decode(encoded, keep_slash) == url);
  }
  return 0;
}
