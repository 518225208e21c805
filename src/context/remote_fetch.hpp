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

// One ranged GET of an http(s):// or s3:// object (see RangeReader).
struct RangeAnswer {
  enum class Outcome {
    kBytes,    // `bytes` hold the range, clamped to the object's end
    kChanged,  // 412: the object no longer has the ETag given as if_match
    kPastEnd,  // 416: the range starts at or past the object's end
  };
  Outcome outcome = Outcome::kBytes;
  Blob bytes;         // tier kRemote
  uint64_t total = 0; // the object's size (Content-Range's total; 0 if a 416 named none)
  std::string etag;   // the object's identity as served; "" when the server sends none
};

// GETs [offset, offset + length) (length > 0) with Range, and If-Match:
// `if_match` unless empty. The answer must be a 206 whose Content-Range is
// exactly the range asked for, clamped to the object's end: the body goes
// to memory only after that is checked. Throws Error: kUnimplemented when
// the server ignores Range (a 200, aborted before its body), kUnavailable
// for a Content-Range that answers another range or a short body (after
// retries), and as fetch_remote otherwise.
RangeAnswer fetch_range(const std::string& url, uint64_t offset, uint64_t length, const std::string& if_match,
                        const S3Settings& s3 = {});

// [offset, offset + length) of a file:// object, mapped (tier kRemote), with
// fetch_remote's file_roots rules. Throws Error(kInvalidArgument) for a
// range that does not lie within the file.
Blob read_file_range(const std::string& url, uint64_t offset, uint64_t length, const FileRoots& file_roots);

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
