// The partition owner: the worker's consumer and the partitions it holds.
// It answers rebalances (assign; on revoke, waits a bounded time for the
// revoked partitions' running requests and commits them, so their next owner
// starts exactly after what this worker answered), stores and commits the
// offsets the offset tracker hands out, and pauses and resumes fetching.
//
// @locality: the rebalance and commit callbacks run on the poll thread inside
// rd_kafka_consumer_poll; consumer(), pause(), resume(), store(),
// commit_now() and close() on the poll thread; wake() from handler threads;
// assigned(), wait_for_assignment() and partition_status() from any thread;
// open() and destroy() from the thread that starts or stops the worker.
#pragma once

#include <memrun/kafka_options.hpp>
#include <memrun/worker.hpp>

#include "kafka/kafka.hpp"
#include "runtime/offset_tracker.hpp"
#include "runtime/worker_counters.hpp"
#include "runtime/worker_metrics.hpp"

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <set>
#include <string>
#include <vector>

namespace memrun::internal {

class PartitionOwner {
 public:
  struct Hooks {
    // Poll thread, after partitions were assigned.
    std::function<void(const std::vector<int32_t>&)> assigned;
    // Poll thread, first thing on a revoke or loss: forget what waits.
    std::function<void(const std::vector<int32_t>&)> revoking;
    // Poll thread, again and again while a revoke waits for running requests:
    // slots that free up go to waiting requests of the partitions kept.
    std::function<void()> waiting;
  };
  struct Identity {
    std::string topic;  // the request topic
    std::string group;
    std::string worker_id;
    std::string instance_id;  // group.instance.id (static membership); empty = dynamic
  };
  // Every reference must outlive the owner.
  PartitionOwner(Identity identity, OffsetTracker& tracker, Counters& counters, WorkerMetrics& metrics, Hooks hooks);

  // Creates the consumer and subscribes. How long a revoke may wait is the
  // lesser of `revoke_wait` and half the consumer's max.poll.interval.ms
  // (which the rebalance callback counts against); `drain_timeout` bounds
  // the waits for the coordinator's answers at close. Throws Error.
  void open(const KafkaOptions& kafka, std::chrono::milliseconds drain_timeout,
            std::chrono::milliseconds revoke_wait);

  rd_kafka_t* consumer() const { return consumer_.get(); }
  // The consumer's queue, for rd_kafka_consume_batch_queue (which serves the
  // rebalance callback as rd_kafka_consumer_poll does).
  rd_kafka_queue_t* queue() const { return queue_.get(); }
  // Makes rd_kafka_consumer_poll return now (a slot freed, or stop).
  void wake();

  void pause(const std::vector<int32_t>& partitions);
  void resume(const std::vector<int32_t>& partitions);
  // Offsets for librdkafka's commit timer.
  void store(const std::vector<OffsetTracker::Commit>& commits);
  // A commit sent now and waited for, at most the answer bound: on revoke and
  // at shutdown.
  void commit_now(const std::vector<OffsetTracker::Commit>& commits);
  // Leaves the group: the partitions are revoked (without waiting: the
  // caller drained already) through the rebalance callback. Waits at most the
  // answer bound for the group's answer, then gives up on it.
  void close();
  // Destroys the consumer. REQUIRES: the poll thread ended.
  void destroy();

  std::vector<int32_t> assigned() const;
  bool wait_for_assignment(std::chrono::milliseconds timeout) const;
  // Position, high watermark and lag of each assigned partition, from
  // librdkafka's cached values (no broker round trip); empty once destroyed.
  std::vector<PartitionStatus> partition_status() const;

 private:
  static void on_rebalance(rd_kafka_t* rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* parts,
                           void* opaque);
  static void on_commit(rd_kafka_t*, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t*, void* opaque);
  void revoke(const std::vector<int32_t>& ps, bool lost);
  kafka::PartitionList list_of(const std::vector<int32_t>& partitions) const;
  kafka::PartitionList offset_list(const std::vector<OffsetTracker::Commit>& commits) const;

  const Identity id_;
  OffsetTracker& tracker_;
  Counters& counters_;
  WorkerMetrics& metrics_;
  const Hooks hooks_;
  std::chrono::milliseconds revoke_grace_{0};
  // How long a commit or the group's leave may wait for Kafka: librdkafka's
  // own calls wait forever for a coordinator that is gone, and a stop must
  // end (the drain timeout, at least a second).
  std::chrono::milliseconds answer_bound_{10000};
  bool closing_ = false;    // poll thread: close() began, revokes do not wait
  bool abandoned_ = false;  // close() gave up: destroy() must not leave the group again

  // The consumer handle is read by partition_status() on any thread while
  // destroy() resets it: handle_mu_ orders the two.
  mutable std::mutex handle_mu_;
  kafka::Handle consumer_;  // written under handle_mu_ (open, destroy)
  kafka::Queue queue_;      // to wake the poll loop

  mutable std::mutex state_mu_;
  mutable std::condition_variable state_cv_;
  std::set<int32_t> assigned_;  // GUARDED_BY(state_mu_); written by the poll thread
};

}  // namespace memrun::internal
