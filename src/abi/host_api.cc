#include "abi/call.hpp"
#include "context/context_access.hpp"

#include <memrun/exception_status.hpp>

#include <spdlog/spdlog.h>

#include <cstring>

namespace memrun::internal {
namespace {

// No exception may unwind into plugin code: every entry point funnels errors
// into a status code (the one mapping, exception_status.hpp: an Error never
// reads as success) and the call's message channel here.
template <class F>
int guarded(memrun_call* call, F&& body) noexcept {
  if (call == nullptr) return MEMRUN_ERR_INVALID_ARGUMENT;
  try {
    return body();
  } catch (...) {
    const ExceptionStatus s = exception_status();
    try {
      call->error = s.message != nullptr ? s.message : "unknown error in host";
    } catch (...) {  // no memory for the message: the code still says it
    }
    return static_cast<int>(s.code);
  }
}

int fail(memrun_call* call, int code, const std::string& message) {
  call->error = message;
  return code;
}

void host_log(memrun_call* call, int level, const char* message) {
  if (call == nullptr || message == nullptr) return;
  auto lvl = level <= MEMRUN_LOG_DEBUG ? spdlog::level::debug
             : level == MEMRUN_LOG_INFO ? spdlog::level::info
             : level == MEMRUN_LOG_WARN ? spdlog::level::warn
                                        : spdlog::level::err;
  try {
    spdlog::log(lvl, "[{}] {}", call->plugin_name ? *call->plugin_name : "plugin", message);
  } catch (...) {
  }
}

void host_set_error(memrun_call* call, const char* message) {
  if (call == nullptr) return;
  try {
    call->error = message ? message : "";
  } catch (...) {
  }
}

int host_reply(memrun_call* call, const void* data, size_t size) {
  return guarded(call, [&]() -> int {
    if (call->request == nullptr) return fail(call, MEMRUN_ERR_INVALID_ARGUMENT, "reply outside handle");
    if (data == nullptr && size > 0) return fail(call, MEMRUN_ERR_INVALID_ARGUMENT, "reply data is NULL");
    call->reply.assign(static_cast<const char*>(data), size);
    return MEMRUN_OK;
  });
}

int64_t host_deadline(memrun_call* call) {
  if (call == nullptr || call->request == nullptr) return 0;
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             call->request->deadline().time_since_epoch())
      .count();
}

int host_cancelled(memrun_call* call) {
  if (call == nullptr || call->request == nullptr) return 0;
  return call->request->cancelled() ? 1 : 0;
}

int host_set_object(memrun_call* call, const char* name, const char* type_name, void* object,
                    uint64_t size, memrun_object_destroy_fn destroy) {
  // Ownership passes to the host even on failure: wrap first.
  std::shared_ptr<void> owned;
  try {
    owned = std::shared_ptr<void>(object, [destroy](void* p) {
      if (destroy && p) destroy(p);
    });
  } catch (...) {
    return MEMRUN_ERR_RESOURCE_EXHAUSTED;  // shared_ptr already ran the deleter
  }
  return guarded(call, [&]() -> int {
    if (!name || !type_name || !object)
      return fail(call, MEMRUN_ERR_INVALID_ARGUMENT, "set_object needs a name, a type name and an object");
    // The plugin goes on using the object (plugin.hpp's make_object returns
    // it), but the store may evict it at once, for a concurrent handler's
    // object: the call holds it until the hook returns, as get_object's do.
    call->held_objects.push_back(owned);
    internal::ContextAccess::set_object(*call->worker, name, type_name, std::move(owned), size);
    return MEMRUN_OK;
  });
}

int host_get_object(memrun_call* call, const char* name, const char* type_name, void** out) {
  return guarded(call, [&]() -> int {
    if (!name || !type_name || !out)
      return fail(call, MEMRUN_ERR_INVALID_ARGUMENT, "get_object needs a name, a type name and out");
    auto obj = internal::ContextAccess::get_object(*call->worker, name, type_name);
    *out = obj.get();
    call->held_objects.push_back(std::move(obj));
    return MEMRUN_OK;
  });
}

// Lends the Blob `fetch` returns through `out` (get_or_fetch, get_range).
// A plain pointer leaves no later point to check chunks at: they are all
// checked now, and if the disk entry turns out corrupted, fetched again at once.
template <class Fetch>
int lend_blob(memrun_call* call, memrun_blob* out, const char* what, Fetch fetch) {
  if (out->struct_size < offsetof(memrun_blob, host_token) + sizeof(void*))
    return fail(call, MEMRUN_ERR_ABI_MISMATCH, std::string(what) + ": memrun_blob.struct_size is too small");
  Blob blob = fetch();
  const std::byte* data = nullptr;
  try {
    data = blob.data();
  } catch (const Error&) {
    if (!blob.corrupt()) throw;
    blob = fetch();
    data = blob.data();
  }
  call->lent_blobs.push_back(std::move(blob));
  const Blob& held = call->lent_blobs.back();
  out->data = data;
  out->size = held.size();
  out->tier = static_cast<uint32_t>(held.tier());
  out->host_token = const_cast<Blob*>(&held);
  return MEMRUN_OK;
}

int host_get_or_fetch(memrun_call* call, const char* url, memrun_blob* out) {
  return guarded(call, [&]() -> int {
    if (!url || !out) return fail(call, MEMRUN_ERR_INVALID_ARGUMENT, "get_or_fetch needs a url and out");
    // In a handler, the wait ends with the request's deadline or cancellation.
    return lend_blob(call, out, "get_or_fetch", [&] {
      return call->request ? call->request->get_or_fetch(url) : call->worker->get_or_fetch(url);
    });
  });
}

int host_get_range(memrun_call* call, const char* url, uint64_t offset, uint64_t length, memrun_blob* out) {
  return guarded(call, [&]() -> int {
    if (!url || !out) return fail(call, MEMRUN_ERR_INVALID_ARGUMENT, "get_range needs a url and out");
    return lend_blob(call, out, "get_range", [&] {
      return call->request ? call->request->get_range(url, offset, length)
                           : call->worker->get_range(url, offset, length);
    });
  });
}

// The call's stream behind `stream`, or null.
StreamingObject* open_stream_of(memrun_call* call, memrun_stream* stream) {
  for (auto& s : call->streams)
    if (reinterpret_cast<memrun_stream*>(&s) == stream) return &s;
  return nullptr;
}

int host_open_stream(memrun_call* call, const char* url, memrun_stream** out, uint64_t* size_out) {
  return guarded(call, [&]() -> int {
    if (!url || !out || !size_out)
      return fail(call, MEMRUN_ERR_INVALID_ARGUMENT, "open_stream needs a url, out and size_out");
    StreamingObject stream =
        call->request ? call->request->open_stream(url) : call->worker->open_stream(url);
    call->streams.push_back(std::move(stream));
    *out = reinterpret_cast<memrun_stream*>(&call->streams.back());
    *size_out = call->streams.back().size();
    return MEMRUN_OK;
  });
}

int host_stream_read(memrun_call* call, memrun_stream* stream, uint64_t offset, uint64_t length, memrun_blob* out) {
  return guarded(call, [&]() -> int {
    if (!out) return fail(call, MEMRUN_ERR_INVALID_ARGUMENT, "stream_read needs out");
    const StreamingObject* s = open_stream_of(call, stream);
    if (!s) return fail(call, MEMRUN_ERR_INVALID_ARGUMENT, "stream_read: not a stream open in this call");
    return lend_blob(call, out, "stream_read", [&] { return s->read(offset, length); });
  });
}

void host_close_stream(memrun_call* call, memrun_stream* stream) {
  if (call == nullptr || stream == nullptr) return;
  call->streams.remove_if([&](const StreamingObject& s) { return reinterpret_cast<const memrun_stream*>(&s) == stream; });
}

void host_release_blob(memrun_call* call, memrun_blob* blob) {
  if (call == nullptr || blob == nullptr || blob->host_token == nullptr) return;
  call->lent_blobs.remove_if([&](const Blob& b) { return &b == blob->host_token; });
  blob->host_token = nullptr;
  blob->data = nullptr;
  blob->size = 0;
}

int host_upload_result(memrun_call* call, const void* data, size_t size, const char* key,
                       char* url_out, size_t url_cap) {
  return guarded(call, [&]() -> int {
    if ((!data && size) || !key || !url_out)
      return fail(call, MEMRUN_ERR_INVALID_ARGUMENT, "upload_result needs data, a key and url_out");
    // The buffer is checked before the upload: a plugin that retries with a
    // larger one must not have uploaded the result twice.
    const std::string expected = call->worker->result_url(key);
    if (expected.size() + 1 > url_cap)
      return fail(call, MEMRUN_ERR_RESOURCE_EXHAUSTED,
                  "url_out holds " + std::to_string(url_cap) + " bytes, the URL needs " +
                      std::to_string(expected.size() + 1) + "; nothing was uploaded");
    std::string url = call->worker->upload_result(
        std::string_view(static_cast<const char*>(data), size), key);
    if (url.size() + 1 > url_cap)  // result_url promised otherwise: a host bug, not the plugin's
      return fail(call, MEMRUN_ERR_INTERNAL, "upload_result wrote " + url + ", longer than result_url said");
    std::memcpy(url_out, url.c_str(), url.size() + 1);
    return MEMRUN_OK;
  });
}

const char* host_last_error(memrun_call* call) {
  return call == nullptr ? "" : call->error.c_str();
}

const char* host_package_dir(memrun_call* call) {
  return call == nullptr || call->worker == nullptr ? "" : call->worker->package_dir().c_str();
}

const memrun_host_api kHostApi = {
    sizeof(memrun_host_api), MEMRUN_ABI_MAJOR, MEMRUN_ABI_MINOR,
    host_log,           host_set_error,      host_reply,
    host_deadline,      host_cancelled,      host_set_object,
    host_get_object,    host_get_or_fetch,   host_release_blob,
    host_upload_result, host_last_error,    host_package_dir,
    host_get_range,     host_open_stream,   host_stream_read,
    host_close_stream,
};

}  // namespace

const memrun_host_api* host_api() noexcept { return &kHostApi; }

}  // namespace memrun::internal
