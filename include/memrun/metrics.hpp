// memrun/metrics.hpp — a worker's figures for operators.
//
//   memrun::Worker worker(service, options);
//   memrun::MetricsServer http(worker, "127.0.0.1:9464");  // before start(): /readyz says "not yet"
//   worker.start();
//
// /metrics   the Prometheus text exposition format (version 0.0.4)
// /healthz   200 while the process answers
// /readyz    200 once the init handler ran and partitions were assigned;
//            503 before that and from the moment stop() begins
#pragma once

#include <memrun/export.hpp>
#include <memrun/worker.hpp>

#include <memory>
#include <string>

namespace memrun {

// Everything the worker counts, in the Prometheus text format.
MEMRUN_API std::string prometheus_text(const Worker& worker);

// Threads: it serves on threads of its own (an accept thread and
// cpp-httplib's pool), each request reading `worker` through prometheus_text()
// and Worker::ready(), both safe at any time. Lifetime: `worker` must outlive
// this object (destroy the MetricsServer first); the destructor stops
// listening and returns once the requests in progress were answered.
// Construct and destroy it on one thread; host() and port() from any.
class MEMRUN_API MetricsServer {
 public:
  // Listens on "host:port" (port 0: a free port, see port()) on its own
  // thread. Throws Error(kInvalidArgument) for a malformed address and
  // Error(kUnavailable) when it cannot bind.
  MetricsServer(const Worker& worker, const std::string& address);
  ~MetricsServer();
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  const std::string& host() const noexcept;
  int port() const noexcept;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace memrun
