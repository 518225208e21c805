// Request headers and payload -> sticky key -> partition: what the worker does
// with every record (runtime/wire.cc, core/payload_scan.cc, core/routing.cc).
// The worker's scan must agree with nlohmann's parse and StickyKey::extract
// on every input: the same refusals, and the same key whenever it gives one.
//
// Input: line 1 the sticky_key spec; then "name=value" header lines up to an
// empty line; the rest is the payload.
#include "contract.hpp"
#include "core/payload_scan.hpp"
#include "runtime/wire.hpp"

#include <memrun/protocol.hpp>
#include <memrun/routing.hpp>

#include <nlohmann/json.hpp>

#include <charconv>
#include <limits>
#include <map>

using namespace memrun;

namespace {

bool is_decimal(const std::optional<std::string_view>& v, int64_t lo, int64_t hi) {
  if (!v) return false;
  int64_t n = 0;
  auto [end, ec] = std::from_chars(v->data(), v->data() + v->size(), n);
  return ec == std::errc() && end == v->data() + v->size() && n >= lo && n <= hi;
}

void check_headers(const std::map<std::string, std::string, std::less<>>& sent) {
  const auto get = [&](std::string_view name) -> std::optional<std::string_view> {
    auto it = sent.find(name);
    return it == sent.end() ? std::nullopt : std::optional<std::string_view>(it->second);
  };
  std::string problem;
  const auto h = internal::parse_request_headers(get, &problem);
  FUZZ_CHECK(h.request_id == get(protocol::kHeaderRequestId).value_or(""));
  FUZZ_CHECK(h.reply_to == get(protocol::kHeaderReplyTo).value_or(""));
  const auto partition = get(protocol::kHeaderReplyPartition);
  const auto deadline = get(protocol::kHeaderDeadline);
  const bool partition_ok = is_decimal(partition, 0, std::numeric_limits<int32_t>::max());
  const bool deadline_ok = is_decimal(deadline, 0, std::numeric_limits<int64_t>::max());
  FUZZ_CHECK(partition_ok ? h.reply_partition == std::stoll(std::string(*partition)) : h.reply_partition == -1);
  // The deadline rule (docs/protocol.md): a malformed deadline is kept as
  // sent so the request is refused; an absent one is none.
  FUZZ_CHECK(deadline_ok ? h.deadline_ms == std::stoll(std::string(*deadline)) : !h.deadline_ms.has_value());
  FUZZ_CHECK(h.bad_deadline.empty() == (!deadline || deadline_ok));
  // A malformed reply partition is reported, and only that.
  FUZZ_CHECK(problem.empty() == (!partition || partition_ok));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view rest = fuzz::text_of(data, size);
  const std::string spec(fuzz::take_line(rest));
  std::map<std::string, std::string, std::less<>> headers;
  for (std::string_view line; !rest.empty() && !(line = fuzz::take_line(rest)).empty();) {
    const auto eq = line.find('=');
    headers[std::string(line.substr(0, eq))] = eq == std::string_view::npos ? "" : std::string(line.substr(eq + 1));
  }
  check_headers(headers);

  std::optional<StickyKey> sticky;
  if (!fuzz::accepts([&] { sticky.emplace(spec); }, {Code::kInvalidArgument})) return 0;
  FUZZ_CHECK(sticky->spec() == spec);
  // The tree: no exceptions, a discarded value is a refusal.
  const auto payload = nlohmann::json::parse(rest, nullptr, false);
  const auto scanned = internal::PayloadScanner(*sticky).scan(rest);
  using Outcome = internal::ScannedPayload::Outcome;
  FUZZ_CHECK((scanned.outcome == Outcome::kNotJson) == payload.is_discarded());
  if (payload.is_discarded()) return 0;
  std::string key;
  const bool keyed = fuzz::accepts([&] { key = sticky->extract(payload); }, {Code::kInvalidArgument});
  FUZZ_CHECK(scanned.outcome != Outcome::kKey || (keyed && scanned.key == key));
  if (!keyed) return 0;
  // A key is its fields' keys joined by ':', each field extracted alone.
  std::string joined;
  for (size_t i = 0; i < sticky->fields().size(); ++i) {
    std::string part;
    FUZZ_CHECK(fuzz::accepts([&] { part = StickyKey(sticky->fields()[i]).extract(payload); }, {}));
    joined += (i ? ":" : "") + part;
  }
  FUZZ_CHECK(key == joined);
  for (int32_t partitions : {1, 7, 64, std::numeric_limits<int32_t>::max()}) {
    const int32_t p = kafka_partition(key, partitions);
    FUZZ_CHECK(p >= 0 && p < partitions);
  }
  return 0;
}
