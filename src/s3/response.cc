#include "s3/response.hpp"

namespace memrun::internal::s3 {

std::string xml_field(std::string_view xml, std::string_view tag) {
  const std::string open = "<" + std::string(tag) + ">", close = "</" + std::string(tag) + ">";
  auto start = xml.find(open);
  auto end = xml.find(close);
  if (start == std::string_view::npos || end == std::string_view::npos) return "";
  start += open.size();
  return std::string(xml.substr(start, end - start));
}

std::string error_message(std::string_view body) {
  auto start = body.find("<Message>");
  auto end = body.find("</Message>");
  if (start == std::string_view::npos || end == std::string_view::npos || end < start) return "";
  return std::string(body.substr(start + 9, end - start - 9));
}

bool is_error_body(std::string_view body) { return body.find("<Error>") != std::string_view::npos; }

}  // namespace memrun::internal::s3
