#include "remote/http.hpp"

#include <memrun/logging.hpp>

#include <charconv>
#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <exception>
#include <mutex>

namespace memrun::internal::http {

namespace {

void curl_global() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

struct Transfer {
  Response* response = nullptr;
  unsigned long long announced = 0;
  bool has_length = false;
  std::string_view upload;
  size_t uploaded = 0;
  Sink* sink = nullptr;
  bool diverted = false;  // this response's body goes to the sink
  uint64_t received = 0;  // body bytes of the final response
  std::exception_ptr error;  // thrown by a sink callback; aborts the transfer
};

std::string lowercase(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

size_t on_header(char* line, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  std::string_view h(line, size * n);
  if (h.rfind("HTTP/", 0) == 0) {
    // A new response (after a redirect or a 100 Continue): forget the last one's headers.
    t->response->headers.clear();
    t->response->body->clear();
    t->has_length = false;
    t->diverted = false;
    t->received = 0;
    const auto space = h.find(' ');
    t->response->status = space == std::string_view::npos ? 0 : std::atol(std::string(h.substr(space + 1, 3)).c_str());
    return size * n;
  }
  if (h == "\r\n" || h == "\n") {  // the end of this response's headers
    if (t->sink && t->response->status >= 200 && t->response->status < 300) {
      try {
        t->diverted = t->sink->on_headers ? t->sink->on_headers(*t->response) : true;
      } catch (...) {
        t->error = std::current_exception();
        return 0;
      }
    }
    return size * n;
  }
  if (auto colon = h.find(':'); colon != std::string_view::npos) {
    std::string name = lowercase(h.substr(0, colon));
    std::string_view value = h.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
    while (!value.empty() && (value.back() == '\r' || value.back() == '\n' || value.back() == ' ')) value.remove_suffix(1);
    if (name == "content-length") {
      t->announced = std::strtoull(std::string(value).c_str(), nullptr, 10);
      t->has_length = true;
      if (!t->sink && t->announced < (1ull << 40)) t->response->body->reserve(static_cast<size_t>(t->announced));
    }
    t->response->headers.emplace_back(std::move(name), std::string(value));
  }
  return size * n;
}

size_t on_body(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const auto* p = reinterpret_cast<const std::byte*>(data);
  if (t->diverted) {
    try {
      t->sink->on_body(t->received, p, size * n);
    } catch (...) {
      t->error = std::current_exception();
      return 0;  // aborts the transfer
    }
  } else {
    t->response->body->insert(t->response->body->end(), p, p + size * n);
  }
  t->received += size * n;
  return size * n;
}

size_t on_upload(char* buffer, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  size_t chunk = std::min(size * n, t->upload.size() - t->uploaded);
  std::copy_n(t->upload.data() + t->uploaded, chunk, buffer);
  t->uploaded += chunk;
  return chunk;
}

}  // namespace

Response request(const std::string& method, const std::string& url, const Headers& headers, std::string_view body,
                 Sink* sink) {
  curl_global();
  std::unique_ptr<CURL, void (*)(CURL*)> curl(curl_easy_init(), curl_easy_cleanup);
  if (!curl) throw Error(Code::kInternal, "curl_easy_init failed");
  Response response;
  Transfer t;
  t.response = &response;
  t.upload = body;
  t.sink = sink;
  std::unique_ptr<curl_slist, void (*)(curl_slist*)> list(nullptr, curl_slist_free_all);
  for (const auto& [name, value] : headers) list.reset(curl_slist_append(list.release(), (name + ": " + value).c_str()));
  // libcurl would add "Expect: 100-continue" to uploads; S3-compatible servers
  // differ in how they answer it, and it costs a round trip.
  list.reset(curl_slist_append(list.release(), "Expect:"));
  char errbuf[CURL_ERROR_SIZE] = {0};
  CURL* c = curl.get();
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  // The path goes out as given: S3 signed exactly this path, and libcurl's
  // removal of "." and ".." segments would send another (a signature that
  // no longer matches, or a key of another bucket).
  curl_easy_setopt(c, CURLOPT_PATH_AS_IS, 1L);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, list.get());
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
  // A stalled transfer (under 1 KiB/s for 30 s) is a failure, not a hang.
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1024L);
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 30L);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &t);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &t);
  if (method == "GET") {
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, 5L);
  } else if (method == "HEAD") {
    curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
  } else if (method == "PUT") {
    curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(c, CURLOPT_READFUNCTION, on_upload);
    curl_easy_setopt(c, CURLOPT_READDATA, &t);
    curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(body.size()));
  } else {
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method.c_str());
    if (method == "POST" || !body.empty()) {  // a POST says Content-Length: 0 when empty
      curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.data());
      curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
    }
  }
  if (sink) sink->written = 0;
  CURLcode rc = curl_easy_perform(c);
  if (t.error) std::rethrow_exception(t.error);
  if (rc != CURLE_OK)
    throw Error(Code::kUnavailable, redact_credentials(method + " " + url + " failed: " +
                                                       (errbuf[0] ? errbuf : curl_easy_strerror(rc))));
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &response.status);
  if (t.diverted) sink->written = t.received;
  if (method != "HEAD" && t.has_length && response.status >= 200 && response.status < 300 &&
      t.received != t.announced)
    throw Error(Code::kUnavailable, redact_credentials(method + " " + url + ": body of " +
                                                       std::to_string(t.received) + " bytes, Content-Length said " +
                                                       std::to_string(t.announced)));
  return response;
}

uint64_t parse_length(std::string_view text, const std::string& what) {
  uint64_t value = 0;
  const auto [end, err] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || err != std::errc() || end != text.data() + text.size())
    throw Error(Code::kUnavailable, what + ": unusable byte count '" + std::string(text) + "'");
  return value;
}

std::string byte_range(uint64_t offset, uint64_t length) {
  return "bytes=" + std::to_string(offset) + "-" + std::to_string(offset + length - 1);
}

ContentRange parse_content_range(std::string_view text, const std::string& what) {
  constexpr std::string_view kUnit = "bytes ";
  const auto dash = text.find('-'), slash = text.find('/');
  if (text.rfind(kUnit, 0) != 0 || dash == std::string_view::npos || slash == std::string_view::npos || slash < dash)
    throw Error(Code::kUnavailable, what + ": unusable Content-Range '" + std::string(text) + "'");
  ContentRange r;
  r.first = parse_length(text.substr(kUnit.size(), dash - kUnit.size()), what);
  r.last = parse_length(text.substr(dash + 1, slash - dash - 1), what);
  r.total = parse_length(text.substr(slash + 1), what);
  if (r.first > r.last || r.last >= r.total)
    throw Error(Code::kUnavailable, what + ": Content-Range '" + std::string(text) + "' is not within its total");
  return r;
}

Error status_error(const std::string& what, long status, const std::string& detail) {
  std::string msg = what + ": HTTP " + std::to_string(status) + (detail.empty() ? "" : " (" + detail + ")");
  if (status == 404 || status == 410) return Error(Code::kNotFound, msg);
  if (status >= 500 || status == 429) return Error(Code::kUnavailable, msg);
  if (status == 401 || status == 403) return Error(Code::kInvalidArgument, msg + ": check the credentials");
  return Error(Code::kInvalidArgument, msg);
}

}  // namespace memrun::internal::http
