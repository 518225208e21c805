// The operators' HTTP endpoint, on cpp-httplib: a small, well-kept embedded
// server; it runs on its own thread and never touches the request path.
#include <memrun/metrics.hpp>
#include <memrun/status.hpp>

#include <httplib.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <thread>

namespace memrun {

struct MetricsServer::Impl {
  httplib::Server server;
  std::thread thread;
  std::atomic<bool> listen_returned{false};
  std::string host;
  int port = 0;
};

MetricsServer::MetricsServer(const Worker& worker, const std::string& address) : impl_(std::make_unique<Impl>()) {
  const auto colon = address.rfind(':');
  if (colon == std::string::npos || colon == 0)
    throw Error(Code::kInvalidArgument, "metrics address '" + address + "' must be HOST:PORT");
  impl_->host = address.substr(0, colon);
  int port = -1;
  try {
    port = std::stoi(address.substr(colon + 1));
  } catch (const std::exception&) {
  }
  if (port < 0 || port > 65535) throw Error(Code::kInvalidArgument, "metrics address '" + address + "': bad port");

  auto& s = impl_->server;
  // httplib's default sets SO_REUSEPORT, which lets a second process bind a
  // port already listened on and makes the kernel split connections between
  // the two: a scrape of one worker could answer with another's figures.
  // SO_REUSEADDR alone still allows a restart over TIME_WAIT sockets.
  s.set_socket_options([](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });
  s.Get("/metrics", [&worker](const httplib::Request&, httplib::Response& res) {
    res.set_content(prometheus_text(worker), "text/plain; version=0.0.4; charset=utf-8");
  });
  s.Get("/healthz", [](const httplib::Request&, httplib::Response& res) { res.set_content("ok\n", "text/plain"); });
  s.Get("/readyz", [&worker](const httplib::Request&, httplib::Response& res) {
    const bool ready = worker.ready();
    res.status = ready ? 200 : 503;
    res.set_content(ready ? "ready\n" : "not ready\n", "text/plain");
  });
  impl_->port = port == 0 ? s.bind_to_any_port(impl_->host) : (s.bind_to_port(impl_->host, port) ? port : -1);
  if (impl_->port <= 0) throw Error(Code::kUnavailable, "cannot listen on " + address + " for metrics");
  impl_->thread = std::thread([this] {
    impl_->server.listen_after_bind();
    impl_->listen_returned = true;
  });
  // httplib's stop() does nothing until the listen loop has begun, and the
  // loop then never ends: a destructor right after construction (an init
  // handler that failed) hung the host. So return only once it has begun.
  while (!impl_->server.is_running() && !impl_->listen_returned)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

MetricsServer::~MetricsServer() {
  impl_->server.stop();
  if (impl_->thread.joinable()) impl_->thread.join();
}

const std::string& MetricsServer::host() const noexcept { return impl_->host; }
int MetricsServer::port() const noexcept { return impl_->port; }

}  // namespace memrun
