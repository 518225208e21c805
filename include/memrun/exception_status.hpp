// memrun/exception_status.hpp — the one mapping from an exception to a status
// code, for every place where an exception must stop: the worker around a
// handler, the plugin SDK around a hook (plugin.hpp), the host table around a
// host call (src/abi/host_api.cc).
//
//   try { run(); } catch (...) {
//     const memrun::ExceptionStatus s = memrun::exception_status();
//     reply_error(s.code, s.message);
//   }
//
// Header-only and inline on purpose: plugins include it through plugin.hpp
// and link nothing of libmemrun, and the host compiles the same table, so
// plugin and host cannot disagree.
#pragma once

#include <memrun/status.hpp>

#include <nlohmann/json.hpp>

#include <exception>

namespace memrun {

struct ExceptionStatus {
  enum class Kind { kError, kJson, kStandard, kOther };
  Code code = Code::kInternal;  // never kOk: an exception is never success
  // The exception's what(), or nullptr for one not derived from
  // std::exception (the caller words that case). Valid only inside the
  // catch block that called exception_status().
  const char* message = nullptr;
  Kind kind = Kind::kOther;  // memrun::Error, nlohmann::json, other std::exception, anything else
};

// REQUIRES: called inside a catch block (it rethrows the current exception).
//   memrun::Error               → its code; Error(kOk, ...) → kInternal
//   nlohmann::json::exception   → kInvalidArgument (the payload lacked a field
//                                 or held the wrong type: bad input)
//   other std::exception        → kInternal
//   anything else               → kInternal, message nullptr
inline ExceptionStatus exception_status() noexcept {
  try {
    throw;
  } catch (const Error& e) {
    return {e.code() == Code::kOk ? Code::kInternal : e.code(), e.what(), ExceptionStatus::Kind::kError};
  } catch (const nlohmann::json::exception& e) {
    return {Code::kInvalidArgument, e.what(), ExceptionStatus::Kind::kJson};
  } catch (const std::exception& e) {
    return {Code::kInternal, e.what(), ExceptionStatus::Kind::kStandard};
  } catch (...) {
    return {Code::kInternal, nullptr, ExceptionStatus::Kind::kOther};
  }
}

}  // namespace memrun
