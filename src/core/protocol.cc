#include <memrun/protocol.hpp>

namespace memrun::protocol {

std::string request_topic(std::string_view service) {
  return "memrun.requests." + std::string(service);
}

std::string consumer_group(std::string_view service) {
  return "memrun-" + std::string(service);
}

std::string dlq_topic(std::string_view service) { return "memrun.dlq." + std::string(service); }

std::string suspects_topic(std::string_view service) { return "memrun.suspects." + std::string(service); }

bool valid_service_name(std::string_view name) noexcept {
  // Kafka's own topic-name rule, minus the room taken by our prefix.
  if (name.empty() || name.size() > 200) return false;
  // The name is also a directory ({cache_root}/{service}): "." or ".." must
  // never be one, so the first character is a letter or digit.
  const char first = name.front();
  if (!((first >= 'a' && first <= 'z') || (first >= 'A' && first <= 'Z') || (first >= '0' && first <= '9')))
    return false;
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

}  // namespace memrun::protocol
