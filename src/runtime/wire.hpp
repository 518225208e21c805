// Encoding of memrun's request and reply records (docs/protocol.md).
#pragma once

#include <memrun/status.hpp>

#include <librdkafka/rdkafka.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace memrun::internal {

struct RequestHeaders {
  std::string request_id;   // empty if the producer sent none
  std::string reply_to;     // empty: nobody waits for a reply
  int32_t reply_partition = -1;
  std::optional<int64_t> deadline_ms;  // Unix ms; nullopt: none given, or malformed
  std::string bad_deadline;  // a memrun-deadline-ms that is not a Unix time in ms, as sent
};

// Reads the request headers. A malformed reply partition is treated as absent
// and reported in `problem` so the worker can log it; a malformed deadline is
// kept in `bad_deadline`: the request is refused (docs/protocol.md).
RequestHeaders read_request_headers(const rd_kafka_message_t* msg, std::string* problem);

// The same from `header`, which gives a header's last value or nullopt when
// it is absent (a record's headers are producer bytes: the fuzz target feeds
// them here without a broker). The value must live until this returns.
using HeaderLookup = std::function<std::optional<std::string_view>(std::string_view name)>;
RequestHeaders parse_request_headers(const HeaderLookup& header, std::string* problem);

// The value of header `name` as a whole decimal number; nullopt when the
// header is absent or anything else.
std::optional<int64_t> header_int(const rd_kafka_message_t* msg, std::string_view name);

// Value of an error reply: {"error":{"code":"not_found","message":"..."}}.
std::string error_body(Code code, std::string_view message);
// Message of an error reply body (the body itself if it is not ours).
std::string error_message_of(std::string_view body);

// A fresh random request id (128 bits, hex).
std::string new_request_id();

}  // namespace memrun::internal
