// vector_search — the demo's memory-bound handler: exact nearest-neighbour
// search (cosine) over a float32 embedding matrix of a few hundred MB.
//
// Request: {"dataset_id": "products", "dataset": "file:///…/products.emb",
//           "query": 1234, "k": 5}
//   dataset_id  the sticky key: every request for one dataset lands on the
//               worker that has it
//   dataset     URL of an embedding file (embeddings.hpp)
//   query       row whose vector is the query (keeps the payload small); the
//               row itself is left out of the answer
// Reply: the k nearest rows with their scores, and where the time went: which
// tier served the raw bytes (or "decoded" when the normalised matrix was
// already in the object store), how many raw bytes were read, fetch, decode
// and search milliseconds.
//
// The first request for a dataset fetches it through the tiered cache and
// decodes it (every row scaled to unit length, so cosine is a dot product)
// into the worker's object store; every later one only searches. A decoded
// matrix larger than the memory budget is used for its request only.
//
// A "redis://IPV4:PORT/KEY" dataset is read from Redis on every request and
// never kept (served_by "redis"): the stateless fleet bench/thesis compares
// memrun with.
//
// With "rows": [r1, r2, ...] the request compares the query row with those
// rows only, and reads only what it needs (get_range): the file's header,
// then the query row and each named row. The host fetches just the chunks
// those ranges touch, so a few rows of a large remote file cost a few
// chunks, not the file. Reply: the rows by score, the bytes read against
// the bytes in the file, and the tier of each range.
#include "embeddings.hpp"
#include "redis_get.hpp"

#include <memrun/plugin.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

// Bounds one send or receive of a Redis GET; the request's own timeout
// bounds the handler.
constexpr std::chrono::milliseconds kRedisTimeout{30000};

// Copies share the rows: a request keeps its matrix even when the object
// store refuses the copy offered to it.
struct Matrix {
  uint32_t rows = 0, dim = 0;
  std::shared_ptr<std::vector<float>> unit;  // rows × dim, each row of length 1
  const float* row(uint32_t r) const { return unit->data() + static_cast<size_t>(r) * dim; }
};

double ms_since(Clock::time_point t) { return std::chrono::duration<double, std::milli>(Clock::now() - t).count(); }

const char* tier_name(uint32_t tier) {
  switch (tier) {
    case MEMRUN_TIER_RAM: return "ram";
    case MEMRUN_TIER_DISK: return "disk";
    default: return "remote";
  }
}

Matrix decode(const memrun::sdk::BlobView& raw, const std::string& url) {
  vector_search::Header h{};
  if (raw.size < sizeof h) throw memrun::Error(memrun::Code::kInvalidArgument, url + " is too short for a header");
  std::memcpy(&h, raw.data, sizeof h);
  const uint64_t expected = sizeof h + uint64_t{h.rows} * h.dim * sizeof(float);
  if (std::memcmp(h.magic, vector_search::kMagic, sizeof h.magic) != 0 || h.dim == 0 || raw.size != expected)
    throw memrun::Error(memrun::Code::kInvalidArgument, url + " is not an embedding file (" +
                                                           std::to_string(raw.size) + " bytes)");
  Matrix m;
  m.rows = h.rows;
  m.dim = h.dim;
  m.unit = std::make_shared<std::vector<float>>(size_t{h.rows} * h.dim);
  const auto* src = reinterpret_cast<const float*>(raw.data + sizeof h);  // the header keeps floats aligned
  for (uint32_t r = 0; r < h.rows; ++r) {
    const float* in = src + size_t{r} * h.dim;
    float norm = 0;
    for (uint32_t d = 0; d < h.dim; ++d) norm += in[d] * in[d];
    const float scale = norm > 0 ? 1.0f / std::sqrt(norm) : 0.0f;
    float* out = m.unit->data() + size_t{r} * h.dim;
    for (uint32_t d = 0; d < h.dim; ++d) out[d] = in[d] * scale;
  }
  return m;
}

// Eight independent sums let the compiler vectorise without -ffast-math.
float dot(const float* a, const float* b, uint32_t n) {
  float s[8] = {};
  uint32_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int j = 0; j < 8; ++j) s[j] += a[i + j] * b[i + j];
  float total = 0;
  for (; i < n; ++i) total += a[i] * b[i];
  for (float x : s) total += x;
  return total;
}

// Reads the file's header, then the query row and each named row, as ranges.
nlohmann::json compare_rows(memrun::sdk::Request& rq, const std::string& url, uint32_t query) {
  const auto t0 = Clock::now();
  nlohmann::json tiers = nlohmann::json::array();
  auto range = [&](uint64_t offset, uint64_t length) {
    const memrun::sdk::BlobView b = rq.host.get_range(url, offset, length);
    tiers.push_back(tier_name(b.tier));
    return b;
  };
  vector_search::Header h{};
  const memrun::sdk::BlobView header = range(0, sizeof h);
  std::memcpy(&h, header.data, sizeof h);
  if (std::memcmp(h.magic, vector_search::kMagic, sizeof h.magic) != 0 || h.dim == 0)
    throw memrun::Error(memrun::Code::kInvalidArgument, url + " is not an embedding file");
  const uint64_t row_bytes = uint64_t{h.dim} * sizeof(float);
  auto row = [&](uint32_t r) {
    if (r >= h.rows)
      throw memrun::Error(memrun::Code::kInvalidArgument,
                          "row " + std::to_string(r) + " is past the dataset's " + std::to_string(h.rows));
    const memrun::sdk::BlobView b = range(sizeof h + r * row_bytes, row_bytes);
    std::vector<float> v(h.dim);
    std::memcpy(v.data(), b.data, row_bytes);  // a range of a file need not be float-aligned in memory
    return v;
  };
  auto unit = [](std::vector<float> v) {
    float norm = 0;
    for (float x : v) norm += x * x;
    const float scale = norm > 0 ? 1.0f / std::sqrt(norm) : 0.0f;
    for (float& x : v) x *= scale;
    return v;
  };
  const std::vector<float> q = unit(row(query));
  std::vector<std::pair<float, uint32_t>> scored;
  for (const auto& r : rq.json.at("rows")) {
    const auto n = r.get<uint32_t>();
    scored.emplace_back(dot(q.data(), unit(row(n)).data(), h.dim), n);
  }
  std::sort(scored.begin(), scored.end(), std::greater<>());
  nlohmann::json neighbours = nlohmann::json::array();
  for (const auto& [score, n] : scored) neighbours.push_back({{"row", n}, {"score", score}});
  return {{"neighbours", neighbours},
          {"rows", h.rows},
          {"dim", h.dim},
          {"object_bytes", sizeof h + h.rows * row_bytes},
          {"read_bytes", sizeof h + (scored.size() + 1) * row_bytes},
          {"range_tiers", tiers},
          {"total_ms", ms_since(t0)}};
}

nlohmann::json handle(memrun::sdk::Request& rq) {
  const auto t0 = Clock::now();
  const std::string url = rq.json.at("dataset").get<std::string>();
  const auto query = rq.json.at("query").get<uint32_t>();
  const auto k = std::clamp<uint32_t>(rq.json.value("k", 5u), 1u, 100u);
  if (rq.json.contains("rows")) return compare_rows(rq, url, query);
  const std::string name = "vector_search:" + url;

  std::string served_by = "decoded";
  double fetch_ms = 0, decode_ms = 0;
  uint64_t raw_bytes = 0;
  const Matrix* m = nullptr;
  std::optional<Matrix> unkept;  // a matrix this request alone uses
  const bool from_redis = url.rfind("redis://", 0) == 0;
  try {
    if (!from_redis) m = rq.host.get_object<Matrix>(name);
  } catch (const memrun::Error& e) {
    if (e.code() != memrun::Code::kNotFound) throw;
  }
  if (!m) {
    std::string redis_value;
    memrun::sdk::BlobView raw;
    if (from_redis) {
      redis_value = vector_search::redis_get(url, kRedisTimeout);
      raw = {reinterpret_cast<const std::byte*>(redis_value.data()), redis_value.size()};
      served_by = "redis";
    } else {
      raw = rq.host.get_or_fetch(url);
      served_by = tier_name(raw.tier);
    }
    raw_bytes = raw.size;
    fetch_ms = ms_since(t0);
    const auto t1 = Clock::now();
    Matrix decoded = decode(raw, url);
    const uint64_t bytes = decoded.unit->size() * sizeof(float);
    if (from_redis) {
      unkept = std::move(decoded);
    } else {
      try {
        m = rq.host.make_object<Matrix>(name, bytes, decoded);
      } catch (const memrun::Error& e) {
        if (e.code() != memrun::Code::kResourceExhausted) throw;  // larger than the budget
        unkept = std::move(decoded);
      }
    }
    if (unkept) m = &*unkept;
    decode_ms = ms_since(t1);
  }
  if (query >= m->rows)
    throw memrun::Error(memrun::Code::kInvalidArgument,
                        "query row " + std::to_string(query) + " is past the dataset's " + std::to_string(m->rows));

  const auto t2 = Clock::now();
  const float* q = m->row(query);
  std::vector<std::pair<float, uint32_t>> best;  // a min-heap of the k best so far
  best.reserve(k + 1);
  auto worse = [](const auto& a, const auto& b) { return a.first > b.first; };
  for (uint32_t r = 0; r < m->rows; ++r) {
    if (r == query) continue;
    const float score = dot(q, m->row(r), m->dim);
    if (best.size() < k) {
      best.emplace_back(score, r);
      std::push_heap(best.begin(), best.end(), worse);
    } else if (score > best.front().first) {
      std::pop_heap(best.begin(), best.end(), worse);
      best.back() = {score, r};
      std::push_heap(best.begin(), best.end(), worse);
    }
    if ((r & 0xffff) == 0 && rq.host.cancelled())
      throw memrun::Error(memrun::Code::kCancelled, "cancelled after " + std::to_string(r) + " rows");
  }
  std::sort_heap(best.begin(), best.end(), worse);
  const double search_ms = ms_since(t2);

  nlohmann::json neighbours = nlohmann::json::array();
  for (const auto& [score, row] : best) neighbours.push_back({{"row", row}, {"score", score}});
  return {{"neighbours", neighbours},
          {"rows", m->rows},
          {"dim", m->dim},
          {"served_by", served_by},
          {"raw_bytes", raw_bytes},
          {"fetch_ms", fetch_ms},
          {"decode_ms", decode_ms},
          {"search_ms", search_ms},
          {"total_ms", ms_since(t0)}};
}

}  // namespace

MEMRUN_PLUGIN("vector_search", "1.0.0",
              R"({"name": "vector_search", "sticky_key": "dataset_id", "memory": "2Gi", "disk": "4Gi",
                  "concurrency": 4, "timeout_seconds": 60})",
              nullptr, handle, nullptr)
