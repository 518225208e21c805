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
static const memrun_plugin kPlugin = {sizeof(memrun_plugin), 99, 3, "future", "9.9", NULL, NULL, handle, NULL};
MEMRUN_PLUGIN_EXPORT const memrun_plugin* memrun_plugin_entry(void) { return &kPlugin; }

#elif defined(BROKEN_TOO_SMALL)
/* Claims a descriptor smaller than ABI 1.0's. */
static const memrun_plugin kPlugin = {16, MEMRUN_ABI_MAJOR, 0, "small", "1", NULL, NULL, handle, NULL};
MEMRUN_PLUGIN_EXPORT const memrun_plugin* memrun_plugin_entry(void) { return &kPlugin; }

#elif defined(BROKEN_NULL_DESCRIPTOR)
MEMRUN_PLUGIN_EXPORT const memrun_plugin* memrun_plugin_entry(void) { return NULL; }

#elif defined(BROKEN_NO_HANDLE)
static const memrun_plugin kPlugin = {sizeof(memrun_plugin), MEMRUN_ABI_MAJOR, MEMRUN_ABI_MINOR, "nohandle", "1", NULL, NULL, NULL, NULL};
MEMRUN_PLUGIN_EXPORT const memrun_plugin* memrun_plugin_entry(void) { return &kPlugin; }

#elif defined(BROKEN_INIT_FAILS)
static int init(const memrun_host_api* host, memrun_call* call) {
  host->set_error(call, "database unreachable");
  return MEMRUN_ERR_UNAVAILABLE;
}
static const memrun_plugin kPlugin = {sizeof(memrun_plugin), MEMRUN_ABI_MAJOR, MEMRUN_ABI_MINOR, "initfails", "1",
                                      "{\"sticky_key\": \"k\"}", init, handle, NULL};
MEMRUN_PLUGIN_EXPORT const memrun_plugin* memrun_plugin_entry(void) { return &kPlugin; }

#elif defined(BROKEN_BAD_DEFAULTS)
static const memrun_plugin kPlugin = {sizeof(memrun_plugin), MEMRUN_ABI_MAJOR, MEMRUN_ABI_MINOR, "baddefaults", "1",
                                      "{\"concurency\": 4}", NULL, handle, NULL};
MEMRUN_PLUGIN_EXPORT const memrun_plugin* memrun_plugin_entry(void) { return &kPlugin; }

#elif defined(BROKEN_UNRESOLVED)
/* References a function nobody defines: dlopen(RTLD_NOW) must refuse it. */
extern int memrun_no_such_function(void);
static int handle_unresolved(const memrun_host_api* host, memrun_call* call, const char* p, size_t n) {
  (void)host; (void)call; (void)p; (void)n;
  return memrun_no_such_function();
}
static const memrun_plugin kPlugin = {sizeof(memrun_plugin), MEMRUN_ABI_MAJOR, MEMRUN_ABI_MINOR, "unresolved", "1",
                                      NULL, NULL, handle_unresolved, NULL};
MEMRUN_PLUGIN_EXPORT const memrun_plugin* memrun_plugin_entry(void) { return &kPlugin; }

#elif defined(OLDER_MINOR)
/* A plugin from an older minor with an extra-small but valid 1.0 descriptor
 * size and minor 0: must load on a newer host. */
static const memrun_plugin kPlugin = {sizeof(memrun_plugin), MEMRUN_ABI_MAJOR, 0, "older", "0.1",
                                      "{\"sticky_key\": \"k\"}", NULL, handle, NULL};
MEMRUN_PLUGIN_EXPORT const memrun_plugin* memrun_plugin_entry(void) { return &kPlugin; }

#else
#error "choose a BROKEN_* kind"
#endif
