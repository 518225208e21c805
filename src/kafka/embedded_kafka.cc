#include <memrun/embedded_kafka.hpp>
#include <memrun/protocol.hpp>
#include <memrun/status.hpp>

#include "kafka/kafka.hpp"
#include "kafka/mock_access.hpp"

#include <librdkafka/rdkafka_mock.h>


namespace memrun {

struct EmbeddedKafka::Impl {
  // The mock cluster needs a client handle to own it; it dies with it.
  kafka::Handle owner;
  rd_kafka_mock_cluster_t* cluster = nullptr;
  std::string bootstrap;
};

EmbeddedKafka::EmbeddedKafka(int brokers) : impl_(std::make_unique<Impl>()) {
  if (brokers < 1) throw Error(Code::kInvalidArgument, "embedded Kafka needs at least one broker");
  auto conf = kafka::make_conf({}, {{"log_level", "3"}});
  impl_->owner = kafka::make_handle(RD_KAFKA_PRODUCER, std::move(conf));
  impl_->cluster = rd_kafka_mock_cluster_new(impl_->owner.get(), brokers);
  if (impl_->cluster == nullptr)
    throw Error(Code::kUnavailable, "cannot start librdkafka's mock cluster");
  impl_->bootstrap = rd_kafka_mock_cluster_bootstraps(impl_->cluster);
}

EmbeddedKafka::~EmbeddedKafka() {
  if (impl_ && impl_->cluster) rd_kafka_mock_cluster_destroy(impl_->cluster);
}

const std::string& EmbeddedKafka::bootstrap_servers() const noexcept { return impl_->bootstrap; }

void EmbeddedKafka::create_topic(const std::string& topic, int partitions, int replication) {
  auto err = rd_kafka_mock_topic_create(impl_->cluster, topic.c_str(), partitions, replication);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR && err != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS)
    throw kafka::error_from(err, "create topic " + topic);
}

void EmbeddedKafka::create_service_topics(const std::string& service, int partitions) {
  create_topic(protocol::request_topic(service), partitions);
  create_topic(std::string(protocol::kReplyTopic), protocol::kReplyPartitions);
  create_topic(std::string(protocol::kServicesTopic), 1);
  create_topic(protocol::dlq_topic(service), partitions);
  create_topic(protocol::suspects_topic(service), 1);
  create_topic(std::string(protocol::kHeartbeatsTopic), 1);
}

rd_kafka_mock_cluster_t* internal::MockAccess::cluster(EmbeddedKafka& kafka) noexcept {
  return kafka.impl_->cluster;
}

std::map<std::string, std::string> EmbeddedKafka::client_properties() { return {{"fetch.wait.max.ms", "10"}}; }

}  // namespace memrun

#if defined(__SANITIZE_THREAD__)
// ThreadSanitizer (GCC 12's) intercepts pthread_create but not C11's
// thrd_create, which Debian's librdkafka starts all its threads with: such a
// thread has no TSAN state, and its first malloc crashes the process (every
// test with a Kafka client or the mock cluster died at once). In TSAN builds
// only, libmemrun defines the three C11 calls librdkafka uses on top of the
// pthread ones TSAN sees; libmemrun comes before libc in symbol lookup, so
// librdkafka's calls (and every other library's in the process) land here.
// glibc's thrd_t is a pthread_t, so pthread_join/detach take it as it is.
#include <pthread.h>
#include <threads.h>

#include <cerrno>
#include <cstdint>

namespace {

struct ThreadStart {
  thrd_start_t fn;
  void* arg;
};

void* run_c11_thread(void* p) {
  const ThreadStart start = *static_cast<ThreadStart*>(p);
  delete static_cast<ThreadStart*>(p);
  return reinterpret_cast<void*>(static_cast<intptr_t>(start.fn(start.arg)));
}

int thrd_result(int pthread_rc) {
  if (pthread_rc == 0) return thrd_success;
  return pthread_rc == ENOMEM || pthread_rc == EAGAIN ? thrd_nomem : thrd_error;
}

}  // namespace

extern "C" __attribute__((visibility("default"))) int thrd_create(thrd_t* thr, thrd_start_t fn, void* arg) {
  auto* start = new ThreadStart{fn, arg};
  const int rc = pthread_create(thr, nullptr, &run_c11_thread, start);
  if (rc != 0) delete start;
  return thrd_result(rc);
}

extern "C" __attribute__((visibility("default"))) int thrd_join(thrd_t thr, int* res) {
  void* value = nullptr;
  const int rc = pthread_join(thr, &value);
  if (rc == 0 && res != nullptr) *res = static_cast<int>(reinterpret_cast<intptr_t>(value));
  return thrd_result(rc);
}

extern "C" __attribute__((visibility("default"))) int thrd_detach(thrd_t thr) { return thrd_result(pthread_detach(thr)); }

// Its locks too: glibc's C11 mutexes and condition variables are pthread ones
// underneath but skip the calls TSAN intercepts, so every record handed from
// one of our threads to another through librdkafka's queues looked racy.
namespace {
pthread_mutex_t* as_pthread(mtx_t* m) { return reinterpret_cast<pthread_mutex_t*>(m); }
pthread_cond_t* as_pthread(cnd_t* c) { return reinterpret_cast<pthread_cond_t*>(c); }
int wait_result(int rc) { return rc == ETIMEDOUT ? thrd_timedout : thrd_result(rc); }
}  // namespace

#define MEMRUN_C11_SHIM extern "C" __attribute__((visibility("default"))) int
MEMRUN_C11_SHIM mtx_init(mtx_t* m, int type) {
  pthread_mutexattr_t attr;
  pthread_mutexattr_init(&attr);
  if (type & mtx_recursive) pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
  const int rc = pthread_mutex_init(as_pthread(m), &attr);
  pthread_mutexattr_destroy(&attr);
  return thrd_result(rc);
}
MEMRUN_C11_SHIM mtx_lock(mtx_t* m) { return thrd_result(pthread_mutex_lock(as_pthread(m))); }
MEMRUN_C11_SHIM mtx_trylock(mtx_t* m) {
  const int rc = pthread_mutex_trylock(as_pthread(m));
  return rc == EBUSY ? thrd_busy : thrd_result(rc);
}
MEMRUN_C11_SHIM mtx_timedlock(mtx_t* m, const struct timespec* until) {
  return wait_result(pthread_mutex_timedlock(as_pthread(m), until));
}
MEMRUN_C11_SHIM mtx_unlock(mtx_t* m) { return thrd_result(pthread_mutex_unlock(as_pthread(m))); }
extern "C" __attribute__((visibility("default"))) void mtx_destroy(mtx_t* m) { pthread_mutex_destroy(as_pthread(m)); }
MEMRUN_C11_SHIM cnd_init(cnd_t* c) { return thrd_result(pthread_cond_init(as_pthread(c), nullptr)); }
MEMRUN_C11_SHIM cnd_signal(cnd_t* c) { return thrd_result(pthread_cond_signal(as_pthread(c))); }
MEMRUN_C11_SHIM cnd_broadcast(cnd_t* c) { return thrd_result(pthread_cond_broadcast(as_pthread(c))); }
MEMRUN_C11_SHIM cnd_wait(cnd_t* c, mtx_t* m) { return thrd_result(pthread_cond_wait(as_pthread(c), as_pthread(m))); }
MEMRUN_C11_SHIM cnd_timedwait(cnd_t* c, mtx_t* m, const struct timespec* until) {
  return wait_result(pthread_cond_timedwait(as_pthread(c), as_pthread(m), until));
}
extern "C" __attribute__((visibility("default"))) void cnd_destroy(cnd_t* c) { pthread_cond_destroy(as_pthread(c)); }
#undef MEMRUN_C11_SHIM
#endif
