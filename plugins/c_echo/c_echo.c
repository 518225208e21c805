/* c_echo — a plugin in plain C99: the proof that the ABI needs no C++.
 *
 * Replies {"echo": <payload>, "bytes": <payload size>}. Built as C with the
 * same warnings the ABI header promises to pass. */
#include <memrun/plugin.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int handle(const memrun_host_api* host, memrun_call* call, const char* payload,
                  size_t size) {
  static const char kHead[] = "{\"echo\":";
  char tail[48];
  int tail_len = snprintf(tail, sizeof tail, ",\"bytes\":%lu}", (unsigned long)size);
  size_t total = sizeof kHead - 1 + size + (size_t)tail_len;
  char* out = (char*)malloc(total);
  int rc;
  if (out == NULL) {
    host->set_error(call, "c_echo: out of memory");
    return MEMRUN_ERR_RESOURCE_EXHAUSTED;
  }
  memcpy(out, kHead, sizeof kHead - 1);
  memcpy(out + sizeof kHead - 1, payload, size);
  memcpy(out + sizeof kHead - 1 + size, tail, (size_t)tail_len);
  rc = host->reply(call, out, total); /* the host copies the reply */
  free(out);
  return rc;
}

static int init(const memrun_host_api* host, memrun_call* call) {
  host->log(call, MEMRUN_LOG_INFO, "c_echo ready");
  return MEMRUN_OK;
}

static const memrun_plugin kPlugin = {
    .struct_size = sizeof(memrun_plugin),
    .abi_major = MEMRUN_ABI_MAJOR,
    .abi_minor = MEMRUN_ABI_MINOR,
    .name = "c_echo",
    .version = "1.0.0",
    .service_json = "{\"name\": \"c_echo\", \"sticky_key\": \"user_id\"}",
    .init = init,
    .handle = handle,
};

MEMRUN_PLUGIN_EXPORT const memrun_plugin* memrun_plugin_entry(void) { return &kPlugin; }
