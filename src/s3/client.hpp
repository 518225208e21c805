// S3 (and S3-compatible servers): GET and PUT of whole objects, signed with
// SigV4. Credentials come from the environment the AWS tools use and are never
// logged; a custom endpoint (AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL, e.g. a
// local s3rver or MinIO) switches to path-style addressing.
#pragma once

#include "remote/http.hpp"
#include "remote/target.hpp"
#include "s3/sigv4.hpp"

#include <memrun/context.hpp>

#include <cstddef>
#include <functional>
#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>

namespace memrun::internal::s3 {

struct Location {
  std::string bucket;
  std::string key;
  // "s3://bucket/key", redacted: how errors and logs name the object.
  std::string name() const;
};

// "s3://bucket/some/key" → {bucket, "some/key"}. Throws Error(kInvalidArgument),
// also for a key whose ".." segments climb out of its bucket ("a/../../b/x").
// "." and ".." inside the bucket stay as they are: the key is sent as signed.
Location parse_url(const std::string& url);

struct Config {
  std::string endpoint;  // "scheme://host[:port]"; empty: https://s3.{region}.amazonaws.com
  std::string region = "us-east-1";
  bool path_style = false;  // /bucket/key instead of bucket.host/key
  Credentials credentials;  // empty access key: unsigned requests (public objects)

  // Objects larger than one part are fetched as parallel ranged GETs, each
  // written into the download target at its offset.
  size_t part_size = 8u << 20;
  int parallelism = 8;
  // Uploads above this size go as a multipart upload of part_size parts
  // (S3's minimum part is 5 MiB).
  size_t multipart_threshold = 64u << 20;
  // Called from transfer threads as parts complete: (bytes done, total).
  std::function<void(size_t, size_t)> progress;

  // `settings`, each empty field from the environment (see S3Settings).
  static Config resolve(const S3Settings& settings);
};

class Client {
 public:
  explicit Client(Config config) : config_(std::move(config)) {}

  // Fetches the object into `target`. Throws Error: kNotFound (no such
  // bucket/key), kUnavailable (transport, 5xx after retries, a short
  // response), kInvalidArgument (refused, e.g. bad credentials), or what the
  // target threw. Retriable failures are retried with backoff, per part.
  void get(const Location& where, DownloadTarget& target) const;
  void put(const Location& where, std::string_view bytes) const;
  // One GET with `headers` (e.g. Range and If-Match), the body to `sink`.
  // Answers 412 and 416 are returned for the caller to judge; other non-2xx
  // statuses throw as send does. Not retried: the caller wraps it.
  http::Response get_with(const Location& where, Headers headers, http::Sink* sink) const;

 private:
  // Throws the status's Error for a non-2xx answer, except for the statuses
  // listed in `accept`.
  http::Response send(const std::string& method, const Location& where, const Query& query,
                      Headers headers, std::string_view body, http::Sink* sink = nullptr,
                      std::initializer_list<long> accept = {}) const;
  void put_multipart(const Location& where, std::string_view bytes) const;
  // Runs part(i) for i in [0, count) on up to `parallelism` threads; the first
  // error stops the rest and is rethrown.
  void parallel_parts(size_t count, const std::function<void(size_t)>& part) const;

  Config config_;
};

}  // namespace memrun::internal::s3
