// AWS Signature Version 4 for S3 requests (header-based authentication),
// written from AWS's specification ("Signature Version 4 signing process",
// "Authenticating Requests: Using the Authorization Header") and checked
// against AWS's published S3 example signatures and against botocore.
//
// S3 rules that differ from other services: the path is URI-encoded once (not
// twice), and x-amz-content-sha256 is always sent and signed.
#pragma once

#include "core/digest.hpp"

#include <chrono>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace memrun::internal::s3 {

using Headers = std::vector<std::pair<std::string, std::string>>;
using Query = std::vector<std::pair<std::string, std::string>>;

struct Credentials {
  std::string access_key_id;
  std::string secret_access_key;
  std::string session_token;  // empty unless temporary credentials
};

struct Request {
  std::string method = "GET";
  std::string host;  // as sent in Host:, with ":port" when not the scheme's default
  std::string path = "/";  // decoded: "/bucket/my key.bin" (encoded here)
  std::vector<std::pair<std::string, std::string>> query;  // decoded; value "" for "?lifecycle"
  Headers headers;  // further headers to send and sign (range, content-type, ...)
  std::string payload_sha256;  // hex of the body; empty means the empty body
  std::string region = "us-east-1";
  std::string service = "s3";
};

struct Signed {
  Headers headers;  // everything to send: the request's, host, x-amz-*, authorization
  std::string canonical_request;
  std::string string_to_sign;
  std::string signature;
};

// `time` is the request time (x-amz-date); callers pass now().
Signed sign(const Request& request, const Credentials& credentials, std::chrono::system_clock::time_point time);

// RFC 3986 percent-encoding of everything but unreserved characters; '/'
// stays when `keep_slash`.
std::string uri_encode(std::string_view text, bool keep_slash);
// "?a=1&b" in the canonical (sorted, encoded) form, without the '?'.
std::string canonical_query(const std::vector<std::pair<std::string, std::string>>& query);
using internal::sha256_hex;  // core/digest.hpp
// "20130524T000000Z"
std::string amz_date(std::chrono::system_clock::time_point time);

}  // namespace memrun::internal::s3
