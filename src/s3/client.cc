#include "s3/client.hpp"

#include "remote/retry.hpp"
#include "s3/response.hpp"

#include <memrun/logging.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <thread>
#include <vector>

namespace memrun::internal::s3 {

namespace {

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

}  // namespace

namespace {

// True when resolving the key's "." and ".." segments, as a server or proxy
// may, climbs above the bucket: "../other/x" names another bucket's object.
bool climbs_out(std::string_view key) {
  int depth = 0;
  for (size_t start = 0; start <= key.size();) {
    const size_t end = std::min(key.find('/', start), key.size());
    const std::string_view segment = key.substr(start, end - start);
    if (segment == "..") {
      if (--depth < 0) return true;
    } else if (segment != "." && !segment.empty()) {
      ++depth;
    }
    start = end + 1;
  }
  return false;
}

}  // namespace

Location parse_url(const std::string& url) {
  constexpr std::string_view kScheme = "s3://";
  if (url.rfind(kScheme, 0) != 0)
    throw Error(Code::kInvalidArgument, "not an s3:// URL: '" + redact_credentials(url) + "'");
  const auto rest = url.substr(kScheme.size());
  const auto slash = rest.find('/');
  if (slash == 0 || slash == std::string::npos || slash + 1 == rest.size())
    throw Error(Code::kInvalidArgument, "s3 URL '" + redact_credentials(url) + "' must be s3://bucket/key");
  Location where{rest.substr(0, slash), rest.substr(slash + 1)};
  if (climbs_out(where.key))
    throw Error(Code::kInvalidArgument, "s3 URL '" + redact_credentials(url) +
                                            "': its key climbs out of bucket '" + where.bucket + "' with '..'");
  return where;
}

std::string Location::name() const { return redact_credentials("s3://" + bucket + "/" + key); }

Config Config::resolve(const S3Settings& settings) {
  auto pick = [](const std::string& set, std::initializer_list<const char*> names) {
    if (!set.empty()) return set;
    for (const char* name : names)
      if (auto v = env(name); !v.empty()) return v;
    return std::string();
  };
  Config c;
  // Key id, secret and token come as one set: a key id from the settings
  // never pairs with a secret from the environment.
  if (!settings.access_key_id.empty())
    c.credentials = {settings.access_key_id, settings.secret_access_key, settings.session_token};
  else
    c.credentials = {env("AWS_ACCESS_KEY_ID"), env("AWS_SECRET_ACCESS_KEY"), env("AWS_SESSION_TOKEN")};
  if (auto r = pick(settings.region, {"AWS_REGION", "AWS_DEFAULT_REGION"}); !r.empty()) c.region = r;
  c.endpoint = pick(settings.endpoint, {"AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"});
  while (!c.endpoint.empty() && c.endpoint.back() == '/') c.endpoint.pop_back();
  c.path_style = !c.endpoint.empty();
  return c;
}

http::Response Client::send(const std::string& method, const Location& where, const Query& query, Headers extra,
                            std::string_view body, http::Sink* sink, std::initializer_list<long> accept) const {
  std::string scheme = "https://", host = "s3." + config_.region + ".amazonaws.com";
  if (!config_.endpoint.empty()) {
    auto sep = config_.endpoint.find("://");
    if (sep == std::string::npos)
      throw Error(Code::kInvalidArgument, "S3 endpoint '" + redact_credentials(config_.endpoint) + "' needs a scheme");
    scheme = config_.endpoint.substr(0, sep + 3);
    host = config_.endpoint.substr(sep + 3);
  }
  Request rq;
  rq.method = method;
  rq.region = config_.region;
  rq.query = query;
  rq.headers = std::move(extra);
  if (config_.path_style) {
    rq.host = host;
    rq.path = "/" + where.bucket + "/" + where.key;
  } else {
    rq.host = where.bucket + "." + host;
    rq.path = "/" + where.key;
  }
  rq.payload_sha256 = sha256_hex(body);
  std::string url = scheme + rq.host + uri_encode(rq.path, true);
  if (!query.empty()) url += "?" + canonical_query(query);
  Headers headers = rq.headers;
  if (!config_.credentials.access_key_id.empty()) {
    headers = sign(rq, config_.credentials, std::chrono::system_clock::now()).headers;
    // libcurl sends Host itself, from the URL; a second one would be wrong.
    std::erase_if(headers, [](const auto& h) { return h.first == "host"; });
  }
  auto response = http::request(method, url, headers, body, sink);
  if (std::find(accept.begin(), accept.end(), response.status) != accept.end()) return response;
  const std::string text = sink ? "" : response.text();
  // CompleteMultipartUpload can fail with 200 and an <Error> body.
  if (response.status < 200 || response.status >= 300 || is_error_body(text))
    throw http::status_error(method + " " + where.name(), response.status, error_message(text));
  return response;
}

void Client::parallel_parts(size_t count, const std::function<void(size_t)>& part) const {
  std::atomic<size_t> next{0};
  std::mutex mu;
  std::exception_ptr error;
  auto worker = [&] {
    for (size_t i; (i = next++) < count;) {
      {
        std::lock_guard lock(mu);
        if (error) return;
      }
      try {
        part(i);
      } catch (...) {
        std::lock_guard lock(mu);
        if (!error) error = std::current_exception();
      }
    }
  };
  std::vector<std::thread> threads;
  const size_t n = std::min<size_t>(count, static_cast<size_t>(std::max(1, config_.parallelism)));
  for (size_t t = 1; t < n; ++t) threads.emplace_back(worker);
  worker();
  for (auto& t : threads) t.join();
  if (error) std::rethrow_exception(error);
}

namespace {

// What the first ranged response says about the object.
struct FirstPart {
  uint64_t total = 0;  // the object's size
  bool whole = false;  // a 200: the server ignored the range and sends it all
  std::string etag;    // pins the later ranges to this version of the object
};

// Content-Range's total for a 206, Content-Length for a 200.
FirstPart first_part(const http::Response& r, const std::string& what) {
  FirstPart f;
  f.etag = r.header("etag");
  if (r.status == 200) {
    f.whole = true;
    const std::string length = r.header("content-length");
    if (length.empty()) throw Error(Code::kUnavailable, what + ": no Content-Length");
    f.total = http::parse_length(length, what + " Content-Length");
    return f;
  }
  const std::string text = r.header("content-range");
  if (r.status != 206) throw Error(Code::kUnavailable, what + ": HTTP " + std::to_string(r.status) + ", expected 206");
  // The body is written at offset 0: a range starting elsewhere would put
  // its bytes in the wrong place.
  const auto range = http::parse_content_range(text, what + " Content-Range");
  if (range.first != 0) throw Error(Code::kUnavailable, what + ": Content-Range '" + text + "' does not start at 0");
  f.total = range.total;
  return f;
}

}  // namespace

void Client::get(const Location& where, DownloadTarget& target) const {
  const std::string what = "GET " + where.name();
  const uint64_t part = std::max<size_t>(config_.part_size, 1);
  // The first range: a small object ends here, a larger one tells its size.
  FirstPart first;
  with_retries(what, [&] {
    http::Sink sink;
    sink.on_headers = [&](const http::Response& r) {
      first = first_part(r, what);
      target.allocate(first.total);
      return true;
    };
    sink.on_body = [&](uint64_t offset, const std::byte* data, size_t n) { target.write(offset, data, n); };
    // An empty object has no byte 0: S3 answers a range with 416; ask again without one.
    if (send("GET", where, {}, {{"range", http::byte_range(0, part)}}, {}, &sink, {416}).status == 416)
      send("GET", where, {}, {}, {}, &sink);
    const uint64_t expected = first.whole ? first.total : std::min(part, first.total);
    if (sink.written != expected)
      throw Error(Code::kUnavailable, what + ": first range is " + std::to_string(sink.written) + " bytes");
    target.completed(0, sink.written);
    return sink.written;
  });
  const uint64_t total = first.total;
  const uint64_t first_bytes = first.whole ? total : std::min(part, total);
  std::atomic<uint64_t> done{first_bytes};
  if (config_.progress) config_.progress(first_bytes, total);
  if (first_bytes == total) return;
  const size_t parts = (total + part - 1) / part;
  // Parts of two versions of an object must never make one entry: a part of
  // a replaced object is refused with 412, and the whole fetch fails
  // retriably (a retry starts over on the new version).
  http::Headers pin;
  if (!first.etag.empty()) pin.emplace_back("if-match", first.etag);
  parallel_parts(parts - 1, [&](size_t i) {
    const uint64_t offset = (i + 1) * part, length = std::min(part, total - offset);
    const std::string range = http::byte_range(offset, length);
    bool changed = false;
    with_retries(what + " " + range, [&] {
      http::Sink sink;
      sink.on_headers = [&](const http::Response& r) {
        if (r.status != 206) throw Error(Code::kUnavailable, what + " " + range + ": HTTP " + std::to_string(r.status) + ", expected 206");
        return true;
      };
      sink.on_body = [&](uint64_t at, const std::byte* data, size_t n) {
        if (at + n > length) throw Error(Code::kUnavailable, what + " " + range + ": more bytes than asked for");
        target.write(offset + at, data, n);
      };
      http::Headers headers = pin;
      headers.emplace_back("range", range);
      if (send("GET", where, {}, headers, {}, &sink, {412}).status == 412) {
        changed = true;
        return;
      }
      if (sink.written != length)
        throw Error(Code::kUnavailable, what + " " + range + ": " + std::to_string(sink.written) + " bytes arrived");
    });
    if (changed)
      throw Error(Code::kUnavailable,
                  what + ": the object changed during the download (ETag " + first.etag + " no longer matches)");
    target.completed(offset, length);
    const uint64_t now = done += length;
    if (config_.progress) config_.progress(now, total);
  });
}

http::Response Client::get_with(const Location& where, Headers headers, http::Sink* sink) const {
  return send("GET", where, {}, std::move(headers), {}, sink, {412, 416});
}

void Client::put(const Location& where, std::string_view bytes) const {
  if (bytes.size() > config_.multipart_threshold) return put_multipart(where, bytes);
  with_retries("PUT " + where.name(), [&] { send("PUT", where, {}, {}, bytes); });
  if (config_.progress) config_.progress(bytes.size(), bytes.size());
}

void Client::put_multipart(const Location& where, std::string_view bytes) const {
  const std::string what = "multipart PUT " + where.name();
  const size_t part = std::max<size_t>(config_.part_size, 5u << 20);
  const std::string upload_id = xml_field(
      with_retries(what, [&] { return send("POST", where, {{"uploads", ""}}, {}, {}); }).text(), "UploadId");
  if (upload_id.empty()) throw Error(Code::kUnavailable, what + ": no UploadId in the answer");
  const size_t parts = (bytes.size() + part - 1) / part;
  std::vector<std::string> etags(parts);
  std::atomic<size_t> done{0};
  try {
    parallel_parts(parts, [&](size_t i) {
      const std::string_view slice = bytes.substr(i * part, part);
      const Query query{{"partNumber", std::to_string(i + 1)}, {"uploadId", upload_id}};
      etags[i] = with_retries(what + " part " + std::to_string(i + 1),
                              [&] { return send("PUT", where, query, {}, slice).header("etag"); });
      if (etags[i].empty()) throw Error(Code::kUnavailable, what + ": part " + std::to_string(i + 1) + " has no ETag");
      const size_t now = done += slice.size();
      if (config_.progress) config_.progress(now, bytes.size());
    });
    std::string complete = "<CompleteMultipartUpload>";
    for (size_t i = 0; i < parts; ++i)
      complete += "<Part><PartNumber>" + std::to_string(i + 1) + "</PartNumber><ETag>" + etags[i] + "</ETag></Part>";
    complete += "</CompleteMultipartUpload>";
    with_retries(what, [&] {
      send("POST", where, {{"uploadId", upload_id}}, {{"content-type", "application/xml"}}, complete);
    });
  } catch (...) {
    try {  // leave no orphaned parts behind (they are billed)
      send("DELETE", where, {{"uploadId", upload_id}}, {}, {});
    } catch (const Error&) {
    }
    throw;
  }
}

}  // namespace memrun::internal::s3
