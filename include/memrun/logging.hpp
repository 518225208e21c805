// memrun/logging.hpp — how libmemrun's log lines look and what they never say.
//
//   memrun::configure_logging({.program = "my-service", .level = "info",
//                              .format = memrun::LogFormat::kJson});
//
// libmemrun logs through spdlog's default logger. configure_logging sets its
// level and format — human-readable text, or one JSON object per line for log
// pipelines — and puts every line through redact_credentials first, so a URL
// with a password or a presigned signature, or the AWS secret in the
// environment, never reaches a log. Control characters in a message are
// escaped ("\n", "\x1b"), so no message can start a log line of its own.
// Call it once, before starting workers.
#pragma once

#include <memrun/export.hpp>

#include <string>
#include <string_view>

namespace memrun {

enum class LogFormat { kText, kJson };

struct LogOptions {
  std::string program = "memrun";  // named in every line
  std::string level = "info";      // debug, info, warn or error
  LogFormat format = LogFormat::kText;
};

// Throws Error(kInvalidArgument) for an unknown level.
MEMRUN_API void configure_logging(const LogOptions& options);

// "text" / "json" → LogFormat; throws Error(kInvalidArgument).
MEMRUN_API LogFormat parse_log_format(std::string_view name);

// `text` with credentials replaced by "***": the user:password part of URLs;
// the values of query parameters and headers that carry secrets (signatures,
// credentials, tokens, passwords: X-Amz-Signature, X-Amz-Credential,
// X-Amz-Security-Token, Signature, token, password, secret, ...); and the
// literal values of AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN. Thread-safe.
MEMRUN_API std::string redact_credentials(std::string_view text);

}  // namespace memrun
