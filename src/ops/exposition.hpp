// The Prometheus text exposition format (0.0.4): a HELP and a TYPE line per
// family, then its samples; and the worker's counters written from their one
// table (kWorkerCounters).
//
// @locality: a value type; one thread at a time.
#pragma once

#include <memrun/worker_counters.hpp>

#include <fmt/format.h>

#include <iterator>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace memrun::internal {

using Labels = std::vector<std::pair<std::string_view, std::string>>;

class Exposition {
 public:
  void family(std::string_view name, std::string_view type, std::string_view help) {
    fmt::format_to(std::back_inserter(out_), "# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
  }
  void sample(std::string_view name, double value, const Labels& labels = {}) {
    out_ += name;
    if (!labels.empty()) {
      out_ += '{';
      for (size_t i = 0; i < labels.size(); ++i)
        fmt::format_to(std::back_inserter(out_), "{}{}=\"{}\"", i ? "," : "", labels[i].first,
                       escape(labels[i].second));
      out_ += '}';
    }
    fmt::format_to(std::back_inserter(out_), " {}\n", value);
  }
  void one(std::string_view name, std::string_view type, std::string_view help, double value) {
    family(name, type, help);
    sample(name, value);
  }
  std::string take() { return std::move(out_); }

 private:
  static std::string escape(std::string_view value) {
    std::string out;
    for (char c : value) {
      if (c == '\\') out += "\\\\";
      else if (c == '"') out += "\\\"";
      else if (c == '\n') out += "\\n";
      else out += c;
    }
    return out;
  }
  std::string out_;
};

// One family per distinct metric of kWorkerCounters (rows sharing a family
// are adjacent and differ by their label), one sample per row.
inline void write_counters(Exposition& x, const WorkerCounters& counters) {
  std::string_view family;
  for (const auto& row : kWorkerCounters) {
    if (row.metric != family) x.family(row.metric, row.type, row.help);
    family = row.metric;
    Labels labels;
    if (const auto eq = row.label.find('='); eq != std::string_view::npos)
      labels.emplace_back(row.label.substr(0, eq), std::string(row.label.substr(eq + 1)));
    x.sample(row.metric, static_cast<double>(counters.*row.field), labels);
  }
}

}  // namespace memrun::internal
