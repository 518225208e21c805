#include "remote/url_rules.hpp"

#include <memrun/logging.hpp>
#include <memrun/status.hpp>

#include <fmt/format.h>

namespace memrun::internal {

void refuse_control_characters(std::string_view url) {
  for (size_t i = 0; i < url.size(); ++i) {
    const auto c = static_cast<unsigned char>(url[i]);
    if (c < 0x20 || c == 0x7f)
      throw Error(Code::kInvalidArgument,
                  fmt::format("URL '{}' is followed by control character 0x{:02x} (byte {}): not a URL",
                              redact_credentials(url.substr(0, i)), c, i));
  }
}

}  // namespace memrun::internal
