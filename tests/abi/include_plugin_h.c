/* Compiled as C99 and as C++ by ctest: plugin.h must stand alone in both. */
#include <memrun/plugin.h>

int memrun_abi_header_check(void) {
  memrun_plugin p;
  memrun_host_api h;
  memrun_blob b;
  p.struct_size = (uint32_t)sizeof p;
  h.struct_size = (uint32_t)sizeof h;
  b.struct_size = (uint32_t)sizeof b;
  return MEMRUN_HAS_FIELD(&h, memrun_host_api, last_error) && MEMRUN_HAS_FIELD(&p, memrun_plugin, shutdown) &&
         MEMRUN_HAS_FIELD(&b, memrun_blob, host_token);
}
