// Fixtures of the tests that run real udev rules: rules files installed into the runtime rules
// directory (/run/udev/rules.d) for a test's lifetime, and loop devices udev has never seen.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"

namespace diskinv::testing {

inline const std::filesystem::path kRunUdevRules = "/run/udev/rules.d";

// Installs files into /run/udev/rules.d for the object's lifetime (restoring what was there).
// The caller reloads udevd's rules (Udevd::ReloadRules) after changes and after destruction.
class RuntimeRules {
 public:
  RuntimeRules() = default;
  RuntimeRules(const RuntimeRules&) = delete;
  RuntimeRules& operator=(const RuntimeRules&) = delete;
  ~RuntimeRules();
  void Install(const std::filesystem::path& src, const std::string& name);
  void Append(const std::string& name, const std::string& line);

 private:
  void Save(const std::string& name);
  std::vector<std::pair<std::filesystem::path, std::optional<std::string>>> saved_;
};

// A loop device that udev has never seen: a new loopN (LOOP_CTL_ADD, at `index` or the first
// free one), so no tag survives in its udev record from an earlier test (udev keeps TAGS
// across events, and free loop devices are reused). Attached with LO_FLAGS_PARTSCAN; with
// `partition`, one partition is added with BLKPG (this kernel has no partition-table
// parsers), so loopNp1 appears too. The destructor detaches (which drops the partition) and
// deletes loopN. Every open is read-only: a write open would make udevd synthesize a change
// event on close.
class FreshLoop {
 public:
  static Result<std::unique_ptr<FreshLoop>> Create(uint64_t size_bytes, int index = -1,
                                                   bool partition = true);
  ~FreshLoop();
  FreshLoop(const FreshLoop&) = delete;
  FreshLoop& operator=(const FreshLoop&) = delete;
  Status Detach();
  // LOOP_CTL_REMOVE (EBUSY while attached or open).
  Status Remove();
  int index() const { return index_; }
  std::string name() const { return "loop" + std::to_string(index_); }
  std::string node() const { return "/dev/" + name(); }
  std::string devpath() const { return "/devices/virtual/block/" + name(); }
  std::string part_devpath() const { return devpath() + "/" + name() + "p1"; }
  const std::string& backing_file() const { return backing_; }

 private:
  FreshLoop() = default;
  int index_ = -1;
  std::string backing_;
  bool attached_ = false;
};

// A loop index that does not exist now (from `from` up, away from the ones in daily use).
int UnusedLoopIndex(int from = 200);

}  // namespace diskinv::testing
