// CdcConsumer: streams a logical replication slot, decodes pgoutput into EventGroups, hands
// them to a ChangeHandler and acknowledges what the handler finished.
//
// Threads. The stream thread (the caller of Run) owns the replication connection: it polls the
// socket, decodes, answers keepalives at once when the server asks, and sends standby status
// updates. A handler thread takes groups from a queue bounded in bytes and calls the handler.
// A slow handler therefore never delays a keepalive reply: when the queue is full the stream
// thread stops reading (TCP backpressure on the walsender) but keeps sending a status update
// every status_interval, which is what resets the walsender's wal_sender_timeout.
//
// Acknowledgement (at-least-once). The flush LSN sent to the server is the Commit end_lsn of
// the last transaction whose handler call returned OK (all its parts). With an `app`, the
// handler runs inside a transaction on the consumer's own database connection and the
// consumer's position (diskinv.cdc_consumer.confirmed_lsn) is updated in that same transaction:
// an effect and the position that covers it commit together. START_REPLICATION starts from
// that position, and transactions before it are dropped while decoding, so nothing the handler
// committed is handled twice even when the slot's own position went backwards. When nothing is
// in flight the keepalive's WAL end is acknowledged, so an idle publication does not pin WAL.
//
// Errors. A handler error rolls back and retries the same groups with exponential backoff,
// acknowledging nothing meanwhile. A broken connection (server restart or crash) reconnects
// with backoff and resumes from the last handled transaction. A missing or invalidated slot
// raises an alarm (diskinv.cdc_alarm) and ends Run with ENOENT/ESTALE: never a silent restart
// from "now". A slot in use by another consumer ends Run with EBUSY; any other server error
// (a slot of another database, a missing publication, permissions) with EIO, at once, instead
// of retrying forever. An undecodable message
// raises an alarm and ends Run with EINVAL, acknowledging nothing after the last commit.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "cdc/event_group.h"
#include "cdc/transaction_assembler.h"
#include "common/status.h"
#include "store/pg_connection.h"

namespace diskinv {

class ChangeHandler {
 public:
  virtual ~ChangeHandler() = default;
  // Handles consecutive groups in stream order (a batch may end in the middle of a large
  // transaction; the rest follows in the next call). With position persistence `txn` is the
  // consumer's connection inside an open transaction: writes made through it commit
  // atomically with the position; otherwise nullptr. An error rolls back; the same groups
  // come again after a backoff. Handlers must be idempotent: delivery is at-least-once.
  virtual Status Handle(std::span<const EventGroup* const> groups, PgConnection* txn) = 0;
};

struct ConsumerOptions {
  std::string url;  // the database (a URL or conninfo)
  std::string slot;
  std::vector<std::string> publications;
  bool temporary_slot = false;  // create a TEMPORARY slot per session (cdc tail)
  std::string app;              // diskinv.cdc_consumer row; "" = no persistence
  int proto_version = 1;
  bool binary = false;
  bool messages = false;
  Lsn start_lsn = 0;                  // start at least here (0: the persisted position)
  AssemblerOptions assembler;         // part limits
  size_t max_queue_bytes = 32 << 20;  // decoded but unhandled groups
  size_t max_batch_groups = 512;      // groups per handler call
  std::chrono::milliseconds status_interval{10000};  // a status update at least this often
  std::chrono::milliseconds ack_delay{100};          // coalesces acks of handled transactions
  std::chrono::milliseconds retry_initial{100};
  std::chrono::milliseconds retry_max{30000};  // handler retries (the stream stays up)
  // Reconnects of a broken stream (server restart, failover): from retry_initial, doubling, to
  // at most this, with 20% jitter below it (common/backoff.h). Short, because every attempt is
  // one cheap connection and a failover should be followed within seconds: a 30 s cap let the
  // wait grow to 6.4 s during a Patroni failover (docs/ha.md).
  std::chrono::milliseconds reconnect_max{2000};
  int max_reconnects = -1;  // consecutive failed sessions before giving up
};

// Live counters (read from any thread).
struct ConsumerStats {
  std::atomic<uint64_t> received_lsn{0};   // last WAL position seen in a frame
  std::atomic<uint64_t> processed_lsn{0};  // end LSN of the last handled transaction
  std::atomic<uint64_t> acked_lsn{0};      // last flush LSN sent to the server
  std::atomic<uint64_t> transactions{0};   // handled
  std::atomic<uint64_t> changes{0};        // handled
  std::atomic<uint64_t> groups{0};         // handled (parts included)
  std::atomic<uint64_t> handler_errors{0};
  std::atomic<uint64_t> decode_errors{0};
  std::atomic<uint64_t> sessions{0};  // successful START_REPLICATIONs
  std::atomic<uint64_t> keepalives{0};
  std::atomic<uint64_t> replies_requested{0};
  std::atomic<uint64_t> status_updates{0};
  std::atomic<uint64_t> frames{0};
  std::atomic<uint64_t> queue_bytes{0};
  std::atomic<uint64_t> queue_bytes_peak{0};
  std::atomic<uint64_t> skipped_transactions{0};  // before our own position
  std::atomic<int64_t> last_commit_time{0};
};

class CdcConsumer {
 public:
  CdcConsumer(ConsumerOptions options, ChangeHandler* handler)
      : opt_(std::move(options)), handler_(handler) {}

  // Streams until `stop` is set (returns OK after sending a final status update) or a fatal
  // error (see the file comment).
  Status Run(const std::atomic<bool>& stop);

  const ConsumerStats& stats() const { return stats_; }
  const ConsumerOptions& options() const { return opt_; }

 private:
  struct Session;
  Status RunSession(const std::atomic<bool>& stop, bool* progressed);
  Status RaiseFatal(const Status& s);

  ConsumerOptions opt_;
  ChangeHandler* handler_;
  ConsumerStats stats_;
  EventGroupPool pool_;
};

// Test hook (fault injection, like PostgreSQL's injection points): DISKINV_CDC_FAULT set to
// "kill-before-commit[:N]" or "kill-after-commit[:N]" makes the handler thread SIGKILL its own
// process, on the N-th (default 1st) batch that completes a transaction, right before or right
// after the COMMIT of the handler's effects and position (before the acknowledgement).
enum class FaultPoint { kBeforeCommit, kAfterCommit };
bool FaultInjected(FaultPoint p);

}  // namespace diskinv
