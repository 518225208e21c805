/* The plugin of bench/abi_call.cc: its handler replies with the request's
 * bytes, the least work a handler can do that still crosses the ABI both
 * ways (a call in, a host->reply out). */
#include <memrun/plugin.h>

static int handle(const memrun_host_api* host, memrun_call* call, const char* payload, size_t size) {
  return host->reply(call, payload, size);
}

static const memrun_plugin kPlugin = {
    .struct_size = sizeof(memrun_plugin),
    .abi_major = MEMRUN_ABI_MAJOR,
    .abi_minor = MEMRUN_ABI_MINOR,
    .name = "abi_call",
    .version = "1.0.0",
    .service_json = "{\"name\": \"abi_call\"}",
    .handle = handle,
};

MEMRUN_PLUGIN_EXPORT const memrun_plugin* memrun_plugin_entry(void) { return &kPlugin; }
