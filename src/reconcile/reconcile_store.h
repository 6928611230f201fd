// The controller's database side: reads the spec and the facts of disks, and applies a
// ReconcilePlan with set-based statements (one statement per kind of change per batch, which
// is what makes thousands of disk events per second possible). Runs inside the caller's
// transaction. Optimistic locking: a tuning row is updated or deleted only if its etag is the
// one read; the disk ids whose write lost a race are returned so the caller re-reads and
// re-plans them. Claims are inserted with ON CONFLICT DO NOTHING on the disk's primary key,
// so two controllers can never claim one disk twice.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"
#include "reconcile/reconcile_plan.h"
#include "reconcile/spec.h"
#include "store/pg_connection.h"

namespace diskinv::reconcile_store {

Result<Spec> LoadSpec(PgConnection& c);
Result<std::vector<DiskFacts>> LoadFacts(PgConnection& c, const std::vector<int64_t>& disk_ids);
// Locks the rows of `pool_ids` (FOR UPDATE, in id order) and counts their claims, so limits
// hold against concurrent controllers.
Result<ClaimCounts> LockAndCount(PgConnection& c, std::vector<int64_t> pool_ids);

struct ApplyResult {
  uint64_t claimed = 0, claim_conflicts = 0, released = 0, tuning_written = 0, tuning_deleted = 0;
  std::vector<int64_t> lost_races;  // disk ids whose tuning write found another etag
};
Result<ApplyResult> Apply(PgConnection& c, const ReconcilePlan& plan);

// Disk ids affected by changes of other tables.
Result<std::vector<int64_t>> DiskIdsByUid(PgConnection& c, const std::vector<std::string>& uids);
Result<std::vector<int64_t>> DiskIdsByNode(PgConnection& c, const std::vector<int64_t>& node_ids);
// Every disk id above `after`, at most `limit`, in order (paging a full resync).
Result<std::vector<int64_t>> DiskIdsAfter(PgConnection& c, int64_t after, size_t limit);
// Claimed disks removed longer ago than their pool's release grace.
Result<std::vector<int64_t>> DueForRelease(PgConnection& c);

}  // namespace diskinv::reconcile_store
