// AgentMetrics: the agent's metric set, fed from the counters of its parts, rendered and read
// back with a strict text-format reader; and docs/metrics.md lists exactly these metrics.
#include "agent/agent_metrics.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include "support/lsblk_compare.h"
#include "support/prometheus_text.h"

namespace diskinv {
namespace {

using testing::ParsePrometheusText;
using testing::PromText;

PromText Scrape(const MetricsRegistry& r) {
  Result<PromText> p = ParsePrometheusText(r.Render());
  EXPECT_TRUE(p.ok()) << p.status().message();
  return p.ok() ? *p : PromText{};
}

double Value(const PromText& t, std::string_view name,
             const std::map<std::string, std::string>& labels = {}) {
  const testing::PromSample* s = t.Find(name, labels);
  EXPECT_NE(s, nullptr) << name;
  return s ? s->value : -1;
}

TEST(AgentMetrics, MirrorsSourceAndCoalescerCounters) {
  MetricsRegistry r;
  auto m = AgentMetrics::Register(&r, "1.2.3");
  ASSERT_TRUE(m.ok()) << m.status().message();
  UeventSourceStats k;
  k.datagrams = 120;
  k.accepted = 100;
  k.filtered = 15;
  k.overflows = 2;
  k.seqnum_gaps = 3;
  k.lost = 40;
  k.rejected.Add(UeventReject::kBadHeader);
  k.rejected.Add(UeventReject::kBadHeader);
  k.rejected.Add(UeventReject::kUntrustedSender);
  (*m)->UpdateSource("kernel", k);
  UeventSourceStats u;
  u.datagrams = 9;
  u.accepted = 9;
  (*m)->UpdateSource("udev", u);
  CoalescerStats c;
  c.coalesced = 17;
  c.dropped = 5;
  c.bursts = 1;
  (*m)->UpdateCoalescer(c);

  PromText t = Scrape(r);
  EXPECT_EQ(Value(t, "diskinv_build_info", {{"version", "1.2.3"}}), 1);
  EXPECT_EQ(Value(t, "diskinv_uevents_received_total", {{"source", "kernel"}}), 120);
  EXPECT_EQ(Value(t, "diskinv_uevents_accepted_total", {{"source", "kernel"}}), 100);
  EXPECT_EQ(Value(t, "diskinv_uevents_filtered_total", {{"source", "kernel"}}), 15);
  EXPECT_EQ(Value(t, "diskinv_uevent_enobufs_total", {{"source", "kernel"}}), 2);
  EXPECT_EQ(Value(t, "diskinv_uevent_seqnum_gaps_total", {{"source", "kernel"}}), 3);
  EXPECT_EQ(Value(t, "diskinv_uevents_lost_total", {{"source", "kernel"}}), 40);
  EXPECT_EQ(
      Value(t, "diskinv_uevents_rejected_total", {{"source", "kernel"}, {"reason", "bad_header"}}),
      2);
  EXPECT_EQ(Value(t, "diskinv_uevents_rejected_total",
                  {{"source", "kernel"}, {"reason", "untrusted_sender"}}),
            1);
  // Every reason is there from the start, at 0.
  EXPECT_EQ(
      Value(t, "diskinv_uevents_rejected_total", {{"source", "udev"}, {"reason", "bad_magic"}}), 0);
  EXPECT_EQ(Value(t, "diskinv_uevents_received_total", {{"source", "udev"}}), 9);
  EXPECT_EQ(Value(t, "diskinv_uevents_coalesced_total"), 17);
  EXPECT_EQ(Value(t, "diskinv_uevents_dropped_total"), 5);
  EXPECT_EQ(Value(t, "diskinv_uevent_bursts_total"), 1);

  // Later stats replace earlier ones (they are the sources' own running totals).
  k.datagrams = 130;
  (*m)->UpdateSource("kernel", k);
  EXPECT_EQ(Value(Scrape(r), "diskinv_uevents_received_total", {{"source", "kernel"}}), 130);
}

TEST(AgentMetrics, DisksByStateAndTransport) {
  MetricsRegistry r;
  auto m = AgentMetrics::Register(&r, "0");
  ASSERT_TRUE(m.ok());
  Inventory inv;
  auto add = [&](std::string kname, std::optional<std::string> tran, bool part = false,
                 bool hidden = false) {
    BlockDevice d;
    d.kname = kname;
    d.tran = std::move(tran);
    d.is_partition = part;
    d.hidden = hidden;
    inv.Add(std::move(d));
  };
  add("nvme0n1", "nvme");
  add("nvme0n1p1", "nvme", true);         // partitions are not disks
  add("nvme1c1n1", "nvme", false, true);  // a hidden multipath path is not a disk
  add("nvme1n1", "nvme");
  add("sda", "sata");
  add("loop0", std::nullopt);
  AgentMetrics::DiskCounts counts = AgentMetrics::CountDisks(inv);
  counts[{"removed", "sas"}] = 3;
  (*m)->SetDisks(counts);
  PromText t = Scrape(r);
  EXPECT_EQ(Value(t, "diskinv_disks", {{"state", "present"}, {"transport", "nvme"}}), 2);
  EXPECT_EQ(Value(t, "diskinv_disks", {{"state", "present"}, {"transport", "sata"}}), 1);
  EXPECT_EQ(Value(t, "diskinv_disks", {{"state", "present"}, {"transport", "none"}}), 1);
  EXPECT_EQ(Value(t, "diskinv_disks", {{"state", "removed"}, {"transport", "sas"}}), 3);
  // The SATA disk goes away: its series drops to 0 instead of freezing at 1.
  inv.Remove("sda");
  (*m)->SetDisks(AgentMetrics::CountDisks(inv));
  t = Scrape(r);
  EXPECT_EQ(Value(t, "diskinv_disks", {{"state", "present"}, {"transport", "sata"}}), 0);
  EXPECT_EQ(Value(t, "diskinv_disks", {{"state", "removed"}, {"transport", "sas"}}), 0);
  EXPECT_EQ(Value(t, "diskinv_disks", {{"state", "present"}, {"transport", "nvme"}}), 2);
}

TEST(AgentMetrics, DatabaseResyncAndCdcMetrics) {
  MetricsRegistry r;
  auto m = AgentMetrics::Register(&r, "0");
  ASSERT_TRUE(m.ok());
  using std::chrono::duration;
  (*m)->ObserveDbWrite(duration<double>(0.0008));
  (*m)->ObserveDbWrite(duration<double>(0.003));
  (*m)->ObserveDbWrite(duration<double>(0.030));
  (*m)->CountDbWriteSkipped();
  (*m)->CountDbWriteFailed();
  (*m)->CountDbReconnect();
  (*m)->SetDbUp(true);
  (*m)->CountResync("startup");
  (*m)->CountResync(ToString(ResyncReason::kOverflow));
  (*m)->CountResync(ToString(ResyncReason::kOverflow));
  (*m)->SetLastFullScan(std::chrono::system_clock::time_point(std::chrono::seconds(1733270400)));
  (*m)->SetCdcLag("diskinv_agent", duration<double>(0.25), 4096);
  PromText t = Scrape(r);
  EXPECT_EQ(t.Family("diskinv_db_write_duration_seconds")->type, "histogram");
  EXPECT_EQ(Value(t, "diskinv_db_write_duration_seconds_bucket", {{"le", "0.001"}}), 1);
  EXPECT_EQ(Value(t, "diskinv_db_write_duration_seconds_bucket", {{"le", "0.005"}}), 2);
  EXPECT_EQ(Value(t, "diskinv_db_write_duration_seconds_bucket", {{"le", "0.02"}}), 2);
  EXPECT_EQ(Value(t, "diskinv_db_write_duration_seconds_bucket", {{"le", "0.05"}}), 3);
  EXPECT_EQ(Value(t, "diskinv_db_write_duration_seconds_count"), 3);
  EXPECT_NEAR(Value(t, "diskinv_db_write_duration_seconds_sum"), 0.0338, 1e-12);
  EXPECT_EQ(Value(t, "diskinv_db_writes_total"), 3);
  EXPECT_EQ(Value(t, "diskinv_db_writes_skipped_total"), 1);
  EXPECT_EQ(Value(t, "diskinv_db_write_failures_total"), 1);
  EXPECT_EQ(Value(t, "diskinv_db_reconnects_total"), 1);
  EXPECT_EQ(Value(t, "diskinv_db_up"), 1);
  EXPECT_EQ(Value(t, "diskinv_resyncs_total", {{"reason", "startup"}}), 1);
  EXPECT_EQ(Value(t, "diskinv_resyncs_total", {{"reason", "overflow"}}), 2);
  EXPECT_EQ(Value(t, "diskinv_resyncs_total", {{"reason", "periodic"}}), 0);
  EXPECT_EQ(Value(t, "diskinv_last_full_scan_timestamp_seconds"), 1733270400);
  EXPECT_EQ(Value(t, "diskinv_cdc_lag_seconds", {{"slot", "diskinv_agent"}}), 0.25);
  EXPECT_EQ(Value(t, "diskinv_cdc_lag_bytes", {{"slot", "diskinv_agent"}}), 4096);
}

TEST(AgentMetrics, RegisteringTwiceInOneRegistryFails) {
  MetricsRegistry r;
  ASSERT_TRUE(AgentMetrics::Register(&r, "0").ok());
  Result<std::unique_ptr<AgentMetrics>> again = AgentMetrics::Register(&r, "0");
  ASSERT_FALSE(again.ok());
  EXPECT_NE(again.status().message().find("collides"), std::string::npos);
}

// docs/metrics.md has one table row per metric: | `name` | type | labels | meaning |.
TEST(AgentMetrics, DocsListExactlyTheRegisteredMetrics) {
  std::string path = testing::SourceDir() + "/docs/metrics.md";
  std::ifstream f(path);
  ASSERT_TRUE(f) << "cannot read " << path;
  std::map<std::string, std::pair<std::string, std::string>> documented;  // name -> type, labels
  std::regex row(R"(^\| `(diskinv_[a-z_]+)` \| (counter|gauge|histogram) \| ([^|]*) \|)");
  for (std::string line; std::getline(f, line);) {
    std::smatch mm;
    if (std::regex_search(line, mm, row)) {
      std::string labels = std::regex_replace(mm[3].str(), std::regex("[` ]"), "");
      if (labels == "-") labels.clear();
      EXPECT_TRUE(documented.emplace(mm[1], std::make_pair(mm[2], labels)).second) << mm[1];
    }
  }
  MetricsRegistry r;
  ASSERT_TRUE(AgentMetrics::Register(&r, "0").ok());
  PromText t = Scrape(r);
  std::set<std::string> registered;
  for (const testing::PromFamily& fam : t.families) {
    registered.insert(fam.name);
    auto it = documented.find(fam.name);
    if (it == documented.end()) {
      ADD_FAILURE() << fam.name << " is not in docs/metrics.md";
      continue;
    }
    EXPECT_EQ(it->second.first, fam.type) << fam.name;
    const MetricFamilyBase* base = r.Find(fam.name);
    std::string labels;
    for (const std::string& l : base->label_names()) labels += (labels.empty() ? "" : ",") + l;
    EXPECT_EQ(it->second.second, labels) << fam.name;
  }
  for (const auto& [name, _] : documented) {
    EXPECT_TRUE(registered.contains(name)) << name << " is documented but not registered";
  }
}

}  // namespace
}  // namespace diskinv
