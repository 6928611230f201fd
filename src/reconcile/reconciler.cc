#include "reconcile/reconciler.h"

#include <algorithm>
#include <charconv>
#include <set>

#include <fmt/format.h>

#include "common/logging.h"
#include "reconcile/reconcile_plan.h"
#include "reconcile/reconcile_store.h"

namespace diskinv {
namespace {

std::optional<int64_t> IdOf(const TupleView& t, std::string_view column) {
  auto v = t.Text(column);
  if (!v) return std::nullopt;
  int64_t out = 0;
  auto [p, ec] = std::from_chars(v->data(), v->data() + v->size(), out);
  if (ec != std::errc() || p != v->data() + v->size()) return std::nullopt;
  return out;
}

// The value of `column` in the new tuple, else in the old one (deletes, key changes).
std::optional<std::string_view> Value(const EventGroup& g, const Change& c, std::string_view col) {
  if (auto v = g.NewTuple(c).Text(col)) return v;
  return g.OldTuple(c).Text(col);
}

}  // namespace

std::vector<std::string> Reconciler::TakeNotes() {
  std::lock_guard lock(notes_mu_);
  return std::exchange(notes_, {});
}

Status Reconciler::Handle(std::span<const EventGroup* const> groups, PgConnection* txn) {
  if (txn == nullptr) return Status::Invalid("the reconciler writes: it needs a transaction");
  std::set<int64_t> disks, nodes;
  std::set<std::string> uids;
  bool everything = false;
  for (const EventGroup* g : groups) {
    for (const Change& c : g->changes()) {
      ++stats_.changes;
      if (c.kind == ChangeKind::kTruncate) {
        everything = true;
        continue;
      }
      if (c.relation == nullptr || c.relation->nspname != "diskinv") {
        ++stats_.ignored;
        continue;
      }
      const std::string& table = c.relation->relname;
      if (table == "disk") {
        auto id = IdOf(g->NewTuple(c), "id");
        if (!id) id = IdOf(g->OldTuple(c), "id");
        if (id) disks.insert(*id);
      } else if (table == "partition") {
        // Deletes carry only the key (partitions are tombstoned, not deleted, by the agent).
        if (auto u = Value(*g, c, "parent_uid")) uids.emplace(*u);
      } else if (table == "holder") {
        if (auto u = Value(*g, c, "parent_uid")) uids.emplace(*u);
      } else if (table == "node") {
        auto id = IdOf(g->NewTuple(c), "id");
        if (id) nodes.insert(*id);
      } else if (table == "pool" || table == "pool_policy" || table == "tuning_profile") {
        everything = true;
      } else {
        ++stats_.ignored;
      }
    }
  }
  Logger("reconcile")->debug("{} group(s): {} disk(s), {} node(s), {} uid(s){}", groups.size(),
                             disks.size(), nodes.size(), uids.size(),
                             everything ? ", spec changed: every disk" : "");
  if (everything) return ReconcileAll(*txn, /*own_transactions=*/false);
  if (!uids.empty()) {
    auto ids = reconcile_store::DiskIdsByUid(*txn, {uids.begin(), uids.end()});
    if (!ids.ok()) return ids.status();
    disks.insert(ids->begin(), ids->end());
  }
  if (!nodes.empty()) {
    auto ids = reconcile_store::DiskIdsByNode(*txn, {nodes.begin(), nodes.end()});
    if (!ids.ok()) return ids.status();
    disks.insert(ids->begin(), ids->end());
  }
  if (disks.empty()) return Status::Ok();
  return ReconcileDisks(*txn, {disks.begin(), disks.end()});
}

Status Reconciler::ReconcileDisks(PgConnection& c, std::vector<int64_t> ids) {
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  size_t step = std::max<size_t>(opt_.batch_disks, 1);
  for (size_t i = 0; i < ids.size(); i += step) {
    std::vector<int64_t> batch(ids.begin() + i, ids.begin() + std::min(ids.size(), i + step));
    if (Status s = ReconcileBatch(c, batch); !s.ok()) return s;
  }
  return Status::Ok();
}

Status Reconciler::ReconcileBatch(PgConnection& c, const std::vector<int64_t>& ids) {
  auto log = Logger("reconcile");
  auto spec = reconcile_store::LoadSpec(c);
  if (!spec.ok()) return spec.status();
  std::vector<int64_t> todo = ids;
  for (int attempt = 0; !todo.empty(); ++attempt) {
    auto facts = reconcile_store::LoadFacts(c, todo);
    if (!facts.ok()) return facts.status();
    // Pools that may receive a claim in this batch have limits to respect: lock and count them.
    std::vector<int64_t> limited;
    bool unclaimed = std::any_of(facts->begin(), facts->end(),
                                 [](const DiskFacts& d) { return d.present && !d.claim_pool_id; });
    if (unclaimed) {
      for (const auto& pol : spec->policies) {
        const Pool* p = spec->FindPool(pol.pool_id);
        if (pol.enabled && p && (p->max_disks || pol.max_per_node)) limited.push_back(p->id);
      }
    }
    auto counts = reconcile_store::LockAndCount(c, limited);
    if (!counts.ok()) return counts.status();
    ReconcilePlan plan = PlanReconcile(*spec, *facts, &*counts);
    stats_.disks += facts->size();
    if (!plan.notes.empty()) {
      std::lock_guard lock(notes_mu_);
      for (auto& n : plan.notes) {
        log->info("{}", n);
        if (notes_.size() < 1000) notes_.push_back(std::move(n));
      }
    }
    if (plan.empty()) return Status::Ok();
    auto applied = reconcile_store::Apply(c, plan);
    if (!applied.ok()) return applied.status();
    stats_.claims += applied->claimed;
    stats_.claim_conflicts += applied->claim_conflicts;
    stats_.releases += applied->released;
    stats_.tuning_writes += applied->tuning_written;
    stats_.tuning_deletes += applied->tuning_deleted;
    if (applied->claimed + applied->released + applied->tuning_written + applied->tuning_deleted) {
      log->debug("batch of {} disks: {} claimed, {} released, {} tuning written, {} deleted",
                 facts->size(), applied->claimed, applied->released, applied->tuning_written,
                 applied->tuning_deleted);
    }
    todo = applied->lost_races;
    if (todo.empty()) break;
    stats_.lost_races += todo.size();
    if (attempt >= opt_.max_retries) {
      return Status(EAGAIN, fmt::format("tuning rows of {} disk(s) kept changing under us (etag "
                                        "races lost {} times), e.g. disk id {}",
                                        todo.size(), attempt + 1, todo.front()));
    }
    log->debug("{} tuning rows changed under us; re-reading", todo.size());
  }
  return Status::Ok();
}

Status Reconciler::ReconcileAll(PgConnection& c, bool own_transactions) {
  ++stats_.full_passes;
  int64_t after = 0;
  size_t step = std::max<size_t>(opt_.batch_disks, 1);
  while (true) {
    auto ids = reconcile_store::DiskIdsAfter(c, after, step);
    if (!ids.ok()) return ids.status();
    if (ids->empty()) return Status::Ok();
    after = ids->back();
    if (own_transactions) {
      if (auto b = c.Exec("BEGIN"); !b.ok()) return b.status();
    }
    Status s = ReconcileBatch(c, *ids);
    if (own_transactions) {
      if (!s.ok()) {
        (void)c.Exec("ROLLBACK");
        return s;
      }
      if (auto e = c.Exec("COMMIT"); !e.ok()) return e.status();
    } else if (!s.ok()) {
      return s;
    }
  }
}

Status Reconciler::ReleaseDue(PgConnection& c) {
  auto due = reconcile_store::DueForRelease(c);
  if (!due.ok()) return due.status();
  if (due->empty()) return Status::Ok();
  if (auto b = c.Exec("BEGIN"); !b.ok()) return b.status();
  Status s = ReconcileDisks(c, *due);
  if (!s.ok()) {
    (void)c.Exec("ROLLBACK");
    return s;
  }
  return c.Exec("COMMIT").status();
}

}  // namespace diskinv
