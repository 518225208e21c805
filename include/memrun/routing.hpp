// memrun/routing.hpp — how a request finds its worker: sticky key → Kafka key →
// partition, exactly as Kafka's Java client partitions keyed records.
//
//   memrun::StickyKey key("user_id:dataset_id");
//   std::string k = key.extract(nlohmann::json{{"user_id", 42}, {"dataset_id", "ds7"}});
//   // k == "42:ds7"
//   int32_t p = memrun::kafka_partition(k, 64);  // same as Java's DefaultPartitioner
#pragma once

#include <memrun/export.hpp>

#include <nlohmann/json_fwd.hpp>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace memrun {

// A sticky-key spec: field names joined by ':'. A field may be a dotted path
// into nested objects ("user.id"). Value → key text:
//   string  → as is;  integer → decimal;  float → shortest round-trip form;
//   bool    → "true"/"false";
//   null, object, array, or absent → Error(kInvalidArgument) naming the field.
// An empty spec means "no key": every request gets the empty key.
class MEMRUN_API StickyKey {
 public:
  explicit StickyKey(std::string_view spec);

  // The key of `payload`. Throws Error(kInvalidArgument) when `payload` is not
  // an object or a field is missing or has an unusable type; the message names
  // the field.
  std::string extract(const nlohmann::json& payload) const;

  const std::vector<std::string>& fields() const noexcept { return fields_; }
  const std::string& spec() const noexcept { return spec_; }

 private:
  std::string spec_;
  std::vector<std::string> fields_;
};

// Kafka's murmur2 (org.apache.kafka.common.utils.Utils.murmur2), signed as Java
// returns it.
MEMRUN_API int32_t murmur2(std::string_view data) noexcept;

// toPositive(murmur2(key)) % partitions: Kafka's Java default partitioner for
// keyed records, and librdkafka's "murmur2_random". REQUIRES: partitions > 0.
MEMRUN_API int32_t kafka_partition(std::string_view key, int32_t partitions) noexcept;

}  // namespace memrun
