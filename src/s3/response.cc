#include "s3/response.hpp"

namespace memrun::internal::s3 {

std::string xml_field(std::string_view xml, std::string_view tag) {
  const std::string open = "<" + std::string(tag) + ">", close = "</" + std::string(tag) + ">";
  const auto start = xml.find(open);
  if (start == std::string_view::npos) return "";
  // The closing tag after this opening one: a stray one before it must not
  // make the field run to the end of the body.
  const auto end = xml.find(close, start + open.size());
  if (end == std::string_view::npos) return "";
  return std::string(xml.substr(start + open.size(), end - start - open.size()));
}

std::string error_message(std::string_view body) { return xml_field(body, "Message"); }

bool is_error_body(std::string_view body) { return body.find("<Error>") != std::string_view::npos; }

}  // namespace memrun::internal::s3
