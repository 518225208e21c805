// S3's XML answers (s3/response.cc): error bodies and the multipart upload's
// InitiateMultipartUploadResult, as a server, or anything posing as one, sends.
//
// Input: a body. Its text before the first NUL byte is also wrapped as
// "<X><UploadId>…</UploadId></X>" after the text behind the NUL, to check
// that a well-formed field is found.
#include "contract.hpp"
#include "s3/response.hpp"

using namespace memrun;
using namespace memrun::internal::s3;

namespace {

bool contains(std::string_view text, std::string_view part) { return text.find(part) != std::string_view::npos; }

// A field's text is what stands between its opening tag and the first
// closing tag after it; "" only when there is no such pair.
void check_field(std::string_view body, std::string_view tag, const std::string& got) {
  const std::string open = "<" + std::string(tag) + ">", close = "</" + std::string(tag) + ">";
  FUZZ_CHECK(!contains(got, close));
  if (!got.empty()) FUZZ_CHECK(contains(body, open + got + close));
  const auto at = body.find(open);
  const bool has_pair = at != std::string_view::npos && contains(body.substr(at + open.size()), close);
  if (got.empty() && has_pair) FUZZ_CHECK(contains(body, open + close));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view body = fuzz::text_of(data, size);
  for (std::string_view tag : {"UploadId", "Message", "Code"}) check_field(body, tag, xml_field(body, tag));
  check_field(body, "Message", error_message(body));
  FUZZ_CHECK(is_error_body(body) == contains(body, "<Error>"));

  const auto nul = body.find('\0');
  if (nul == std::string_view::npos) return 0;
  const std::string_view value = body.substr(0, nul), before = body.substr(nul + 1);
  if (contains(before, "<UploadId>") || contains(before, "</UploadId>") || contains(value, "</UploadId>")) return 0;
  const std::string xml = std::string(before) + "<X><UploadId>" + std::string(value) + "</UploadId></X>";
  FUZZ_CHECK(xml_field(xml, "UploadId") == value);
  return 0;
}
