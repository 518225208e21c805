// memrun/export.hpp — symbol visibility of libmemrun. The library builds with
// hidden visibility; only what is marked MEMRUN_API is exported.
#pragma once

#if defined(MEMRUN_STATIC)
#define MEMRUN_API
#else
#define MEMRUN_API __attribute__((visibility("default")))
#endif
