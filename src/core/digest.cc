#include "core/digest.hpp"

#include <memrun/status.hpp>

#include <openssl/evp.h>
#include <openssl/sha.h>

#include <algorithm>
#include <cctype>

namespace memrun::internal {

std::string to_hex(const unsigned char* data, size_t size) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out(size * 2, '0');
  for (size_t i = 0; i < size; ++i) {
    out[2 * i] = kDigits[data[i] >> 4];
    out[2 * i + 1] = kDigits[data[i] & 0xf];
  }
  return out;
}

std::string sha256_hex(std::string_view data) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), digest);
  return to_hex(digest, sizeof digest);
}

struct Sha256::State {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  ~State() { EVP_MD_CTX_free(ctx); }
};

Sha256::Sha256() : state_(std::make_unique<State>()) {
  if (state_->ctx == nullptr || EVP_DigestInit_ex(state_->ctx, EVP_sha256(), nullptr) != 1)
    throw Error(Code::kInternal, "OpenSSL cannot start a SHA-256 digest");
}
Sha256::~Sha256() = default;

void Sha256::update(const void* data, size_t size) {
  if (EVP_DigestUpdate(state_->ctx, data, size) != 1) throw Error(Code::kInternal, "OpenSSL SHA-256 update failed");
}

std::string Sha256::hex() {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  if (EVP_DigestFinal_ex(state_->ctx, digest, &n) != 1) throw Error(Code::kInternal, "OpenSSL SHA-256 final failed");
  return to_hex(digest, n);
}

std::pair<std::string, std::string> split_digest(const std::string& url) {
  const auto hash = url.find('#');
  if (hash == std::string::npos) return {url, ""};
  constexpr std::string_view kTag = "sha256=";
  std::string digest = url.substr(hash + 1);
  if (digest.rfind(kTag, 0) != 0)
    throw Error(Code::kInvalidArgument, "URL fragment of '" + url + "' must be #sha256=<64 hex digits>");
  digest = digest.substr(kTag.size());
  std::transform(digest.begin(), digest.end(), digest.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (digest.size() != 64 || !std::all_of(digest.begin(), digest.end(), [](unsigned char c) { return std::isxdigit(c); }))
    throw Error(Code::kInvalidArgument, "digest in '" + url + "' is not 64 hex digits of SHA-256");
  return {url.substr(0, hash), digest};
}

}  // namespace memrun::internal
