// What the worker and the C ABI use of SharedWorkerContext beyond its public
// API. Not installed.
#pragma once

#include <memrun/context.hpp>

#include <memory>
#include <string>
#include <string_view>

namespace memrun::internal {

struct ContextAccess {
  // Objects set between these calls (the init handler) are pinned.
  static void begin_init(SharedWorkerContext& ctx) { ctx.begin_init(); }
  static void end_init(SharedWorkerContext& ctx) { ctx.end_init(); }
  // set_object/get_object with the type as a string, for the C ABI.
  static void set_object(SharedWorkerContext& ctx, std::string name, std::string type_name,
                         std::shared_ptr<void> object, uint64_t size) {
    ctx.set_object_erased(std::move(name), std::move(type_name), std::move(object), size);
  }
  static std::shared_ptr<void> get_object(SharedWorkerContext& ctx, std::string_view name,
                                          std::string_view type_name) {
    return ctx.get_object_erased(name, type_name);
  }
};

}  // namespace memrun::internal
