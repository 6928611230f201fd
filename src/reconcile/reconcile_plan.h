// PlanReconcile: the pure heart of the controller. From the spec and the current facts of a set
// of disks (their rows, claims and tuning rows) it computes what must change, and nothing
// else: level-triggered, so the same facts always give the same plan, and a plan applied twice
// is empty the second time (a duplicated or replayed event changes nothing).
//
// Claims: a present disk without a claim and without an identity conflict is claimed by the
// first enabled policy (priority order) whose selector matches and whose pool and per-node
// limits have room; a claim is never moved to another pool. A claimed disk that was removed
// is released once it has been gone for its pool's release grace; before that it is kept
// (it may come back: same uid, same row). A disk with an identity conflict is never claimed.
// Tuning: the first enabled matching profile gives the desired attributes; the disk's tuning
// row is written only when it differs, and deleted when no profile matches any more.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "reconcile/disk_selector.h"
#include "reconcile/spec.h"

namespace diskinv {

// Claims per pool and per (pool, node), as counted under the pools' row locks; the planner
// updates them as it claims and releases.
struct ClaimCounts {
  std::map<int64_t, int64_t> per_pool;
  std::map<std::pair<int64_t, int64_t>, int64_t> per_pool_node;
};

struct ReconcilePlan {
  struct Claim {
    int64_t disk_id, node_id, pool_id, policy_id;
    std::string uid;
  };
  struct Release {
    int64_t disk_id, pool_id;
    std::string reason;
  };
  struct TuningWrite {
    int64_t disk_id, node_id;
    std::optional<int64_t> profile_id;
    std::string desired_json, drift_action;
    bool exists = false;  // update (guarded by etag) or insert
    std::string etag;
  };
  struct TuningDelete {
    int64_t disk_id;
    std::string etag;
  };
  std::vector<Claim> claims;
  std::vector<Release> releases;
  std::vector<TuningWrite> tuning_writes;
  std::vector<TuningDelete> tuning_deletes;
  std::vector<std::string> notes;  // why a matching disk was not claimed (limits, conflicts)
  bool empty() const {
    return claims.empty() && releases.empty() && tuning_writes.empty() && tuning_deletes.empty();
  }
};

ReconcilePlan PlanReconcile(const Spec& spec, const std::vector<DiskFacts>& disks,
                            ClaimCounts* counts);

}  // namespace diskinv
