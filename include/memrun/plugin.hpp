// memrun/plugin.hpp — write a plugin as ordinary C++ over parsed JSON.
//
// Header-only: a plugin built with it links nothing of libmemrun; everything
// crosses plugin.h's C ABI. Every hook is wrapped in a noexcept catch-all
// that maps exceptions as exception_status.hpp says: memrun::Error keeps its
// code (an Error(kOk) becomes MEMRUN_ERR_INTERNAL), nlohmann::json errors (a
// field of the wrong type) become MEMRUN_ERR_INVALID_ARGUMENT, anything else
// MEMRUN_ERR_INTERNAL, each with its message.
//
//   #include <memrun/plugin.hpp>
//
//   static void init(memrun::sdk::Host& host) {
//     host.set_object("greeting", std::string("hello"));
//   }
//   static nlohmann::json handle(memrun::sdk::Request& rq) {
//     auto* greeting = rq.host.get_object<std::string>("greeting");
//     return {{"say", *greeting + ", " + rq.json.at("name").get<std::string>()}};
//   }
//   MEMRUN_PLUGIN("hello", "1.0.0", R"({"sticky_key": "name"})", init, handle, nullptr)
//
// Build it with memrun_add_plugin() (cmake/MemrunPlugin.cmake), which hides
// every symbol except the entry function.
#pragma once

#include <memrun/exception_status.hpp>
#include <memrun/plugin.h>
#include <memrun/status.hpp>

#include <nlohmann/json.hpp>

#include <chrono>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <typeinfo>
#include <utility>

namespace memrun::sdk {

// Bytes lent by the host: valid until the hook returns.
struct BlobView {
  const std::byte* data = nullptr;
  std::size_t size = 0;
  uint32_t tier = MEMRUN_TIER_REMOTE;  // MEMRUN_TIER_*
  std::string_view view() const { return {reinterpret_cast<const char*>(data), size}; }
};

class Stream;

// The host's services for one hook call. Cheap to copy; valid during the hook.
class Host {
 public:
  Host(const memrun_host_api* api, memrun_call* call) : api_(api), call_(call) {}

  void log(int level, const std::string& message) const { api_->log(call_, level, message.c_str()); }
  void info(const std::string& message) const { log(MEMRUN_LOG_INFO, message); }
  void warn(const std::string& message) const { log(MEMRUN_LOG_WARN, message); }

  // Moves `value` into the worker's object store under `name`, charging
  // `size` bytes (default sizeof(T)). Objects set in init are pinned.
  template <class T>
  void set_object(const std::string& name, T value, uint64_t size = sizeof(T)) const {
    make_object<T>(name, size, std::move(value));
  }

  // Constructs a T from `args` in place (for types that cannot move, such as
  // std::atomic) and stores it like set_object. Returns the stored object;
  // alive at least until the hook returns, even if the store evicts it.
  template <class T, class... Args>
  T* make_object(const std::string& name, uint64_t size, Args&&... args) const {
    auto* obj = new T(std::forward<Args>(args)...);
    // The host owns obj from here on, even if it refuses it.
    check(api_->set_object(call_, name.c_str(), typeid(T).name(), obj, size,
                           [](void* p) { delete static_cast<T*>(p); }));
    return obj;
  }

  // The object under `name`; alive at least until the hook returns. Throws
  // Error(kNotFound) or Error(kTypeMismatch).
  template <class T>
  T* get_object(const std::string& name) const {
    void* out = nullptr;
    check(api_->get_object(call_, name.c_str(), typeid(T).name(), &out));
    return static_cast<T*>(out);
  }

  // Bytes behind `url` through the worker's tiered cache.
  BlobView get_or_fetch(const std::string& url) const {
    memrun_blob blob{};
    blob.struct_size = sizeof blob;
    check(api_->get_or_fetch(call_, c_string(url, "URL"), &blob));
    return {static_cast<const std::byte*>(blob.data), static_cast<std::size_t>(blob.size), blob.tier};
  }

  // Bytes [offset, offset + length) of the object behind `url`, fetching
  // only the chunks they touch (see memrun_host_api.get_range). Throws
  // Error(kUnimplemented) on a host older than ABI 1.4, and the host's
  // errors: kInvalidArgument (length 0, past the end), kUnavailable (the
  // object changed; retry), ...
  BlobView get_range(const std::string& url, uint64_t offset, uint64_t length) const {
    if (!MEMRUN_HAS_FIELD(api_, memrun_host_api, get_range))
      throw Error(Code::kUnimplemented, "get_range needs a host with ABI 1.4 or later; this one runs ABI " +
                                            std::to_string(api_->abi_major) + "." + std::to_string(api_->abi_minor));
    memrun_blob blob{};
    blob.struct_size = sizeof blob;
    check(api_->get_range(call_, c_string(url, "URL"), offset, length, &blob));
    return {static_cast<const std::byte*>(blob.data), static_cast<std::size_t>(blob.size), blob.tier};
  }

  // A stream of the object behind `url`, read while it downloads (see
  // memrun_host_api.open_stream and Stream). Throws Error(kUnimplemented)
  // on a host older than ABI 1.5, and the host's errors.
  inline Stream open_stream(const std::string& url) const;

  // Uploads `bytes` under `key`; returns the URL.
  std::string upload_result(std::string_view bytes, const std::string& key) const {
    char url[2048];
    check(api_->upload_result(call_, bytes.data(), bytes.size(), c_string(key, "result key"), url, sizeof url));
    return url;
  }

  std::chrono::system_clock::time_point deadline() const {
    return std::chrono::system_clock::time_point(std::chrono::milliseconds(api_->deadline_unix_ms(call_)));
  }
  bool cancelled() const { return api_->is_cancelled(call_) != 0; }

  // The unpacked package's directory (data files under data/); "" when the
  // worker was not started from a package or the host predates ABI 1.2.
  std::string package_dir() const {
    if (!MEMRUN_HAS_FIELD(api_, memrun_host_api, package_dir)) return "";
    return api_->package_dir(call_);
  }

  const memrun_host_api* api() const { return api_; }
  memrun_call* call() const { return call_; }

 private:
  // Host errors come back as codes; rethrow them so handlers can stay linear.
  // A string crosses the C ABI up to its first NUL: one holding a NUL would
  // name one thing here and another in the host, so it is refused.
  static const char* c_string(const std::string& s, const char* what) {
    if (s.find('\0') != std::string::npos)
      throw Error(Code::kInvalidArgument, std::string(what) + " holds a NUL byte: not a C string");
    return s.c_str();
  }
  void check(int rc) const {
    if (rc != MEMRUN_OK) throw Error(static_cast<Code>(rc), api_->last_error(call_));
  }
  friend class Stream;
  const memrun_host_api* api_;
  memrun_call* call_;
};

// An open stream (Host::open_stream): read(offset, length) waits only until
// those bytes are present, within the request's deadline and cancellation.
// Closed when destroyed (or at the hook's return, whichever is first); the
// BlobViews it returned stay valid until the hook returns. Move-only; one
// thread at a time closes or destroys it.
class Stream {
 public:
  Stream(Stream&& other) noexcept
      : host_(other.host_), stream_(std::exchange(other.stream_, nullptr)), size_(other.size_) {}
  Stream& operator=(Stream&& other) noexcept {
    if (this != &other) {
      close();
      host_ = other.host_;
      stream_ = std::exchange(other.stream_, nullptr);
      size_ = other.size_;
    }
    return *this;
  }
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;
  ~Stream() { close(); }

  uint64_t size() const { return size_; }
  // Bytes [offset, offset + length). Throws the host's errors:
  // kInvalidArgument (length 0, past the end), kDeadlineExceeded,
  // kCancelled, kUnavailable (a transport error or the object replaced;
  // a read again fetches again), ...
  BlobView read(uint64_t offset, uint64_t length) const {
    if (stream_ == nullptr) throw Error(Code::kInvalidArgument, "read of a closed stream");
    memrun_blob blob{};
    blob.struct_size = sizeof blob;
    host_.check(host_.api_->stream_read(host_.call_, stream_, offset, length, &blob));
    return {static_cast<const std::byte*>(blob.data), static_cast<std::size_t>(blob.size), blob.tier};
  }
  // Stops the read-ahead and drops what the stream holds; reads throw then.
  void close() noexcept {
    if (stream_ != nullptr) host_.api_->close_stream(host_.call_, std::exchange(stream_, nullptr));
  }

 private:
  friend class Host;
  Stream(Host host, memrun_stream* stream, uint64_t size) : host_(host), stream_(stream), size_(size) {}
  Host host_;
  memrun_stream* stream_;
  uint64_t size_;
};

inline Stream Host::open_stream(const std::string& url) const {
  if (!MEMRUN_HAS_FIELD(api_, memrun_host_api, close_stream))
    throw Error(Code::kUnimplemented, "open_stream needs a host with ABI 1.5 or later; this one runs ABI " +
                                          std::to_string(api_->abi_major) + "." + std::to_string(api_->abi_minor));
  memrun_stream* stream = nullptr;
  uint64_t size = 0;
  check(api_->open_stream(call_, c_string(url, "URL"), &stream, &size));
  return Stream(*this, stream, size);
}

// One request as a handler sees it.
struct Request {
  const nlohmann::json& json;  // parsed payload
  std::string_view payload;    // raw payload
  Host& host;
};

using InitFn = void (*)(Host&);
using ShutdownFn = void (*)(Host&);
// Newly assigned partitions (ABI 1.1): warm caches for the keys they carry.
using AssignFn = void (*)(Host&, std::span<const int32_t> partitions);

namespace detail {

// Runs `body`, turning every exception into a status code plus message by
// the one mapping (exception_status.hpp), which the host uses too.
template <class F>
int guarded(const memrun_host_api* api, memrun_call* call, F&& body) noexcept {
  try {
    body();
    return MEMRUN_OK;
  } catch (...) {
    const ExceptionStatus s = exception_status();
    api->set_error(call, s.message != nullptr ? s.message : "plugin threw a non-standard exception");
    return static_cast<int>(s.code);
  }
}

template <InitFn Fn>
int init_hook(const memrun_host_api* api, memrun_call* call) noexcept {
  return guarded(api, call, [&] {
    Host host(api, call);
    Fn(host);
  });
}

template <ShutdownFn Fn>
int shutdown_hook(const memrun_host_api* api, memrun_call* call) noexcept {
  return guarded(api, call, [&] {
    Host host(api, call);
    Fn(host);
  });
}

template <AssignFn Fn>
int assign_hook(const memrun_host_api* api, memrun_call* call, const int32_t* partitions, size_t count) noexcept {
  return guarded(api, call, [&] {
    Host host(api, call);
    Fn(host, std::span<const int32_t>(partitions, count));
  });
}

template <auto Fn>
int handle_hook(const memrun_host_api* api, memrun_call* call, const char* payload,
                size_t size) noexcept {
  return guarded(api, call, [&] {
    Host host(api, call);
    auto json = nlohmann::json::parse(payload, payload + size);
    Request rq{json, std::string_view(payload, size), host};
    auto result = Fn(rq);
    if constexpr (std::is_convertible_v<decltype(result), std::string_view>) {
      std::string_view bytes(result);  // raw reply bytes
      if (int rc = api->reply(call, bytes.data(), bytes.size())) throw Error(static_cast<Code>(rc), "reply failed");
    } else if constexpr (std::is_same_v<std::decay_t<decltype(result)>, nlohmann::json>) {
      std::string text = result.dump();  // not nlohmann::json(result): that copies the whole tree first
      if (int rc = api->reply(call, text.data(), text.size())) throw Error(static_cast<Code>(rc), "reply failed");
    } else {
      std::string text = nlohmann::json(result).dump();
      if (int rc = api->reply(call, text.data(), text.size())) throw Error(static_cast<Code>(rc), "reply failed");
    }
  });
}

template <InitFn Init, auto Handle, ShutdownFn Shutdown, AssignFn OnAssign = nullptr>
constexpr memrun_plugin describe(const char* name, const char* version, const char* service_json) {
  memrun_plugin d{};
  d.struct_size = sizeof(memrun_plugin);
  d.abi_major = MEMRUN_ABI_MAJOR;
  d.abi_minor = MEMRUN_ABI_MINOR;
  d.name = name;
  d.version = version;
  d.service_json = service_json;
  if constexpr (Init != nullptr) d.init = &init_hook<Init>;
  d.handle = &handle_hook<Handle>;
  if constexpr (Shutdown != nullptr) d.shutdown = &shutdown_hook<Shutdown>;
  if constexpr (OnAssign != nullptr) d.on_assign = &assign_hook<OnAssign>;
  return d;
}

}  // namespace detail
}  // namespace memrun::sdk

// Defines the plugin's entry function. INIT and SHUTDOWN may be nullptr;
// HANDLE is `R handle(memrun::sdk::Request&)` where R is anything nlohmann::json
// can hold, or std::string for a raw reply. The descriptor is constant-
// initialized, so the entry function runs no plugin code.
#define MEMRUN_PLUGIN(NAME, VERSION, SERVICE_JSON, INIT, HANDLE, SHUTDOWN)                    \
  extern "C" MEMRUN_PLUGIN_EXPORT const memrun_plugin* memrun_plugin_entry(void) {            \
    static constexpr memrun_plugin kDescriptor =                                              \
        ::memrun::sdk::detail::describe<INIT, HANDLE, SHUTDOWN>(NAME, VERSION, SERVICE_JSON); \
    return &kDescriptor;                                                                      \
  }

// The same, with an on_assign hook: `void on_assign(memrun::sdk::Host&,
// std::span<const int32_t> partitions)` (ABI 1.1).
#define MEMRUN_PLUGIN_WITH_ASSIGN(NAME, VERSION, SERVICE_JSON, INIT, HANDLE, SHUTDOWN, ON_ASSIGN)             \
  extern "C" MEMRUN_PLUGIN_EXPORT const memrun_plugin* memrun_plugin_entry(void) {                          \
    static constexpr memrun_plugin kDescriptor =                                                            \
        ::memrun::sdk::detail::describe<INIT, HANDLE, SHUTDOWN, ON_ASSIGN>(NAME, VERSION, SERVICE_JSON);    \
    return &kDescriptor;                                                                                    \
  }
