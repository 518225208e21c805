// SHA-256 (OpenSSL) in lowercase hex, and the "#sha256=HEX" fragment by which
// a caller of get_or_fetch names the digest the bytes must have.
#pragma once

#include <string>
#include <string_view>
#include <utility>

namespace memrun::internal {

std::string to_hex(const unsigned char* data, size_t size);
std::string sha256_hex(std::string_view data);

// "s3://b/k#sha256=ab12..." → {"s3://b/k", "ab12..."}; no fragment → {url, ""}.
// Throws Error(kInvalidArgument) for another fragment or a malformed digest.
std::pair<std::string, std::string> split_digest(const std::string& url);

}  // namespace memrun::internal
