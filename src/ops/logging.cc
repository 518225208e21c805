// Log lines for operators: text or JSON, always redacted, one line each
// (control characters escaped). The redaction is a
// net under every line (libmemrun's, the host's, librdkafka's forwarded ones)
// rather than care at each call site, because a URL is logged in many places
// and one forgotten spot would be enough to leak a presigned signature.
#include <memrun/logging.hpp>
#include <memrun/status.hpp>

#include <nlohmann/json.hpp>
#include <spdlog/pattern_formatter.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <memory>

namespace memrun {
namespace {

// Names (lowercase) whose value is a secret wherever it appears as name=value
// or "name: value".
constexpr std::array<std::string_view, 10> kSecretNames = {
    "x-amz-signature", "x-amz-credential", "x-amz-security-token", "signature", "awsaccesskeyid",
    "token",           "access_token",     "password",             "secret",    "authorization"};

bool is_value_end(char c) { return c == '&' || c == ',' || c == ';' || c == '"' || c == '\'' || std::isspace(static_cast<unsigned char>(c)); }

// scheme://user:password@host → scheme://***@host
void redact_userinfo(std::string& s) {
  for (size_t at = s.find("://"); at != std::string::npos; at = s.find("://", at + 3)) {
    const size_t start = at + 3;
    size_t end = start;
    while (end < s.size() && s[end] != '/' && s[end] != '@' && !is_value_end(s[end])) ++end;
    if (end < s.size() && s[end] == '@' && end > start) s.replace(start, end - start, "***");
  }
}

// name=value / name: value → name=*** (case-insensitive names).
void redact_named_values(std::string& s) {
  std::string lower(s.size(), ' ');
  std::transform(s.begin(), s.end(), lower.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  for (std::string_view name : kSecretNames) {
    for (size_t at = lower.find(name); at != std::string::npos; at = lower.find(name, at + 1)) {
      // Whole names only: "token" must not fire inside "tokenizer".
      if (at > 0 && (std::isalnum(static_cast<unsigned char>(lower[at - 1])) || lower[at - 1] == '-' || lower[at - 1] == '_'))
        continue;
      size_t value = at + name.size();
      if (value < s.size() && s[value] == '=') {
        ++value;
      } else if (value + 1 < s.size() && s[value] == ':' && s[value + 1] == ' ') {
        value += 2;
      } else {
        continue;
      }
      size_t end = value;
      // An Authorization header's value runs to the end of the line.
      const bool whole_line = name == "authorization";
      while (end < s.size() && (whole_line ? s[end] != '\n' : !is_value_end(s[end]))) ++end;
      if (end == value || std::string_view(s).substr(value, end - value) == "***") continue;
      s.replace(value, end - value, "***");
      lower.replace(value, end - value, "***");
    }
  }
}

void redact_literal(std::string& s, const char* env) {
  const char* secret = std::getenv(env);
  if (secret == nullptr || std::strlen(secret) < 8) return;  // too short to tell from ordinary text
  const std::string_view v(secret);
  for (size_t at = s.find(v); at != std::string::npos; at = s.find(v, at + 3)) s.replace(at, v.size(), "***");
}

// Control characters as visible escapes ("\n", "\x1b"): a line break inside
// a message (say, in a URL from a request) would otherwise start a line of
// its own that a reader, or a log pipeline, takes for the log's.
std::string escape_control_characters(std::string s) {
  if (std::none_of(s.begin(), s.end(), [](unsigned char c) { return c < 0x20 || c == 0x7f; })) return s;
  std::string out;
  out.reserve(s.size() + 16);
  for (const unsigned char c : s) {
    if (c >= 0x20 && c != 0x7f) out.push_back(static_cast<char>(c));
    else if (c == '\n') out += "\\n";
    else if (c == '\r') out += "\\r";
    else if (c == '\t') out += "\\t";
    else out += fmt::format("\\x{:02x}", c);
  }
  return out;
}

// Redacts the message and escapes its control characters, then hands it to
// the chosen layout.
class RedactingFormatter final : public spdlog::formatter {
 public:
  RedactingFormatter(std::string program, LogFormat format)
      : program_(std::move(program)),
        format_(format),
        text_(std::make_unique<spdlog::pattern_formatter>("%Y-%m-%dT%H:%M:%S.%e %^%l%$ [" + program_ + "] %v")) {}

  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    const std::string message =
        escape_control_characters(redact_credentials(std::string_view(msg.payload.data(), msg.payload.size())));
    if (format_ == LogFormat::kText) {
      spdlog::details::log_msg copy = msg;
      copy.payload = message;
      text_->format(copy, dest);
      return;
    }
    const auto since_epoch = msg.time.time_since_epoch();
    const std::time_t seconds = std::chrono::duration_cast<std::chrono::seconds>(since_epoch).count();
    const auto millis = std::chrono::duration_cast<std::chrono::milliseconds>(since_epoch).count() % 1000;
    std::tm tm{};
    gmtime_r(&seconds, &tm);
    char time[40];
    const size_t n = std::strftime(time, sizeof time, "%Y-%m-%dT%H:%M:%S", &tm);
    std::snprintf(time + n, sizeof time - n, ".%03dZ", static_cast<int>(millis));
    const auto level = spdlog::level::to_string_view(msg.level);
    const nlohmann::json line = {{"time", time},
                                 {"level", std::string(level.data(), level.size())},
                                 {"program", program_},
                                 {"thread", msg.thread_id},
                                 {"message", message}};
    const std::string text = line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    dest.append(text.data(), text.data() + text.size());
    dest.push_back('\n');
  }

  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<RedactingFormatter>(program_, format_);
  }

 private:
  std::string program_;
  LogFormat format_;
  std::unique_ptr<spdlog::formatter> text_;
};

}  // namespace

std::string redact_credentials(std::string_view text) {
  std::string s(text);
  redact_userinfo(s);
  redact_named_values(s);
  redact_literal(s, "AWS_SECRET_ACCESS_KEY");
  redact_literal(s, "AWS_SESSION_TOKEN");
  return s;
}

LogFormat parse_log_format(std::string_view name) {
  if (name == "text") return LogFormat::kText;
  if (name == "json") return LogFormat::kJson;
  throw Error(Code::kInvalidArgument, "log format '" + std::string(name) + "' is not text or json");
}

void configure_logging(const LogOptions& options) {
  const auto level = spdlog::level::from_str(options.level);
  if (level == spdlog::level::off && options.level != "off")
    throw Error(Code::kInvalidArgument, "log level '" + options.level + "' is not debug, info, warn or error");
  spdlog::set_level(level);
  spdlog::set_formatter(std::make_unique<RedactingFormatter>(options.program, options.format));
}

}  // namespace memrun
