#include "reconcile/reconcile_plan.h"

#include <fmt/format.h>

namespace diskinv {

const Pool* Spec::FindPool(int64_t id) const {
  for (const auto& p : pools) {
    if (p.id == id) return &p;
  }
  return nullptr;
}

ReconcilePlan PlanReconcile(const Spec& spec, const std::vector<DiskFacts>& disks,
                            ClaimCounts* counts) {
  ReconcilePlan plan;
  for (const DiskFacts& d : disks) {
    std::optional<int64_t> pool = d.claim_pool_id;
    // Claims.
    if (pool) {
      const Pool* p = spec.FindPool(*pool);
      double grace = p ? p->release_grace_seconds : 0;
      if (!d.present && d.removed_seconds && *d.removed_seconds >= grace) {
        plan.releases.push_back({d.id, *pool, fmt::format("removed for {:.0f} s (grace {:.0f} s)",
                                                          *d.removed_seconds, grace)});
        --counts->per_pool[*pool];
        --counts->per_pool_node[{*pool, d.node_id}];
        pool.reset();
      }
    } else if (d.present) {
      for (const PoolPolicy& pol : spec.policies) {
        if (!pol.enabled || !SelectorMatches(pol.selector, d, std::nullopt)) continue;
        if (d.identity_conflict) {
          plan.notes.push_back(fmt::format("{} ({}) matches policy {} but has an identity "
                                           "conflict: not claimed", d.kname, d.uid, pol.name));
          break;
        }
        const Pool* p = spec.FindPool(pol.pool_id);
        if (p == nullptr) continue;
        int64_t& in_pool = counts->per_pool[p->id];
        int64_t& on_node = counts->per_pool_node[{p->id, d.node_id}];
        if (p->max_disks && in_pool >= *p->max_disks) {
          plan.notes.push_back(fmt::format("{} ({}) matches policy {} but pool {} is full ({})",
                                           d.kname, d.uid, pol.name, p->name, *p->max_disks));
          continue;
        }
        if (pol.max_per_node && on_node >= *pol.max_per_node) {
          plan.notes.push_back(fmt::format("{} ({}) matches policy {} but its node has {} disks "
                                           "in pool {} already", d.kname, d.uid, pol.name, on_node,
                                           p->name));
          continue;
        }
        ++in_pool;
        ++on_node;
        plan.claims.push_back({d.id, d.node_id, p->id, pol.id, d.uid});
        pool = p->id;
        break;
      }
    }
    // Tuning, given the claim as it will be after this plan.
    const TuningProfile* prof = nullptr;
    for (const TuningProfile& t : spec.profiles) {
      if (t.enabled && SelectorMatches(t.selector, d, pool)) {
        prof = &t;
        break;
      }
    }
    if (prof == nullptr) {
      if (d.has_tuning) plan.tuning_deletes.push_back({d.id, d.tuning_etag});
      continue;
    }
    if (d.has_tuning && d.tuning_profile_id == prof->id && d.tuning_desired == prof->settings_json &&
        d.tuning_drift_action == prof->drift_action && d.tuning_node_id == d.node_id) {
      continue;
    }
    plan.tuning_writes.push_back({d.id, d.node_id, prof->id, prof->settings_json,
                                  prof->drift_action, d.has_tuning, d.tuning_etag});
  }
  return plan;
}

}  // namespace diskinv
