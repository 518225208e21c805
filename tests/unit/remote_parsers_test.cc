// Byte counts of HTTP headers and S3's XML answers: what a server (or
// anything posing as one) sends, read before a download is sized or an
// upload continues. tests/fuzz holds the same functions to these contracts
// on random input.
#include "remote/http.hpp"
#include "s3/response.hpp"

#include <gtest/gtest.h>

namespace http = memrun::internal::http;
namespace s3 = memrun::internal::s3;
using memrun::Code;

namespace {

Code refusal(std::string_view text) {
  try {
    http::parse_content_range(text, "test");
  } catch (const memrun::Error& e) {
    return e.code();
  }
  return Code::kOk;
}

}  // namespace

TEST(ContentRange, ReadsAllThreeNumbers) {
  const auto r = http::parse_content_range("bytes 8388608-16777215/104857600", "test");
  EXPECT_EQ(r.first, 8388608u);
  EXPECT_EQ(r.last, 16777215u);
  EXPECT_EQ(r.total, 104857600u);
  const auto one = http::parse_content_range("bytes 0-0/1", "test");
  EXPECT_EQ(one.total, 1u);
}

TEST(ContentRange, RefusesWhatCannotSizeADownloadAsRetriable) {
  for (std::string_view bad : {"", "bytes 0-0/*", "bytes */100", "bytes 0-99", "0-99/100", "bytes 0-99/100 ",
                               "bytes -1-99/100", "bytes 10-5/100", "bytes 0-100/100", "bytes 0-99/18446744073709551616",
                               "items 0-99/100", "bytes 0/99-100"})
    EXPECT_EQ(refusal(bad), Code::kUnavailable) << bad;
}

TEST(S3Response, ReadsTheFieldsOfAnAnswer) {
  EXPECT_EQ(s3::xml_field("<InitiateMultipartUploadResult><Bucket>b</Bucket><UploadId>VXBs.b2_Fk-</UploadId>"
                          "</InitiateMultipartUploadResult>",
                          "UploadId"),
            "VXBs.b2_Fk-");
  const std::string error = "<Error><Code>NoSuchKey</Code><Message>The key does not exist.</Message></Error>";
  EXPECT_EQ(s3::error_message(error), "The key does not exist.");
  EXPECT_TRUE(s3::is_error_body(error));
  EXPECT_EQ(s3::xml_field(error, "UploadId"), "");
  EXPECT_EQ(s3::xml_field("<UploadId>never closed", "UploadId"), "");
}

// Found by tests/fuzz/s3_response.cc: a closing tag before the opening one
// made the field run to the end of the body, closing tag included, and that
// text became the upload id of every part.
TEST(S3Response, AClosingTagBeforeTheFieldIsNotItsEnd) {
  EXPECT_EQ(s3::xml_field("</UploadId><UploadId>abc</UploadId><X/>", "UploadId"), "abc");
  EXPECT_EQ(s3::error_message("</Message><Error><Message>denied</Message></Error>"), "denied");
}
