#include "remote/http.hpp"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
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
  bool overflow = false;
};

size_t on_header(char* line, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  std::string_view h(line, size * n);
  if (auto colon = h.find(':'); colon != std::string_view::npos) {
    std::string name(h.substr(0, colon));
    for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    std::string_view value = h.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
    while (!value.empty() && (value.back() == '\r' || value.back() == '\n' || value.back() == ' ')) value.remove_suffix(1);
    t->response->headers.emplace_back(std::move(name), std::string(value));
  }
  constexpr std::string_view kLen = "content-length:";
  if (h.size() > kLen.size()) {
    std::string name(h.substr(0, kLen.size()));
    for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (name == kLen) {
      t->announced = std::strtoull(std::string(h.substr(kLen.size())).c_str(), nullptr, 10);
      t->has_length = true;
      if (!t->sink && t->announced < (1ull << 40)) t->response->body->reserve(static_cast<size_t>(t->announced));
    }
  }
  return size * n;
}

size_t on_body(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const auto* p = reinterpret_cast<const std::byte*>(data);
  if (t->sink) {
    if (size * n > t->sink->capacity - t->sink->written) {
      t->overflow = true;
      return 0;  // aborts the transfer
    }
    std::copy_n(p, size * n, t->sink->data + t->sink->written);
    t->sink->written += size * n;
    return size * n;
  }
  t->response->body->insert(t->response->body->end(), p, p + size * n);
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
  CURLcode rc = curl_easy_perform(c);
  if (t.overflow)
    throw Error(Code::kUnavailable, method + " " + url + ": response larger than the " +
                                        std::to_string(sink->capacity) + " bytes expected");
  if (rc != CURLE_OK)
    throw Error(Code::kUnavailable,
                method + " " + url + " failed: " + (errbuf[0] ? errbuf : curl_easy_strerror(rc)));
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &response.status);
  if (method != "HEAD" && t.has_length && response.status >= 200 && response.status < 300 &&
      (sink ? sink->written : response.body->size()) != t.announced)
    throw Error(Code::kUnavailable, method + " " + url + ": body of " +
                                        std::to_string(sink ? sink->written : response.body->size()) +
                                        " bytes, Content-Length said " + std::to_string(t.announced));
  return response;
}

Error status_error(const std::string& what, long status, const std::string& detail) {
  std::string msg = what + ": HTTP " + std::to_string(status) + (detail.empty() ? "" : " (" + detail + ")");
  if (status == 404 || status == 410) return Error(Code::kNotFound, msg);
  if (status >= 500 || status == 429) return Error(Code::kUnavailable, msg);
  if (status == 401 || status == 403) return Error(Code::kInvalidArgument, msg + ": check the credentials");
  return Error(Code::kInvalidArgument, msg);
}

}  // namespace memrun::internal::http
