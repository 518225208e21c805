#include "s3/client.hpp"

#include <chrono>
#include <cstdlib>

namespace memrun::internal::s3 {

namespace {

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

// S3 explains a refusal in <Message>...</Message>.
std::string s3_message(const std::string& body) {
  auto start = body.find("<Message>");
  auto end = body.find("</Message>");
  if (start == std::string::npos || end == std::string::npos || end < start) return "";
  return body.substr(start + 9, end - start - 9);
}

}  // namespace

Location parse_url(const std::string& url) {
  constexpr std::string_view kScheme = "s3://";
  if (url.rfind(kScheme, 0) != 0) throw Error(Code::kInvalidArgument, "not an s3:// URL: '" + url + "'");
  const auto rest = url.substr(kScheme.size());
  const auto slash = rest.find('/');
  if (slash == 0 || slash == std::string::npos || slash + 1 == rest.size())
    throw Error(Code::kInvalidArgument, "s3 URL '" + url + "' must be s3://bucket/key");
  return {rest.substr(0, slash), rest.substr(slash + 1)};
}

Config Config::from_env() {
  Config c;
  c.credentials = {env("AWS_ACCESS_KEY_ID"), env("AWS_SECRET_ACCESS_KEY"), env("AWS_SESSION_TOKEN")};
  if (auto r = env("AWS_REGION"); !r.empty()) c.region = r;
  else if (auto d = env("AWS_DEFAULT_REGION"); !d.empty()) c.region = d;
  c.endpoint = env("AWS_ENDPOINT_URL_S3");
  if (c.endpoint.empty()) c.endpoint = env("AWS_ENDPOINT_URL");
  while (!c.endpoint.empty() && c.endpoint.back() == '/') c.endpoint.pop_back();
  c.path_style = !c.endpoint.empty();
  return c;
}

http::Response Client::send(const std::string& method, const Location& where, std::string_view body) const {
  std::string scheme = "https://", host = "s3." + config_.region + ".amazonaws.com";
  if (!config_.endpoint.empty()) {
    auto sep = config_.endpoint.find("://");
    if (sep == std::string::npos) throw Error(Code::kInvalidArgument, "S3 endpoint '" + config_.endpoint + "' needs a scheme");
    scheme = config_.endpoint.substr(0, sep + 3);
    host = config_.endpoint.substr(sep + 3);
  }
  Request rq;
  rq.method = method;
  rq.region = config_.region;
  if (config_.path_style) {
    rq.host = host;
    rq.path = "/" + where.bucket + "/" + where.key;
  } else {
    rq.host = where.bucket + "." + host;
    rq.path = "/" + where.key;
  }
  rq.payload_sha256 = sha256_hex(body);
  const std::string url = scheme + rq.host + uri_encode(rq.path, true);
  http::Headers headers;
  if (!config_.credentials.access_key_id.empty()) {
    headers = sign(rq, config_.credentials, std::chrono::system_clock::now()).headers;
    // libcurl sends Host itself, from the URL; a second one would be wrong.
    std::erase_if(headers, [](const auto& h) { return h.first == "host"; });
  }
  auto response = http::request(method, url, headers, body);
  if (response.status < 200 || response.status >= 300)
    throw http::status_error(method + " s3://" + where.bucket + "/" + where.key, response.status,
                             s3_message(response.text()));
  return response;
}

http::Response Client::get(const Location& where) const { return send("GET", where, {}); }

void Client::put(const Location& where, std::string_view bytes) const { send("PUT", where, bytes); }

}  // namespace memrun::internal::s3
