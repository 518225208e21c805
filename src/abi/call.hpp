// The host side of one plugin hook invocation (the opaque memrun_call of
// plugin.h) and the function table that serves it.
#pragma once

#include <memrun/plugin.h>
#include <memrun/service.hpp>

#include <list>
#include <memory>
#include <string>
#include <vector>

struct memrun_call {
  memrun::SharedWorkerContext* worker = nullptr;
  memrun::RequestContext* request = nullptr;  // null outside `handle`
  const std::string* plugin_name = nullptr;
  std::string reply;
  std::string error;
  // Loans that must outlive the hook: objects and blobs handed to the plugin.
  std::vector<std::shared_ptr<void>> held_objects;
  std::list<memrun::Blob> lent_blobs;
  // Streams opened in the hook (memrun_stream* is the address of one);
  // after lent_blobs, so the streams end first.
  std::list<memrun::StreamingObject> streams;
};

namespace memrun::internal {

// The table passed to every hook. Static; every entry is noexcept in effect.
const memrun_host_api* host_api() noexcept;

}  // namespace memrun::internal
