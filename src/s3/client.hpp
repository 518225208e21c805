// S3 (and S3-compatible servers): GET and PUT of whole objects, signed with
// SigV4. Credentials come from the environment the AWS tools use and are never
// logged; a custom endpoint (AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL, e.g. a
// local s3rver or MinIO) switches to path-style addressing.
#pragma once

#include "remote/http.hpp"
#include "s3/sigv4.hpp"

#include <string>
#include <string_view>

namespace memrun::internal::s3 {

struct Location {
  std::string bucket;
  std::string key;
};

// "s3://bucket/some/key" → {bucket, "some/key"}. Throws Error(kInvalidArgument).
Location parse_url(const std::string& url);

struct Config {
  std::string endpoint;  // "scheme://host[:port]"; empty: https://s3.{region}.amazonaws.com
  std::string region = "us-east-1";
  bool path_style = false;  // /bucket/key instead of bucket.host/key
  Credentials credentials;  // empty access key: unsigned requests (public objects)

  // AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, AWS_REGION
  // (else AWS_DEFAULT_REGION), AWS_ENDPOINT_URL_S3 (else AWS_ENDPOINT_URL).
  static Config from_env();
};

class Client {
 public:
  explicit Client(Config config) : config_(std::move(config)) {}

  // Throws Error: kNotFound (no such bucket/key), kUnavailable (transport,
  // 5xx: retriable), kInvalidArgument (refused, e.g. bad credentials).
  http::Response get(const Location& where) const;
  void put(const Location& where, std::string_view bytes) const;

 private:
  http::Response send(const std::string& method, const Location& where, std::string_view body) const;

  Config config_;
};

}  // namespace memrun::internal::s3
