// Log lines never carry credentials: the redaction under every log line.
#include <memrun/logging.hpp>
#include <memrun/status.hpp>

#include <gtest/gtest.h>

#include <cstdlib>

namespace {

TEST(Redaction, UrlPasswordsSignaturesTokensAndTheAwsSecretAreHidden) {
  using memrun::redact_credentials;
  EXPECT_EQ(redact_credentials("GET https://alice:hunter2@example.com/x failed"),
            "GET https://***@example.com/x failed");
  EXPECT_EQ(redact_credentials("s3 https://b.s3.amazonaws.com/k?X-Amz-Credential=AKIA%2F1&X-Amz-Signature=abc123 404"),
            "s3 https://b.s3.amazonaws.com/k?X-Amz-Credential=***&X-Amz-Signature=*** 404");
  EXPECT_EQ(redact_credentials("password=pw1, token=t0k; x-amz-security-token=zzz"),
            "password=***, token=***; x-amz-security-token=***");
  EXPECT_EQ(redact_credentials("Authorization: AWS4-HMAC-SHA256 Credential=AKIA/…, Signature=ff\nnext"),
            "Authorization: ***\nnext");
  ::setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG", 1);
  EXPECT_EQ(redact_credentials("secret is wJalrXUtnFEMI/K7MDENG here"), "secret is *** here");
  ::unsetenv("AWS_SECRET_ACCESS_KEY");
}

TEST(Redaction, OrdinaryTextIsLeftAlone) {
  using memrun::redact_credentials;
  for (const char* text : {"worker w1 assigned partitions 0,1,2", "partition=3 offset=17 tokenizer=bpe",
                           "file:///var/cache/memrun/x.bin", "s3://bucket/key with spaces", "user@example.com"})
    EXPECT_EQ(redact_credentials(text), text);
}

TEST(Logging, UnknownLevelOrFormatIsAnError) {
  EXPECT_THROW(memrun::configure_logging({"t", "loud", memrun::LogFormat::kText}), memrun::Error);
  EXPECT_THROW(memrun::parse_log_format("xml"), memrun::Error);
  EXPECT_EQ(memrun::parse_log_format("json"), memrun::LogFormat::kJson);
}

}  // namespace
