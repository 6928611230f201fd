// The replication envelope around pgoutput: the CopyData payloads a walsender sends (XLogData
// 'w', primary keepalive 'k') and the standby status update 'r' a client sends back. Pure: no
// I/O; layouts in shared/reference/pgoutput.md section 2.1.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "cdc/lsn.h"
#include "common/status.h"

namespace diskinv {

struct XLogData {
  Lsn data_start = 0;  // for logical decoding: the LSN of the record (Commit: its end LSN)
  Lsn wal_end = 0;
  int64_t send_time = 0;
  std::string_view payload;  // one pgoutput message (a view into the frame)
};

struct PrimaryKeepalive {
  Lsn wal_end = 0;
  int64_t send_time = 0;
  bool reply_requested = false;
};

struct ServerFrame {
  enum Kind { kXLogData, kKeepalive } kind = kXLogData;
  XLogData xlog;
  PrimaryKeepalive keepalive;
};

// Parses one CopyData payload from the server; unknown tags and bad sizes are errors.
Result<ServerFrame> ParseServerFrame(std::string_view copy_data);

// The 34-byte standby status update. `write`, `flush`, `apply` as the protocol defines them;
// the walsender advances the slot's confirmed_flush_lsn to `flush`.
std::string StandbyStatusUpdate(Lsn write, Lsn flush, Lsn apply, int64_t client_time,
                                bool reply_requested = false);

// Builders used by tests, fixtures and benchmarks (the inverse of ParseServerFrame).
std::string XLogDataFrame(Lsn data_start, Lsn wal_end, int64_t send_time, std::string_view payload);
std::string KeepaliveFrame(Lsn wal_end, int64_t send_time, bool reply_requested);

}  // namespace diskinv
