// Exercises plugin.hpp and the host table: objects, blobs, deadlines, errors,
// package files. SDK_PLUGIN_INIT_MS in the environment makes init take that
// long (for readiness tests).
#include <memrun/plugin.hpp>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace {

struct Table {
  std::string name;
};

// Counts its destructions, to see when the host drops an object.
struct Counted {
  static inline std::atomic<int> destroyed{0};
  ~Counted() { ++destroyed; }
};

void init(memrun::sdk::Host& host) {
  if (const char* ms = std::getenv("SDK_PLUGIN_INIT_MS"))
    std::this_thread::sleep_for(std::chrono::milliseconds(std::atoi(ms)));
  host.set_object("table", Table{"warm"}, 64);
}

// Keeps the partitions it was told about, for the "assigned" op.
void on_assign(memrun::sdk::Host& host, std::span<const int32_t> partitions) {
  host.set_object("assigned", std::vector<int32_t>(partitions.begin(), partitions.end()), 64);
}

nlohmann::json handle(memrun::sdk::Request& rq) {
  const std::string op = rq.json.at("op").get<std::string>();
  if (op == "object") return {{"table", rq.host.get_object<Table>("table")->name}};
  if (op == "wrong_type") return {{"x", *rq.host.get_object<int>("table")}};
  if (op == "fetch") {
    auto blob = rq.host.get_or_fetch(rq.json.at("url").get<std::string>());
    return {{"bytes", blob.size}, {"text", std::string(blob.view())}, {"tier", blob.tier}};
  }
  if (op == "deadline") {
    auto left = rq.host.deadline() - std::chrono::system_clock::now();
    return {{"ms_left", std::chrono::duration_cast<std::chrono::milliseconds>(left).count()},
            {"cancelled", rq.host.cancelled()}};
  }
  if (op == "throw_std") throw std::runtime_error("plain exception");
  if (op == "throw_int") throw 42;
  if (op == "bad_field") return {{"n", rq.json.at("n").get<int>()}};
  if (op == "assigned") return {{"partitions", *rq.host.get_object<std::vector<int32_t>>("assigned")}};
  if (op == "package_file") {  // a data file shipped in the worker's package
    const std::string dir = rq.host.package_dir();
    if (dir.empty()) throw memrun::Error(memrun::Code::kNotFound, "not started from a package");
    auto blob = rq.host.get_or_fetch("file://" + dir + "/data/" + rq.json.at("name").get<std::string>());
    return {{"text", std::string(blob.view())}};
  }
  if (op == "evict_own") {  // the second object pushes the first out of the store
    const auto size = rq.json.at("size").get<uint64_t>();
    const int before = Counted::destroyed;
    rq.host.make_object<Counted>("evict_own_1", size);
    rq.host.make_object<Counted>("evict_own_2", size);
    return {{"destroyed_in_hook", Counted::destroyed - before}};
  }
  if (op == "versioned_fetch") {  // which package served it, and which tier the dataset came from
    const std::string dir = rq.host.package_dir();
    if (dir.empty()) throw memrun::Error(memrun::Code::kNotFound, "not started from a package");
    auto version = rq.host.get_or_fetch("file://" + dir + "/data/version.txt");
    auto blob = rq.host.get_or_fetch(rq.json.at("url").get<std::string>());
    return {{"version", std::string(version.view())}, {"tier", blob.tier}, {"bytes", blob.size}};
  }
  if (op == "footer_ranges") {  // a 16-byte footer names two ranges: reads it, then them
    const std::string url = rq.json.at("url").get<std::string>();
    const uint64_t size = rq.json.at("size").get<uint64_t>();
    auto footer = rq.host.get_range(url, size - 16, 16);
    uint32_t f[4];
    std::memcpy(f, footer.data, sizeof f);
    auto first = rq.host.get_range(url, f[0], f[1]);
    auto second = rq.host.get_range(url, f[2], f[3]);
    return {{"first", std::string(first.view())}, {"second", std::string(second.view())}, {"tier", second.tier}};
  }
  if (op == "range") {
    auto blob = rq.host.get_range(rq.json.at("url").get<std::string>(), rq.json.at("offset").get<uint64_t>(),
                                  rq.json.at("length").get<uint64_t>());
    return {{"text", std::string(blob.view())}};
  }
  if (op == "stream") {  // reads [offset, length] pairs through one stream, then closes it
    memrun::sdk::Stream stream = rq.host.open_stream(rq.json.at("url").get<std::string>());
    nlohmann::json texts = nlohmann::json::array();
    std::vector<memrun::sdk::BlobView> blobs;
    for (const auto& r : rq.json.at("ranges")) blobs.push_back(stream.read(r.at(0).get<uint64_t>(), r.at(1).get<uint64_t>()));
    const uint64_t size = stream.size();
    stream.close();
    std::string after_close;
    try {
      stream.read(0, 1);
    } catch (const memrun::Error& e) {
      after_close = e.what();
    }
    for (const auto& b : blobs) texts.push_back(std::string(b.view()));  // lent until the hook returns
    return {{"size", size}, {"texts", texts}, {"after_close", after_close}};
  }
  if (op == "upload") return {{"url", rq.host.upload_result("payload", rq.json.at("key").get<std::string>())}};
  throw memrun::Error(memrun::Code::kUnimplemented, "unknown op " + op);
}

}  // namespace

MEMRUN_PLUGIN_WITH_ASSIGN("sdk_test", "1.0.0", R"({"sticky_key": "k"})", init, handle, nullptr, on_assign)
