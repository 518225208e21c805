// What memrun reads out of S3's XML answers: the text of one element. Bodies
// come from the server (or anything posing as it), so these are total
// functions of untrusted bytes; tests/fuzz/s3_response.cc holds them to it.
// Any thread.
#pragma once

#include <string>
#include <string_view>

namespace memrun::internal::s3 {

// The text of the first <tag>…</tag> in `xml`; "" when there is none.
std::string xml_field(std::string_view xml, std::string_view tag);

// S3 explains a refusal in <Error><Message>…</Message></Error>; "" without one.
std::string error_message(std::string_view body);

// True for an <Error> body: CompleteMultipartUpload can fail with a 200 and one.
bool is_error_body(std::string_view body);

}  // namespace memrun::internal::s3
