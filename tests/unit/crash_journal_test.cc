#include "runtime/crash_journal.hpp"

#include <memrun/status.hpp>

#include "support/temp_dir.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <thread>

using memrun::internal::CrashJournal;
using memrun::internal::SuspectGate;
using memrun::test::TempDir;

namespace {

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

TEST(CrashJournal, SkipsALineCutShortAndOddRequestIdsStayOneToken) {
  TempDir dir("memrun-journal");
  {
    CrashJournal j(dir.path);
    j.started({0, 7, "id with spaces\nand newline"});
  }
  { std::ofstream(dir.path + "/inflight.0.journal", std::ios::app) << "S 0 8 0"; }  // no id: cut short
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

TEST(SuspectGate, ASuspectRunsAloneAndOthersWaitForIt) {
  SuspectGate gate;
  std::atomic<int> normal_running{0}, max_with_suspect{0};
  std::atomic<bool> suspect_running{false};
  gate.enter(false);  // one normal request already running
  ++normal_running;
  std::thread suspect([&] {
    gate.enter(true);
    suspect_running = true;
    max_with_suspect = normal_running.load();
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
    suspect_running = false;
    gate.leave(true);
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_FALSE(suspect_running.load()) << "must wait for the running request";
  std::thread late([&] {  // arrives while the suspect waits: must not overtake it
    gate.enter(false);
    EXPECT_FALSE(suspect_running.load());
    gate.leave(false);
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  --normal_running;
  gate.leave(false);
  suspect.join();
  late.join();
  EXPECT_EQ(max_with_suspect.load(), 0);
}
