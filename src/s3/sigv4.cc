#include "s3/sigv4.hpp"

#include "core/digest.hpp"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <cctype>
#include <ctime>
#include <map>
#include <stdexcept>

namespace memrun::internal::s3 {

namespace {

constexpr std::string_view kAlgorithm = "AWS4-HMAC-SHA256";
constexpr std::string_view kEmptySha256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

std::string hmac_sha256(std::string_view key, std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  if (HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(data.data()),
           data.size(), out, &size) == nullptr)
    throw std::runtime_error("HMAC-SHA256 failed");
  return std::string(reinterpret_cast<const char*>(out), size);
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

// Header values are signed trimmed, with runs of spaces collapsed to one.
std::string trimmed(std::string_view v) {
  std::string out;
  bool space = false;
  for (char c : v) {
    if (c == ' ' || c == '\t') {
      space = !out.empty();
      continue;
    }
    if (space) out += ' ';
    space = false;
    out += c;
  }
  return out;
}

}  // namespace

std::string uri_encode(std::string_view text, bool keep_slash) {
  static constexpr char kDigits[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size());
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' || (keep_slash && c == '/')) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kDigits[c >> 4];
      out += kDigits[c & 0xf];
    }
  }
  return out;
}

std::string canonical_query(const std::vector<std::pair<std::string, std::string>>& query) {
  std::vector<std::pair<std::string, std::string>> encoded;
  for (const auto& [k, v] : query) encoded.emplace_back(uri_encode(k, false), uri_encode(v, false));
  std::sort(encoded.begin(), encoded.end());
  std::string out;
  for (const auto& [k, v] : encoded) {
    if (!out.empty()) out += '&';
    out += k + "=" + v;
  }
  return out;
}

std::string amz_date(std::chrono::system_clock::time_point time) {
  std::time_t t = std::chrono::system_clock::to_time_t(time);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[17];
  std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &tm);
  return buf;
}

Signed sign(const Request& rq, const Credentials& creds, std::chrono::system_clock::time_point time) {
  const std::string date_time = amz_date(time);
  const std::string date = date_time.substr(0, 8);
  const std::string payload_hash = rq.payload_sha256.empty() ? std::string(kEmptySha256) : rq.payload_sha256;

  Signed out;
  out.headers = rq.headers;
  out.headers.emplace_back("host", rq.host);
  out.headers.emplace_back("x-amz-content-sha256", payload_hash);
  out.headers.emplace_back("x-amz-date", date_time);
  if (!creds.session_token.empty()) out.headers.emplace_back("x-amz-security-token", creds.session_token);

  std::map<std::string, std::string> canonical;  // sorted by lowercase name
  for (const auto& [name, value] : out.headers) {
    auto& slot = canonical[lower(name)];
    slot = slot.empty() ? trimmed(value) : slot + "," + trimmed(value);
  }
  std::string header_block, signed_headers;
  for (const auto& [name, value] : canonical) {
    header_block += name + ":" + value + "\n";
    signed_headers += (signed_headers.empty() ? "" : ";") + name;
  }

  out.canonical_request = rq.method + "\n" + uri_encode(rq.path.empty() ? "/" : rq.path, true) + "\n" +
                          canonical_query(rq.query) + "\n" + header_block + "\n" + signed_headers + "\n" +
                          payload_hash;
  const std::string scope = date + "/" + rq.region + "/" + rq.service + "/aws4_request";
  out.string_to_sign =
      std::string(kAlgorithm) + "\n" + date_time + "\n" + scope + "\n" + sha256_hex(out.canonical_request);

  std::string key = hmac_sha256("AWS4" + creds.secret_access_key, date);
  key = hmac_sha256(key, rq.region);
  key = hmac_sha256(key, rq.service);
  key = hmac_sha256(key, "aws4_request");
  const std::string mac = hmac_sha256(key, out.string_to_sign);
  out.signature = to_hex(reinterpret_cast<const unsigned char*>(mac.data()), mac.size());

  out.headers.emplace_back("authorization", std::string(kAlgorithm) + " Credential=" + creds.access_key_id + "/" +
                                                scope + ", SignedHeaders=" + signed_headers +
                                                ", Signature=" + out.signature);
  return out;
}

}  // namespace memrun::internal::s3
