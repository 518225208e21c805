/* crashy — a C plugin that segfaults on one payload: any request whose JSON
 * contains "poison" kills the process; every other request is answered.
 * The crash-loop test runs it until the worker stops dying. */
#include <memrun/plugin.h>

#include <string.h>

static int handle(const memrun_host_api* host, memrun_call* call, const char* payload, size_t size) {
  static const char kPoison[] = "poison";
  size_t i;
  for (i = 0; i + sizeof kPoison - 1 <= size; ++i) {
    if (memcmp(payload + i, kPoison, sizeof kPoison - 1) == 0) {
      volatile int* nowhere = NULL;
      *nowhere = 1; /* SIGSEGV, as a real bug would */
    }
  }
  return host->reply(call, payload, size);
}

static const memrun_plugin kPlugin = {
    .struct_size = sizeof(memrun_plugin),
    .abi_major = MEMRUN_ABI_MAJOR,
    .abi_minor = MEMRUN_ABI_MINOR,
    .name = "crashy",
    .version = "1.0.0",
    .service_json = "{\"name\": \"crashy\", \"sticky_key\": \"k\"}",
    .handle = handle,
};

MEMRUN_PLUGIN_EXPORT const memrun_plugin* memrun_plugin_entry(void) { return &kPlugin; }
