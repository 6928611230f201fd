// The controller's spec, as read from the tables pool, pool_policy and tuning_profile.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "reconcile/disk_selector.h"

namespace diskinv {

struct Pool {
  int64_t id = 0;
  std::string name;
  std::optional<int64_t> max_disks;  // nullopt: no limit
  double release_grace_seconds = 3600;
};

struct PoolPolicy {
  int64_t id = 0;
  std::string name;
  int64_t pool_id = 0;
  int priority = 100;
  bool enabled = true;
  DiskSelector selector;
  std::optional<int64_t> max_per_node;  // claims of this pool per node
};

struct TuningProfile {
  int64_t id = 0;
  std::string name;
  int priority = 100;
  bool enabled = true;
  DiskSelector selector;
  std::string settings_json;  // jsonb text, canonical: compared with disk_tuning.desired
  std::map<std::string, std::string> settings;
  std::string drift_action = "repair";  // or "report"
};

struct Spec {
  std::vector<Pool> pools;
  std::vector<PoolPolicy> policies;     // by priority, then id
  std::vector<TuningProfile> profiles;  // by priority, then id
  const Pool* FindPool(int64_t id) const;
};

}  // namespace diskinv
