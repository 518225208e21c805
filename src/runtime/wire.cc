#include "runtime/wire.hpp"

#include <memrun/protocol.hpp>

#include "kafka/kafka.hpp"

#include <nlohmann/json.hpp>

#include <charconv>
#include <random>

namespace memrun::internal {
namespace {

template <class T>
bool parse_int(const std::string& text, T& out) {
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && ptr == text.data() + text.size();
}

}  // namespace

RequestHeaders read_request_headers(const rd_kafka_message_t* msg, std::string* problem) {
  RequestHeaders h;
  if (auto v = kafka::header(msg, protocol::kHeaderRequestId)) h.request_id = *v;
  if (auto v = kafka::header(msg, protocol::kHeaderReplyTo)) h.reply_to = *v;
  if (auto v = kafka::header(msg, protocol::kHeaderReplyPartition)) {
    if (!parse_int(*v, h.reply_partition) || h.reply_partition < 0) {
      h.reply_partition = -1;
      if (problem) *problem += "bad " + std::string(protocol::kHeaderReplyPartition) + " '" + *v + "'; ";
    }
  }
  if (auto v = kafka::header(msg, protocol::kHeaderDeadline)) {
    if (!parse_int(*v, h.deadline_ms) || h.deadline_ms < 0) {
      h.deadline_ms = 0;
      if (problem) *problem += "bad " + std::string(protocol::kHeaderDeadline) + " '" + *v + "'; ";
    }
  }
  return h;
}

std::string error_body(Code code, std::string_view message) {
  return nlohmann::json{{"error", {{"code", code_name(code)}, {"message", message}}}}.dump(
      -1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string error_message_of(std::string_view body) {
  auto j = nlohmann::json::parse(body, nullptr, false);
  if (j.is_object() && j.contains("error") && j["error"].is_object() &&
      j["error"].contains("message") && j["error"]["message"].is_string())
    return j["error"]["message"].get<std::string>();
  return std::string(body);
}

std::string new_request_id() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  char buf[33];
  uint64_t a = rng(), b = rng();
  std::snprintf(buf, sizeof buf, "%016llx%016llx", static_cast<unsigned long long>(a),
                static_cast<unsigned long long>(b));
  return buf;
}

}  // namespace memrun::internal
