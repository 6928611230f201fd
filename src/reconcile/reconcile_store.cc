#include "reconcile/reconcile_store.h"

#include <algorithm>
#include <set>

#include <fmt/format.h>

namespace diskinv::reconcile_store {
namespace {

std::optional<std::string> Opt(const PgResult& r, int row, int col) {
  auto v = r.Get(row, col);
  return v ? std::optional<std::string>(std::string(*v)) : std::nullopt;
}
std::optional<int64_t> OptInt(const PgResult& r, int row, int col) {
  return r.Get(row, col) ? std::optional<int64_t>(r.Int(row, col)) : std::nullopt;
}
std::optional<bool> OptBool(const PgResult& r, int row, int col) {
  auto v = r.Get(row, col);
  return v ? std::optional<bool>(*v == "t") : std::nullopt;
}

// Columns 0..8 of a selector, starting at `at`: node, kname, transport, rotational, min, max,
// model, vendor.
DiskSelector ReadSelector(const PgResult& r, int row, int at) {
  DiskSelector s;
  s.node_pattern = Opt(r, row, at);
  s.kname_pattern = Opt(r, row, at + 1);
  s.transport = Opt(r, row, at + 2);
  s.rotational = OptBool(r, row, at + 3);
  s.min_size_bytes = OptInt(r, row, at + 4);
  s.max_size_bytes = OptInt(r, row, at + 5);
  s.model_pattern = Opt(r, row, at + 6);
  s.vendor_pattern = Opt(r, row, at + 7);
  return s;
}

constexpr const char* kSelectorCols =
    "node_pattern, kname_pattern, transport, rotational, min_size_bytes, max_size_bytes, "
    "model_pattern, vendor_pattern";

template <typename T>
std::string Array(const std::vector<T>& v) {
  PgParams p;
  for (const auto& x : v) {
    if constexpr (std::is_same_v<T, std::string>) {
      p.push_back(x);
    } else if constexpr (std::is_same_v<T, std::optional<int64_t>>) {
      p.push_back(x ? std::optional<std::string>(std::to_string(*x)) : std::nullopt);
    } else {
      p.push_back(std::to_string(x));
    }
  }
  return PgArray(p);
}

Result<std::vector<int64_t>> Ids(Result<PgResult> r) {
  if (!r.ok()) return r.status();
  std::vector<int64_t> out;
  out.reserve(r->rows());
  for (int i = 0; i < r->rows(); ++i) out.push_back(r->Int(i, 0));
  return out;
}

}  // namespace

Result<Spec> LoadSpec(PgConnection& c) {
  Spec spec;
  auto pools = c.ExecPrepared("rc_pools",
                              "SELECT id, name, max_disks, extract(epoch FROM release_grace) FROM "
                              "diskinv.pool ORDER BY id",
                              {});
  if (!pools.ok()) return pools.status();
  for (int i = 0; i < pools->rows(); ++i) {
    Pool p;
    p.id = pools->Int(i, 0);
    p.name = pools->Str(i, 1);
    p.max_disks = OptInt(*pools, i, 2);
    p.release_grace_seconds = std::stod(pools->Str(i, 3));
    spec.pools.push_back(std::move(p));
  }
  auto pol = c.ExecPrepared(
      "rc_policies",
      fmt::format("SELECT id, name, pool_id, priority, enabled, require_unpartitioned, "
                  "require_no_holders, max_per_node, {} FROM diskinv.pool_policy ORDER BY "
                  "priority, id",
                  kSelectorCols),
      {});
  if (!pol.ok()) return pol.status();
  for (int i = 0; i < pol->rows(); ++i) {
    PoolPolicy p;
    p.id = pol->Int(i, 0);
    p.name = pol->Str(i, 1);
    p.pool_id = pol->Int(i, 2);
    p.priority = static_cast<int>(pol->Int(i, 3));
    p.enabled = pol->Str(i, 4) == "t";
    p.selector = ReadSelector(*pol, i, 8);
    p.selector.require_unpartitioned = pol->Str(i, 5) == "t";
    p.selector.require_no_holders = pol->Str(i, 6) == "t";
    p.max_per_node = OptInt(*pol, i, 7);
    spec.policies.push_back(std::move(p));
  }
  auto prof = c.ExecPrepared(
      "rc_profiles",
      fmt::format("SELECT id, name, priority, enabled, pool_id, settings::text, drift_action, {} "
                  "FROM diskinv.tuning_profile ORDER BY priority, id",
                  kSelectorCols),
      {});
  if (!prof.ok()) return prof.status();
  for (int i = 0; i < prof->rows(); ++i) {
    TuningProfile t;
    t.id = prof->Int(i, 0);
    t.name = prof->Str(i, 1);
    t.priority = static_cast<int>(prof->Int(i, 2));
    t.enabled = prof->Str(i, 3) == "t";
    t.selector = ReadSelector(*prof, i, 7);
    t.selector.pool_id = OptInt(*prof, i, 4);
    t.settings_json = prof->Str(i, 5);
    t.drift_action = prof->Str(i, 6);
    spec.profiles.push_back(std::move(t));
  }
  auto kv = c.ExecPrepared("rc_profile_settings",
                           "SELECT p.id, e.key, e.value FROM diskinv.tuning_profile p, "
                           "jsonb_each_text(p.settings) e",
                           {});
  if (!kv.ok()) return kv.status();
  for (int i = 0; i < kv->rows(); ++i) {
    for (auto& t : spec.profiles) {
      if (t.id == kv->Int(i, 0)) t.settings[kv->Str(i, 1)] = kv->Str(i, 2);
    }
  }
  return spec;
}

Result<std::vector<DiskFacts>> LoadFacts(PgConnection& c, const std::vector<int64_t>& ids) {
  auto r = c.ExecPrepared(
      "rc_facts",
      "SELECT d.id, d.uid, d.node_id, n.hostname, d.kname, d.transport, d.model, d.vendor, "
      "d.rotational, d.size_bytes, d.state = 'present', extract(epoch FROM now() - d.removed_at), "
      "d.identity_conflict IS NOT NULL, "
      "EXISTS (SELECT 1 FROM diskinv.partition p WHERE p.parent_uid = d.uid AND p.state = "
      "'present'), "
      "EXISTS (SELECT 1 FROM diskinv.holder h WHERE h.parent_uid = d.uid OR h.parent_uid IN "
      "(SELECT p.uid FROM diskinv.partition p WHERE p.parent_uid = d.uid)), "
      "c.pool_id, c.policy_id, t.disk_id IS NOT NULL, t.profile_id, coalesce(t.desired::text, ''), "
      "coalesce(t.drift_action, ''), coalesce(t.etag, ''), coalesce(t.node_id, 0) "
      "FROM diskinv.disk d JOIN diskinv.node n ON n.id = d.node_id "
      "LEFT JOIN diskinv.disk_claim c ON c.disk_id = d.id "
      "LEFT JOIN diskinv.disk_tuning t ON t.disk_id = d.id "
      "WHERE d.id = ANY($1::bigint[]) ORDER BY d.id",
      {Array(ids)});
  if (!r.ok()) return r.status();
  std::vector<DiskFacts> out(r->rows());
  for (int i = 0; i < r->rows(); ++i) {
    DiskFacts& d = out[i];
    d.id = r->Int(i, 0);
    d.uid = r->Str(i, 1);
    d.node_id = r->Int(i, 2);
    d.hostname = r->Str(i, 3);
    d.kname = r->Str(i, 4);
    d.transport = Opt(*r, i, 5);
    d.model = Opt(*r, i, 6);
    d.vendor = Opt(*r, i, 7);
    d.rotational = OptBool(*r, i, 8);
    d.size_bytes = OptInt(*r, i, 9);
    d.present = r->Str(i, 10) == "t";
    if (auto v = r->Get(i, 11)) d.removed_seconds = std::stod(std::string(*v));
    d.identity_conflict = r->Str(i, 12) == "t";
    d.partitioned = r->Str(i, 13) == "t";
    d.has_holders = r->Str(i, 14) == "t";
    d.claim_pool_id = OptInt(*r, i, 15);
    d.claim_policy_id = OptInt(*r, i, 16);
    d.has_tuning = r->Str(i, 17) == "t";
    d.tuning_profile_id = OptInt(*r, i, 18);
    d.tuning_desired = r->Str(i, 19);
    d.tuning_drift_action = r->Str(i, 20);
    d.tuning_etag = r->Str(i, 21);
    d.tuning_node_id = r->Int(i, 22);
  }
  return out;
}

Result<ClaimCounts> LockAndCount(PgConnection& c, std::vector<int64_t> pool_ids) {
  ClaimCounts counts;
  if (pool_ids.empty()) return counts;
  std::sort(pool_ids.begin(), pool_ids.end());
  pool_ids.erase(std::unique(pool_ids.begin(), pool_ids.end()), pool_ids.end());
  auto lock = c.ExecPrepared("rc_lock_pools",
                             "SELECT id FROM diskinv.pool WHERE id = ANY($1::bigint[]) ORDER BY id "
                             "FOR UPDATE",
                             {Array(pool_ids)});
  if (!lock.ok()) return lock.status();
  auto r = c.ExecPrepared("rc_count_claims",
                          "SELECT pool_id, node_id, count(*) FROM diskinv.disk_claim WHERE pool_id "
                          "= ANY($1::bigint[]) GROUP BY 1, 2",
                          {Array(pool_ids)});
  if (!r.ok()) return r.status();
  for (int i = 0; i < r->rows(); ++i) {
    counts.per_pool[r->Int(i, 0)] += r->Int(i, 2);
    counts.per_pool_node[{r->Int(i, 0), r->Int(i, 1)}] = r->Int(i, 2);
  }
  return counts;
}

Result<ApplyResult> Apply(PgConnection& c, const ReconcilePlan& plan) {
  ApplyResult res;
  if (!plan.claims.empty()) {
    std::vector<int64_t> disk, node, pool, policy;
    std::vector<std::string> uid;
    for (const auto& x : plan.claims) {
      disk.push_back(x.disk_id);
      node.push_back(x.node_id);
      pool.push_back(x.pool_id);
      policy.push_back(x.policy_id);
      uid.push_back(x.uid);
    }
    auto r = c.ExecPrepared(
        "rc_claim",
        "INSERT INTO diskinv.disk_claim (disk_id, disk_uid, node_id, pool_id, policy_id) SELECT * "
        "FROM unnest($1::bigint[], $2::text[], $3::bigint[], $4::bigint[], $5::bigint[]) ON "
        "CONFLICT (disk_id) DO NOTHING RETURNING disk_id",
        {Array(disk), Array(uid), Array(node), Array(pool), Array(policy)});
    if (!r.ok()) return r.status();
    res.claimed = static_cast<uint64_t>(r->rows());
    res.claim_conflicts = plan.claims.size() - res.claimed;
  }
  if (!plan.releases.empty()) {
    std::vector<int64_t> disk, pool;
    std::vector<std::string> reason;
    for (const auto& x : plan.releases) {
      disk.push_back(x.disk_id);
      pool.push_back(x.pool_id);
      reason.push_back(x.reason);
    }
    auto r = c.ExecPrepared(
        "rc_release",
        "WITH gone AS (DELETE FROM diskinv.disk_claim c USING unnest($1::bigint[], $2::bigint[], "
        "$3::text[]) AS u(disk_id, pool_id, reason) WHERE c.disk_id = u.disk_id AND c.pool_id = "
        "u.pool_id RETURNING c.*, u.reason) INSERT INTO diskinv.disk_claim_history (disk_id, "
        "disk_uid, node_id, pool_id, pool_name, policy_id, claimed_at, reason) SELECT g.disk_id, "
        "g.disk_uid, g.node_id, g.pool_id, p.name, g.policy_id, g.claimed_at, g.reason FROM gone g "
        "JOIN diskinv.pool p ON p.id = g.pool_id RETURNING disk_id",
        {Array(disk), Array(pool), Array(reason)});
    if (!r.ok()) return r.status();
    res.released = static_cast<uint64_t>(r->rows());
  }
  std::vector<int64_t> up_disk, up_node, in_disk, in_node;
  std::vector<std::optional<int64_t>> up_prof, in_prof;
  std::vector<std::string> up_desired, up_drift, up_etag, in_desired, in_drift;
  for (const auto& w : plan.tuning_writes) {
    if (w.exists) {
      up_disk.push_back(w.disk_id);
      up_node.push_back(w.node_id);
      up_prof.push_back(w.profile_id);
      up_desired.push_back(w.desired_json);
      up_drift.push_back(w.drift_action);
      up_etag.push_back(w.etag);
    } else {
      in_disk.push_back(w.disk_id);
      in_node.push_back(w.node_id);
      in_prof.push_back(w.profile_id);
      in_desired.push_back(w.desired_json);
      in_drift.push_back(w.drift_action);
    }
  }
  std::set<int64_t> done;
  if (!up_disk.empty()) {
    auto r = Ids(c.ExecPrepared(
        "rc_tuning_update",
        "UPDATE diskinv.disk_tuning t SET node_id = u.node_id, profile_id = u.profile_id, desired "
        "= u.desired::jsonb, drift_action = u.drift_action, desired_generation = "
        "t.desired_generation + 1, desired_at = now(), status = 'pending' FROM unnest($1::bigint[], "
        "$2::bigint[], $3::bigint[], $4::text[], $5::text[], $6::text[]) AS u(disk_id, node_id, "
        "profile_id, desired, drift_action, etag) WHERE t.disk_id = u.disk_id AND t.etag = u.etag "
        "RETURNING t.disk_id",
        {Array(up_disk), Array(up_node), Array(up_prof), Array(up_desired), Array(up_drift),
         Array(up_etag)}));
    if (!r.ok()) return r.status();
    done.insert(r->begin(), r->end());
    res.tuning_written += r->size();
    for (int64_t d : up_disk) {
      if (!done.contains(d)) res.lost_races.push_back(d);
    }
  }
  if (!in_disk.empty()) {
    auto r = Ids(c.ExecPrepared(
        "rc_tuning_insert",
        "INSERT INTO diskinv.disk_tuning (disk_id, node_id, profile_id, desired, drift_action) "
        "SELECT u.disk_id, u.node_id, u.profile_id, u.desired::jsonb, u.drift_action FROM "
        "unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::text[], $5::text[]) AS u(disk_id, "
        "node_id, profile_id, desired, drift_action) ON CONFLICT (disk_id) DO NOTHING RETURNING "
        "disk_id",
        {Array(in_disk), Array(in_node), Array(in_prof), Array(in_desired), Array(in_drift)}));
    if (!r.ok()) return r.status();
    std::set<int64_t> ins(r->begin(), r->end());
    res.tuning_written += ins.size();
    for (int64_t d : in_disk) {
      if (!ins.contains(d)) res.lost_races.push_back(d);
    }
  }
  if (!plan.tuning_deletes.empty()) {
    std::vector<int64_t> disk;
    std::vector<std::string> etag;
    for (const auto& x : plan.tuning_deletes) {
      disk.push_back(x.disk_id);
      etag.push_back(x.etag);
    }
    auto r = Ids(c.ExecPrepared(
        "rc_tuning_delete",
        "DELETE FROM diskinv.disk_tuning t USING unnest($1::bigint[], $2::text[]) AS u(disk_id, "
        "etag) WHERE t.disk_id = u.disk_id AND t.etag = u.etag RETURNING t.disk_id",
        {Array(disk), Array(etag)}));
    if (!r.ok()) return r.status();
    std::set<int64_t> del(r->begin(), r->end());
    res.tuning_deleted = del.size();
    for (int64_t d : disk) {
      if (!del.contains(d)) res.lost_races.push_back(d);
    }
  }
  return res;
}

Result<std::vector<int64_t>> DiskIdsByUid(PgConnection& c, const std::vector<std::string>& uids) {
  return Ids(c.ExecPrepared(
      "rc_ids_by_uid",
      "SELECT d.id FROM diskinv.disk d WHERE d.uid = ANY($1::text[]) OR d.uid IN (SELECT "
      "p.parent_uid FROM diskinv.partition p WHERE p.uid = ANY($1::text[]))",
      {Array(uids)}));
}

Result<std::vector<int64_t>> DiskIdsByNode(PgConnection& c, const std::vector<int64_t>& nodes) {
  return Ids(c.ExecPrepared("rc_ids_by_node",
                            "SELECT id FROM diskinv.disk WHERE node_id = ANY($1::bigint[])",
                            {Array(nodes)}));
}

Result<std::vector<int64_t>> DiskIdsAfter(PgConnection& c, int64_t after, size_t limit) {
  return Ids(c.ExecPrepared("rc_ids_after",
                            "SELECT id FROM diskinv.disk WHERE id > $1 ORDER BY id LIMIT $2",
                            {std::to_string(after), std::to_string(limit)}));
}

Result<std::vector<int64_t>> DueForRelease(PgConnection& c) {
  return Ids(c.ExecPrepared(
      "rc_due",
      "SELECT c.disk_id FROM diskinv.disk_claim c JOIN diskinv.disk d ON d.id = c.disk_id JOIN "
      "diskinv.pool p ON p.id = c.pool_id WHERE d.state = 'removed' AND d.removed_at + "
      "p.release_grace <= now() ORDER BY c.disk_id",
      {}));
}

}  // namespace diskinv::reconcile_store
