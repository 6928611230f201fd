// TransactionAssembler: turns the pgoutput messages of a replication session into EventGroups.
//
// It decodes each XLogData payload, keeps the RelationCache current, and groups the changes
// between Begin and Commit. A transaction is emitted as one group when it fits the part limits
// (max_changes, max_bytes) and otherwise as several bounded parts, the last one carrying the
// Commit, so memory does not depend on the transaction's size (a 1,000,000-row transaction
// passes with a few MiB). Transactions whose commit record lies before `skip_before` (the
// consumer's own persisted position: they were handled already) are dropped while decoding.
//
// Streamed in-progress transactions (protocol 2 `streaming`) are decoded by DecodePgoutput but
// rejected here with a clear error: the consumer never asks for them, because holding an
// uncommitted transaction that may still abort would break either the memory bound or the
// "handlers see committed data only" rule. Two-phase messages are rejected the same way.
//
// Errors are never skipped: a malformed message or a change for an unknown relation returns
// the error, and the caller stops without acknowledging anything after the last commit.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>

#include "cdc/event_group.h"
#include "cdc/pgoutput_decoder.h"
#include "cdc/relation_cache.h"
#include "cdc/replication_message.h"
#include "common/status.h"

namespace diskinv {

struct AssemblerOptions {
  int proto_version = 1;
  size_t max_changes = 4096;       // changes per group before a part is emitted
  size_t max_bytes = 4 << 20;      // value bytes per group before a part is emitted
  Lsn skip_before = 0;             // drop transactions whose commit record is before this LSN
};

struct AssemblerStats {
  uint64_t messages = 0;
  uint64_t transactions = 0;       // commits seen
  uint64_t changes = 0;            // row changes (insert/update/delete/truncate/message)
  uint64_t parts = 0;              // groups emitted that were not the last part
  uint64_t skipped_transactions = 0;
  uint64_t relation_messages = 0;
  uint64_t decode_errors = 0;
};

class TransactionAssembler {
 public:
  // Receives each finished group; a non-OK status stops Feed and is returned by it.
  using Sink = std::function<Status(std::unique_ptr<EventGroup>)>;

  TransactionAssembler(AssemblerOptions options, EventGroupPool* pool)
      : opt_(options), pool_(pool) {}

  // Feeds one XLogData frame.
  Status Feed(const XLogData& frame, const Sink& emit);
  // Same, for a bare pgoutput payload at `lsn` (tests, benchmarks).
  Status FeedPayload(std::string_view payload, Lsn lsn, const Sink& emit);

  bool in_transaction() const { return group_ != nullptr; }
  // Forgets a half-received transaction and the relation cache (a new session starts clean).
  void Reset();
  void set_skip_before(Lsn lsn) { opt_.skip_before = lsn; }

  const RelationCache& relations() const { return relations_; }
  const AssemblerStats& stats() const { return stats_; }

 private:
  Status Fail(Status s);
  Status StartPartIfNeeded();
  Status MakeRoom(const Sink& emit);
  const std::shared_ptr<const Relation>* Lookup(uint32_t relid, Status* error);

  AssemblerOptions opt_;
  EventGroupPool* pool_;
  RelationCache relations_;
  PgoutputMessage msg_;                // reused
  std::unique_ptr<EventGroup> group_;  // the open transaction (current part)
  bool skipping_ = false;              // the open transaction is dropped
  uint32_t xid_ = 0;
  Lsn final_lsn_ = 0;
  int64_t begin_time_ = 0;
  uint32_t part_ = 0;
  std::string origin_;
  std::vector<std::shared_ptr<const Relation>> truncated_;  // reused
  AssemblerStats stats_;
};

}  // namespace diskinv
