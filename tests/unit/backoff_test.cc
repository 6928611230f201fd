// Backoff: doubling from `initial`, never above `max`, spread by the jitter, back to `initial`
// after Reset().
#include "common/backoff.h"

#include <gtest/gtest.h>

#include <set>

namespace diskinv {
namespace {

using std::chrono::milliseconds;

TEST(Backoff, DoublesUpToTheCapWithoutJitter) {
  Backoff b({.initial = milliseconds(100), .max = milliseconds(2000), .jitter = 0}, 1);
  std::vector<int64_t> got;
  for (int i = 0; i < 8; ++i) got.push_back(b.Next().count());
  EXPECT_EQ(got, (std::vector<int64_t>{100, 200, 400, 800, 1600, 2000, 2000, 2000}));
  EXPECT_EQ(b.failures(), 8);
  b.Reset();
  EXPECT_EQ(b.Next().count(), 100);
}

TEST(Backoff, JitterStaysBelowTheCapAndSpreads) {
  Backoff b({.initial = milliseconds(100), .max = milliseconds(2000), .jitter = 0.2}, 42);
  std::set<int64_t> at_cap;
  for (int i = 0; i < 200; ++i) {
    int64_t base = std::min<int64_t>(100LL << std::min(i, 20), 2000);
    int64_t d = b.Next().count();
    EXPECT_LE(d, base) << "attempt " << i;
    EXPECT_GE(d, base * 8 / 10 - 1) << "attempt " << i;
    if (base == 2000) at_cap.insert(d);
  }
  // 195 delays at the cap: a fleet that failed together does not retry together.
  EXPECT_GT(at_cap.size(), 50u);
  EXPECT_LT(*at_cap.begin(), 1700);
  EXPECT_GT(*at_cap.rbegin(), 1900);
}

TEST(Backoff, SameSeedSameDelaysAndBadOptionsAreClamped) {
  Backoff a({.initial = milliseconds(50), .max = milliseconds(400), .jitter = 0.5}, 7);
  Backoff b({.initial = milliseconds(50), .max = milliseconds(400), .jitter = 0.5}, 7);
  for (int i = 0; i < 20; ++i) EXPECT_EQ(a.Next(), b.Next());
  // max below initial: the cap is initial; a jitter above 1 is 1 (delays from 0 to base).
  Backoff c({.initial = milliseconds(300), .max = milliseconds(10), .jitter = 5}, 3);
  for (int i = 0; i < 20; ++i) {
    int64_t d = c.Next().count();
    EXPECT_GE(d, 1);
    EXPECT_LE(d, 300);
  }
  // Thousands of failures neither overflow nor exceed the cap.
  Backoff d({.initial = milliseconds(1), .max = milliseconds(30000), .jitter = 0}, 1);
  for (int i = 0; i < 5000; ++i) EXPECT_LE(d.Next().count(), 30000);
}

}  // namespace
}  // namespace diskinv
