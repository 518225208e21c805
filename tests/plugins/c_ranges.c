/* c_ranges — a plain C99 plugin that reads a remote object through the ABI
 * 1.4 and 1.5 slots: it opens a stream, reads [offset, offset + length) of
 * it in reads of `step` bytes (releasing each blob as it goes), reads the
 * object's last 16 bytes with get_range, closes the stream and tries one
 * more read of it. It replies with FNV-1a hashes of what it read, so the
 * test checks every byte without the bytes crossing Kafka.
 *
 * Payload: {"k": ..., "url": "...", "offset": N, "length": N, "step": N}, a
 * flat object as the test writes it (this is a test plugin, not a JSON
 * parser). Errors of the host's calls are returned as they are: the host
 * has already set the message. */
#include <memrun/plugin.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Where the value of "name" starts in the payload, or NULL. */
static const char* value_of(const char* payload, size_t size, const char* name) {
  char quoted[32];
  size_t n;
  size_t i;
  snprintf(quoted, sizeof quoted, "\"%s\":", name);
  n = strlen(quoted);
  for (i = 0; i + n <= size; ++i) {
    if (memcmp(payload + i, quoted, n) == 0) {
      const char* v = payload + i + n;
      while (v < payload + size && *v == ' ') ++v;
      return v < payload + size ? v : NULL;
    }
  }
  return NULL;
}

static int read_string(const char* payload, size_t size, const char* name, char* out, size_t cap) {
  const char* v = value_of(payload, size, name);
  size_t n = 0;
  if (v == NULL || *v != '"') return 0;
  for (++v; v < payload + size && *v != '"'; ++v) {
    if (n + 1 >= cap) return 0;
    out[n++] = *v;
  }
  out[n] = '\0';
  return v < payload + size;
}

static int read_u64(const char* payload, size_t size, const char* name, uint64_t* out) {
  const char* v = value_of(payload, size, name);
  char digits[24];
  size_t n = 0;
  if (v == NULL) return 0;
  while (v < payload + size && *v >= '0' && *v <= '9' && n + 1 < sizeof digits) digits[n++] = *v++;
  digits[n] = '\0';
  if (n == 0) return 0;
  *out = strtoull(digits, NULL, 10);
  return 1;
}

static uint64_t fnv1a(uint64_t hash, const void* data, uint64_t size) {
  const unsigned char* p = (const unsigned char*)data;
  uint64_t i;
  for (i = 0; i < size; ++i) {
    hash ^= p[i];
    hash *= UINT64_C(1099511628211);
  }
  return hash;
}

static int handle(const memrun_host_api* host, memrun_call* call, const char* payload, size_t size) {
  char url[1024];
  uint64_t offset = 0, length = 0, step = 0, object_size = 0, reads = 0, at;
  uint64_t hash = UINT64_C(14695981039346656037), footer_hash = UINT64_C(14695981039346656037);
  memrun_stream* stream = NULL;
  memrun_blob blob;
  int rc, after_close;
  char reply[256];
  int n;

  if (!read_string(payload, size, "url", url, sizeof url) || !read_u64(payload, size, "offset", &offset) ||
      !read_u64(payload, size, "length", &length) || !read_u64(payload, size, "step", &step) || step == 0) {
    host->set_error(call, "c_ranges: the payload needs url, offset, length and step (> 0)");
    return MEMRUN_ERR_INVALID_ARGUMENT;
  }
  if (!MEMRUN_HAS_FIELD(host, memrun_host_api, close_stream)) {
    host->set_error(call, "c_ranges: this host has no streams (ABI older than 1.5)");
    return MEMRUN_ERR_UNIMPLEMENTED;
  }
  rc = host->open_stream(call, url, &stream, &object_size);
  if (rc != MEMRUN_OK) return rc;
  for (at = offset; at - offset < length; at += step) {
    memset(&blob, 0, sizeof blob);
    blob.struct_size = sizeof blob;
    rc = host->stream_read(call, stream, at, length - (at - offset) < step ? length - (at - offset) : step, &blob);
    if (rc != MEMRUN_OK) {
      host->close_stream(call, stream);
      return rc;
    }
    hash = fnv1a(hash, blob.data, blob.size);
    host->release_blob(call, &blob); /* the loan ends now, not when the hook returns */
    ++reads;
  }
  memset(&blob, 0, sizeof blob);
  blob.struct_size = sizeof blob;
  rc = host->get_range(call, url, object_size - 16, 16, &blob);
  if (rc != MEMRUN_OK) {
    host->close_stream(call, stream);
    return rc;
  }
  footer_hash = fnv1a(footer_hash, blob.data, blob.size);
  host->close_stream(call, stream);
  memset(&blob, 0, sizeof blob);
  blob.struct_size = sizeof blob;
  after_close = host->stream_read(call, stream, 0, 1, &blob); /* refused: closed */
  n = snprintf(reply, sizeof reply,
               "{\"size\": %" PRIu64 ", \"reads\": %" PRIu64 ", \"fnv\": \"%016" PRIx64 "\", \"footer_fnv\": \"%016" PRIx64
               "\", \"after_close\": %d}",
               object_size, reads, hash, footer_hash, after_close);
  return host->reply(call, reply, (size_t)n);
}

static const memrun_plugin kPlugin = {
    .struct_size = sizeof(memrun_plugin),
    .abi_major = MEMRUN_ABI_MAJOR,
    .abi_minor = MEMRUN_ABI_MINOR,
    .name = "c_ranges",
    .version = "1.0.0",
    .service_json = "{\"name\": \"c_ranges\", \"sticky_key\": \"k\"}",
    .handle = handle,
};

MEMRUN_PLUGIN_EXPORT const memrun_plugin* memrun_plugin_entry(void) { return &kPlugin; }
