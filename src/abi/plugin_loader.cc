#include <memrun/plugin_loader.hpp>

#include "abi/call.hpp"

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <dlfcn.h>
#include <sys/stat.h>

#include <cstring>

namespace memrun {
namespace {

// The descriptor as ABI 1.0 defined it; anything smaller cannot be read.
constexpr size_t kMinDescriptorSize = offsetof(memrun_plugin, shutdown) + sizeof(memrun_shutdown_fn);

std::string version_text(int major, int minor) {
  return std::to_string(major) + "." + std::to_string(minor);
}

Error call_error(int rc, memrun_call& call, const std::string& hook, const std::string& plugin) {
  Code code = code_from_int(rc);
  std::string msg = call.error.empty() ? std::string("returned ") + std::string(code_name(code))
                                       : call.error;
  return Error(code, hook == "handle" ? msg : "plugin '" + plugin + "' " + hook + " failed: " + msg);
}

class Plugin final : public LoadedPlugin, public std::enable_shared_from_this<Plugin> {
 public:
  Plugin(std::string path, const memrun_plugin& d, nlohmann::json defaults)
      : path_(std::move(path)),
        desc_(d),
        name_(d.name),
        version_(d.version ? d.version : "unknown"),
        defaults_(std::move(defaults)) {}

  const std::string& path() const override { return path_; }
  const std::string& name() const override { return name_; }
  const std::string& version() const override { return version_; }
  int abi_major() const override { return desc_.abi_major; }
  int abi_minor() const override { return desc_.abi_minor; }

  MemoryService service() const override {
    MemoryService svc;
    svc.name = name_;
    apply_service_fields(svc, defaults_);
    auto self = shared_from_this();  // handlers keep the descriptor's owner alive
    svc.init = worker_hook(self, desc_.init, "init");
    svc.handle = [self](RequestContext& rq) -> Reply {
      memrun_call call;
      call.worker = &rq.worker();
      call.request = &rq;
      call.plugin_name = &self->name_;
      int rc = self->desc_.handle(internal::host_api(), &call, rq.payload().data(), rq.payload().size());
      if (rc != MEMRUN_OK) throw call_error(rc, call, "handle", self->name_);
      return Reply::raw(std::move(call.reply));
    };
    svc.shutdown = worker_hook(self, desc_.shutdown, "shutdown");
    if (desc_.on_assign != nullptr) {
      svc.on_assign = [self](SharedWorkerContext& ctx, const std::vector<int32_t>& partitions) {
        memrun_call call;
        call.worker = &ctx;
        call.plugin_name = &self->name_;
        int rc = self->desc_.on_assign(internal::host_api(), &call, partitions.data(), partitions.size());
        if (rc != MEMRUN_OK) throw call_error(rc, call, "on_assign", self->name_);
      };
    }
    return svc;
  }

 private:
  // Adapts a worker-level hook (init or shutdown share one C signature); an
  // empty function when the plugin leaves the hook NULL.
  static std::function<void(SharedWorkerContext&)> worker_hook(std::shared_ptr<const Plugin> self,
                                                               memrun_init_fn fn, const char* hook) {
    if (fn == nullptr) return {};
    return [self = std::move(self), fn, hook](SharedWorkerContext& ctx) {
      memrun_call call;
      call.worker = &ctx;
      call.plugin_name = &self->name_;
      int rc = fn(internal::host_api(), &call);
      if (rc != MEMRUN_OK) throw call_error(rc, call, hook, self->name_);
    };
  }

  std::string path_;
  memrun_plugin desc_;  // our copy, zero-filled past what an older plugin defined
  std::string name_;
  std::string version_;
  nlohmann::json defaults_;
};

}  // namespace

std::shared_ptr<const LoadedPlugin> load_plugin(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0)
    throw Error(Code::kNotFound, "plugin file not found: " + path);
  // RTLD_LOCAL: plugin symbols never satisfy another plugin's references.
  // RTLD_NOW: an unresolved symbol fails here, not in the middle of a request.
  void* dl = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (dl == nullptr) throw Error(Code::kInvalidArgument, "cannot load plugin " + path + ": " + ::dlerror());
  // From here on the library is never dlclose()d: even a rejected plugin may
  // have run static constructors that registered something.
  void* sym = ::dlsym(dl, MEMRUN_PLUGIN_ENTRY_SYMBOL);
  if (sym == nullptr)
    throw Error(Code::kNotFound, "plugin " + path + " does not export " MEMRUN_PLUGIN_ENTRY_SYMBOL
                                 "() (declare it with MEMRUN_PLUGIN_EXPORT)");
  auto entry = reinterpret_cast<memrun_plugin_entry_fn>(sym);
  const memrun_plugin* d = entry();
  if (d == nullptr) throw Error(Code::kInvalidArgument, "plugin " + path + ": entry function returned NULL");

  const std::string host_version = version_text(MEMRUN_ABI_MAJOR, MEMRUN_ABI_MINOR);
  if (d->struct_size < offsetof(memrun_plugin, abi_minor) + sizeof(uint16_t))
    throw Error(Code::kAbiMismatch, "plugin " + path + ": descriptor of " + std::to_string(d->struct_size) +
                                        " bytes is not a memrun plugin descriptor");
  if (d->abi_major != MEMRUN_ABI_MAJOR)
    throw Error(Code::kAbiMismatch, "plugin " + path + " was built for memrun ABI " +
                                        version_text(d->abi_major, d->abi_minor) +
                                        ", this host implements ABI " + host_version +
                                        " (major versions must match; rebuild the plugin)");
  if (d->struct_size < kMinDescriptorSize)
    throw Error(Code::kAbiMismatch, "plugin " + path + ": descriptor is " + std::to_string(d->struct_size) +
                                        " bytes, ABI " + version_text(d->abi_major, 0) +
                                        " needs at least " + std::to_string(kMinDescriptorSize));
  memrun_plugin copy;
  std::memset(&copy, 0, sizeof copy);
  std::memcpy(&copy, d, std::min<size_t>(d->struct_size, sizeof copy));
  if (copy.name == nullptr || copy.name[0] == '\0')
    throw Error(Code::kInvalidArgument, "plugin " + path + ": descriptor has no name");
  if (copy.handle == nullptr)
    throw Error(Code::kInvalidArgument, "plugin " + path + " ('" + copy.name + "') has no handle hook");
  if (d->abi_minor > MEMRUN_ABI_MINOR)
    spdlog::warn("plugin {} was built for ABI {}, newer than this host's {}: it must check "
                 "host->struct_size before using newer host functions",
                 path, version_text(d->abi_major, d->abi_minor), host_version);

  nlohmann::json defaults;
  if (copy.service_json != nullptr) {
    defaults = nlohmann::json::parse(copy.service_json, nullptr, false);
    if (defaults.is_discarded() || !defaults.is_object())
      throw Error(Code::kInvalidArgument, "plugin " + path + ": service_json is not a JSON object");
  }
  auto plugin = std::make_shared<Plugin>(path, copy, std::move(defaults));
  plugin->service();  // validates the defaults now, at load time
  return plugin;
}

}  // namespace memrun
