// Remote tier: reads the bytes behind a URL, whole. file:// is mapped
// (zero-copy), http(s):// goes through libcurl with TLS verification on.
#pragma once

#include <memrun/context.hpp>

#include <string>
#include <string_view>

namespace memrun::internal {

// Throws Error: kInvalidArgument (malformed/unsupported URL), kNotFound,
// kUnavailable (transport error, 5xx; retriable).
Blob fetch_remote(const std::string& url);

// Writes `bytes` to `dir_url`/`key` (file:// only), atomically (temp + rename).
// Returns the URL written. Throws Error.
std::string store_result(const std::string& dir_url, const std::string& key,
                         std::string_view bytes);

}  // namespace memrun::internal
