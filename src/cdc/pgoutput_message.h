// PgoutputMessage: one decoded message of PostgreSQL's pgoutput plugin (logical replication
// protocol versions 1-4), as the payload of an XLogData frame carries it.
//
// Byte layouts: shared/reference/pgoutput.md and the PostgreSQL docs "Logical Replication Message
// Formats". The struct is flat: each message type uses the fields its comment names and leaves
// the others at their defaults. Strings and tuple values are views into the decoded buffer: a
// message is valid only as long as that buffer is. Decoders reuse one message object (the
// vectors keep their capacity), so decoding a stream allocates nothing per message.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "cdc/lsn.h"

namespace diskinv {

enum class PgoutputType : char {
  kBegin = 'B',
  kCommit = 'C',
  kOrigin = 'O',
  kRelation = 'R',
  kType = 'Y',
  kInsert = 'I',
  kUpdate = 'U',
  kDelete = 'D',
  kTruncate = 'T',
  kMessage = 'M',
  kStreamStart = 'S',     // protocol 2
  kStreamStop = 'E',      // protocol 2
  kStreamCommit = 'c',    // protocol 2
  kStreamAbort = 'A',     // protocol 2 (abort LSN and time with protocol 4 parallel streaming)
  kBeginPrepare = 'b',    // protocol 3 (two-phase)
  kPrepare = 'P',         // protocol 3
  kCommitPrepared = 'K',  // protocol 3
  kRollbackPrepared = 'r',  // protocol 3
  kStreamPrepare = 'p',   // protocol 3
};

// "Begin", "Insert", ...; "?" for a value outside the enum.
const char* PgoutputTypeName(PgoutputType t);

// TupleData column kinds.
enum class TupleKind : char {
  kNull = 'n',
  kUnchangedToast = 'u',  // a TOASTed value the UPDATE did not touch: not sent, NOT null
  kText = 't',
  kBinary = 'b',          // typsend output, only with the `binary` option
};

struct TupleColumn {
  TupleKind kind = TupleKind::kNull;
  std::string_view data;  // text/binary bytes (not NUL-terminated); empty otherwise
};

struct RelationAttribute {
  bool key = false;  // part of the replica identity
  std::string_view name;
  uint32_t type_oid = 0;
  int32_t typmod = -1;
};

struct PgoutputMessage {
  PgoutputType type = PgoutputType::kBegin;
  // Inside a streamed block (protocol >= 2) R/Y/I/U/D/T/M carry the streamed transaction's xid.
  bool has_xid = false;
  uint32_t xid = 0;  // Begin, streamed messages, Stream*, 2PC messages

  // Begin: final_lsn, timestamp, xid. Commit/Stream Commit/Commit Prepared: flags, commit_lsn,
  // end_lsn, timestamp. Prepare/Begin Prepare/Stream Prepare: commit_lsn = prepare LSN, end_lsn,
  // timestamp = prepare time. Rollback Prepared: commit_lsn = prepare end LSN, end_lsn =
  // rollback end LSN, timestamp = rollback time, prepare_timestamp.
  Lsn final_lsn = 0;
  Lsn commit_lsn = 0;
  Lsn end_lsn = 0;
  int64_t timestamp = 0;  // microseconds since 2000-01-01 UTC
  int64_t prepare_timestamp = 0;
  uint8_t flags = 0;      // Commit flags; Message: 1 = transactional; Truncate: options
  std::string_view gid;   // two-phase transaction id

  // Origin: origin_lsn, origin_name.
  Lsn origin_lsn = 0;
  std::string_view origin_name;

  // Relation: relid, nspname, relname, replica_identity, attributes. Type: type_oid, nspname,
  // relname = type name. Insert/Update/Delete: relid.
  uint32_t relid = 0;
  std::string_view nspname, relname;
  char replica_identity = 0;  // 'd' default, 'n' nothing, 'f' full, 'i' index
  std::vector<RelationAttribute> attributes;
  uint32_t type_oid = 0;

  // Insert: new_tuple. Update: old_tuple when old_kind is 'K' (key changed) or 'O' (REPLICA
  // IDENTITY FULL), and new_tuple. Delete: old_tuple ('K' or 'O').
  char old_kind = 0;  // 0, 'K' or 'O'
  std::vector<TupleColumn> old_tuple;
  std::vector<TupleColumn> new_tuple;

  // Truncate: relids, flags (1 CASCADE, 2 RESTART IDENTITY).
  std::vector<uint32_t> relids;

  // Message: flags, message_lsn, prefix, content.
  Lsn message_lsn = 0;
  std::string_view prefix;
  std::string_view content;

  // Stream Start: first_segment. Stream Abort: subxid (and, protocol 4, end_lsn = abort LSN,
  // timestamp = abort time).
  bool first_segment = false;
  uint32_t subxid = 0;
};

}  // namespace diskinv
