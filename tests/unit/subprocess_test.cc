// The test harness's child processes get our stdout/stderr pipe and nothing
// else of ours: a descriptor this process holds without O_CLOEXEC (librdkafka's
// sockets, a mock broker's listener) must not live on in every worker a test or
// the soak bench starts, where it inflated the worker's open-file count the
// later it was started.
#include "support/subprocess.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <gtest/gtest.h>

using namespace std::chrono_literals;

TEST(Subprocess, AChildInheritsNoDescriptorBeyondTheStandardThree) {
  constexpr int kFd = 200;  // high, so the shell never uses the number itself
  const int opened = ::open("/dev/null", O_RDONLY);  // deliberately without O_CLOEXEC
  ASSERT_GE(opened, 0);
  ASSERT_EQ(::dup2(opened, kFd), kFd);
  ::close(opened);
  // Exit 0 when the child does not hold the descriptor, 1 when it does.
  auto [code, output] = memrun::test::run({"/bin/sh", "-c", "! test -e /proc/self/fd/" + std::to_string(kFd)}, 30s);
  ::close(kFd);
  EXPECT_EQ(code, 0) << "the child inherited descriptor " << kFd << "\n" << output;
}
