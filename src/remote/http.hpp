// One HTTP(S) request through libcurl, TLS verification on (libcurl's
// default, never turned off). Shared by plain http(s):// fetches and S3.
#pragma once

#include <memrun/status.hpp>

#include <cstddef>
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

// Where a response body goes instead of Response::body: a caller's buffer
// (e.g. one range of a pre-faulted download buffer). A body that would
// overflow it is an error.
struct Sink {
  std::byte* data = nullptr;
  size_t capacity = 0;
  size_t written = 0;
};

// Throws Error(kUnavailable) on a transport failure (connect, reset,
// timeout) and when the body is shorter than its Content-Length.
Response request(const std::string& method, const std::string& url, const Headers& headers = {},
                 std::string_view body = {}, Sink* sink = nullptr);

// Error for a non-2xx status: 404/410 kNotFound, 5xx/429 kUnavailable
// (retriable), 401/403 kInvalidArgument naming credentials, others
// kInvalidArgument. `detail` (e.g. S3's <Message>) is appended.
Error status_error(const std::string& what, long status, const std::string& detail = "");

}  // namespace memrun::internal::http
