// AgentMetrics: the agent's metric set, fed from the counters of its parts, rendered and read
// back with a strict text-format reader; and docs/metrics.md lists exactly these metrics.
#include "agent/agent_metrics.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>
#include <vector>

#include "agent/reconcile_metrics.h"
#include "support/lsblk_compare.h"
#include "support/prometheus_text.h"
#include "sysfs/fake_sysfs_reader.h"

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

TEST(AgentMetrics, ExportsTheAgentCountersAtScrapeTime) {
  MetricsRegistry r;
  AgentCounters c;
  auto m = AgentMetrics::Register(&r, "1.2.3", &c);
  ASSERT_TRUE(m.ok()) << m.status().message();
  PromText t = Scrape(r);
  EXPECT_EQ(Value(t, "diskinv_build_info", {{"version", "1.2.3"}}), 1);
  EXPECT_EQ(Value(t, "diskinv_agent_kernel_events_total"), 0);
  EXPECT_EQ(t.Family("diskinv_agent_kernel_events_total")->type, "counter");
  EXPECT_EQ(t.Family("diskinv_agent_devices")->type, "gauge");
  // Values are read when scraped, not copied at registration.
  c.kernel_events.Add(120);
  c.udev_events.Add(100);
  c.events_rejected.Add(3);
  c.enobufs.Add(2);
  c.seqnum_gaps.Add(1);
  c.events_coalesced.Add(17);
  c.resyncs.Add(4);
  c.reconnects.Add(5);
  c.devices.Set(42);
  c.db_connected.Set(1);
  c.last_full_scan.Set(1733270400);
  using std::chrono::microseconds;
  c.db_write_latency.Observe(microseconds(800));
  c.db_write_latency.Observe(microseconds(3000));
  c.db_write_latency.Observe(microseconds(30000));
  t = Scrape(r);
  EXPECT_EQ(Value(t, "diskinv_agent_kernel_events_total"), 120);
  EXPECT_EQ(Value(t, "diskinv_agent_udev_events_total"), 100);
  EXPECT_EQ(Value(t, "diskinv_agent_events_rejected_total"), 3);
  EXPECT_EQ(Value(t, "diskinv_agent_enobufs_total"), 2);
  EXPECT_EQ(Value(t, "diskinv_agent_seqnum_gaps_total"), 1);
  EXPECT_EQ(Value(t, "diskinv_agent_events_coalesced_total"), 17);
  EXPECT_EQ(Value(t, "diskinv_agent_resyncs_total"), 4);
  EXPECT_EQ(Value(t, "diskinv_agent_db_reconnects_total"), 5);
  EXPECT_EQ(Value(t, "diskinv_agent_devices"), 42);
  EXPECT_EQ(Value(t, "diskinv_agent_db_connected"), 1);
  EXPECT_EQ(Value(t, "diskinv_agent_last_full_scan_seconds"), 1733270400);
  EXPECT_EQ(t.Family("diskinv_agent_db_write_seconds")->type, "histogram");
  EXPECT_EQ(Value(t, "diskinv_agent_db_write_seconds_bucket", {{"le", "0.001"}}), 1);
  EXPECT_EQ(Value(t, "diskinv_agent_db_write_seconds_bucket", {{"le", "0.005"}}), 2);
  EXPECT_EQ(Value(t, "diskinv_agent_db_write_seconds_bucket", {{"le", "0.02"}}), 2);
  EXPECT_EQ(Value(t, "diskinv_agent_db_write_seconds_bucket", {{"le", "0.05"}}), 3);
  EXPECT_EQ(Value(t, "diskinv_agent_db_write_seconds_bucket", {{"le", "+Inf"}}), 3);
  EXPECT_EQ(Value(t, "diskinv_agent_db_write_seconds_count"), 3);
  EXPECT_NEAR(Value(t, "diskinv_agent_db_write_seconds_sum"), 0.0338, 1e-9);
}

TEST(AgentMetrics, DisksByStateAndTransport) {
  MetricsRegistry r;
  auto m = AgentMetrics::Register(&r, "0", nullptr);
  ASSERT_TRUE(m.ok());
  std::vector<LiveDevice> inv(1);  // a free slot is not counted
  inv[0].transport = InternTransport("nvme");
  // Returns the slot, as LiveInventory::records() indexes them.
  auto add = [&](std::optional<std::string> tran, bool part = false, bool hidden = false) {
    LiveDevice d;
    d.present = true;
    if (tran) d.transport = InternTransport(*tran);
    d.is_partition = part;
    d.hidden = hidden;
    inv.push_back(d);
    return inv.size() - 1;
  };
  add("nvme");               // nvme0n1
  add("nvme", true);         // nvme0n1p1: partitions are not disks
  add("nvme", false, true);  // nvme1c1n1: a hidden multipath path is not a disk
  add("nvme");               // nvme1n1
  size_t sda = add("sata");
  add(std::nullopt);  // loop0
  AgentMetrics::DiskCounts counts = AgentMetrics::CountDisks(inv);
  counts[{"removed", "sas"}] = 3;
  (*m)->SetDisks(counts);
  PromText t = Scrape(r);
  EXPECT_EQ(Value(t, "diskinv_disks", {{"state", "present"}, {"transport", "nvme"}}), 2);
  EXPECT_EQ(Value(t, "diskinv_disks", {{"state", "present"}, {"transport", "sata"}}), 1);
  EXPECT_EQ(Value(t, "diskinv_disks", {{"state", "present"}, {"transport", "none"}}), 1);
  EXPECT_EQ(Value(t, "diskinv_disks", {{"state", "removed"}, {"transport", "sas"}}), 3);
  // The SATA disk goes away: its series drops to 0 instead of freezing at 1.
  inv[sda].present = false;
  (*m)->SetDisks(AgentMetrics::CountDisks(inv));
  t = Scrape(r);
  EXPECT_EQ(Value(t, "diskinv_disks", {{"state", "present"}, {"transport", "sata"}}), 0);
  EXPECT_EQ(Value(t, "diskinv_disks", {{"state", "removed"}, {"transport", "sas"}}), 0);
  EXPECT_EQ(Value(t, "diskinv_disks", {{"state", "present"}, {"transport", "nvme"}}), 2);
  // As the agent's observer: the counts follow each change of the inventory (one loop device
  // in an in-memory sysfs: no NVMe disk any more, one without transport).
  FakeSysfsReader fs;
  fs.AddSymlink("sys/block/loop0", "../devices/virtual/block/loop0");
  fs.AddFile("sys/devices/virtual/block/loop0/dev", "7:0\n");
  Walker walker(fs, {.all = true});
  LiveInventory live(walker);
  live.Resync();
  (*m)->OnInventoryChanged(live, InventoryDiff{}, true);
  t = Scrape(r);
  EXPECT_EQ(Value(t, "diskinv_disks", {{"state", "present"}, {"transport", "nvme"}}), 0);
  EXPECT_EQ(Value(t, "diskinv_disks", {{"state", "present"}, {"transport", "none"}}), 1);
}

// The controller's set: the lag by slot, set by the command; the reconciler's and consumer's
// counters and LSNs read at scrape time.
TEST(ReconcileMetrics, CdcLagBySlotAndCountersAtScrapeTime) {
  MetricsRegistry r;
  ReconcilerStats rs;
  ConsumerStats cs;
  auto m = ReconcileMetrics::Register(&r, "1.2.3", &rs, &cs);
  ASSERT_TRUE(m.ok()) << m.status().message();
  (*m)->SetCdcLag("diskinv_reconcile", std::chrono::duration<double>(0.25), 4096);
  rs.claims += 2;
  cs.transactions += 7;
  cs.acked_lsn = (uint64_t{1} << 32) + 0x50;  // 1/50
  PromText t = Scrape(r);
  EXPECT_EQ(Value(t, "diskinv_build_info", {{"version", "1.2.3"}}), 1);
  EXPECT_EQ(Value(t, "diskinv_cdc_lag_seconds", {{"slot", "diskinv_reconcile"}}), 0.25);
  EXPECT_EQ(Value(t, "diskinv_cdc_lag_bytes", {{"slot", "diskinv_reconcile"}}), 4096);
  EXPECT_EQ(Value(t, "diskinv_reconcile_claims_total"), 2);
  EXPECT_EQ(Value(t, "diskinv_cdc_transactions_total"), 7);
  EXPECT_EQ(Value(t, "diskinv_cdc_acked_lsn"), 4294967376.0);
  (*m)->SetCdcLag("diskinv_reconcile", std::chrono::duration<double>(0), 0);
  cs.acked_lsn = (uint64_t{1} << 32) + 0x90;
  t = Scrape(r);
  EXPECT_EQ(Value(t, "diskinv_cdc_lag_seconds", {{"slot", "diskinv_reconcile"}}), 0);
  EXPECT_EQ(Value(t, "diskinv_cdc_acked_lsn"), 4294967440.0);
  // Without a consumer (--once): no diskinv_cdc_* counters.
  MetricsRegistry once;
  ASSERT_TRUE(ReconcileMetrics::Register(&once, "0", &rs, nullptr).ok());
  EXPECT_EQ(Scrape(once).Family("diskinv_cdc_transactions_total"), nullptr);
  EXPECT_NE(Scrape(once).Family("diskinv_reconcile_claims_total"), nullptr);
}

TEST(AgentMetrics, RegisteringTwiceInOneRegistryFails) {
  MetricsRegistry r;
  AgentCounters c;
  ASSERT_TRUE(AgentMetrics::Register(&r, "0", &c).ok());
  Result<std::unique_ptr<AgentMetrics>> again = AgentMetrics::Register(&r, "0", &c);
  ASSERT_FALSE(again.ok());
  EXPECT_NE(again.status().message().find("collides"), std::string::npos);
}

// docs/metrics.md has one table row per metric: | `name` | type | labels | meaning |, the
// agent's under "## Metric names", `diskinv reconcile`'s under "## Reconcile metrics".
using Documented = std::map<std::string, std::pair<std::string, std::string>>;  // type, labels

Documented DocumentedMetrics(const std::string& section) {
  std::string path = testing::SourceDir() + "/docs/metrics.md";
  std::ifstream f(path);
  EXPECT_TRUE(f) << "cannot read " << path;
  Documented documented;
  // No std::regex: GCC 12 warns (maybe-uninitialized) inside <regex> under ASan.
  auto trim = [](std::string v) {
    std::string out;
    for (char ch : v) {
      if (ch != '`' && ch != ' ') out += ch;
    }
    return out;
  };
  std::string current;
  for (std::string line; std::getline(f, line);) {
    if (line.starts_with("## ")) current = line.substr(3);
    if (current != section || !line.starts_with("| `diskinv_")) continue;
    std::vector<std::string> cells;
    std::istringstream in(line.substr(1));
    for (std::string cell; std::getline(in, cell, '|');) cells.push_back(cell);
    EXPECT_GE(cells.size(), 4u) << line;
    if (cells.size() < 4) continue;
    std::string name = trim(cells[0]), type = trim(cells[1]), labels = trim(cells[2]);
    if (labels == "-") labels.clear();
    EXPECT_TRUE(type == "counter" || type == "gauge" || type == "histogram") << line;
    EXPECT_TRUE(documented.emplace(name, std::make_pair(type, labels)).second) << name;
  }
  EXPECT_FALSE(documented.empty()) << "no metrics under \"## " << section << "\"";
  return documented;
}

void ExpectDocumented(const MetricsRegistry& r, const Documented& documented) {
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
    const MetricFamilyBase* base = r.Find(fam.name);  // null: written by the collector
    std::string labels;
    if (base) {
      for (const std::string& l : base->label_names()) labels += (labels.empty() ? "" : ",") + l;
    }
    EXPECT_EQ(it->second.second, labels) << fam.name;
  }
  for (const auto& [name, _] : documented) {
    EXPECT_TRUE(registered.contains(name)) << name << " is documented but not registered";
  }
}

TEST(AgentMetrics, DocsListExactlyTheRegisteredMetrics) {
  MetricsRegistry r;
  AgentCounters c;
  ASSERT_TRUE(AgentMetrics::Register(&r, "0", &c).ok());
  ExpectDocumented(r, DocumentedMetrics("Metric names"));
}

TEST(ReconcileMetrics, DocsListExactlyTheRegisteredMetrics) {
  MetricsRegistry r;
  ReconcilerStats rs;
  ConsumerStats cs;
  auto m = ReconcileMetrics::Register(&r, "0", &rs, &cs);
  ASSERT_TRUE(m.ok()) << m.status().message();
  (*m)->SetCdcLag("diskinv_reconcile", std::chrono::duration<double>(0), 0);  // a series
  ExpectDocumented(r, DocumentedMetrics("Reconcile metrics"));
}

}  // namespace
}  // namespace diskinv
