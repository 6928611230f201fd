// AgentCounters: what the Prometheus endpoint will export.
#include "agent/agent_counters.h"

#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>

namespace diskinv {
namespace {

struct Collect : MetricVisitor {
  std::set<std::string> names, counters;
  std::map<std::string, double> values;
  void OnCounter(std::string_view n, std::string_view h, uint64_t v) override {
    counters.insert(std::string(n));
    Add(n, h, static_cast<double>(v));
  }
  void OnGauge(std::string_view n, std::string_view h, double v) override { Add(n, h, v); }
  void OnHistogram(std::string_view n, std::string_view h, const LatencyHistogram& x) override {
    Add(n, h, static_cast<double>(x.count()));
  }
  void Add(std::string_view n, std::string_view h, double v) {
    EXPECT_TRUE(names.insert(std::string(n)).second) << "duplicate " << n;
    EXPECT_TRUE(n.starts_with("diskinv_agent_") &&
                n.find_first_not_of("abcdefghijklmnopqrstuvwxyz_") == std::string_view::npos)
        << n;
    EXPECT_FALSE(h.empty()) << n;
    values[std::string(n)] = v;
  }
};

TEST(AgentCounters, ForEachVisitsEveryMetricOnceWithItsValue) {
  AgentCounters c;
  c.kernel_events.Add(3);
  c.enobufs.Add();
  c.devices.Set(42);
  c.db_write_latency.Observe(std::chrono::milliseconds(3));
  Collect v;
  c.ForEach(v);
  EXPECT_GE(v.names.size(), 25u);
  EXPECT_EQ(v.values["diskinv_agent_kernel_events_total"], 3);
  EXPECT_EQ(v.values["diskinv_agent_enobufs_total"], 1);
  EXPECT_EQ(v.values["diskinv_agent_devices"], 42);
  EXPECT_EQ(v.values["diskinv_agent_db_write_seconds"], 1);
  // Counters, and only counters, end in _total (Prometheus naming).
  for (const auto& n : v.names) {
    EXPECT_EQ(v.counters.contains(n), n.ends_with("_total")) << n;
  }
  EXPECT_TRUE(v.counters.contains("diskinv_agent_tail_losses_total"));
  EXPECT_FALSE(v.counters.contains("diskinv_agent_self_check_ok"));
}

TEST(AgentCounters, HistogramBucketsAreCumulative) {
  LatencyHistogram h;
  for (int ms : {0, 1, 1, 3, 15, 40, 20000}) h.Observe(std::chrono::milliseconds(ms));
  EXPECT_EQ(h.count(), 7u);
  EXPECT_EQ(h.cumulative(0), 1u);  // <= 0.5 ms
  EXPECT_EQ(h.cumulative(1), 3u);  // <= 1 ms
  EXPECT_EQ(h.cumulative(3), 4u);  // <= 5 ms
  EXPECT_EQ(h.cumulative(5), 5u);  // <= 20 ms
  EXPECT_EQ(h.cumulative(6), 6u);  // <= 50 ms
  EXPECT_EQ(h.cumulative(LatencyHistogram::kBounds.size() - 1), 6u);
  EXPECT_EQ(h.cumulative(LatencyHistogram::kBounds.size()), 7u);  // +Inf
  EXPECT_NEAR(h.sum_seconds(), 20.060, 1e-9);
  EXPECT_EQ(h.QuantileBound(0.5), 0.005);
  EXPECT_EQ(LatencyHistogram().QuantileBound(0.5), 0);
}

}  // namespace
}  // namespace diskinv
