// MetricsRegistry: registration rules, the exact text format 0.0.4, escapes, histogram
// buckets, and concurrent updates while rendering.
#include "agent/metrics.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <thread>
#include <vector>

#include "support/prometheus_text.h"

namespace diskinv {
namespace {

TEST(Metrics, RendersCountersGaugesAndHistogramsInTextFormat004) {
  MetricsRegistry r;
  auto events = r.AddCounter("x_events_total", "Events seen", {"source"});
  auto up = r.AddGauge("x_up", "1 when up");
  auto lat = r.AddHistogram("x_latency_seconds", "Latency", {0.01, 0.1, 1});
  ASSERT_TRUE(events.ok() && up.ok() && lat.ok());
  (*events)->WithLabels({"udev"}).Inc(3);
  (*events)->WithLabels({"kernel"}).Inc();
  (*up)->Get().Set(1);
  for (double v : {0.005, 0.01, 0.05, 2.0}) (*lat)->Get().Observe(v);
  EXPECT_EQ(r.Render(),
            "# HELP x_events_total Events seen\n"
            "# TYPE x_events_total counter\n"
            "x_events_total{source=\"kernel\"} 1\n"
            "x_events_total{source=\"udev\"} 3\n"
            "# HELP x_up 1 when up\n"
            "# TYPE x_up gauge\n"
            "x_up 1\n"
            "# HELP x_latency_seconds Latency\n"
            "# TYPE x_latency_seconds histogram\n"
            "x_latency_seconds_bucket{le=\"0.01\"} 2\n"  // le is inclusive: 0.01 counts here
            "x_latency_seconds_bucket{le=\"0.1\"} 3\n"
            "x_latency_seconds_bucket{le=\"1\"} 3\n"
            "x_latency_seconds_bucket{le=\"+Inf\"} 4\n"
            "x_latency_seconds_sum 2.065\n"
            "x_latency_seconds_count 4\n");
  EXPECT_TRUE(testing::ParsePrometheusText(r.Render()).ok());
}

TEST(Metrics, FamiliesWithoutLabelsStartAtZeroLabelledOnesEmpty) {
  MetricsRegistry r;
  ASSERT_TRUE(r.AddCounter("a_total", "A").ok());
  ASSERT_TRUE(r.AddGauge("b", "B", {"k"}).ok());
  ASSERT_TRUE(r.AddHistogram("c_seconds", "C", {1}).ok());
  EXPECT_EQ(r.Render(),
            "# HELP a_total A\n# TYPE a_total counter\na_total 0\n"
            "# HELP b B\n# TYPE b gauge\n"
            "# HELP c_seconds C\n# TYPE c_seconds histogram\n"
            "c_seconds_bucket{le=\"1\"} 0\nc_seconds_bucket{le=\"+Inf\"} 0\n"
            "c_seconds_sum 0\nc_seconds_count 0\n");
}

TEST(Metrics, EscapesLabelValuesAndHelp) {
  MetricsRegistry r;
  auto g = r.AddGauge("m", "line one\nback\\slash \"quotes\" stay", {"model", "path"});
  ASSERT_TRUE(g.ok());
  (*g)->WithLabels({"SAMSUNG \"EVO\"", "C:\\dev\nX"}).Set(-2.5);
  std::string text = r.Render();
  EXPECT_NE(text.find("# HELP m line one\\nback\\\\slash \"quotes\" stay\n"), std::string::npos)
      << text;
  EXPECT_NE(text.find("m{model=\"SAMSUNG \\\"EVO\\\"\",path=\"C:\\\\dev\\nX\"} -2.5\n"),
            std::string::npos)
      << text;
  Result<testing::PromText> parsed = testing::ParsePrometheusText(text);
  ASSERT_TRUE(parsed.ok()) << parsed.status().message();
  const testing::PromSample* s =
      parsed->Find("m", {{"model", "SAMSUNG \"EVO\""}, {"path", "C:\\dev\nX"}});
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->value, -2.5);
}

TEST(Metrics, FormatsSpecialAndShortestValues) {
  EXPECT_EQ(FormatMetricValue(std::nan("")), "NaN");
  EXPECT_EQ(FormatMetricValue(HUGE_VAL), "+Inf");
  EXPECT_EQ(FormatMetricValue(-HUGE_VAL), "-Inf");
  EXPECT_EQ(FormatMetricValue(3), "3");
  EXPECT_EQ(FormatMetricValue(0.1), "0.1");
  EXPECT_EQ(FormatMetricValue(1e-05), "1e-05");
  EXPECT_EQ(FormatMetricValue(1733270400.123), "1733270400.123");
}

TEST(Metrics, RejectsBadNamesDuplicatesAndBadBuckets) {
  MetricsRegistry r;
  EXPECT_FALSE(r.AddCounter("", "x").ok());
  EXPECT_FALSE(r.AddCounter("9lives", "x").ok());
  EXPECT_FALSE(r.AddCounter("has-dash", "x").ok());
  EXPECT_TRUE(r.AddCounter("ns:sub_total", "colons are allowed in names").ok());
  EXPECT_FALSE(r.AddGauge("g", "x", {"__reserved"}).ok());
  EXPECT_FALSE(r.AddGauge("g", "x", {"a:b"}).ok());  // no colons in label names
  EXPECT_FALSE(r.AddGauge("g", "x", {"a", "a"}).ok());
  ASSERT_TRUE(r.AddGauge("g", "x").ok());
  Result<GaugeFamily*> dup = r.AddGauge("g", "again");
  ASSERT_FALSE(dup.ok());
  EXPECT_NE(dup.status().message().find("collides with g"), std::string::npos);
  ASSERT_TRUE(r.AddHistogram("h", "x", {1, 2}).ok());
  EXPECT_FALSE(r.AddCounter("h_count", "clashes with the histogram's _count").ok());
  EXPECT_FALSE(r.AddHistogram("g_sum_x", "x", {}).ok());        // no buckets
  EXPECT_FALSE(r.AddHistogram("h2", "x", {1, 1}).ok());         // not increasing
  EXPECT_FALSE(r.AddHistogram("h3", "x", {1, HUGE_VAL}).ok());  // +Inf is implicit
  EXPECT_FALSE(r.AddHistogram("h4", "x", {1}, {"le"}).ok());    // reserved
  EXPECT_EQ(r.Find("g")->type(), MetricType::kGauge);
  EXPECT_EQ(r.Find("nope"), nullptr);
}

TEST(Metrics, ChildrenAreStableAndUpdatesDuringRenderAreNotLost) {
  MetricsRegistry r;
  CounterFamily* c = *r.AddCounter("c_total", "C", {"t"});
  HistogramFamily* h = *r.AddHistogram("h_seconds", "H", {0.5});
  CounterMetric& mine = c->WithLabels({"a"});
  EXPECT_EQ(&mine, &c->WithLabels({"a"}));
  constexpr int kThreads = 4, kPerThread = 20000;
  std::vector<std::thread> writers;
  for (int t = 0; t < kThreads; ++t) {
    writers.emplace_back([&, t] {
      CounterMetric& own = c->WithLabels({std::to_string(t)});
      for (int i = 0; i < kPerThread; ++i) {
        mine.Inc();
        own.Inc();
        h->Get().Observe(i % 2 ? 1.0 : 0.25);
      }
    });
  }
  int renders = 0;
  for (; renders < 50; ++renders) {
    Result<testing::PromText> p = testing::ParsePrometheusText(r.Render());
    ASSERT_TRUE(p.ok()) << p.status().message();  // histograms stay self-consistent
  }
  for (auto& w : writers) w.join();
  EXPECT_EQ(mine.value(), uint64_t{kThreads * kPerThread});
  Result<testing::PromText> p = testing::ParsePrometheusText(r.Render());
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->Find("h_seconds_count")->value, kThreads * kPerThread);
  EXPECT_EQ(p->Find("h_seconds_bucket", {{"le", "0.5"}})->value, kThreads * kPerThread / 2);
  EXPECT_EQ(p->Find("h_seconds_sum")->value, kThreads * kPerThread / 2 * 1.25);
  EXPECT_EQ(p->Find("c_total", {{"t", "3"}})->value, kPerThread);
}

TEST(Metrics, CollectorsWriteValuesKeptElsewhereInRegistrationOrder) {
  MetricsRegistry r;
  std::atomic<uint64_t> events{0};
  ASSERT_TRUE(r.AddGauge("a_first", "before").ok());
  Status st = r.AddCollector([&events](MetricsWriter& w) {
    w.WriteCounter("ext_events_total", "Events", events.load());
    w.WriteGauge("ext_up", "Up", 1);
    const double bounds[] = {0.1, 1};
    const uint64_t cumulative[] = {1, 3, 4};
    w.WriteHistogram("ext_seconds", "Latency", bounds, cumulative, 2.5);
  });
  ASSERT_TRUE(st.ok()) << st.message();
  ASSERT_TRUE(r.AddGauge("z_last", "after").ok());
  events = 7;
  EXPECT_EQ(r.Render(),
            "# HELP a_first before\n# TYPE a_first gauge\na_first 0\n"
            "# HELP ext_events_total Events\n# TYPE ext_events_total counter\n"
            "ext_events_total 7\n"
            "# HELP ext_up Up\n# TYPE ext_up gauge\next_up 1\n"
            "# HELP ext_seconds Latency\n# TYPE ext_seconds histogram\n"
            "ext_seconds_bucket{le=\"0.1\"} 1\next_seconds_bucket{le=\"1\"} 3\n"
            "ext_seconds_bucket{le=\"+Inf\"} 4\next_seconds_sum 2.5\next_seconds_count 4\n"
            "# HELP z_last after\n# TYPE z_last gauge\nz_last 0\n");
  EXPECT_TRUE(testing::ParsePrometheusText(r.Render()).ok());
}

TEST(Metrics, CollectorNamesAreCheckedLikeFamilies) {
  MetricsRegistry r;
  ASSERT_TRUE(r.AddCounter("taken_total", "x").ok());
  EXPECT_FALSE(
      r.AddCollector([](MetricsWriter& w) { w.WriteCounter("taken_total", "x", 1); }).ok());
  EXPECT_FALSE(r.AddCollector([](MetricsWriter& w) { w.WriteGauge("bad-name", "x", 1); }).ok());
  EXPECT_FALSE(r.AddCollector([](MetricsWriter& w) {
                  w.WriteGauge("twice", "x", 1);
                  w.WriteGauge("twice", "x", 2);
                }).ok());
  ASSERT_TRUE(r.AddCollector([](MetricsWriter& w) { w.WriteGauge("mine", "x", 1); }).ok());
  Result<GaugeFamily*> later = r.AddGauge("mine", "y");
  ASSERT_FALSE(later.ok());
  EXPECT_NE(later.status().message().find("collides with mine"), std::string::npos);
  // A rejected collector is not kept.
  EXPECT_EQ(r.Render().find("bad-name"), std::string::npos);
}

}  // namespace
}  // namespace diskinv
