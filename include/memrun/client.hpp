// memrun/client.hpp — calls a service through Kafka and waits for its reply.
//
//   memrun::Client client({.kafka = {.bootstrap_servers = bootstrap}});
//   auto reply = client.submit("echo", {{"user_id", 42}, {"q", "hi"}}).get();
//   if (reply.ok()) std::cout << reply.body;
//
// The client extracts the service's sticky key from the payload (learned from
// the memrun.services registry, or set with set_sticky_key), produces to
// "memrun.requests.{service}" keyed by it with Kafka's murmur2 partitioner, and
// reads replies from its own partitions of "memrun.replies" (one by default).
// Many requests may be outstanding at once. Thread-safe.
#pragma once

#include <memrun/kafka_options.hpp>
#include <memrun/status.hpp>

#include <nlohmann/json_fwd.hpp>

#include <chrono>
#include <cstdint>
#include <future>
#include <memory>
#include <optional>
#include <string>

namespace memrun {

struct ClientOptions {
  KafkaOptions kafka;
  // Default per-request timeout (the caller's side; also sent as the deadline).
  std::chrono::milliseconds timeout{30000};
  // First reply partition to read; -1 picks one at random.
  int reply_partition = -1;
  // How many reply partitions to read, consecutive from reply_partition
  // (wrapping around memrun.replies). Requests name them in turn, so each
  // takes 1/n of the reply bytes: a client with many large replies in
  // flight stays further from the broker's retention on each partition.
  // 1 to the topic's partition count; more is kInvalidArgument.
  int reply_partitions = 1;
};

struct Response {
  // kOk: the handler answered; otherwise why there is no answer (the
  // handler's error, or the client's: kDeadlineExceeded, kUnavailable,
  // kCancelled). A Response not filled in by the client is not ok.
  Code code = Code::kInternal;
  bool ok() const noexcept { return code == Code::kOk; }
  std::string body;          // reply bytes (an error reply's raw body when !ok())
  std::string error;         // message when !ok()
  std::string request_id;
  std::string key;           // sticky-key value it was routed by
  std::string worker_id;     // who answered (empty on a local timeout)
  int32_t partition = -1;    // request partition that served it
  int64_t offset = -1;       // request offset in that partition
  std::chrono::microseconds latency{0};
};

class MEMRUN_API Client {
 public:
  explicit Client(ClientOptions options);
  ~Client();  // outstanding futures complete with kCancelled
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Sends `payload` (a JSON object) to `service`. Throws Error(kInvalidArgument)
  // at once if a sticky-key field is missing (the message names it), and
  // Error(kNotFound) if the service's sticky key is unknown. The future never
  // throws: transport errors and timeouts arrive as a Response with !ok.
  std::future<Response> submit(const std::string& service, const nlohmann::json& payload,
                               std::optional<std::chrono::milliseconds> timeout = {});

  // Tells the client the sticky key of `service` instead of looking it up.
  void set_sticky_key(const std::string& service, const std::string& sticky_key);

  // The sticky key of `service` from the memrun.services registry (cached).
  std::string sticky_key_of(const std::string& service);

  // The first reply partition this client reads, and how many it reads.
  int32_t reply_partition() const noexcept;
  int reply_partitions() const noexcept;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace memrun
