// Reconciler: the controller of pools and queue tuning (the Kubernetes controller pattern).
//
// As a ChangeHandler it turns a batch of change events into the set of disks they touch (a disk
// row; the disk of a partition or holder edge; every disk of a node whose row changed; every
// disk when a pool, policy or profile changed or a table was truncated) and reconciles those
// disks from their *current* rows, never from the event's values: a duplicate, a replayed or
// an out-of-order event gives the same result, and a missed one is repaired by the next event
// of that disk, a replay, or the periodic full pass. All writes go through the transaction the
// consumer opened, so they commit together with the consumer's position.
//
// Disks are reconciled in batches: one set of reads and at most one statement per kind of write
// per batch. A tuning write that loses an etag race is re-read and re-planned (max_retries),
// then the batch fails and the consumer retries it with backoff.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "cdc/cdc_consumer.h"
#include "common/status.h"
#include "store/pg_connection.h"

namespace diskinv {

struct ReconcilerOptions {
  size_t batch_disks = 2000;
  int max_retries = 5;
};

struct ReconcilerStats {
  std::atomic<uint64_t> changes{0};        // change events seen
  std::atomic<uint64_t> disks{0};          // disk reconciliations (a disk per batch counts once)
  std::atomic<uint64_t> claims{0}, claim_conflicts{0}, releases{0};
  std::atomic<uint64_t> tuning_writes{0}, tuning_deletes{0};
  std::atomic<uint64_t> lost_races{0};
  std::atomic<uint64_t> full_passes{0};
  std::atomic<uint64_t> ignored{0};        // changes that touch no disk
};

class Reconciler : public ChangeHandler {
 public:
  explicit Reconciler(ReconcilerOptions options = {}) : opt_(options) {}

  Status Handle(std::span<const EventGroup* const> groups, PgConnection* txn) override;

  // Reconciles `disk_ids` inside the caller's open transaction on `c`.
  Status ReconcileDisks(PgConnection& c, std::vector<int64_t> disk_ids);
  // Reconciles every disk (the "list" before watching, and the periodic resync). With
  // `own_transactions`, each batch is its own transaction on `c` (autocommit mode on entry);
  // without, everything runs in the caller's transaction.
  Status ReconcileAll(PgConnection& c, bool own_transactions);
  // Releases the claims of disks removed longer than their pool's grace (own transaction).
  Status ReleaseDue(PgConnection& c);

  const ReconcilerStats& stats() const { return stats_; }
  // Why matching disks were not claimed, from the last batches (bounded).
  std::vector<std::string> TakeNotes();

 private:
  Status ReconcileBatch(PgConnection& c, const std::vector<int64_t>& ids);

  ReconcilerOptions opt_;
  ReconcilerStats stats_;
  std::mutex notes_mu_;
  std::vector<std::string> notes_;
};

}  // namespace diskinv
