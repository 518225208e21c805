// Remote tier: reads the bytes behind a URL, whole. file:// is mapped
// (zero-copy), within the roots it is given; http(s):// goes through libcurl with TLS verification on;
// s3://bucket/key is a SigV4-signed GET (credentials and endpoint from the
// AWS environment variables, see s3/client.hpp).
#pragma once

#include <memrun/context.hpp>

#include "remote/target.hpp"

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace memrun::internal {

using Progress = std::function<void(uint64_t, uint64_t)>;
// The directories (or single files) a file:// URL may name something under,
// links resolved. None: file:// reads nothing.
using FileRoots = std::vector<std::string>;

// Fetches the bytes behind `url` into `target`.
// Throws Error: kInvalidArgument (malformed/unsupported URL, a control
// character, a file:// path outside `file_roots` or not a regular file),
// kNotFound, kUnavailable (transport error, 5xx; retriable), or what the
// target threw. `progress` (optional) hears of large transfers: (bytes done,
// total). Errors name the URL redacted (redact_credentials).
void fetch_remote(const std::string& url, DownloadTarget& target, const Progress& progress = {},
                  const S3Settings& s3 = {}, const FileRoots& file_roots = {});

// The same into memory; a file:// source is mapped instead of copied.
Blob fetch_remote(const std::string& url, const Progress& progress = {}, const S3Settings& s3 = {},
                  const FileRoots& file_roots = {});

// The URL store_result(dir_url, key, ...) writes and returns, computed
// without writing anything. Throws Error: kInvalidArgument (a key that is
// absolute, climbs with '..' or holds a control character), kUnimplemented
// (a store that is neither s3:// nor file://).
std::string result_url(const std::string& dir_url, const std::string& key);

// Writes `bytes` to `dir_url`/`key`: an S3 PUT for s3://bucket/prefix, a
// file written atomically (temp + fsync + rename) for file://.
// Returns the URL written. Throws Error. `progress` hears of the upload.
std::string store_result(const std::string& dir_url, const std::string& key,
                         std::string_view bytes, const Progress& progress = {}, const S3Settings& s3 = {});

}  // namespace memrun::internal
