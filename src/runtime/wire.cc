#include "runtime/wire.hpp"

#include <memrun/protocol.hpp>

#include "core/decimal.hpp"
#include "kafka/kafka.hpp"

#include <nlohmann/json.hpp>

#include <limits>
#include <random>

namespace memrun::internal {

std::optional<int64_t> header_int(const rd_kafka_message_t* msg, std::string_view name) {
  auto v = kafka::header_view(msg, name);
  return v ? parse_int(*v) : std::nullopt;
}

RequestHeaders read_request_headers(const rd_kafka_message_t* msg, std::string* problem) {
  return parse_request_headers([msg](std::string_view name) { return kafka::header_view(msg, name); }, problem);
}

RequestHeaders parse_request_headers(const HeaderLookup& header, std::string* problem) {
  RequestHeaders h;
  if (auto v = header(protocol::kHeaderRequestId)) h.request_id.assign(*v);
  if (auto v = header(protocol::kHeaderReplyTo)) h.reply_to.assign(*v);
  if (auto v = header(protocol::kHeaderReplyPartition)) {
    auto n = parse_int(*v);
    if (n && *n >= 0 && *n <= std::numeric_limits<int32_t>::max()) h.reply_partition = static_cast<int32_t>(*n);
    else if (problem) *problem += "bad " + std::string(protocol::kHeaderReplyPartition) + " '" + std::string(*v) + "'; ";
  }
  if (auto v = header(protocol::kHeaderDeadline)) {
    auto n = parse_int(*v);
    if (n && *n >= 0) h.deadline_ms = *n;
    else h.bad_deadline = v->empty() ? std::string("(empty)") : std::string(*v);
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
