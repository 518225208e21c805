#include <memrun/status.hpp>

#include <array>
#include <utility>

namespace memrun {
namespace {

constexpr std::array<std::pair<Code, std::string_view>, 11> kNames{{
    {Code::kOk, "ok"},
    {Code::kInvalidArgument, "invalid_argument"},
    {Code::kNotFound, "not_found"},
    {Code::kTypeMismatch, "type_mismatch"},
    {Code::kDeadlineExceeded, "deadline_exceeded"},
    {Code::kCancelled, "cancelled"},
    {Code::kUnavailable, "unavailable"},
    {Code::kResourceExhausted, "resource_exhausted"},
    {Code::kInternal, "internal"},
    {Code::kUnimplemented, "unimplemented"},
    {Code::kAbiMismatch, "abi_mismatch"},
}};

}  // namespace

std::string_view code_name(Code code) noexcept {
  for (const auto& [c, name] : kNames)
    if (c == code) return name;
  return "unknown";
}

std::optional<Code> code_from_name(std::string_view name) noexcept {
  for (const auto& [c, n] : kNames)
    if (n == name) return c;
  return std::nullopt;
}

Code code_from_int(int value) noexcept {
  for (const auto& [c, name] : kNames)
    if (static_cast<int>(c) == value) return c;
  return Code::kInternal;
}

bool is_retriable(Code code) noexcept {
  return code == Code::kUnavailable || code == Code::kResourceExhausted;
}

}  // namespace memrun
