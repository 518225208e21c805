// memrun/service.hpp — what a service is: budgets, routing key and handlers.
//
//   memrun::MemoryService svc;
//   svc.name = "vectors";
//   svc.memory = "32Gi";
//   svc.sticky_key = "user_id:dataset_id";
//   svc.init = [](memrun::SharedWorkerContext& ctx) { /* load warm state */ };
//   svc.handle = [](memrun::RequestContext& rq) -> memrun::Reply {
//     return nlohmann::json{{"hello", rq.json()["user_id"]}};
//   };
//
// A loaded plugin becomes a MemoryService too (see plugin_loader.hpp), so the
// worker runs both the same way.
#pragma once

#include <memrun/context.hpp>
#include <memrun/status.hpp>

#include <nlohmann/json_fwd.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace memrun {

// The body sent back to the caller: JSON or raw bytes.
class MEMRUN_API Reply {
 public:
  Reply() = default;
  Reply(const nlohmann::json& value);  // NOLINT: implicit on purpose
  static Reply raw(std::string bytes);
  const std::string& body() const noexcept { return body_; }
  std::string& body() noexcept { return body_; }

 private:
  std::string body_;
};

// What a running handler sees of its request. Lives for one handler call on the
// handler thread; not to be shared with other threads.
class MEMRUN_API RequestContext {
 public:
  virtual ~RequestContext() = default;

  // The request body as sent, and parsed. The worker validated it as JSON
  // before the handler runs; the tree is built on the first json() call (a
  // handler that reads only payload() pays for none) and lives as long as
  // this context. json() throws only std::bad_alloc.
  virtual std::string_view payload() const = 0;
  virtual const nlohmann::json& json() const = 0;
  // The sticky-key value the request was routed by, e.g. "42:ds7".
  virtual const std::string& key() const = 0;
  virtual const std::string& request_id() const = 0;
  virtual int32_t partition() const = 0;
  virtual int64_t offset() const = 0;

  virtual std::chrono::system_clock::time_point deadline() const = 0;
  // True once the deadline passed or the worker must stop this request (from
  // the moment Worker::stop() begins, or its partition was revoked). A
  // handler still running at the deadline has its caller answered
  // deadline_exceeded then; what it returns later is not sent.
  virtual bool cancelled() const = 0;

  virtual SharedWorkerContext& worker() = 0;

  // worker().get_or_fetch(url), waiting no longer than this request's
  // deadline and no longer than it is not cancelled.
  Blob get_or_fetch(const std::string& url);
  // worker().get_range(url, offset, length), within the same bounds.
  Blob get_range(const std::string& url, uint64_t offset, uint64_t length);
  // worker().open_stream(url, options): the stream and its reads wait no
  // longer than this request may run, so it must not be read after the
  // handler returns.
  StreamingObject open_stream(const std::string& url, const StreamOptions& options = {});
};

using InitHandler = std::function<void(SharedWorkerContext&)>;
using RequestHandler = std::function<Reply(RequestContext&)>;
using ShutdownHandler = std::function<void(SharedWorkerContext&)>;
// Newly assigned partitions of the request topic; runs on the worker's warm-up
// thread while requests may already run.
using AssignHandler = std::function<void(SharedWorkerContext&, const std::vector<int32_t>& partitions)>;

struct MEMRUN_API MemoryService {
  std::string name;             // [a-zA-Z0-9._-]+, names the topic and group
  std::string memory = "1Gi";   // RAM budget of the object store
  std::string disk = "10Gi";    // disk cache budget
  int concurrency = 16;         // handlers running at once per worker
  double timeout_seconds = 60;  // per request, from when the worker takes it from Kafka (docs/protocol.md, Deadlines)
  std::string sticky_key;       // "field[:field...]"; fields may be dotted paths
  int partitions = 16;          // of the request topic, when memrun creates it
  uint64_t max_payload_bytes = 1 << 20;  // larger requests are refused
  // Attempts of a request whose handler fails with a retriable error
  // (unavailable, resource_exhausted, internal); after the last one it goes to
  // memrun.dlq.{service}. 1 = no retry.
  int max_attempts = 3;
  int retry_backoff_ms = 100;  // first backoff; doubles per attempt
  // Request ids answered recently, per worker: a redelivered id gets the stored
  // reply instead of running again. 0 disables suppression.
  int dedup_window = 10000;
  // RAM the window may hold: ids plus reply bodies, oldest leaving first. A
  // reply larger than this is not kept (its id runs again if redelivered).
  // 0 disables suppression.
  uint64_t dedup_window_bytes = 64 << 20;
  // A request that was running when a worker process died this many times
  // (a handler that crashes on one payload) goes to memrun.dlq.{service}
  // instead of running again; after the first death it runs alone. Needs the
  // worker's crash journal (WorkerOptions::state_dir). 0 disables.
  int max_crashes = 2;
  // A request whose record key is not its payload's sticky key, or which sits
  // on another partition than that key maps to, breaks stickiness: it is
  // always counted (memrun_misrouted_requests_total) and logged; with
  // strict_routing it is refused with invalid_argument instead of served.
  bool strict_routing = false;

  InitHandler init;          // optional; runs once per worker before requests
  RequestHandler handle;     // required
  ShutdownHandler shutdown;  // optional; runs once after the last request
  AssignHandler on_assign;   // optional; warm caches for newly assigned partitions

  // Throws Error(kInvalidArgument) naming the first bad field.
  void validate() const;
  // What validate() checks except the handlers: for service fields that
  // travel without code (a package manifest, a config file).
  void validate_fields() const;
  uint64_t memory_bytes() const;
  uint64_t disk_bytes() const;
};

// Overrides the fields present in `fields` (a JSON object with the names above;
// unknown names are an error, so typos do not pass silently).
MEMRUN_API void apply_service_fields(MemoryService& service, const nlohmann::json& fields);

// The data fields of a service as JSON (no handlers).
MEMRUN_API nlohmann::json service_fields(const MemoryService& service);

// "32Gi", "512Mi", "1.5G", "4096" → bytes. Binary suffixes Ki Mi Gi Ti (1024^n)
// and decimal k M G T (1000^n). Throws Error(kInvalidArgument).
MEMRUN_API uint64_t parse_bytes(std::string_view text);

}  // namespace memrun
