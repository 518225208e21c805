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
  // The body, sized once from Content-Length so it is never regrown.
  std::shared_ptr<std::vector<std::byte>> body = std::make_shared<std::vector<std::byte>>();
  std::string text() const { return std::string(reinterpret_cast<const char*>(body->data()), body->size()); }
};

// Throws Error(kUnavailable) on a transport failure (connect, reset,
// timeout) and when the body is shorter than its Content-Length.
Response request(const std::string& method, const std::string& url, const Headers& headers = {},
                 std::string_view body = {});

// Error for a non-2xx status: 404/410 kNotFound, 5xx/429 kUnavailable
// (retriable), 401/403 kInvalidArgument naming credentials, others
// kInvalidArgument. `detail` (e.g. S3's <Message>) is appended.
Error status_error(const std::string& what, long status, const std::string& detail = "");

}  // namespace memrun::internal::http
