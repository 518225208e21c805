// One pass over a request payload that answers what the worker must know
// before it runs a handler, without building a JSON tree: whether the payload
// is JSON, and its sticky key (core/routing.cc's rules).
//
// The tree (nlohmann::json) costs allocations for every string and member
// and a byte-by-byte copy of every string: for a 1 KiB payload it was the
// largest entry of the worker's request path (docs/performance.md). Most
// handlers never look at it (a C plugin gets the bytes), so the worker builds
// it only when a handler asks (RequestContext::json()) or when this scan
// cannot decide alone.
//
// Exactness, not speed, sets what the scan decides: it accepts and refuses
// exactly what nlohmann::json::parse does (RFC 8259, UTF-8 checked, a leading
// UTF-8 byte-order mark skipped, a number that overflows a double refused),
// and returns a key only where its text is certainly extract()'s: strings
// without escapes, integers in canonical form of at most 18 digits, true and
// false. Everything else (escapes, fractions, refusals such as a missing
// field) is left to the tree: kNeedsTree. tests/fuzz/sticky_key.cc holds the
// scan to nlohmann and StickyKey::extract on every input.
//
// Any thread; a PayloadScanner is immutable after construction.
#pragma once

#include <memrun/routing.hpp>

#include <string>
#include <string_view>
#include <vector>

namespace memrun::internal {

struct ScannedPayload {
  enum class Outcome {
    kKey,        // valid JSON, and `key` is StickyKey::extract() of its tree
    kNotJson,    // nlohmann::json::parse refuses it
    kNeedsTree,  // valid JSON; the key (or the refusal) needs the tree
  };
  Outcome outcome = Outcome::kNeedsTree;
  std::string key;
};

class PayloadScanner {
 public:
  explicit PayloadScanner(const StickyKey& sticky);

  ScannedPayload scan(std::string_view payload) const;

 private:
  std::vector<std::vector<std::string>> paths_;  // each sticky-key field, split at '.'
  size_t max_depth_ = 0;                         // the longest path
};

}  // namespace memrun::internal
