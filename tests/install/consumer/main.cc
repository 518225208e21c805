// Uses the installed library: routing, and loading a plugin built with the
// installed memrun_add_plugin().
#include <memrun/memrun.hpp>

#include <cstdio>

int main(int argc, char** argv) {
  if (memrun::murmur2("21") != -973932308) return 1;
  if (argc > 1) {
    auto plugin = memrun::load_plugin(argv[1]);
    // The plugin's name: "consumer" unless the caller names another.
    if (plugin->name() != (argc > 2 ? argv[2] : "consumer")) return 2;
  }
  std::puts("ok");
  return 0;
}
