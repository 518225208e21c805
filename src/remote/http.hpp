// One HTTP(S) request through libcurl, TLS verification on (libcurl's
// default, never turned off). Shared by plain http(s):// fetches and S3.
#pragma once

#include <memrun/status.hpp>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace memrun::internal::http {

using Headers = std::vector<std::pair<std::string, std::string>>;

struct Response {
  long status = 0;
  Headers headers;  // names lowercased, values trimmed
  std::string header(std::string_view name) const {
    for (const auto& [n, v] : headers)
      if (n == name) return v;
    return "";
  }
  // The body, sized once from Content-Length so it is never regrown.
  std::shared_ptr<std::vector<std::byte>> body = std::make_shared<std::vector<std::byte>>();
  std::string text() const { return std::string(reinterpret_cast<const char*>(body->data()), body->size()); }
};

// Where a 2xx response's body goes instead of Response::body, e.g. one range
// of a download written at its offset in a file. Callbacks may throw Error to
// abort the transfer; request() rethrows it.
struct Sink {
  // Called once the headers of a 2xx response are complete, before its body.
  // True: the body goes to on_body; false: it is kept in Response::body.
  std::function<bool(const Response&)> on_headers;
  // The body in order, in pieces: (offset within this body, bytes, count).
  std::function<void(uint64_t, const std::byte*, size_t)> on_body;
  uint64_t written = 0;  // bytes passed to on_body by the last request
};

// Sends `url`'s path as given, dot segments included (S3 signed it so).
// Throws Error(kUnavailable) on a transport failure (connect, reset,
// timeout) and when the body is shorter than its Content-Length; its message
// names the URL redacted.
Response request(const std::string& method, const std::string& url, const Headers& headers = {},
                 std::string_view body = {}, Sink* sink = nullptr);

// A byte count from a header (Content-Length, Content-Range's total): digits
// only. Throws Error(kUnavailable) naming `what` for anything else, since a
// server or proxy that garbles one may well answer again properly.
uint64_t parse_length(std::string_view text, const std::string& what);

// The Range header's value for [offset, offset + length), length > 0.
std::string byte_range(uint64_t offset, uint64_t length);

// A 206's Content-Range, "bytes FIRST-LAST/TOTAL" (RFC 9110 14.4), with
// FIRST <= LAST < TOTAL. Throws Error(kUnavailable) naming `what` for
// anything else, an unknown total ("/*") included: callers need the size.
struct ContentRange {
  uint64_t first = 0, last = 0, total = 0;
};
ContentRange parse_content_range(std::string_view text, const std::string& what);

// Error for a non-2xx status: 404/410 kNotFound, 5xx/429 kUnavailable
// (retriable), 401/403 kInvalidArgument naming credentials, others
// kInvalidArgument. `detail` (e.g. S3's <Message>) is appended.
Error status_error(const std::string& what, long status, const std::string& detail = "");

}  // namespace memrun::internal::http
