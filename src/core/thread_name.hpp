// Names the calling thread, so that top -H, perf and /proc/PID/task/*/comm
// tell a worker's threads apart (they all inherit the process's name
// otherwise). Linux keeps 15 bytes; a longer name is cut. Any thread.
#pragma once

#include <pthread.h>

#include <string>

namespace memrun::internal {

inline void name_this_thread(const std::string& name) {
  ::pthread_setname_np(::pthread_self(), name.substr(0, 15).c_str());
}

}  // namespace memrun::internal
