// Remote tier: reads the bytes behind a URL, whole. file:// is mapped
// (zero-copy); http(s):// goes through libcurl with TLS verification on;
// s3://bucket/key is a SigV4-signed GET (credentials and endpoint from the
// AWS environment variables, see s3/client.hpp).
#pragma once

#include <memrun/context.hpp>

#include "remote/target.hpp"

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace memrun::internal {

using Progress = std::function<void(uint64_t, uint64_t)>;

// Fetches the bytes behind `url` into `target`.
// Throws Error: kInvalidArgument (malformed/unsupported URL), kNotFound,
// kUnavailable (transport error, 5xx; retriable), or what the target threw.
// `progress` (optional) hears of large transfers: (bytes done, total).
void fetch_remote(const std::string& url, DownloadTarget& target, const Progress& progress = {},
                  const S3Settings& s3 = {});

// The same into memory; a file:// source is mapped instead of copied.
Blob fetch_remote(const std::string& url, const Progress& progress = {}, const S3Settings& s3 = {});

// Writes `bytes` to `dir_url`/`key`: an S3 PUT for s3://bucket/prefix, a
// file written atomically (temp + fsync + rename) for file://.
// Returns the URL written. Throws Error. `progress` hears of the upload.
std::string store_result(const std::string& dir_url, const std::string& key,
                         std::string_view bytes, const Progress& progress = {}, const S3Settings& s3 = {});

}  // namespace memrun::internal
