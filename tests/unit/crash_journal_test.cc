#include "runtime/crash_journal.hpp"

#include <memrun/status.hpp>

#include "support/temp_dir.hpp"
#include "support/wait.hpp"

#include <gtest/gtest.h>

#include <sys/stat.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <thread>
#include <vector>

using memrun::internal::CrashJournal;
using memrun::internal::SuspectGate;
using memrun::test::TempDir;

namespace {

mode_t mode_of(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
  return st.st_mode & 07777;
}

// Writes `text` at the end of a journal's text: its first NUL byte (the
// mapped file's unwritten rest), or its end.
void append_to_journal(const std::string& path, const std::string& text) {
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  std::string all((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  const auto end = all.find('\0');
  f.clear();
  f.seekp(static_cast<std::streamoff>(end == std::string::npos ? all.size() : end));
  f << text;
}

}  // namespace

TEST(CrashJournal, CountsOneCrashPerRestartForWhatWasLeftRunning) {
  TempDir dir("memrun-journal");
  const CrashJournal::Request a{3, 41, "req-a"}, b{3, 42, "req-b"};
  {
    CrashJournal j(dir.path);
    j.started(a);
    j.started(b);
    j.finished(b);
    // "dies" here: a is still open (the destructor only releases the slot)
  }
  {
    CrashJournal j(dir.path);
    EXPECT_EQ(j.crashes(a), 1);
    EXPECT_EQ(j.crashes(b), 0);
    EXPECT_EQ(j.suspects(), 1u);
    j.started(a);  // and dies again
  }
  CrashJournal j(dir.path);
  EXPECT_EQ(j.crashes(a), 2);
  EXPECT_EQ(j.crashes({3, 41, "another-id"}), 0) << "same offset, other cluster";
  j.finished(a);
  EXPECT_EQ(j.crashes(a), 0);
}

// Compaction (a new file once 16 MiB of lines are written) keeps what is
// running then, whichever slots of the running set the requests took.
TEST(CrashJournal, WhatRunsAcrossCompactionsIsCountedAfterADeath) {
  TempDir dir("memrun-journal");
  const CrashJournal::Request left{5, 1, "left-running"}, done{5, 2, "finished-by-key"};
  {
    CrashJournal j(dir.path);
    j.started(done);
    j.started_key(CrashJournal::key(left));  // its ticket is never used: it dies running
    // About 60 bytes a line, two lines a request: 400 000 requests write
    // 48 MB, so the file is compacted at least twice under the running two.
    for (int i = 0; i < 400000; ++i) {
      const auto k = CrashJournal::key(6, i, "churn-" + std::string(40, 'x') + std::to_string(i % 50));
      j.finished_key(k, j.started_key(k));
    }
    EXPECT_GT(std::filesystem::file_size(j.path()), 0u);
    j.finished(done);  // by key, without its ticket
    // "dies" with `left` running
  }
  CrashJournal j(dir.path);
  EXPECT_EQ(j.crashes(left), 1);
  EXPECT_EQ(j.crashes(done), 0);
  EXPECT_EQ(j.crashes(CrashJournal::Request{6, 399999, "churn-" + std::string(40, 'x') + "49"}), 0);
  EXPECT_EQ(j.suspects(), 1u);
}

TEST(CrashJournal, SkipsALineCutShortAndOddRequestIdsStayOneToken) {
  TempDir dir("memrun-journal");
  {
    CrashJournal j(dir.path);
    j.started({0, 7, "id with spaces\nand newline"});
  }
  append_to_journal(dir.path + "/inflight.0.journal", "S 0 8 0 req-cut");  // no '\n': cut short
  CrashJournal j(dir.path);
  EXPECT_EQ(j.crashes({0, 7, "id with spaces\nand newline"}), 1);
  EXPECT_EQ(j.suspects(), 1u);
}

TEST(CrashJournal, LiveWorkersTakeSeparateSlots) {
  TempDir dir("memrun-journal");
  CrashJournal first(dir.path);
  CrashJournal second(dir.path);
  EXPECT_NE(first.path(), second.path());
  first.started({1, 1, "x"});
  CrashJournal third(dir.path);  // the first is alive: its open request is no crash
  EXPECT_EQ(third.crashes({1, 1, "x"}), 0);
}

TEST(CrashJournal, AnUnwritableDirectoryIsAClearError) {
  EXPECT_THROW(CrashJournal("/proc/memrun-no-such-dir"), memrun::Error);
}

// Request ids and offsets are no one else's business: the journal is owner
// only like the disk cache beside it, whatever the umask, and files an older
// version left readable are closed up.
TEST(CrashJournal, ItsDirectoryAndFilesAreOwnerOnlyWhateverTheUmask) {
  TempDir parent("memrun-journal");
  const std::string fresh = parent.path + "/fresh", old = parent.path + "/old";
  std::filesystem::create_directory(old);
  ::chmod(old.c_str(), 0755);
  for (const char* name : {"/inflight.0.lock", "/inflight.0.journal"}) {
    std::ofstream(old + name) << "";
    ::chmod((old + name).c_str(), 0644);
  }
  const mode_t old_umask = ::umask(0);  // the loosest an operator could run with
  for (const std::string& dir : {fresh, old}) {
    CrashJournal j(dir);
    j.started({0, 1, "req"});
  }
  ::umask(old_umask);
  for (const std::string& dir : {fresh, old}) {
    EXPECT_EQ(mode_of(dir), 0700u) << dir;
    int files = 0;
    for (const auto& f : std::filesystem::directory_iterator(dir)) {
      EXPECT_EQ(mode_of(f.path().string()), 0600u) << f.path();
      ++files;
    }
    EXPECT_EQ(files, 2) << "a lock and a journal in " << dir;
  }
}

TEST(SuspectGate, ASuspectRunsAloneAndOthersWaitForIt) {
  // Each step waits for the gate's own state, never for time.
  using Counts = SuspectGate::Counts;
  SuspectGate gate;
  auto wait_for = [&](auto ready) {
    return memrun::test::wait_until([&] { return ready(gate.counts()); }, std::chrono::seconds(30),
                                    std::chrono::milliseconds(1));
  };
  std::atomic<int> order{0};
  int suspect_began = 0, late_began = 0;
  gate.enter(false);  // one normal request already running
  std::thread suspect([&] {
    gate.enter(true);
    suspect_began = ++order;
    gate.leave(true);
  });
  ASSERT_TRUE(wait_for([](const Counts& c) { return c.suspects_waiting == 1; }));
  EXPECT_FALSE(gate.counts().suspect_running) << "must wait for the running request";
  std::thread late([&] {  // arrives while the suspect waits: must not overtake it
    gate.enter(false);
    late_began = ++order;
    gate.leave(false);
  });
  ASSERT_TRUE(wait_for([](const Counts& c) { return c.normal_waiting == 1; }));
  EXPECT_EQ(gate.counts().normal_running, 1);
  EXPECT_EQ(order.load(), 0) << "neither may begin while the first request runs";
  gate.leave(false);
  suspect.join();
  late.join();
  EXPECT_EQ(suspect_began, 1);
  EXPECT_EQ(late_began, 2) << "the late request overtook the suspect";
  const Counts end = gate.counts();
  EXPECT_EQ(end.normal_running + end.normal_waiting + end.suspects_waiting, 0);
}

// Normal requests pass without the gate's lock while no suspect is around:
// under a mix of both on 8 threads (and ThreadSanitizer), a suspect is never
// inside with anything else, and every request gets in.
TEST(SuspectGate, NoRequestIsEverInsideWithASuspect) {
  SuspectGate gate;
  std::atomic<int> normals_inside{0}, suspects_inside{0}, overlaps{0}, entered{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 2000; ++i) {
        const bool suspect = (i + t) % 97 == 0;
        gate.enter(suspect);
        ++entered;
        if (suspect) {
          if (suspects_inside.fetch_add(1) != 0 || normals_inside.load() != 0) ++overlaps;
          std::this_thread::yield();
          if (normals_inside.load() != 0) ++overlaps;
          --suspects_inside;
        } else {
          ++normals_inside;
          if (suspects_inside.load() != 0) ++overlaps;
          --normals_inside;
        }
        gate.leave(suspect);
      }
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(overlaps.load(), 0);
  EXPECT_EQ(entered.load(), 8 * 2000);
  const auto end = gate.counts();
  EXPECT_EQ(end.normal_running + end.normal_waiting + end.suspects_waiting, 0);
  EXPECT_FALSE(end.suspect_running);
}

// The death a slot records (for the fleet journal): the dead process's
// incarnation and the requests it left open, found by the next process in
// the slot, or published once by a supervisor, which marks the slot so that
// neither it nor the next process publishes that death again.
TEST(CrashJournal, ADeathIsFoundOnceWithTheDeadProcesssIncarnation) {
  TempDir dir("memrun-journal");
  const CrashJournal::Request a{1, 10, "req-a"}, b{1, 11, "req-b"};
  std::string first_incarnation;
  {
    CrashJournal j(dir.path);
    EXPECT_TRUE(j.found().requests.empty());
    j.started(a);
    j.started(b);
    j.finished(b);
  }
  {
    CrashJournal j(dir.path);
    ASSERT_EQ(j.found().requests.size(), 1u);
    EXPECT_EQ(CrashJournal::key(j.found().requests[0]), CrashJournal::key(a));
    first_incarnation = j.found().incarnation;
    EXPECT_FALSE(first_incarnation.empty());
    j.started(a);  // dies again: another process, another incarnation
  }
  CrashJournal j(dir.path);
  ASSERT_EQ(j.found().requests.size(), 1u);
  EXPECT_NE(j.found().incarnation, first_incarnation);
  EXPECT_EQ(j.crashes(a), 2);
}

TEST(CrashJournal, ASupervisorPublishesADeadSlotOnceAndSkipsLiveOnes) {
  TempDir dir("memrun-journal");
  const CrashJournal::Request a{2, 20, "req-a"}, live{2, 21, "req-live"};
  {
    CrashJournal dead(dir.path);
    dead.started(a);
  }
  CrashJournal alive(dir.path);  // takes the dead one's slot 0: it reads the death itself
  alive.started(live);
  EXPECT_EQ(alive.found().requests.size(), 1u);
  std::vector<CrashJournal::Death> seen;
  auto publish = [&](const CrashJournal::Death& d) {
    seen.push_back(d);
    return true;
  };
  EXPECT_EQ(CrashJournal::publish_dead_slots(dir.path, publish), 0u) << "slot 0 is held by a live process";

  {
    CrashJournal second(dir.path);  // slot 1
    second.started(a);
  }
  // A failed publish leaves the death to publish later.
  EXPECT_EQ(CrashJournal::publish_dead_slots(dir.path, [](const CrashJournal::Death&) { return false; }), 0u);
  EXPECT_EQ(CrashJournal::publish_dead_slots(dir.path, publish), 1u);
  ASSERT_EQ(seen.size(), 1u);
  ASSERT_EQ(seen[0].requests.size(), 1u);
  EXPECT_EQ(CrashJournal::key(seen[0].requests[0]), CrashJournal::key(a));
  EXPECT_EQ(CrashJournal::publish_dead_slots(dir.path, publish), 0u) << "published twice";
  // A throwing publish releases the slot's lock.
  {
    CrashJournal third(dir.path);  // slot 1 again: the death is marked published, so not found
    EXPECT_TRUE(third.found().requests.empty());
    EXPECT_EQ(third.crashes(a), 1) << "still counted on this machine";
    third.started(a);
  }
  EXPECT_THROW(CrashJournal::publish_dead_slots(
                   dir.path, [](const CrashJournal::Death&) -> bool { throw memrun::Error(memrun::Code::kUnavailable, "down"); }),
               memrun::Error);
  CrashJournal fourth(dir.path);
  EXPECT_NE(fourth.path().find("inflight.1."), std::string::npos) << fourth.path() << ": slot 1 stayed locked";
  EXPECT_EQ(fourth.found().requests.size(), 1u) << "unpublished: the next process publishes it";
}

// The journal's lines are stored into its mapped file, each '\n' last: a
// process killed in the middle of a line leaves it without one, and neither
// the next process nor a supervisor's mark takes it for a request that ran.
TEST(CrashJournal, ALineCutShortByADeathIsNeverReadAsWhole) {
  TempDir dir("memrun-journal");
  const CrashJournal::Request a{0, 8, "req-a"};
  {
    CrashJournal j(dir.path);
    j.started(a);
  }
  const std::string path = dir.path + "/inflight.0.journal";
  append_to_journal(path, "S 0 9 0 req-cut");
  EXPECT_GT(std::filesystem::file_size(path), 1u << 20) << "sized ahead, not grown per line";
  std::vector<CrashJournal::Death> seen;
  EXPECT_EQ(CrashJournal::publish_dead_slots(dir.path,
                                             [&](const CrashJournal::Death& d) {
                                               seen.push_back(d);
                                               return true;
                                             }),
            1u);
  ASSERT_EQ(seen.size(), 1u);
  ASSERT_EQ(seen[0].requests.size(), 1u);
  EXPECT_EQ(CrashJournal::key(seen[0].requests[0]), CrashJournal::key(a));
  CrashJournal j(dir.path);
  EXPECT_TRUE(j.found().requests.empty()) << "published by the supervisor";
  EXPECT_EQ(j.crashes(a), 1);
  EXPECT_EQ(j.crashes({0, 9, "req-cut"}), 0);
  EXPECT_EQ(j.suspects(), 1u);
}
