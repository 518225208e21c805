// memrun/plugin_loader.hpp — turns a plugin shared object into a MemoryService.
//
//   auto plugin = memrun::load_plugin("./libecho.so");   // throws memrun::Error
//   memrun::MemoryService svc = plugin->service();        // fields from the plugin
//   memrun::apply_service_fields(svc, config["service"]); // config overrides
//
// Loading: dlopen(RTLD_NOW | RTLD_LOCAL), resolve the entry function, call it,
// check the descriptor (non-null, struct size, ABI major, required hooks) before
// any hook runs. A plugin is never unloaded while the process lives: a handler
// thread or an object destructor could still point into it.
#pragma once

#include <memrun/service.hpp>

#include <memory>
#include <string>

struct memrun_plugin;

namespace memrun {

class MEMRUN_API LoadedPlugin {
 public:
  virtual ~LoadedPlugin() = default;
  virtual const std::string& path() const = 0;
  virtual const std::string& name() const = 0;
  virtual const std::string& version() const = 0;
  virtual int abi_major() const = 0;
  virtual int abi_minor() const = 0;
  // A MemoryService whose handlers call the plugin's hooks, with the plugin's
  // service defaults applied (the name defaults to the plugin name).
  virtual MemoryService service() const = 0;
};

// Throws Error(kNotFound) for a missing file or entry symbol, Error(kAbiMismatch)
// for another ABI major or a descriptor smaller than ABI 1.0's, and
// Error(kInvalidArgument) for a descriptor without `handle`. Messages name the
// file and, for version errors, both versions.
MEMRUN_API std::shared_ptr<const LoadedPlugin> load_plugin(const std::string& path);

}  // namespace memrun
