// A Redis GET over one TCP connection per call, in RESP2: what a stateless
// fleet that keeps its raw datasets in a shared Redis does on every request
// (bench/thesis, mode "redis"). Entered by any handler thread; no state is
// shared between calls.
#include "redis_get.hpp"

#include <memrun/status.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>

namespace vector_search {
namespace {

memrun::Error unavailable(const std::string& url, const std::string& why) {
  return memrun::Error(memrun::Code::kUnavailable, "redis GET " + url + ": " + why);
}

class Socket {
 public:
  explicit Socket(int fd) : fd_(fd) {}
  ~Socket() {
    if (fd_ >= 0) ::close(fd_);
  }
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;
  int fd() const { return fd_; }

 private:
  int fd_;
};

// "redis://HOST:PORT/KEY" with HOST an IPv4 address.
struct Target {
  sockaddr_in addr{};
  std::string key;
};

Target parse(const std::string& url) {
  constexpr std::string_view kScheme = "redis://";
  const auto bad = [&](const char* why) {
    return memrun::Error(memrun::Code::kInvalidArgument, "redis URL '" + url + "': " + why);
  };
  if (url.rfind(kScheme, 0) != 0) throw bad("must start with redis://");
  const auto slash = url.find('/', kScheme.size());
  const auto colon = url.rfind(':', slash);
  if (slash == std::string::npos || colon == std::string::npos || colon < kScheme.size())
    throw bad("must be redis://IPV4:PORT/KEY");
  Target t;
  t.key = url.substr(slash + 1);
  if (t.key.empty()) throw bad("names no key");
  const std::string host = url.substr(kScheme.size(), colon - kScheme.size());
  const std::string port = url.substr(colon + 1, slash - colon - 1);
  unsigned value = 0;
  const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (ec != std::errc() || end != port.data() + port.size() || value == 0 || value > 65535)
    throw bad("port must be 1..65535");
  t.addr.sin_family = AF_INET;
  t.addr.sin_port = htons(static_cast<uint16_t>(value));
  if (::inet_pton(AF_INET, host.c_str(), &t.addr.sin_addr) != 1) throw bad("host must be an IPv4 address");
  return t;
}

void send_all(int fd, std::string_view bytes, const std::string& url) {
  while (!bytes.empty()) {
    const ssize_t n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) throw unavailable(url, std::string("send: ") + std::strerror(errno));
    bytes.remove_prefix(static_cast<size_t>(n));
  }
}

// Reads into `buf` until it holds at least `want` bytes.
void fill(int fd, std::string& buf, size_t want, const std::string& url) {
  while (buf.size() < want) {
    const size_t old = buf.size();
    buf.resize(std::max(want, old + 65536));
    const ssize_t n = ::recv(fd, buf.data() + old, buf.size() - old, 0);
    buf.resize(old + static_cast<size_t>(std::max<ssize_t>(n, 0)));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw unavailable(url, std::string("recv: ") + std::strerror(errno));
    if (n == 0) throw unavailable(url, "the server closed the connection");
  }
}

}  // namespace

std::string redis_get(const std::string& url, std::chrono::milliseconds timeout) {
  const Target t = parse(url);
  Socket s(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (s.fd() < 0) throw unavailable(url, std::string("socket: ") + std::strerror(errno));
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(timeout.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((timeout.count() % 1000) * 1000);
  ::setsockopt(s.fd(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(s.fd(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  if (::connect(s.fd(), reinterpret_cast<const sockaddr*>(&t.addr), sizeof t.addr) != 0)
    throw unavailable(url, std::string("connect: ") + std::strerror(errno));
  send_all(s.fd(), "*2\r\n$3\r\nGET\r\n$" + std::to_string(t.key.size()) + "\r\n" + t.key + "\r\n", url);

  // The reply: "$LEN\r\n" LEN bytes "\r\n", "$-1\r\n" for no such key, or "-ERR ...\r\n".
  std::string buf;
  size_t eol = std::string::npos;
  while ((eol = buf.find("\r\n")) == std::string::npos) {
    if (buf.size() > 4096) throw unavailable(url, "no RESP header in the first 4 KiB");
    fill(s.fd(), buf, buf.size() + 1, url);
  }
  const std::string head = buf.substr(0, eol);
  if (head == "$-1") throw memrun::Error(memrun::Code::kNotFound, "redis GET " + url + ": no such key");
  if (head.empty() || head[0] != '$') throw unavailable(url, "the server answered '" + head + "'");
  size_t length = 0;
  const auto [end, ec] = std::from_chars(head.data() + 1, head.data() + head.size(), length);
  if (ec != std::errc() || end != head.data() + head.size()) throw unavailable(url, "bad length '" + head + "'");
  const size_t start = eol + 2;
  fill(s.fd(), buf, start + length + 2, url);
  return buf.substr(start, length);
}

}  // namespace vector_search
