// SHA-256 (OpenSSL) in lowercase hex, and the "#sha256=HEX" fragment by which
// a caller of get_or_fetch names the digest the bytes must have.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <utility>

namespace memrun::internal {

std::string to_hex(const unsigned char* data, size_t size);
std::string sha256_hex(std::string_view data);

// SHA-256 of bytes that arrive in pieces (e.g. streamed out of an archive).
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void update(const void* data, size_t size);
  // Lowercase hex of everything passed to update(); call once.
  std::string hex();

 private:
  struct State;
  std::unique_ptr<State> state_;
};

// "s3://b/k#sha256=ab12..." → {"s3://b/k", "ab12..."}; no fragment → {url, ""}.
// Throws Error(kInvalidArgument) for another fragment or a malformed digest.
std::pair<std::string, std::string> split_digest(const std::string& url);

}  // namespace memrun::internal
