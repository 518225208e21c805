#include "runtime/handler_runner.hpp"

#include <memrun/exception_status.hpp>
#include <memrun/protocol.hpp>

#include "core/backoff.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <optional>

namespace memrun::internal {
namespace {

using std::chrono::milliseconds;
constexpr milliseconds kMaxBackoff{30000};
constexpr milliseconds kMisrouteLogInterval{10000};

int64_t now_ms() {
  return std::chrono::duration_cast<milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace

bool retry_worthy(Code code) { return is_retriable(code) || code == Code::kInternal; }

std::string overdue_message(const Request& req, int64_t now, double timeout_seconds) {
  return fmt::format("handler ran past the request's deadline ({} ms over; timeout_seconds {})",
                     now - req.deadline_ms, timeout_seconds);
}

// What a running handler sees of its request. The payload's tree is built
// on the first json() call, unless validation needed it already: most
// handlers (every C plugin's) never ask. One handler thread (service.hpp), so
// the lazy tree needs no lock.
class HandlerRunner::Context final : public RequestContext {
 public:
  Context(const HandlerRunner& runner, const Request& r, std::optional<nlohmann::json>& json, std::string key)
      : runner_(runner), r_(r), json_(json), key_(std::move(key)) {}
  std::string_view payload() const override { return r_.payload; }
  const nlohmann::json& json() const override {
    // Validated already: this parse cannot fail.
    if (!json_) json_ = nlohmann::json::parse(r_.payload);
    return *json_;
  }
  const std::string& key() const override { return key_; }
  const std::string& request_id() const override { return r_.headers.request_id; }
  int32_t partition() const override { return r_.partition; }
  int64_t offset() const override { return r_.offset; }
  std::chrono::system_clock::time_point deadline() const override {
    return std::chrono::system_clock::time_point(milliseconds(r_.deadline_ms));
  }
  bool cancelled() const override {
    return now_ms() > r_.deadline_ms || runner_.stopping() || !runner_.p_.holds(r_.partition);
  }
  SharedWorkerContext& worker() override { return runner_.p_.context; }

 private:
  const HandlerRunner& runner_;
  const Request& r_;
  std::optional<nlohmann::json>& json_;
  std::string key_;
};

HandlerRunner::HandlerRunner(Parts parts)
    : p_(std::move(parts)), sticky_(p_.service.sticky_key), scanner_(sticky_) {}

void HandlerRunner::stop() {
  {
    std::lock_guard lock(stop_mu_);
    stopping_ = true;
  }
  stop_cv_.notify_all();
}

bool HandlerRunner::back_off(milliseconds wait) {
  std::unique_lock lock(stop_mu_);
  return !stop_cv_.wait_for(lock, wait, [&] { return stopping_.load(); });
}

void HandlerRunner::run(const RequestPtr& ptr, DeadlineWatch* watch) {
  Request& req = *ptr;
  const auto& svc = p_.service;
  if (req.headers.request_id.empty())
    req.headers.request_id = std::to_string(req.partition) + "-" + std::to_string(req.offset);
  // The deadline rule (docs/protocol.md): the earlier of the header's and
  // the service's timeout counted from when the worker took the record.
  req.deadline_ms = req.taken_ms + static_cast<int64_t>(svc.timeout_seconds * 1000);
  if (req.headers.deadline_ms) req.deadline_ms = std::min(req.deadline_ms, *req.headers.deadline_ms);

  if (auto seen = p_.recent.find(req.headers.request_id)) {
    req.duplicate = true;
    req.code = seen->code;
    req.body = std::move(seen->body);
    p_.counters.add(&WorkerCounters::duplicates);
    spdlog::info("request {} at {}[{}]@{} was answered before: replaying its reply", req.headers.request_id,
                 p_.request_topic, req.partition, req.offset);
  } else {
    // A request already past its deadline is refused unrun (run_handler);
    // watched, the deadline watch could answer first, as a handler that ran
    // past its deadline (seen under ThreadSanitizer's slowness in
    // BadInput.ErrorsAreRepliedCommittedAndTheWorkerKeepsServing).
    const bool expired = now_ms() > req.deadline_ms;
    if (watch && !expired) watch->watch(ptr);
    run_guarded(req);
    if (watch && !expired) watch->unwatch(req);
    const int64_t done = now_ms();
    // Whether the deadline reply went out while the handler ran or not, a
    // late outcome is deadline_exceeded: the caller may have given up.
    if (done > req.deadline_ms && req.code != Code::kDeadlineExceeded) {
      req.code = Code::kDeadlineExceeded;
      req.body = overdue_message(req, done, svc.timeout_seconds);
    }
    if (!p_.recent.remember(req.headers.request_id, req.code, req.body))
      p_.counters.add(&WorkerCounters::dedup_not_kept);
  }
  if (req.code == Code::kOk) {
    p_.counters.add(&WorkerCounters::succeeded);
  } else {
    p_.counters.add(&WorkerCounters::failed);
    spdlog::warn("request {} at {}[{}]@{} failed after {} attempt(s): {}: {}", req.headers.request_id,
                 p_.request_topic, req.partition, req.offset, req.attempts, code_name(req.code), req.body);
  }
  // Dead letters: handler failures that retries did not cure, and failures
  // nobody would hear of because the request names no reply address.
  req.dead_letter = !req.duplicate && req.code != Code::kOk &&
                    (retry_worthy(req.code) || req.headers.reply_to.empty());
}

// run_handler() between crash-journal lines. A request that was running when
// workers died runs alone; at max_crashes it is dead-lettered unrun.
//
// Its deaths are the larger of what this machine's journal and the fleet's
// know. Both count real deaths only and the fleet's holds every published
// one, this machine's included, so their sum would count those twice; the
// local count matters when a death could not be published.
void HandlerRunner::run_guarded(Request& req) {
  if (p_.journal == nullptr) {
    run_handler(req);
    return;
  }
  const auto& svc = p_.service;
  // Made once: it allocates (the id's token).
  const CrashJournal::Key key = CrashJournal::key(req.partition, req.offset, req.headers.request_id);
  const int crashes = std::max(p_.journal->crashes_of(key), p_.fleet ? p_.fleet->deaths_of(key) : 0);
  if (crashes >= svc.max_crashes) {
    req.code = Code::kInternal;
    req.error_class = "crash_loop";
    req.attempts = crashes;
    req.body = "request was running when a worker process died " + std::to_string(crashes) +
               " times (counted across the service's workers); sent to " +
               protocol::dlq_topic(svc.name) + " without running again";
    p_.journal->finished_key(key, CrashJournal::kNoTicket);  // it never started here: found by key
    if (p_.fleet) p_.fleet->finished({req.partition, req.offset, req.headers.request_id});
    return;
  }
  const bool suspect = crashes > 0;
  if (suspect)
    spdlog::warn("request {} at {}[{}]@{} was running when a worker died ({} of {} allowed); running it alone",
                 req.headers.request_id, p_.request_topic, req.partition, req.offset, crashes, svc.max_crashes);
  gate_.enter(suspect);
  const CrashJournal::Ticket ticket = p_.journal->started_key(key);
  run_handler(req);
  p_.journal->finished_key(key, ticket);
  if (suspect && p_.fleet) p_.fleet->finished({req.partition, req.offset, req.headers.request_id});
  gate_.leave(suspect);
}

// A record keyed or placed unlike its payload's sticky key reached this
// worker by another route than the key's (docs/protocol.md, Routing): counted
// always, logged at most once per kMisrouteLogInterval with the number since,
// refused under strict_routing. Without a sticky key every worker may serve
// every request, so there is no route to miss.
void HandlerRunner::check_routing(const Request& req, const std::string& key) {
  const auto& svc = p_.service;
  if (sticky_.fields().empty()) return;
  const int32_t expected_partition = kafka_partition(key, svc.partitions);
  const bool key_differs = !req.key || *req.key != key;
  if (!key_differs && req.partition == expected_partition) return;
  p_.counters.add(&WorkerCounters::misrouted);
  const std::string why =
      !req.key      ? fmt::format("its record has no key; the payload's sticky key is '{}' (sticky_key '{}')", key,
                                  svc.sticky_key)
      : key_differs ? fmt::format("its record key '{}' is not the payload's sticky key '{}' (sticky_key '{}')",
                                  *req.key, key, svc.sticky_key)
                    : fmt::format("it is on partition {} while its sticky key '{}' maps to partition {} of {}",
                                  req.partition, key, expected_partition, svc.partitions);
  misroutes_unlogged_.fetch_add(1, std::memory_order_relaxed);
  const int64_t now = now_ms();
  int64_t last = last_misroute_log_ms_.load(std::memory_order_relaxed);
  if (now - last >= kMisrouteLogInterval.count() &&
      last_misroute_log_ms_.compare_exchange_strong(last, now, std::memory_order_relaxed)) {
    spdlog::warn("misrouted request {}: {}; {} misrouted since the last such line{}", req.headers.request_id, why,
                 misroutes_unlogged_.exchange(0, std::memory_order_relaxed),
                 svc.strict_routing ? " (refused: strict_routing)" : "");
  }
  if (svc.strict_routing)
    throw Error(Code::kInvalidArgument,
                "misrouted: " + why + "; produce it keyed by the sticky key with the murmur2 partitioner "
                                      "(strict_routing refuses it)");
}

// Validates the record, then runs the handler up to max_attempts times.
void HandlerRunner::run_handler(Request& req) {
  const auto& svc = p_.service;
  std::optional<nlohmann::json> json;
  std::string key;
  try {
    if (!req.headers.bad_deadline.empty())
      throw Error(Code::kInvalidArgument, fmt::format("{} '{}' is not a time in Unix milliseconds",
                                                      protocol::kHeaderDeadline, req.headers.bad_deadline));
    if (const int64_t now = now_ms(); now > req.deadline_ms)
      throw Error(Code::kDeadlineExceeded,
                  "request expired " + std::to_string(now - req.deadline_ms) + " ms before it could run");
    if (req.payload.size() > svc.max_payload_bytes)
      throw Error(Code::kInvalidArgument, "payload of " + std::to_string(req.payload.size()) +
                                              " bytes exceeds max_payload_bytes " +
                                              std::to_string(svc.max_payload_bytes));
    ScannedPayload scanned = scanner_.scan(req.payload);
    if (scanned.outcome == ScannedPayload::Outcome::kNotJson)
      throw Error(Code::kInvalidArgument, "payload is not valid JSON");
    if (scanned.outcome == ScannedPayload::Outcome::kKey) {
      key = std::move(scanned.key);
    } else {
      // The key, or why there is none, needs the tree (payload_scan.hpp).
      json = nlohmann::json::parse(req.payload);
      key = sticky_.extract(*json);
    }
    check_routing(req, key);
  } catch (const Error& e) {
    req.code = e.code();
    req.body = e.what();
    return;
  }
  for (int attempt = 1;; ++attempt) {
    req.attempts = attempt;
    try {
      Context rc(*this, req, json, key);
      req.body = std::move(svc.handle(rc).body());
      req.code = Code::kOk;
      return;
    } catch (...) {
      const ExceptionStatus s = exception_status();
      req.code = s.code;
      req.body = s.kind == ExceptionStatus::Kind::kError ? std::string(s.message)
                 : s.message                             ? std::string("handler threw: ") + s.message
                                                         : std::string("handler threw a non-standard exception");
    }
    if (!retry_worthy(req.code) || attempt >= svc.max_attempts) return;
    const auto backoff = exponential_backoff(milliseconds(svc.retry_backoff_ms), attempt, kMaxBackoff);
    if (stopping() || now_ms() + backoff.count() >= req.deadline_ms) return;
    p_.counters.add(&WorkerCounters::retries);
    spdlog::warn("request {} attempt {}/{} failed ({}: {}); retrying in {} ms", req.headers.request_id, attempt,
                 svc.max_attempts, code_name(req.code), req.body, backoff.count());
    if (!back_off(backoff)) return;  // stopping: the last failure is the outcome
  }
}

}  // namespace memrun::internal
