// The loader against deliberately broken plugins, and the C++ SDK through the
// real host function table.
#include <memrun/plugin.hpp>
#include <memrun/plugin_loader.hpp>

#include "context/context_access.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <functional>
#include <fstream>

namespace {

memrun::Error load_error(const std::string& path) {
  try {
    memrun::load_plugin(path);
  } catch (const memrun::Error& e) {
    return e;
  }
  ADD_FAILURE() << "loading " << path << " should fail";
  return memrun::Error(memrun::Code::kOk, "");
}

void expect_error(const std::string& path, memrun::Code code, std::initializer_list<std::string> fragments) {
  auto e = load_error(path);
  EXPECT_EQ(e.code(), code) << e.what();
  for (const auto& f : fragments) EXPECT_NE(std::string(e.what()).find(f), std::string::npos) << e.what();
}

// A request context for driving a plugin's handler without Kafka.
class FakeRequest final : public memrun::RequestContext {
 public:
  FakeRequest(memrun::SharedWorkerContext& w, std::string payload)
      : w_(w), payload_(std::move(payload)), json_(nlohmann::json::parse(payload_)) {}
  std::string_view payload() const override { return payload_; }
  const nlohmann::json& json() const override { return json_; }
  const std::string& key() const override { return key_; }
  const std::string& request_id() const override { return key_; }
  int32_t partition() const override { return 0; }
  int64_t offset() const override { return 0; }
  std::chrono::system_clock::time_point deadline() const override {
    return std::chrono::system_clock::now() + std::chrono::seconds(5);
  }
  bool cancelled() const override { return false; }
  memrun::SharedWorkerContext& worker() override { return w_; }

 private:
  memrun::SharedWorkerContext& w_;
  std::string payload_;
  nlohmann::json json_;
  std::string key_ = "k";
};

}  // namespace

TEST(Loader, MissingFile) {
  expect_error("/nonexistent/libnothing.so", memrun::Code::kNotFound, {"not found", "/nonexistent/libnothing.so"});
}

TEST(Loader, NotASharedObject) {
  std::string path = testing::TempDir() + "/not_a_plugin.so";
  { std::ofstream(path) << "garbage"; }
  expect_error(path, memrun::Code::kInvalidArgument, {"cannot load plugin"});
}

TEST(Loader, MissingEntrySymbol) {
  expect_error(BROKEN_NO_ENTRY, memrun::Code::kNotFound, {"memrun_plugin_entry", "MEMRUN_PLUGIN_EXPORT"});
}

TEST(Loader, AbiMajorMismatchNamesBothVersions) {
  expect_error(BROKEN_ABI_MAJOR, memrun::Code::kAbiMismatch, {"ABI 99.3", "ABI " + std::to_string(MEMRUN_ABI_MAJOR) + "." + std::to_string(MEMRUN_ABI_MINOR)});
}

TEST(Loader, DescriptorTooSmall) {
  expect_error(BROKEN_TOO_SMALL, memrun::Code::kAbiMismatch, {"16 bytes", "at least"});
}

TEST(Loader, NullDescriptor) { expect_error(BROKEN_NULL_DESCRIPTOR, memrun::Code::kInvalidArgument, {"NULL"}); }

TEST(Loader, NoHandleHook) { expect_error(BROKEN_NO_HANDLE, memrun::Code::kInvalidArgument, {"no handle hook"}); }

TEST(Loader, UnresolvedSymbolFailsAtLoadNotAtRequest) {
  expect_error(BROKEN_UNRESOLVED, memrun::Code::kInvalidArgument, {"memrun_no_such_function"});
}

TEST(Loader, BadServiceDefaults) { expect_error(BROKEN_BAD_DEFAULTS, memrun::Code::kInvalidArgument, {"concurency"}); }

TEST(Loader, InitFailureCarriesPluginMessage) {
  auto plugin = memrun::load_plugin(BROKEN_INIT_FAILS);
  auto svc = plugin->service();
  memrun::SharedWorkerContext ctx({"initfails", 1 << 20, ""});
  try {
    svc.init(ctx);
    FAIL();
  } catch (const memrun::Error& e) {
    EXPECT_EQ(e.code(), memrun::Code::kUnavailable);
    EXPECT_NE(std::string(e.what()).find("database unreachable"), std::string::npos) << e.what();
  }
}

TEST(Loader, OlderMinorLoads) {
  auto plugin = memrun::load_plugin(OLDER_MINOR_PLUGIN);
  EXPECT_EQ(plugin->abi_minor(), 0);
  EXPECT_EQ(plugin->service().sticky_key, "k");
  EXPECT_FALSE(plugin->service().on_assign) << "a 1.0 descriptor has no on_assign slot";
}

class SdkPlugin : public testing::Test {
 protected:
  void SetUp() override {
    plugin_ = memrun::load_plugin(SDK_PLUGIN);
    svc_ = plugin_->service();
    svc_.init(ctx_);
  }
  memrun::Reply call(const nlohmann::json& payload) {
    FakeRequest rq(ctx_, payload.dump());
    return svc_.handle(rq);
  }
  memrun::Error call_error(const nlohmann::json& payload) {
    try {
      call(payload);
    } catch (const memrun::Error& e) {
      return e;
    }
    ADD_FAILURE() << payload.dump();
    return memrun::Error(memrun::Code::kOk, "");
  }
  std::shared_ptr<const memrun::LoadedPlugin> plugin_;
  memrun::MemoryService svc_;
  memrun::SharedWorkerContext ctx_{{.service = "sdk",
                                     .memory_budget_bytes = 1 << 20,
                                     .result_url = "file://" + testing::TempDir() + "/sdk_results",
                                     .file_roots = {testing::TempDir()}}};
};

TEST_F(SdkPlugin, DescriptorAndDefaults) {
  EXPECT_EQ(plugin_->name(), "sdk_test");
  EXPECT_EQ(svc_.name, "sdk_test");
  EXPECT_EQ(svc_.sticky_key, "k");
}

TEST_F(SdkPlugin, OnAssignHookSeesThePartitions) {
  ASSERT_TRUE(svc_.on_assign);
  svc_.on_assign(ctx_, {3, 7, 11});
  EXPECT_EQ(nlohmann::json::parse(call({{"op", "assigned"}}).body())["partitions"], nlohmann::json({3, 7, 11}));
}

TEST_F(SdkPlugin, ObjectsSetInInitAreVisible) {
  EXPECT_EQ(nlohmann::json::parse(call({{"op", "object"}}).body())["table"], "warm");
}

TEST_F(SdkPlugin, WrongTypeIsAnErrorNotUndefinedBehaviour) {
  EXPECT_EQ(call_error({{"op", "wrong_type"}}).code(), memrun::Code::kTypeMismatch);
}

// make_object returns a pointer the handler goes on using: the store may
// evict the object at once (here the handler's own next object does; on a
// worker, any concurrent handler may), but the call keeps it alive until the
// hook returns. Before, the first object was destroyed under the handler.
TEST_F(SdkPlugin, AnObjectMadeInAHookOutlivesItsEvictionUntilTheHookReturns) {
  const auto r = nlohmann::json::parse(call({{"op", "evict_own"}, {"size", 600000}}).body());
  EXPECT_EQ(r["destroyed_in_hook"], 0);
  try {
    memrun::internal::ContextAccess::get_object(ctx_, "evict_own_1", "");
    ADD_FAILURE() << "the first object should have been evicted";
  } catch (const memrun::Error& e) {
    EXPECT_EQ(e.code(), memrun::Code::kNotFound);
  }
}

TEST_F(SdkPlugin, FetchLendsBytesThroughTheAbi) {
  std::string path = testing::TempDir() + "/sdk_blob.txt";
  { std::ofstream(path) << "lent bytes"; }
  auto r = nlohmann::json::parse(call({{"op", "fetch"}, {"url", "file://" + path}}).body());
  EXPECT_EQ(r["text"], "lent bytes");
  EXPECT_EQ(r["tier"], MEMRUN_TIER_REMOTE);
  r = nlohmann::json::parse(call({{"op", "fetch"}, {"url", "file://" + path}}).body());
  EXPECT_EQ(r["tier"], MEMRUN_TIER_RAM);
  auto e = call_error({{"op", "fetch"}, {"url", "file://" + testing::TempDir() + "/nonexistent/x"}});
  EXPECT_EQ(e.code(), memrun::Code::kNotFound);
  EXPECT_NE(std::string(e.what()).find("/nonexistent/x"), std::string::npos) << e.what();
}

// The handler reads a footer, then the two ranges it names, through the
// ABI 1.4 get_range slot; bad ranges come back as the host's errors.
TEST_F(SdkPlugin, GetRangeLendsRangesThroughTheAbi) {
  const std::string path = testing::TempDir() + "/sdk_ranges.bin";
  std::string bytes = "..alpha....beta..";
  const uint32_t footer[4] = {2, 5, 11, 4};
  bytes.append(reinterpret_cast<const char*>(footer), sizeof footer);
  { std::ofstream(path, std::ios::binary) << bytes; }
  const std::string url = "file://" + path;
  auto r = nlohmann::json::parse(call({{"op", "footer_ranges"}, {"url", url}, {"size", bytes.size()}}).body());
  EXPECT_EQ(r["first"], "alpha");
  EXPECT_EQ(r["second"], "beta");
  auto e = call_error({{"op", "range"}, {"url", url}, {"offset", 0}, {"length", 0}});
  EXPECT_EQ(e.code(), memrun::Code::kInvalidArgument) << e.what();
  e = call_error({{"op", "range"}, {"url", url}, {"offset", bytes.size()}, {"length", 1}});
  EXPECT_EQ(e.code(), memrun::Code::kInvalidArgument) << e.what();
  EXPECT_NE(std::string(e.what()).find(std::to_string(bytes.size()) + " bytes"), std::string::npos) << e.what();
}

namespace {

// `use` on a host whose table ends at `struct_size` (ABI 1.`minor`): the SDK
// says unimplemented, naming the host's ABI, rather than calling past the
// end of the table.
void expect_unimplemented_on_older_host(size_t struct_size, uint16_t minor,
                                        const std::function<void(memrun::sdk::Host&)>& use) {
  memrun_host_api older{};
  older.struct_size = static_cast<uint32_t>(struct_size);
  older.abi_major = 1;
  older.abi_minor = minor;
  memrun::sdk::Host host(&older, nullptr);
  try {
    use(host);
    ADD_FAILURE() << "called a slot the host does not have";
  } catch (const memrun::Error& e) {
    EXPECT_EQ(e.code(), memrun::Code::kUnimplemented);
    EXPECT_NE(std::string(e.what()).find("ABI 1." + std::to_string(minor)), std::string::npos) << e.what();
  }
}

}  // namespace

TEST(SdkHost, GetRangeOnAnOlderHostIsUnimplemented) {
  expect_unimplemented_on_older_host(offsetof(memrun_host_api, get_range), 3,
                                     [](memrun::sdk::Host& host) { host.get_range("file:///x", 0, 1); });
}

// The handler opens a stream through the ABI 1.5 slots, reads ranges of it
// (one across the end of a line), closes it, and its bytes are still lent;
// bad reads come back as the host's errors.
TEST_F(SdkPlugin, StreamsLendRangesThroughTheAbi) {
  const std::string path = testing::TempDir() + "/sdk_stream.txt";
  { std::ofstream(path, std::ios::binary) << "first line\nsecond line\n"; }
  const std::string url = "file://" + path;
  auto r = nlohmann::json::parse(
      call({{"op", "stream"}, {"url", url}, {"ranges", {{0, 5}, {6, 9}, {11, 6}}}}).body());
  EXPECT_EQ(r["size"], 23);
  EXPECT_EQ(r["texts"], nlohmann::json({"first", "line\nseco", "second"}));
  EXPECT_NE(r["after_close"].get<std::string>().find("closed"), std::string::npos) << r.dump();
  auto e = call_error({{"op", "stream"}, {"url", url}, {"ranges", nlohmann::json::array({nlohmann::json::array({0, 0})})}});
  EXPECT_EQ(e.code(), memrun::Code::kInvalidArgument) << e.what();
  e = call_error({{"op", "stream"}, {"url", url}, {"ranges", nlohmann::json::array({nlohmann::json::array({20, 4})})}});
  EXPECT_EQ(e.code(), memrun::Code::kInvalidArgument) << e.what();
  EXPECT_NE(std::string(e.what()).find("23 bytes"), std::string::npos) << e.what();
  e = call_error({{"op", "stream"}, {"url", "file://" + testing::TempDir() + "/nonexistent/s"}, {"ranges", nlohmann::json::array()}});
  EXPECT_EQ(e.code(), memrun::Code::kNotFound) << e.what();
}

TEST(SdkHost, OpenStreamOnAnOlderHostIsUnimplemented) {
  expect_unimplemented_on_older_host(offsetof(memrun_host_api, open_stream), 4,
                                     [](memrun::sdk::Host& host) { host.open_stream("file:///x"); });
}

// A NUL inside a URL would cross the C ABI cut short: the host would serve
// another file than the one the plugin named. The SDK refuses it.
TEST_F(SdkPlugin, AUrlHoldingANulIsRefusedBeforeItCrossesTheAbi) {
  std::string path = testing::TempDir() + "/sdk_nul.txt";
  { std::ofstream(path) << "the other file"; }
  auto e = call_error({{"op", "fetch"}, {"url", "file://" + path + std::string(1, '\0') + "-not-this"}});
  EXPECT_EQ(e.code(), memrun::Code::kInvalidArgument) << e.what();
}

TEST_F(SdkPlugin, DeadlineIsVisible) {
  auto r = nlohmann::json::parse(call({{"op", "deadline"}}).body());
  EXPECT_GT(r["ms_left"].get<int64_t>(), 3000);
  EXPECT_EQ(r["cancelled"], false);
}

TEST_F(SdkPlugin, ExceptionsBecomeStatusCodes) {
  auto e = call_error({{"op", "throw_std"}});
  EXPECT_EQ(e.code(), memrun::Code::kInternal);
  EXPECT_NE(std::string(e.what()).find("plain exception"), std::string::npos);
  EXPECT_EQ(call_error({{"op", "throw_int"}}).code(), memrun::Code::kInternal);
  EXPECT_EQ(call_error({{"op", "bad_field"}, {"n", "x"}}).code(), memrun::Code::kInvalidArgument);
  EXPECT_EQ(call_error({{"op", "nope"}}).code(), memrun::Code::kUnimplemented);
}

// The URL buffer is checked before the upload: a RESOURCE_EXHAUSTED (which
// a plugin may retry with a larger buffer) has stored nothing yet. The SDK's
// buffer holds 2048 bytes; this key makes a longer URL.
TEST_F(SdkPlugin, UploadResultRefusesATooSmallUrlBufferBeforeUploading) {
  std::string key;
  for (int i = 0; i < 12; ++i) key += std::string(200, 'd') + "/";
  key += "r.txt";
  std::filesystem::remove_all(testing::TempDir() + "/sdk_results/" + key.substr(0, 200));  // an earlier run's
  auto e = call_error({{"op", "upload"}, {"key", key}});
  EXPECT_EQ(e.code(), memrun::Code::kResourceExhausted) << e.what();
  EXPECT_FALSE(std::filesystem::exists(testing::TempDir() + "/sdk_results/" + key)) << "uploaded anyway";
}

TEST_F(SdkPlugin, UploadResultReturnsUrl) {
  auto r = nlohmann::json::parse(call({{"op", "upload"}, {"key", "a/b.txt"}}).body());
  EXPECT_EQ(r["url"], "file://" + testing::TempDir() + "/sdk_results/a/b.txt");
}
