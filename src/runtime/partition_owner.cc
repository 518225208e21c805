#include "runtime/partition_owner.hpp"

#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>

namespace memrun::internal {
namespace {

using Clock = std::chrono::steady_clock;

// The consumer's max.poll.interval.ms: how long the application may stay away
// from rd_kafka_consumer_poll (rebalance callbacks included) before librdkafka
// leaves the group.
std::chrono::milliseconds max_poll_interval(rd_kafka_t* consumer) {
  char value[32];
  size_t size = sizeof value;
  if (rd_kafka_conf_get(rd_kafka_conf(consumer), "max.poll.interval.ms", value, &size) == RD_KAFKA_CONF_OK)
    return std::chrono::milliseconds(std::atoll(value));
  return std::chrono::milliseconds(300000);  // librdkafka's default
}

}  // namespace

PartitionOwner::PartitionOwner(Identity identity, OffsetTracker& tracker, Counters& counters,
                               WorkerMetrics& metrics, Hooks hooks)
    : id_(std::move(identity)), tracker_(tracker), counters_(counters), metrics_(metrics), hooks_(std::move(hooks)) {}

void PartitionOwner::open(const KafkaOptions& kafka, std::chrono::milliseconds drain_timeout,
                          std::chrono::milliseconds revoke_wait) {
  auto defaults = kafka::consumer_defaults();
  defaults["group.id"] = id_.group;
  defaults["client.id"] = id_.worker_id;
  // KIP-345: a member restarted within session.timeout.ms takes back its
  // partitions without a rebalance (brokers 2.3+; the mock cluster ignores it).
  if (!id_.instance_id.empty()) defaults["group.instance.id"] = id_.instance_id;
  // We choose every offset (store() below); librdkafka's timer sends them.
  // Its timer skips while the group rebalances, which a commit of ours
  // cannot: one sent while our JoinGroup is pending carries the old
  // generation, the coordinator answers ILLEGAL_GENERATION, and librdkafka
  // then drops the whole assignment as lost, so cooperative rebalancing
  // degrades into moving every partition.
  defaults["enable.auto.commit"] = "true";
  defaults["auto.commit.interval.ms"] = "1000";
  auto conf = kafka::make_conf(kafka, defaults);
  rd_kafka_conf_set_opaque(conf.get(), this);
  rd_kafka_conf_set_rebalance_cb(conf.get(), &PartitionOwner::on_rebalance);
  rd_kafka_conf_set_offset_commit_cb(conf.get(), &PartitionOwner::on_commit);
  auto consumer = kafka::make_handle(RD_KAFKA_CONSUMER, std::move(conf));
  rd_kafka_poll_set_consumer(consumer.get());
  queue_.reset(rd_kafka_queue_get_consumer(consumer.get()));
  revoke_grace_ = std::min(revoke_wait, max_poll_interval(consumer.get()) / 2);
  answer_bound_ = std::max(drain_timeout, std::chrono::milliseconds(1000));
  counters_.raise(&WorkerCounters::revoke_limit_ms, static_cast<uint64_t>(revoke_grace_.count()));
  {
    std::lock_guard lock(handle_mu_);
    consumer_ = std::move(consumer);
  }
  kafka::PartitionList topics(rd_kafka_topic_partition_list_new(1));
  rd_kafka_topic_partition_list_add(topics.get(), id_.topic.c_str(), RD_KAFKA_PARTITION_UA);
  if (auto err = rd_kafka_subscribe(consumer_.get(), topics.get()))
    throw kafka::error_from(err, "subscribe to " + id_.topic);
}

void PartitionOwner::wake() {
  if (queue_) rd_kafka_queue_yield(queue_.get());
}

kafka::PartitionList PartitionOwner::list_of(const std::vector<int32_t>& partitions) const {
  kafka::PartitionList list(rd_kafka_topic_partition_list_new(static_cast<int>(partitions.size()) + 1));
  for (int32_t p : partitions) rd_kafka_topic_partition_list_add(list.get(), id_.topic.c_str(), p);
  return list;
}

void PartitionOwner::pause(const std::vector<int32_t>& partitions) {
  auto list = list_of(partitions);
  rd_kafka_pause_partitions(consumer_.get(), list.get());
  counters_.add(&WorkerCounters::paused_times);
  for (int32_t p : partitions) metrics_.paused(p);
}

void PartitionOwner::resume(const std::vector<int32_t>& partitions) {
  auto list = list_of(partitions);
  rd_kafka_resume_partitions(consumer_.get(), list.get());
  for (int32_t p : partitions) metrics_.resumed(p);
  // librdkafka 2.0.2 records a resume in its main thread, and each broker's
  // fetch thread notices it only on its next wakeup, up to a second later
  // (measured: 0.9 s per pause cycle, which throttled 100 ms handlers to a
  // tenth of their slots). Any request queued for a broker wakes its thread,
  // so ask the partitions' leaders for their end offsets without waiting for
  // the answer; librdkafka drops the late replies itself.
  for (int i = 0; i < list->cnt; ++i) list->elems[i].offset = RD_KAFKA_OFFSET_END;
  rd_kafka_offsets_for_times(consumer_.get(), list.get(), 0);
}

kafka::PartitionList PartitionOwner::offset_list(const std::vector<OffsetTracker::Commit>& commits) const {
  kafka::PartitionList list(rd_kafka_topic_partition_list_new(static_cast<int>(commits.size())));
  for (const auto& c : commits)
    rd_kafka_topic_partition_list_add(list.get(), id_.topic.c_str(), c.partition)->offset = c.offset;
  return list;
}

// A partition revoked meanwhile is refused by librdkafka (its next owner
// resumes from the last commit), which is what at-least-once wants.
void PartitionOwner::store(const std::vector<OffsetTracker::Commit>& commits) {
  if (commits.empty()) return;
  auto list = offset_list(commits);
  rd_kafka_offsets_store(consumer_.get(), list.get());
}

// On revoke the generation was just renewed, so the commit cannot be stale.
// The answer comes as an event on a queue of its own, so the wait has a bound
// (rd_kafka_commit's synchronous form has none).
void PartitionOwner::commit_now(const std::vector<OffsetTracker::Commit>& commits) {
  if (commits.empty()) return;
  store(commits);
  auto list = offset_list(commits);
  kafka::Queue answers(rd_kafka_queue_new(consumer_.get()));
  if (auto err = rd_kafka_commit_queue(consumer_.get(), list.get(), answers.get(), nullptr, nullptr)) {
    if (err != RD_KAFKA_RESP_ERR__NO_OFFSET) spdlog::warn("commit failed: {}", rd_kafka_err2str(err));
    return;
  }
  kafka::Event answer(rd_kafka_queue_poll(answers.get(), static_cast<int>(answer_bound_.count())));
  if (!answer) {
    spdlog::warn("commit unanswered after {} ms (is Kafka reachable?); the next owner may run those requests again",
                 answer_bound_.count());
    return;
  }
  const auto err = rd_kafka_event_error(answer.get());
  if (err == RD_KAFKA_RESP_ERR_NO_ERROR) counters_.add(&WorkerCounters::commits);
  else if (err != RD_KAFKA_RESP_ERR__NO_OFFSET) spdlog::warn("commit failed: {}", rd_kafka_err2str(err));
}

// rd_kafka_consumer_close waits for the coordinator as long as it takes,
// forever when the cluster is gone; its queue form lets the wait end.
void PartitionOwner::close() {
  closing_ = true;
  kafka::Queue events(rd_kafka_queue_new(consumer_.get()));
  if (rd_kafka_error_t* error = rd_kafka_consumer_close_queue(consumer_.get(), events.get())) {
    spdlog::warn("cannot leave group {}: {}", id_.group, rd_kafka_error_string(error));
    rd_kafka_error_destroy(error);
    abandoned_ = true;
    return;
  }
  const auto deadline = Clock::now() + answer_bound_;
  while (!rd_kafka_consumer_closed(consumer_.get())) {
    if (Clock::now() >= deadline) {
      spdlog::warn("leaving group {} unanswered after {} ms (is Kafka reachable?); closing without it: its "
                   "partitions move once the session times out",
                   id_.group, answer_bound_.count());
      abandoned_ = true;
      return;
    }
    // Serves the last revoke (the rebalance callback) and commit results
    // through their callbacks, and hands back what has none: records
    // fetched meanwhile (a partition assigned while the group rebalanced)
    // and consumer errors. Those are dropped; the next owner reads them.
    // Served with rd_kafka_queue_poll_callback instead, such an op aborted
    // the process in librdkafka (rdkafka_queue.c "res !=
    // RD_KAFKA_OP_RES_PASS"): RollingUpgrade.ReplacingEveryWorkerUnderLoad…
    // under scripts/stress-tests, a worker stopped mid-rebalance.
    if (rd_kafka_message_t* m = rd_kafka_consume_queue(events.get(), 100)) rd_kafka_message_destroy(m);
  }
}

void PartitionOwner::destroy() {
  queue_.reset();
  std::lock_guard lock(handle_mu_);
  // Destroying would try to leave the group again, with no bound.
  if (abandoned_ && consumer_) rd_kafka_destroy_flags(consumer_.release(), RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
  consumer_.reset();
}

std::vector<int32_t> PartitionOwner::assigned() const {
  std::lock_guard lock(state_mu_);
  return {assigned_.begin(), assigned_.end()};
}

bool PartitionOwner::wait_for_assignment(std::chrono::milliseconds timeout) const {
  std::unique_lock lock(state_mu_);
  return state_cv_.wait_for(lock, timeout, [&] { return !assigned_.empty(); });
}

std::vector<PartitionStatus> PartitionOwner::partition_status() const {
  const auto partitions = assigned();
  std::vector<PartitionStatus> out;
  std::lock_guard lock(handle_mu_);
  if (partitions.empty() || !consumer_) return out;
  auto parts = list_of(partitions);
  rd_kafka_position(consumer_.get(), parts.get());
  for (int i = 0; i < parts->cnt; ++i) {
    PartitionStatus ps;
    ps.partition = parts->elems[i].partition;
    ps.position = parts->elems[i].offset >= 0 ? parts->elems[i].offset : -1;
    int64_t low = -1, high = -1;
    if (rd_kafka_get_watermark_offsets(consumer_.get(), id_.topic.c_str(), ps.partition, &low, &high) ==
            RD_KAFKA_RESP_ERR_NO_ERROR &&
        high >= 0)
      ps.high_watermark = high;
    if (ps.high_watermark >= 0) ps.lag = std::max<int64_t>(0, ps.high_watermark - std::max<int64_t>(0, ps.position));
    out.push_back(ps);
  }
  return out;
}

// Poll thread (inside rd_kafka_consumer_poll).
void PartitionOwner::on_rebalance(rd_kafka_t* rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* parts,
                                  void* opaque) {
  auto* self = static_cast<PartitionOwner*>(opaque);
  const bool cooperative = std::strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0;
  std::vector<int32_t> ps;
  for (int i = 0; i < parts->cnt; ++i) ps.push_back(parts->elems[i].partition);
  if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
    for (int32_t p : ps) self->tracker_.assign(p);
    if (cooperative) rd_kafka_incremental_assign(rk, parts);
    else rd_kafka_assign(rk, parts);
    {
      std::lock_guard lock(self->state_mu_);
      self->assigned_.insert(ps.begin(), ps.end());
    }
    self->state_cv_.notify_all();
    self->counters_.add(&WorkerCounters::rebalances);
    self->hooks_.assigned(ps);
    // After the hook: readiness (first assignment) is recorded by the time
    // this line is out, which tests and operators wait for. Not for an empty
    // assignment: a member joining a cooperative group gets one in the first
    // round, while the others are still revoking what it gets in the next
    // (about a session timeout later on the mock cluster); a test that took
    // it for the assignment sent requests that the revoking worker still
    // served (RollingUpgrade found a dataset cold on its new owner).
    if (ps.empty())
      spdlog::debug("worker {}: no partitions assigned in this rebalance round", self->id_.worker_id);
    else
      spdlog::info("worker {} assigned partitions {}", self->id_.worker_id, fmt::join(ps, ","));
  } else if (err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS) {
    self->counters_.add(&WorkerCounters::rebalances);
    self->revoke(ps, rd_kafka_assignment_lost(rk) != 0);
    if (cooperative) rd_kafka_incremental_unassign(rk, parts);
    else rd_kafka_assign(rk, nullptr);
  } else {
    spdlog::error("rebalance failed: {}", rd_kafka_err2str(err));
    self->revoke(ps, true);
    rd_kafka_assign(rk, nullptr);
  }
}

void PartitionOwner::revoke(const std::vector<int32_t>& ps, bool lost) {
  hooks_.revoking(ps);
  for (int32_t p : ps) metrics_.resumed(p);
  if (!lost && !closing_) {
    // Let in-flight work of these partitions finish, then commit it, so the
    // next owner starts exactly after what this worker answered. This runs
    // inside the rebalance callback, whose time counts against
    // max.poll.interval.ms, hence revoke_grace_. Meanwhile waiting requests
    // of the partitions kept get the slots that free up.
    const auto began = Clock::now();
    const auto deadline = began + revoke_grace_;
    const size_t running_now = tracker_.unfinished(ps);
    if (running_now)
      spdlog::info("worker {} revoking partitions {}: waiting up to {} ms for {} unfinished request(s)",
                   id_.worker_id, fmt::join(ps, ","), revoke_grace_.count(), running_now);
    while (!tracker_.wait_finished(ps, std::min(deadline, Clock::now() + std::chrono::milliseconds(50))) &&
           Clock::now() < deadline)
      hooks_.waiting();
    const size_t left = tracker_.unfinished(ps);
    if (left)
      spdlog::warn("worker {}: {} request(s) of revoked partitions unfinished after {} ms; their next owner "
                   "runs them again",
                   id_.worker_id, left, revoke_grace_.count());
    if (running_now) {
      counters_.add(&WorkerCounters::revoke_waits);
      counters_.add(&WorkerCounters::revoke_wait_ms,
                    static_cast<uint64_t>(
                        std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - began).count()));
      counters_.add(&WorkerCounters::revoke_gave_up, left);
    }
    commit_now(tracker_.take_commits(ps));
  }
  if (lost) counters_.add(&WorkerCounters::lost_partitions, ps.size());
  for (int32_t p : ps) tracker_.drop(p);
  {
    std::lock_guard lock(state_mu_);
    for (int32_t p : ps) assigned_.erase(p);
  }
  spdlog::info("worker {} {} partitions {}", id_.worker_id, lost ? "lost" : "released", fmt::join(ps, ","));
}

// Poll thread, for the timer's commits and ours.
void PartitionOwner::on_commit(rd_kafka_t*, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t*,
                               void* opaque) {
  auto* self = static_cast<PartitionOwner*>(opaque);
  if (err == RD_KAFKA_RESP_ERR_NO_ERROR) self->counters_.add(&WorkerCounters::commits);
  else if (err != RD_KAFKA_RESP_ERR__NO_OFFSET) spdlog::warn("commit failed: {}", rd_kafka_err2str(err));
}

}  // namespace memrun::internal
