/* Deliberately broken plugins, one per loader failure. Which one this file
 * becomes is chosen with -DBROKEN_<KIND> at build time. */
#include <memrun/plugin.h>

#include <stddef.h>

#if defined(__GNUC__)
__attribute__((unused))
#endif
static int handle(const memrun_host_api* host, memrun_call* call, const char* p, size_t n) {
  return host->reply(call, p, n);
}

#if defined(BROKEN_NO_ENTRY)
/* Exports a similarly named symbol, but not the entry function. */
MEMRUN_PLUGIN_EXPORT int memrun_plugin_entry_v0(void) { return 0; }

#elif defined(BROKEN_ABI_MAJOR)
static const memrun_plugin kPlugin = {
    .struct_size = sizeof(memrun_plugin),
    .abi_major = 99,
    .abi_minor = 3,
    .name = "future",
    .version = "9.9",
    .handle = handle,
};
MEMRUN_PLUGIN_EXPORT const memrun_plugin* memrun_plugin_entry(void) { return &kPlugin; }

#elif defined(BROKEN_TOO_SMALL)
/* Claims a descriptor smaller than ABI 1.0's. */
static const memrun_plugin kPlugin = {
    .struct_size = 16,
    .abi_major = MEMRUN_ABI_MAJOR,
    .abi_minor = 0,
    .name = "small",
    .version = "1",
    .handle = handle,
};
MEMRUN_PLUGIN_EXPORT const memrun_plugin* memrun_plugin_entry(void) { return &kPlugin; }

#elif defined(BROKEN_NULL_DESCRIPTOR)
MEMRUN_PLUGIN_EXPORT const memrun_plugin* memrun_plugin_entry(void) { return NULL; }

#elif defined(BROKEN_NO_HANDLE)
static const memrun_plugin kPlugin = {
    .struct_size = sizeof(memrun_plugin),
    .abi_major = MEMRUN_ABI_MAJOR,
    .abi_minor = MEMRUN_ABI_MINOR,
    .name = "nohandle",
    .version = "1",
};
MEMRUN_PLUGIN_EXPORT const memrun_plugin* memrun_plugin_entry(void) { return &kPlugin; }

#elif defined(BROKEN_INIT_FAILS)
static int init(const memrun_host_api* host, memrun_call* call) {
  host->set_error(call, "database unreachable");
  return MEMRUN_ERR_UNAVAILABLE;
}
static const memrun_plugin kPlugin = {
    .struct_size = sizeof(memrun_plugin),
    .abi_major = MEMRUN_ABI_MAJOR,
    .abi_minor = MEMRUN_ABI_MINOR,
    .name = "initfails",
    .version = "1",
    .service_json = "{\"sticky_key\": \"k\"}",
    .init = init,
    .handle = handle,
};
MEMRUN_PLUGIN_EXPORT const memrun_plugin* memrun_plugin_entry(void) { return &kPlugin; }

#elif defined(BROKEN_BAD_DEFAULTS)
static const memrun_plugin kPlugin = {
    .struct_size = sizeof(memrun_plugin),
    .abi_major = MEMRUN_ABI_MAJOR,
    .abi_minor = MEMRUN_ABI_MINOR,
    .name = "baddefaults",
    .version = "1",
    .service_json = "{\"concurency\": 4}",
    .handle = handle,
};
MEMRUN_PLUGIN_EXPORT const memrun_plugin* memrun_plugin_entry(void) { return &kPlugin; }

#elif defined(BROKEN_UNRESOLVED)
/* References a function nobody defines: dlopen(RTLD_NOW) must refuse it. */
extern int memrun_no_such_function(void);
static int handle_unresolved(const memrun_host_api* host, memrun_call* call, const char* p, size_t n) {
  (void)host; (void)call; (void)p; (void)n;
  return memrun_no_such_function();
}
static const memrun_plugin kPlugin = {
    .struct_size = sizeof(memrun_plugin),
    .abi_major = MEMRUN_ABI_MAJOR,
    .abi_minor = MEMRUN_ABI_MINOR,
    .name = "unresolved",
    .version = "1",
    .handle = handle_unresolved,
};
MEMRUN_PLUGIN_EXPORT const memrun_plugin* memrun_plugin_entry(void) { return &kPlugin; }

#elif defined(OLDER_MINOR)
/* A plugin built against ABI 1.0: its descriptor ends after `shutdown`, before
 * the 1.1 fields (on_assign). Must load on a newer host, without on_assign. */
static const memrun_plugin kPlugin = {
    .struct_size = offsetof(memrun_plugin, shutdown) + sizeof(memrun_shutdown_fn),
    .abi_major = MEMRUN_ABI_MAJOR,
    .abi_minor = 0,
    .name = "older",
    .version = "0.1",
    .service_json = "{\"sticky_key\": \"k\"}",
    .handle = handle,
};
MEMRUN_PLUGIN_EXPORT const memrun_plugin* memrun_plugin_entry(void) { return &kPlugin; }

#else
#error "choose a BROKEN_* kind"
#endif
