// The handler runner without Kafka: requests built by hand, a real context,
// crash journal and recent-replies window.
#include "runtime/handler_runner.hpp"

#include <memrun/context.hpp>
#include <memrun/protocol.hpp>
#include <memrun/routing.hpp>
#include <memrun/service.hpp>

#include "support/temp_dir.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <future>
#include <thread>

using namespace memrun;
using internal::Counters;
using internal::HandlerRunner;
using internal::Request;
using internal::RequestPtr;

namespace {

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

struct Rig {
  explicit Rig(MemoryService s, internal::CrashJournal* journal = nullptr)
      : svc(std::move(s)),
        runner({.service = svc,
                .context = ctx,
                .recent = recent,
                .journal = journal,
                .counters = counters,
                .holds = [this](int32_t) { return held.load(); },
                .request_topic = "memrun.requests.t"}) {}

  RequestPtr request(std::string payload, int64_t offset = 7) {
    auto r = std::make_shared<Request>();
    r->partition = 2;
    r->offset = offset;
    r->body.clear();
    payloads.push_back(std::make_unique<std::string>(std::move(payload)));
    r->payload = *payloads.back();
    r->taken_ms = now_ms();
    r->headers.reply_to = "memrun.replies";
    return r;
  }
  uint64_t count(uint64_t WorkerCounters::*f) const { return counters.get(f); }

  MemoryService svc;
  SharedWorkerContext ctx{{"t", 1 << 20, ""}};
  internal::RecentReplies recent{16, 1 << 20};
  Counters counters;
  std::atomic<bool> held{true};
  std::vector<std::unique_ptr<std::string>> payloads;
  HandlerRunner runner;
};

MemoryService service(RequestHandler handle) {
  MemoryService s;
  s.name = "t";
  s.sticky_key = "user";
  s.retry_backoff_ms = 1;
  s.handle = std::move(handle);
  return s;
}

}  // namespace

TEST(HandlerRunner, RunsTheHandlerOnTheParsedPayloadWithItsStickyKey) {
  Rig rig(service([](RequestContext& rq) -> Reply {
    return nlohmann::json{{"key", rq.key()}, {"n", rq.json()["n"]}, {"partition", rq.partition()}};
  }));
  auto req = rig.request(R"({"user":"u1","n":3})");
  rig.runner.run(req, nullptr);
  EXPECT_EQ(req->code, Code::kOk);
  EXPECT_EQ(nlohmann::json::parse(req->body), (nlohmann::json{{"key", "u1"}, {"n", 3}, {"partition", 2}}));
  EXPECT_EQ(req->attempts, 1);
  EXPECT_EQ(req->headers.request_id, "2-7");  // none sent: partition-offset
  EXPECT_FALSE(req->dead_letter);
  EXPECT_EQ(rig.count(&WorkerCounters::succeeded), 1u);
}

TEST(HandlerRunner, BadInputIsRefusedWithoutRunningTheHandler) {
  std::atomic<int> runs{0};
  Rig rig(service([&](RequestContext&) -> Reply {
    ++runs;
    return nlohmann::json::object();
  }));
  for (const char* payload : {"not json", R"({"other":1})"}) {
    auto req = rig.request(payload);
    rig.runner.run(req, nullptr);
    EXPECT_EQ(req->code, Code::kInvalidArgument) << payload;
    EXPECT_EQ(req->attempts, 0);
    EXPECT_FALSE(req->dead_letter);  // a reply address is named: the caller hears it
  }
  EXPECT_EQ(runs, 0);
  EXPECT_EQ(rig.count(&WorkerCounters::failed), 2u);
}

// A request routed as the client routes it: keyed by its sticky key, on the
// partition murmur2 gives that key. `key` must outlive the request (a record's
// key is a view into the record): the tests pass literals.
void route_by(Request& req, std::string_view key, int32_t partitions) {
  req.key = key;
  req.partition = kafka_partition(key, partitions);
}

TEST(HandlerRunner, AMisroutedRequestIsCountedAndServed) {
  std::atomic<int> runs{0};
  Rig rig(service([&](RequestContext&) -> Reply {
    ++runs;
    return nlohmann::json::object();
  }));
  auto routed = rig.request(R"({"user":"u1"})");
  route_by(*routed, "u1", rig.svc.partitions);
  rig.runner.run(routed, nullptr);
  EXPECT_EQ(rig.count(&WorkerCounters::misrouted), 0u) << "a request keyed by its sticky key is not misrouted";

  auto other_key = rig.request(R"({"user":"u1"})", 8);
  route_by(*other_key, "u2", rig.svc.partitions);
  auto no_key = rig.request(R"({"user":"u1"})", 9);
  route_by(*no_key, "u1", rig.svc.partitions);
  no_key->key.reset();
  auto other_partition = rig.request(R"({"user":"u1"})", 10);
  route_by(*other_partition, "u1", rig.svc.partitions);
  other_partition->partition = (other_partition->partition + 1) % rig.svc.partitions;  // e.g. kcat -p
  for (const auto& r : {other_key, no_key, other_partition}) {
    rig.runner.run(r, nullptr);
    EXPECT_EQ(r->code, Code::kOk) << r->body;
  }
  EXPECT_EQ(runs, 4);
  EXPECT_EQ(rig.count(&WorkerCounters::misrouted), 3u);
}

TEST(HandlerRunner, StrictRoutingRefusesAMisroutedRequest) {
  std::atomic<int> runs{0};
  auto svc = service([&](RequestContext&) -> Reply {
    ++runs;
    return nlohmann::json::object();
  });
  svc.strict_routing = true;
  Rig rig(std::move(svc));
  auto misrouted = rig.request(R"({"user":"u1"})");
  route_by(*misrouted, "u2", rig.svc.partitions);
  rig.runner.run(misrouted, nullptr);
  EXPECT_EQ(misrouted->code, Code::kInvalidArgument);
  EXPECT_NE(misrouted->body.find("record key 'u2' is not the payload's sticky key 'u1'"), std::string::npos)
      << misrouted->body;
  EXPECT_EQ(runs, 0);
  auto routed = rig.request(R"({"user":"u1"})", 8);
  route_by(*routed, "u1", rig.svc.partitions);
  rig.runner.run(routed, nullptr);
  EXPECT_EQ(routed->code, Code::kOk) << routed->body;
  EXPECT_EQ(runs, 1);
  EXPECT_EQ(rig.count(&WorkerCounters::misrouted), 1u);
}

TEST(HandlerRunner, WithoutAStickyKeyNothingIsMisrouted) {
  auto svc = service([](RequestContext&) -> Reply { return nlohmann::json::object(); });
  svc.sticky_key.clear();
  svc.strict_routing = true;
  Rig rig(std::move(svc));
  auto req = rig.request(R"({"user":"u1"})");  // no record key, any partition
  rig.runner.run(req, nullptr);
  EXPECT_EQ(req->code, Code::kOk) << req->body;
  EXPECT_EQ(rig.count(&WorkerCounters::misrouted), 0u);
}

TEST(HandlerRunner, RetriesRetryWorthyFailuresThenDeadLetters) {
  std::atomic<int> runs{0};
  auto svc = service([&](RequestContext&) -> Reply {
    ++runs;
    throw Error(Code::kUnavailable, "store down");
  });
  svc.max_attempts = 3;
  Rig rig(std::move(svc));
  auto req = rig.request(R"({"user":"u"})");
  rig.runner.run(req, nullptr);
  EXPECT_EQ(runs, 3);
  EXPECT_EQ(req->attempts, 3);
  EXPECT_EQ(req->code, Code::kUnavailable);
  EXPECT_EQ(req->body, "store down");
  EXPECT_TRUE(req->dead_letter);
  EXPECT_EQ(rig.count(&WorkerCounters::retries), 2u);
}

TEST(HandlerRunner, ExceptionsMapToCodesAndErrorOkIsNeverSuccess) {
  int which = 0;
  Rig rig(service([&](RequestContext& rq) -> Reply {
    switch (which) {
      case 0: throw Error(Code::kOk, "an error that claims ok");
      case 1: return nlohmann::json{{"x", rq.json().at("missing").get<int>()}};  // json::out_of_range
      case 2: throw std::runtime_error("boom");
      default: throw 42;
    }
  }));
  const Code expected[] = {Code::kInternal, Code::kInvalidArgument, Code::kInternal, Code::kInternal};
  const std::string bodies[] = {"an error that claims ok", "", "handler threw: boom",
                                "handler threw a non-standard exception"};
  for (which = 0; which < 4; ++which) {
    auto req = rig.request(R"({"user":"u"})", 100 + which);
    rig.runner.run(req, nullptr);
    EXPECT_EQ(req->code, expected[which]) << which;
    if (!bodies[which].empty()) {
      EXPECT_EQ(req->body, bodies[which]) << which;
    }
  }
}

TEST(HandlerRunner, StopInterruptsTheRetryBackoff) {
  std::promise<void> entered;
  std::atomic<int> runs{0};
  auto svc = service([&](RequestContext&) -> Reply {
    if (runs++ == 0) entered.set_value();
    throw Error(Code::kUnavailable, "down");
  });
  svc.max_attempts = 5;
  svc.retry_backoff_ms = 600000;  // ten minutes, capped at 30 s: only stop() ends it
  svc.timeout_seconds = 3600;
  Rig rig(std::move(svc));
  auto req = rig.request(R"({"user":"u"})");
  auto done = std::async(std::launch::async, [&] { rig.runner.run(req, nullptr); });
  entered.get_future().wait();
  rig.runner.stop();
  // Bounded: were the backoff not interrupted, this would wait 30 s.
  ASSERT_EQ(done.wait_for(std::chrono::seconds(20)), std::future_status::ready);
  EXPECT_EQ(runs, 1);  // no attempt after stop
  EXPECT_EQ(req->code, Code::kUnavailable);
}

TEST(HandlerRunner, CancelledOnStopAndOnRevoke) {
  std::atomic<bool> saw_revoke{false};
  Rig* self = nullptr;
  Rig rig(service([&](RequestContext& rq) -> Reply {
    EXPECT_FALSE(rq.cancelled());
    self->held = false;  // the partition is revoked while the handler runs
    saw_revoke = rq.cancelled();
    return nlohmann::json::object();
  }));
  self = &rig;
  rig.runner.run(rig.request(R"({"user":"u"})"), nullptr);
  EXPECT_TRUE(saw_revoke);
}

TEST(HandlerRunner, ARedeliveredIdIsAnsweredFromTheWindowWithoutRunning) {
  std::atomic<int> runs{0};
  Rig rig(service([&](RequestContext&) -> Reply {
    ++runs;
    return nlohmann::json{{"n", runs.load()}};
  }));
  auto first = rig.request(R"({"user":"u"})");
  first->headers.request_id = "r1";
  rig.runner.run(first, nullptr);
  auto again = rig.request(R"({"user":"u"})", 8);
  again->headers.request_id = "r1";
  rig.runner.run(again, nullptr);
  EXPECT_EQ(runs, 1);
  EXPECT_TRUE(again->duplicate);
  EXPECT_EQ(again->body, first->body);
  EXPECT_EQ(rig.count(&WorkerCounters::duplicates), 1u);
}

TEST(HandlerRunner, CrashLoopedRequestIsDeadLetteredUnrun) {
  memrun::test::TempDir dir("memrun-runner-journal");
  {
    internal::CrashJournal dead(dir.path);
    dead.started({2, 7, "poison"});
  }
  {  // a second death
    internal::CrashJournal dead(dir.path);
    dead.started({2, 7, "poison"});
  }
  internal::CrashJournal journal(dir.path);
  std::atomic<int> runs{0};
  auto svc = service([&](RequestContext&) -> Reply {
    ++runs;
    return nlohmann::json::object();
  });
  svc.max_crashes = 2;
  Rig rig(std::move(svc), &journal);
  auto req = rig.request(R"({"user":"u"})");
  req->headers.request_id = "poison";
  rig.runner.run(req, nullptr);
  EXPECT_EQ(runs, 0);
  EXPECT_EQ(req->error_class, "crash_loop");
  EXPECT_EQ(req->attempts, 2);
  EXPECT_TRUE(req->dead_letter);
}

// The deadline rule of docs/protocol.md: the service's timeout counts from
// when the worker took the record; the header's deadline wins when earlier;
// a malformed one is invalid_argument; one already past is deadline_exceeded;
// neither runs the handler.
TEST(HandlerRunner, DeadlineRule) {
  std::atomic<int> runs{0};
  auto svc = service([&](RequestContext&) -> Reply {
    ++runs;
    return nlohmann::json::object();
  });
  svc.timeout_seconds = 10;
  Rig rig(std::move(svc));

  auto fresh = rig.request(R"({"user":"u"})", 1);
  rig.runner.run(fresh, nullptr);
  EXPECT_EQ(fresh->code, Code::kOk);
  EXPECT_EQ(fresh->deadline_ms, fresh->taken_ms + 10000);

  auto earlier = rig.request(R"({"user":"u"})", 2);
  earlier->headers.deadline_ms = earlier->taken_ms + 5000;
  rig.runner.run(earlier, nullptr);
  EXPECT_EQ(earlier->code, Code::kOk);
  EXPECT_EQ(earlier->deadline_ms, earlier->taken_ms + 5000);

  // Taken from Kafka 11 s ago (it waited for a slot): its timeout has passed.
  auto waited = rig.request(R"({"user":"u"})", 3);
  waited->taken_ms -= 11000;
  rig.runner.run(waited, nullptr);
  EXPECT_EQ(waited->code, Code::kDeadlineExceeded);

  auto past = rig.request(R"({"user":"u"})", 4);
  past->headers.deadline_ms = 1;  // long past (and "0" is a deadline too)
  rig.runner.run(past, nullptr);
  EXPECT_EQ(past->code, Code::kDeadlineExceeded);

  int64_t offset = 5;
  for (const char* bad : {"-5", "soon"}) {
    auto req = rig.request(R"({"user":"u"})", offset++);
    req->headers.bad_deadline = bad;
    rig.runner.run(req, nullptr);
    EXPECT_EQ(req->code, Code::kInvalidArgument) << bad;
    EXPECT_NE(req->body.find(bad), std::string::npos) << req->body;
  }
  EXPECT_EQ(runs, 2);
}
