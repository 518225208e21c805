// The supervisor's restart decisions, without processes.
#include "host/supervisor.hpp"

#include <gtest/gtest.h>

using namespace std::chrono_literals;
using memrun::host::RestartBook;
using memrun::host::RestartPolicy;

TEST(RestartBook, BacksOffExponentiallyUpToTheCap) {
  RestartPolicy p;
  p.max_restarts = 10;
  p.window = 1h;
  p.first_backoff = 500ms;
  p.max_backoff = 3s;
  RestartBook book(p);
  const auto t = RestartBook::Clock::now();
  std::vector<std::chrono::milliseconds> got;
  for (int i = 0; i < 5; ++i) got.push_back(*book.died(t + std::chrono::seconds(i)));
  EXPECT_EQ(got, (std::vector<std::chrono::milliseconds>{500ms, 1000ms, 2000ms, 3000ms, 3000ms}));
}

TEST(RestartBook, GivesUpAfterMaxRestartsWithinTheWindow) {
  RestartPolicy p;
  p.max_restarts = 2;
  p.window = 60s;
  RestartBook book(p);
  const auto t = RestartBook::Clock::now();
  EXPECT_TRUE(book.died(t));
  EXPECT_TRUE(book.died(t + 1s));
  EXPECT_FALSE(book.died(t + 2s)) << "a third death within 60 s";
  EXPECT_EQ(book.recent(), 3);
}

TEST(RestartBook, DeathsOutsideTheWindowAreForgotten) {
  RestartPolicy p;
  p.max_restarts = 2;
  p.window = 60s;
  p.first_backoff = 500ms;
  RestartBook book(p);
  const auto t = RestartBook::Clock::now();
  EXPECT_TRUE(book.died(t));
  EXPECT_TRUE(book.died(t + 10s));
  auto later = book.died(t + 65s);  // the first has left the window
  ASSERT_TRUE(later);
  EXPECT_EQ(book.recent(), 2);
  EXPECT_EQ(*later, 1000ms) << "backoff follows the deaths still in the window";
}

TEST(RestartBook, CleanStopsAndRefusalsAreFinal) {
  EXPECT_TRUE(RestartBook::final_exit(0));
  EXPECT_TRUE(RestartBook::final_exit(2));
  EXPECT_TRUE(RestartBook::final_exit(3));
  EXPECT_FALSE(RestartBook::final_exit(1)) << "a runtime failure may be cured by a restart";
}
