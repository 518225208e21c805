#include "core/payload_scan.hpp"

#include "core/split.hpp"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>

namespace memrun::internal {
namespace {

// What a sticky-key field's value was, as far as the key goes.
enum class Kind : unsigned char {
  kAbsent,
  kText,   // a string without escapes, a canonical integer, true or false: its text is the key
  kOther,  // anything else: the tree decides (a key such as "2.5", or a refusal)
};

struct Found {
  Kind kind = Kind::kAbsent;
  std::string_view text;
};

// One open object or array. `key` is the object's current member name, raw
// (between its quotes); `escaped` when that name holds an escape, so its raw
// text is not its name.
struct Frame {
  bool object;
  std::string_view key;
  bool escaped = false;
};

class Scan {
 public:
  Scan(std::string_view text, const std::vector<std::vector<std::string>>& paths, size_t max_depth)
      : p_(reinterpret_cast<const unsigned char*>(text.data())), end_(p_ + text.size()), paths_(paths),
        max_depth_(max_depth), found_(paths.size()) {}

  // The grammar, iteratively (a payload may nest deeper than a stack allows).
  bool valid() {
    if (!skip_bom()) return false;
    ws();
    for (;;) {
      // A value starts here.
      begin_value();
      if (p_ == end_) return false;
      const unsigned char c = *p_;
      if (c == '{' || c == '[') {
        ++p_;
        record(Kind::kOther, {});
        if (stack_.empty()) top_is_object_ = c == '{';
        stack_.push_back({c == '{', {}, false});
        ws();
        if (p_ < end_ && *p_ == (c == '{' ? '}' : ']')) {
          ++p_;
          stack_.pop_back();
        } else if (c == '{') {
          if (!member_name()) return false;
          continue;
        } else {
          continue;
        }
      } else if (!scalar()) {
        return false;
      }
      // After a value: close what ends here, or find the next value.
      for (;;) {
        ws();
        // nlohmann's lexer takes a NUL byte outside a string for the end of
        // its input, so what follows one after the value is not read.
        if (stack_.empty()) return p_ == end_ || *p_ == '\0';
        if (p_ == end_) return false;
        Frame& top = stack_.back();
        if (*p_ == ',') {
          ++p_;
          ws();
          if (top.object && !member_name()) return false;
          break;
        }
        if (*p_ != (top.object ? '}' : ']')) return false;
        ++p_;
        stack_.pop_back();
      }
    }
  }

  ScannedPayload result(bool no_fields) const {
    ScannedPayload out;
    if (no_fields) {
      out.outcome = ScannedPayload::Outcome::kKey;
      return out;
    }
    if (!top_is_object_ || escaped_names_) return out;
    for (size_t i = 0; i < found_.size(); ++i) {
      if (found_[i].kind != Kind::kText) return out;
      if (i) out.key += ':';
      out.key.append(found_[i].text);
    }
    out.outcome = ScannedPayload::Outcome::kKey;
    return out;
  }

 private:
  void ws() {
    while (p_ < end_ && (*p_ == ' ' || *p_ == '\t' || *p_ == '\n' || *p_ == '\r')) ++p_;
  }

  // nlohmann's lexer skips a UTF-8 byte-order mark before the first value and
  // refuses a partial one.
  bool skip_bom() {
    if (p_ == end_ || *p_ != 0xEF) return true;
    if (end_ - p_ < 3 || p_[1] != 0xBB || p_[2] != 0xBF) return false;
    p_ += 3;
    return true;
  }

  // At a member name (after '{' or ','): the name, then ':'.
  bool member_name() {
    if (p_ == end_ || *p_ != '"') return false;
    std::string_view name;
    bool escaped = false;
    if (!string(&name, &escaped)) return false;
    ws();
    if (p_ == end_ || *p_ != ':') return false;
    ++p_;
    ws();
    stack_.back().key = name;
    stack_.back().escaped = escaped;
    return true;
  }

  // Which fields the value starting now belongs to. A member whose name is a
  // field path's prefix replaces what an earlier member of the same name
  // held (nlohmann keeps the last of duplicate names), so a field under it
  // starts over as absent.
  void begin_value() {
    targets_.clear();
    const size_t depth = stack_.size();
    if (depth == 0 || depth > max_depth_) return;
    for (const Frame& f : stack_) {
      if (!f.object) return;
      if (f.escaped) {
        escaped_names_ = true;  // the raw name is not the name: the tree compares
        return;
      }
    }
    for (size_t i = 0; i < paths_.size(); ++i) {
      const auto& path = paths_[i];
      if (path.size() < depth) continue;
      bool prefix = true;
      for (size_t d = 0; d < depth && prefix; ++d) prefix = stack_[d].key == path[d];
      if (!prefix) continue;
      // This member is the field, or holds its subtree: either way, what an
      // earlier member of the same name held is gone.
      found_[i] = {};
      if (path.size() == depth) targets_.push_back(i);
    }
  }

  void record(Kind kind, std::string_view text) {
    for (size_t i : targets_) found_[i] = {kind, text};
    targets_.clear();
  }

  bool scalar() {
    const unsigned char c = *p_;
    if (c == '"') {
      std::string_view text;
      bool escaped = false;
      if (!string(&text, &escaped)) return false;
      record(escaped ? Kind::kOther : Kind::kText, text);
      return true;
    }
    if (c == 't') return literal("true", Kind::kText);
    if (c == 'f') return literal("false", Kind::kText);
    if (c == 'n') return literal("null", Kind::kOther);
    if (c == '-' || (c >= '0' && c <= '9')) return number();
    return false;
  }

  bool literal(std::string_view word, Kind kind) {
    if (static_cast<size_t>(end_ - p_) < word.size() || std::memcmp(p_, word.data(), word.size()) != 0) return false;
    record(kind, word);
    p_ += word.size();
    return true;
  }

  static bool digit(unsigned char c) { return c >= '0' && c <= '9'; }

  // -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?, and finite as a double
  // when it is not an integer nlohmann keeps exactly.
  bool number() {
    const unsigned char* start = p_;
    if (*p_ == '-') ++p_;
    if (p_ == end_ || !digit(*p_)) return false;
    const unsigned char* digits = p_;
    if (*p_ == '0') {
      ++p_;
    } else {
      while (p_ < end_ && digit(*p_)) ++p_;
    }
    const size_t int_digits = static_cast<size_t>(p_ - digits);
    bool integer = true;
    if (p_ < end_ && *p_ == '.') {
      integer = false;
      ++p_;
      if (p_ == end_ || !digit(*p_)) return false;
      while (p_ < end_ && digit(*p_)) ++p_;
    }
    if (p_ < end_ && (*p_ == 'e' || *p_ == 'E')) {
      integer = false;
      ++p_;
      if (p_ < end_ && (*p_ == '+' || *p_ == '-')) ++p_;
      if (p_ == end_ || !digit(*p_)) return false;
      while (p_ < end_ && digit(*p_)) ++p_;
    }
    const std::string_view text(reinterpret_cast<const char*>(start), static_cast<size_t>(p_ - start));
    // Up to 18 digits fit an int64 whatever they are, and print as written
    // unless they are "-0" (printed "0").
    const bool canonical = integer && int_digits <= 18 && text != "-0";
    if (!canonical && !(integer && int_digits <= 19)) {
      // nlohmann reads what does not fit an integer as a double, and
      // refuses it when that overflows ("number overflow").
      const std::string copy(text);
      if (!std::isfinite(std::strtod(copy.c_str(), nullptr))) return false;
    }
    record(canonical ? Kind::kText : Kind::kOther, text);
    return true;
  }

  static int hex(unsigned char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  }

  // At "\u": four hex digits, as a code unit; -1 when they are not.
  int code_unit() {
    if (end_ - p_ < 6) return -1;
    int v = 0;
    for (int i = 2; i < 6; ++i) {
      const int h = hex(p_[i]);
      if (h < 0) return -1;
      v = v * 16 + h;
    }
    p_ += 6;
    return v;
  }

  // At '"': the text between the quotes, raw. Control characters, bad
  // escapes, lone surrogates and malformed UTF-8 (overlong forms, encoded
  // surrogates, past U+10FFFF) are refused, as nlohmann's lexer does.
  bool string(std::string_view* text, bool* escaped) {
    const unsigned char* start = ++p_;
    *escaped = false;
    for (;;) {
      if (p_ == end_) return false;
      const unsigned char c = *p_;
      if (c == '"') break;
      if (c < 0x20) return false;
      if (c == '\\') {
        *escaped = true;
        if (end_ - p_ < 2) return false;
        const unsigned char e = p_[1];
        if (e == 'u') {
          const int unit = code_unit();
          if (unit < 0) return false;
          if (unit >= 0xDC00 && unit <= 0xDFFF) return false;  // a low surrogate first
          if (unit >= 0xD800 && unit <= 0xDBFF) {
            if (end_ - p_ < 2 || p_[0] != '\\' || p_[1] != 'u') return false;
            const int low = code_unit();
            if (low < 0xDC00 || low > 0xDFFF) return false;
          }
          continue;
        }
        if (e != '"' && e != '\\' && e != '/' && e != 'b' && e != 'f' && e != 'n' && e != 'r' && e != 't')
          return false;
        p_ += 2;
        continue;
      }
      if (c < 0x80) {
        ++p_;
        continue;
      }
      if (!utf8_sequence()) return false;
    }
    *text = std::string_view(reinterpret_cast<const char*>(start), static_cast<size_t>(p_ - start));
    ++p_;
    return true;
  }

  // At a byte >= 0x80: one well-formed UTF-8 sequence (Unicode table 3-7).
  bool utf8_sequence() {
    const unsigned char c = *p_;
    int more;
    unsigned char lo = 0x80, hi = 0xBF;  // the second byte's range
    if (c >= 0xC2 && c <= 0xDF) {
      more = 1;
    } else if (c == 0xE0) {
      more = 2, lo = 0xA0;
    } else if ((c >= 0xE1 && c <= 0xEC) || c == 0xEE || c == 0xEF) {
      more = 2;
    } else if (c == 0xED) {
      more = 2, hi = 0x9F;
    } else if (c == 0xF0) {
      more = 3, lo = 0x90;
    } else if (c >= 0xF1 && c <= 0xF3) {
      more = 3;
    } else if (c == 0xF4) {
      more = 3, hi = 0x8F;
    } else {
      return false;
    }
    if (end_ - p_ <= more) return false;
    if (p_[1] < lo || p_[1] > hi) return false;
    for (int i = 2; i <= more; ++i)
      if (p_[i] < 0x80 || p_[i] > 0xBF) return false;
    p_ += more + 1;
    return true;
  }

  const unsigned char* p_;
  const unsigned char* const end_;
  const std::vector<std::vector<std::string>>& paths_;
  const size_t max_depth_;
  std::vector<Found> found_;
  std::vector<Frame> stack_;
  std::vector<size_t> targets_;
  bool top_is_object_ = false;
  bool escaped_names_ = false;
};

}  // namespace

PayloadScanner::PayloadScanner(const StickyKey& sticky) {
  for (const auto& field : sticky.fields()) {
    paths_.push_back(split(field, '.'));
    max_depth_ = std::max(max_depth_, paths_.back().size());
  }
}

ScannedPayload PayloadScanner::scan(std::string_view payload) const {
  Scan s(payload, paths_, max_depth_);
  if (!s.valid()) return {ScannedPayload::Outcome::kNotJson, {}};
  return s.result(paths_.empty());
}

}  // namespace memrun::internal
