// AgentObservers: every call reaches every observer added, in the order they were added.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "agent/agent.h"
#include "agent/live_inventory.h"
#include "sysfs/fake_sysfs_reader.h"

namespace diskinv {
namespace {

class Recorder final : public AgentObserver {
 public:
  Recorder(std::string name, std::vector<std::string>* log) : name_(std::move(name)), log_(log) {}
  void OnStarted(const StartupReport& r) override {
    log_->push_back(name_ + " started " + std::to_string(r.devices));
  }
  void OnInventoryChanged(const LiveInventory& inv, const InventoryDiff& d,
                          bool committed) override {
    log_->push_back(name_ + " changed " + std::to_string(inv.size()) + " " +
                    std::to_string(d.added.size()) + (committed ? " committed" : " pending"));
  }
  void OnTick(std::chrono::steady_clock::time_point) override { log_->push_back(name_ + " tick"); }

 private:
  std::string name_;
  std::vector<std::string>* log_;
};

TEST(AgentObservers, FansEveryCallOutInOrder) {
  std::vector<std::string> log;
  Recorder metrics("metrics", &log), tuning("tuning", &log);
  AgentObservers all;
  all.Add(&metrics);
  all.Add(nullptr);  // ignored
  all.Add(&tuning);
  EXPECT_EQ(all.list().size(), 2u);
  StartupReport r;
  r.devices = 3;
  all.OnStarted(r);
  FakeSysfsReader fs;
  fs.AddSymlink("sys/block/loop0", "../devices/virtual/block/loop0");
  fs.AddFile("sys/devices/virtual/block/loop0/dev", "7:0\n");
  Walker walker(fs, {.all = true});
  LiveInventory inv(walker);
  inv.Resync();
  InventoryDiff diff;
  diff.added.push_back("loop0");
  all.OnInventoryChanged(inv, diff, true);
  all.OnInventoryChanged(inv, {}, false);
  all.OnTick(std::chrono::steady_clock::now());
  EXPECT_EQ(log, (std::vector<std::string>{
                     "metrics started 3", "tuning started 3", "metrics changed 1 1 committed",
                     "tuning changed 1 1 committed", "metrics changed 1 0 pending",
                     "tuning changed 1 0 pending", "metrics tick", "tuning tick"}));
}

}  // namespace
}  // namespace diskinv
