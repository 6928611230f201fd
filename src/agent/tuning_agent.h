// TuningAgent: the node side of queue tuning, as the agent daemon (or `diskinv tune apply`)
// runs it. It learns the desired state of its node's disks from diskinv.disk_tuning, woken by
// NOTIFY diskinv_tuning (the table's trigger sends the node id) and by a periodic resync,
// applies it with TuningApplier, and writes back observed values, rejections with reasons,
// drift and a status, guarded by the row's etag (a lost race re-reads the row and retries).
// A pass that finds nothing new writes nothing.
//
// Self-contained: the daemon owns the loop and calls SyncOnce() when socket() is readable
// (after DrainNotifications()) or its resync timer fires; Run() is such a loop for the CLI.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "agent/tuning_applier.h"
#include "common/status.h"
#include "store/pg_connection.h"

namespace diskinv {

struct TuningAgentOptions {
  std::string url;
  std::string machine_id;  // the node's diskinv.node.machine_id
  uint64_t page_size = 4096;
  std::chrono::milliseconds resync_interval{300000};
  int max_retries = 5;
};

struct TuningPassStats {
  uint64_t rows = 0;        // desired rows of this node's present disks
  uint64_t written = 0;     // attribute writes to sysfs
  uint64_t applied = 0, partial = 0, rejected = 0, drift = 0, errors = 0;
  uint64_t reported = 0;    // rows whose report changed (database writes)
  uint64_t lost_races = 0;
};

class TuningAgent {
 public:
  // Connects, finds the node by machine id (ENOENT when the node never registered) and LISTENs.
  static Result<std::unique_ptr<TuningAgent>> Create(TuningAgentOptions options,
                                                     SysfsReader* reader,
                                                     TuningSysfsWriter* writer);

  // One pass over every desired row of the node.
  Result<TuningPassStats> SyncOnce();
  // The LISTEN connection's socket, for the daemon's poll loop.
  int socket() const;
  // Consumes pending notifications; true when one concerned this node.
  bool DrainNotifications();
  // SyncOnce at start, on every notification for this node and every resync_interval, until
  // `stop`. Reconnects (with backoff) when the database goes away.
  Status Run(const std::atomic<bool>& stop, TuningPassStats* total = nullptr);

  int64_t node_id() const { return node_id_; }

 private:
  TuningAgent(TuningAgentOptions o, std::unique_ptr<PgConnection> c, int64_t node,
              SysfsReader* reader, TuningSysfsWriter* writer)
      : opt_(std::move(o)), conn_(std::move(c)), node_id_(node), applier_(*reader, *writer,
                                                                          opt_.page_size) {}
  Status Listen();

  TuningAgentOptions opt_;
  std::unique_ptr<PgConnection> conn_;
  int64_t node_id_;
  TuningApplier applier_;
};

}  // namespace diskinv
