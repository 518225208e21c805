// memrun/status.hpp — error codes shared by the C++ API, the C ABI and the wire.
//
// Every memrun::Code maps one-to-one onto a MEMRUN_ status code of plugin.h and
// onto the lowercase name carried in the `memrun-error-code` reply header, so an
// error keeps its meaning across a plugin boundary and across Kafka.
//
//   try { ... } catch (const memrun::Error& e) {
//     if (memrun::is_retriable(e.code())) retry();
//   }
#pragma once

#include <memrun/export.hpp>
#include <memrun/plugin.h>

#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace memrun {

enum class Code : int {
  kOk = MEMRUN_OK,
  kInvalidArgument = MEMRUN_ERR_INVALID_ARGUMENT,
  kNotFound = MEMRUN_ERR_NOT_FOUND,
  kTypeMismatch = MEMRUN_ERR_TYPE_MISMATCH,
  kDeadlineExceeded = MEMRUN_ERR_DEADLINE_EXCEEDED,
  kCancelled = MEMRUN_ERR_CANCELLED,
  kUnavailable = MEMRUN_ERR_UNAVAILABLE,
  kResourceExhausted = MEMRUN_ERR_RESOURCE_EXHAUSTED,
  kInternal = MEMRUN_ERR_INTERNAL,
  kUnimplemented = MEMRUN_ERR_UNIMPLEMENTED,
  kAbiMismatch = MEMRUN_ERR_ABI_MISMATCH,
};

// "invalid_argument", "deadline_exceeded", ... ("unknown" for other values).
MEMRUN_API std::string_view code_name(Code code) noexcept;
// Inverse of code_name; nullopt for an unknown name.
MEMRUN_API std::optional<Code> code_from_name(std::string_view name) noexcept;
// Integer from the ABI → Code; values outside the table become kInternal.
MEMRUN_API Code code_from_int(int value) noexcept;
// kUnavailable and kResourceExhausted: a retry with backoff may succeed.
MEMRUN_API bool is_retriable(Code code) noexcept;

// The exception the C++ API throws. Plugins and handlers may throw it too: the
// SDK and the worker turn it into an error reply carrying code and message.
class MEMRUN_API Error : public std::runtime_error {
 public:
  Error(Code code, const std::string& message)
      : std::runtime_error(message), code_(code) {}
  Code code() const noexcept { return code_; }

 private:
  Code code_;
};

}  // namespace memrun
