/*
 * memrun plugin ABI — the only contract between a handler plugin and the host.
 *
 * Plain C (C99 and C++), standard headers only. A plugin is a shared object that
 * exports exactly one symbol, MEMRUN_PLUGIN_ENTRY_SYMBOL, a function returning a
 * static descriptor. The host calls that function, checks the descriptor
 * (struct size, ABI major) and only then calls any hook. Host services reach the
 * plugin through a function table passed to every hook: a plugin never links
 * against host symbols.
 *
 * Compatibility rules (see docs/writing-a-plugin.md):
 *   - MEMRUN_ABI_MAJOR changes only when something is removed or changes meaning;
 *     the host refuses a plugin built for another major.
 *   - MEMRUN_ABI_MINOR changes when something is added. Every struct that may grow
 *     starts with `struct_size`, and new fields/function slots are only appended,
 *     so a plugin built against 1.0 runs on a 1.N host, and a 1.N plugin can ask
 *     MEMRUN_HAS_FIELD() before using a slot an older host may lack.
 *   - A function whose meaning changes gets a new slot (`..._v2`); the old stays.
 *
 * Usage (a minimal C plugin):
 *
 *   static int handle(const memrun_host_api* host, memrun_call* call,
 *                     const char* payload, size_t len) {
 *     return host->reply(call, payload, len);              // echo
 *   }
 *   static const memrun_plugin kPlugin = {   // designated: hooks added by
 *     .struct_size = sizeof(memrun_plugin),   // later minors stay NULL
 *     .abi_major = MEMRUN_ABI_MAJOR, .abi_minor = MEMRUN_ABI_MINOR,
 *     .name = "echo", .version = "1.0.0", .handle = handle };
 *   MEMRUN_PLUGIN_EXPORT const memrun_plugin* memrun_plugin_entry(void) {
 *     return &kPlugin;
 *   }
 */
#ifndef MEMRUN_PLUGIN_H
#define MEMRUN_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MEMRUN_ABI_MAJOR 1
#define MEMRUN_ABI_MINOR 5

/* Name of the one function every plugin exports. */
#define MEMRUN_PLUGIN_ENTRY_SYMBOL "memrun_plugin_entry"

#if defined(_WIN32)
#define MEMRUN_PLUGIN_EXPORT __declspec(dllexport)
#else
#define MEMRUN_PLUGIN_EXPORT __attribute__((visibility("default")))
#endif

/* True when a struct received from the other side is large enough to hold
 * `field`; check before reading a slot added in a later minor version. */
#define MEMRUN_HAS_FIELD(ptr, type, field) \
  ((ptr)->struct_size >= offsetof(type, field) + sizeof(((type*)0)->field))

/* Status codes. Zero is success; every other value is an error whose text goes
 * through the call's message channel (memrun_host_api.set_error). The numbers
 * are part of the ABI and never change meaning. RETRIABLE marks codes a caller
 * may retry with backoff; the others are final. */
enum {
  MEMRUN_OK = 0,
  MEMRUN_ERR_INVALID_ARGUMENT = 1,  /* bad input: malformed payload, missing key */
  MEMRUN_ERR_NOT_FOUND = 2,         /* object, URL or field does not exist */
  MEMRUN_ERR_TYPE_MISMATCH = 3,     /* object exists under another type name */
  MEMRUN_ERR_DEADLINE_EXCEEDED = 4, /* the request's deadline passed */
  MEMRUN_ERR_CANCELLED = 5,         /* the worker is shutting down / revoked */
  MEMRUN_ERR_UNAVAILABLE = 6,       /* RETRIABLE: a store or service is down */
  MEMRUN_ERR_RESOURCE_EXHAUSTED = 7,/* RETRIABLE: memory, disk or quota full */
  MEMRUN_ERR_INTERNAL = 8,          /* bug or unexpected failure */
  MEMRUN_ERR_UNIMPLEMENTED = 9,     /* the host or plugin lacks this feature */
  MEMRUN_ERR_ABI_MISMATCH = 10      /* plugin and host ABI are incompatible */
};

/* Which cache tier served a blob (memrun_blob.tier). */
enum {
  MEMRUN_TIER_RAM = 0,
  MEMRUN_TIER_DISK = 1,
  MEMRUN_TIER_REMOTE = 2
};

/* Log levels for memrun_host_api.log. */
enum {
  MEMRUN_LOG_DEBUG = 0,
  MEMRUN_LOG_INFO = 1,
  MEMRUN_LOG_WARN = 2,
  MEMRUN_LOG_ERROR = 3
};

/* One hook invocation (an init, one request, or the shutdown).
 * Ownership: host-owned and opaque; valid only until the hook it was passed to
 * returns. Everything the host lends through a call (blobs, objects) is
 * released no later than then. */
typedef struct memrun_call memrun_call;

/* A read-only byte range the host lends to the plugin.
 * Ownership: the bytes belong to the host. They stay valid until the plugin
 * passes the blob to memrun_host_api.release_blob or the hook whose call
 * produced it returns, whichever comes first. Never write through `data`. */
typedef struct memrun_blob {
  uint32_t struct_size; /* set by the plugin before the call: sizeof(memrun_blob) */
  const void* data;
  uint64_t size;
  uint32_t tier;    /* MEMRUN_TIER_* that served it */
  void* host_token; /* host bookkeeping; do not touch */
} memrun_blob;

/* A remote object read while it downloads (memrun_host_api.open_stream).
 * Ownership: host-owned and opaque; valid until the plugin passes it to
 * close_stream or the hook whose call opened it returns, whichever comes
 * first. */
typedef struct memrun_stream memrun_stream;

/* Destructor the host calls when it drops a plugin object (replaced, evicted,
 * or at worker shutdown). Called from any host thread, never concurrently with
 * a reader that still holds the object. */
typedef void (*memrun_object_destroy_fn)(void* object);

/* Services the host offers a plugin.
 * Ownership: host-owned, static for the life of the worker; a plugin may keep
 * the pointer. Every function is thread-safe and may be called from any thread
 * running a hook, with the `call` that hook received. Functions returning int
 * return a MEMRUN_ status code and, on error, set the call's error message. */
typedef struct memrun_host_api {
  uint32_t struct_size;
  uint16_t abi_major;
  uint16_t abi_minor;

  /* Writes one line to the worker's log (copied). */
  void (*log)(memrun_call* call, int level, const char* message);

  /* Message channel: the text that travels with a non-zero status returned by
   * the hook (copied; the last call wins). */
  void (*set_error)(memrun_call* call, const char* message);

  /* Sets the reply of a request (copied by the host; the last call wins).
   * Only meaningful in `handle`; elsewhere returns MEMRUN_ERR_INVALID_ARGUMENT. */
  int (*reply)(memrun_call* call, const void* data, size_t size);

  /* Deadline of the request as Unix epoch milliseconds; 0 outside `handle`. */
  int64_t (*deadline_unix_ms)(memrun_call* call);

  /* Non-zero once the request should stop: deadline passed, worker draining or
   * partition revoked. Poll it in long loops. */
  int (*is_cancelled)(memrun_call* call);

  /* Stores an object in the worker's shared object store under `name`,
   * replacing any previous one. `type_name` is compared by get_object; `size`
   * is charged against the service's memory budget. The host takes ownership
   * of `object` and calls `destroy` (may be NULL) when it drops it — also when
   * this function fails. Objects set during `init` are pinned (never evicted). */
  int (*set_object)(memrun_call* call, const char* name, const char* type_name,
                    void* object, uint64_t size, memrun_object_destroy_fn destroy);

  /* Looks up an object. On success *out points to it; the object stays alive
   * at least until the hook returns, even if replaced or evicted meanwhile.
   * MEMRUN_ERR_NOT_FOUND if absent, MEMRUN_ERR_TYPE_MISMATCH if stored under
   * another type name (the message names both). */
  int (*get_object)(memrun_call* call, const char* name, const char* type_name,
                    void** out);

  /* Returns the bytes behind `url` (s3://, http(s)://, file://) through the
   * worker's tiered cache. `out->struct_size` must be set by the caller. The
   * bytes are lent: see memrun_blob. */
  int (*get_or_fetch)(memrun_call* call, const char* url, memrun_blob* out);

  /* Ends a loan from get_or_fetch early; optional (the hook's return ends it). */
  void (*release_blob)(memrun_call* call, memrun_blob* blob);

  /* Uploads `size` bytes under `key` in the service's result store and writes
   * the resulting URL, NUL-terminated, into url_out (capacity url_cap).
   * MEMRUN_ERR_RESOURCE_EXHAUSTED if url_cap is too small; since ABI 1.3 the
   * host checks that before uploading, so nothing was stored and a retry with
   * a larger buffer uploads once (a 1.2 host had already uploaded). */
  int (*upload_result)(memrun_call* call, const void* data, size_t size,
                       const char* key, char* url_out, size_t url_cap);

  /* The call's current error message ("" if none). Valid until the next host
   * function is called with the same call. */
  const char* (*last_error)(memrun_call* call);

  /* Slots below were added in ABI 1.2: a plugin built against 1.2 checks
   * MEMRUN_HAS_FIELD(host, memrun_host_api, package_dir) before calling one,
   * since a 1.0 or 1.1 host's table ends above them. */

  /* The directory holding the files of the package the worker runs from
   * (memrun-host --package): data files are under "data/", as listed in its
   * manifest.json. "" when the worker was not started from a package.
   * Ownership: host-owned, NUL-terminated, valid as long as the worker
   * lives; the files in it are read-only for the plugin. */
  const char* (*package_dir)(memrun_call* call);

  /* Slots below were added in ABI 1.4: a plugin built against 1.4 checks
   * MEMRUN_HAS_FIELD(host, memrun_host_api, get_range) before calling one. */

  /* Returns the bytes [offset, offset + length) of the object behind `url`
   * (s3://, http(s)://, or file:// within the worker's file roots; no
   * "#sha256=" fragment, which pins a whole object). Only the fixed-size
   * chunks of the object that the range touches are fetched, one ranged GET
   * each, and cached in RAM and in the object's one partial entry on disk:
   * reading them again fetches nothing; a range of an object get_or_fetch left
   * whole in RAM or on disk is cut from that entry instead. The bytes never
   * mix two versions of the object.
   * Ownership: the bytes are lent exactly as get_or_fetch's (see
   * memrun_blob; release_blob ends the loan early) and were checked against
   * their checksums before the call returned. `out->struct_size` must be set
   * by the caller; `out` is written only on success.
   * Thread: any thread running a hook, with that hook's call. In `handle`
   * the wait ends at the request's deadline or cancellation.
   * Errors: MEMRUN_ERR_INVALID_ARGUMENT for a length of 0, a range past the
   * object's end (the message names the object's size) or a bad URL;
   * MEMRUN_ERR_UNAVAILABLE (retriable) when the object changed between two
   * chunk fetches (a retry reads the new version), for transport errors and
   * for a server answering another range than asked (nothing is cached);
   * MEMRUN_ERR_UNIMPLEMENTED when the server ignores Range requests (use
   * get_or_fetch); MEMRUN_ERR_NOT_FOUND; MEMRUN_ERR_DEADLINE_EXCEEDED or
   * MEMRUN_ERR_CANCELLED. */
  int (*get_range)(memrun_call* call, const char* url, uint64_t offset, uint64_t length,
                   memrun_blob* out);

  /* Slots below were added in ABI 1.5: a plugin built against 1.5 checks
   * MEMRUN_HAS_FIELD(host, memrun_host_api, close_stream) before calling
   * one. */

  /* Opens a stream of the object behind `url` (s3://, http(s)://; file://
   * within the worker's file roots is mapped whole at once; no "#sha256="
   * fragment) and writes its size to *size_out. Returns once the size and
   * identity are known (after the first chunk at most), while the object
   * goes on downloading in get_range's chunks, in order, a few ahead of the
   * furthest chunk read. The chunks are get_range's: shared with its callers
   * and other streams of the URL (one GET per chunk), cached in RAM and on
   * disk, pinned to the object's identity (never two versions mixed).
   * Ownership: *out is the call's (see memrun_stream); close_stream ends it
   * early and stops its read-ahead. Blobs read from it outlive it.
   * Thread: any thread running a hook, with that hook's call. In `handle`
   * the open and every read wait no longer than the request's deadline or
   * cancellation.
   * Errors: as get_range's for the first chunk; *out and *size_out are
   * written only on success. */
  int (*open_stream)(memrun_call* call, const char* url, memrun_stream** out, uint64_t* size_out);

  /* The bytes [offset, offset + length) of `stream`, waiting only until
   * they are present: a read of a chunk not fetched yet fetches it first.
   * Ownership: the bytes are lent exactly as get_range's (see memrun_blob;
   * release_blob ends the loan early; they stay valid after close_stream)
   * and were checked before the call returned. `out->struct_size` must be
   * set by the caller; `out` is written only on success.
   * Thread: as open_stream; reads of one stream may run concurrently.
   * Errors: MEMRUN_ERR_INVALID_ARGUMENT for a length of 0, a range past
   * the end (the message names the size) or a stream not open in this call;
   * MEMRUN_ERR_DEADLINE_EXCEEDED or MEMRUN_ERR_CANCELLED (the fetch goes
   * on; a later read may succeed); MEMRUN_ERR_UNAVAILABLE (retriable: a
   * read again fetches again) for transport errors and for an object
   * replaced since the stream opened; others as get_range's. */
  int (*stream_read)(memrun_call* call, memrun_stream* stream, uint64_t offset, uint64_t length,
                     memrun_blob* out);

  /* Ends `stream` before the hook returns (optional): stops its read-ahead
   * and drops the chunks it holds (the caches keep theirs). NULL, or a
   * stream already closed, is ignored. Not concurrently with a read of the
   * same stream. */
  void (*close_stream)(memrun_call* call, memrun_stream* stream);
} memrun_host_api;

/* Hook signatures. Each returns MEMRUN_OK or an error code (and may call
 * host->set_error first). */

/* Runs once per worker, before the first request is taken.
 * Thread: the host's main thread, with no request running. */
typedef int (*memrun_init_fn)(const memrun_host_api* host, memrun_call* call);

/* Handles one request. `payload` is the request body (JSON text, not
 * NUL-terminated, valid until the hook returns).
 * Thread: one of the worker's handler threads; up to `concurrency` calls run at
 * once, so the hook must be thread-safe. */
typedef int (*memrun_handle_fn)(const memrun_host_api* host, memrun_call* call,
                                const char* payload, size_t payload_size);

/* Runs at most once, when the worker stops after its last request finished.
 * It does not run when handlers were still running at the end of the drain
 * timeout: they are abandoned, still using what shutdown would free, so the
 * host skips it (and logs that it did). Do not rely on it to persist state.
 * Thread: the host's main thread. The return value is logged only. */
typedef int (*memrun_shutdown_fn)(const memrun_host_api* host, memrun_call* call);

/* Called when the worker is given partitions of the request topic, so the
 * plugin can warm caches for the keys they carry (added in ABI 1.1).
 * `partitions` holds `count` partition numbers, valid until the hook returns.
 * Thread: the worker's warm-up thread, one call at a time; requests of these
 * partitions may already be running, so the hook must be thread-safe. The
 * return value is logged only. */
typedef int (*memrun_assign_fn)(const memrun_host_api* host, memrun_call* call,
                                const int32_t* partitions, size_t count);

/* What a plugin is. Returned by the entry function.
 * Ownership: plugin-owned and static; the host reads it and never frees it.
 * NULL for an optional hook means "not implemented"; `handle` is required. */
typedef struct memrun_plugin {
  uint32_t struct_size; /* sizeof(memrun_plugin) as the plugin was built */
  uint16_t abi_major;   /* MEMRUN_ABI_MAJOR the plugin was built against */
  uint16_t abi_minor;   /* MEMRUN_ABI_MINOR the plugin was built against */
  const char* name;     /* plugin name, e.g. "echo" */
  const char* version;  /* plugin version, free-form, e.g. "1.2.0" */
  /* Service defaults as a JSON object (name, sticky_key, concurrency, ...), or
   * NULL. The host's config file and flags override them. */
  const char* service_json;
  memrun_init_fn init;         /* optional */
  memrun_handle_fn handle;     /* required */
  memrun_shutdown_fn shutdown; /* optional */
  /* Fields below were added in ABI 1.1; a 1.0 plugin's descriptor ends above
   * them and the host treats them as NULL. */
  memrun_assign_fn on_assign; /* optional */
} memrun_plugin;

/* The entry function. Must return a pointer to a static descriptor and run no
 * other plugin code (no allocation, no threads, no I/O).
 * Thread: the host's main thread, once, right after dlopen. */
typedef const memrun_plugin* (*memrun_plugin_entry_fn)(void);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* MEMRUN_PLUGIN_H */
