// ReplicationConnection: a libpq connection in logical replication mode (replication=database)
// and the walsender commands diskinv uses: IDENTIFY_SYSTEM, CREATE_REPLICATION_SLOT ... LOGICAL
// pgoutput, DROP_REPLICATION_SLOT, START_REPLICATION ... LOGICAL, then the CopyBoth stream read
// and written without blocking (the caller polls socket()).
//
// Server errors are classified into Status codes a caller can act on:
//   ENOENT  the slot does not exist (dropped)
//   ESTALE  the slot was invalidated (max_slot_wal_keep_size) and can no longer stream
//   EBUSY   the slot is active for another process (a second consumer)
//   ENOTCONN the connection broke (server restart, network)
//   EIO     any other server error (message, detail and SQLSTATE in the text)
// Not thread-safe: one thread owns the connection.
#pragma once

#include <libpq-fe.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "cdc/lsn.h"
#include "common/status.h"

namespace diskinv {

struct StartReplicationOptions {
  int proto_version = 1;
  std::vector<std::string> publications;
  bool binary = false;    // typsend values ('b' tuple data), protocol >= 1 on PG >= 14
  bool messages = false;  // logical decoding messages (pg_logical_emit_message)
};

class ReplicationConnection {
 public:
  // `url` as for PgConnection (a URL or conninfo); replication=database is added.
  static Result<std::unique_ptr<ReplicationConnection>> Connect(const std::string& url,
                                                                int connect_timeout_s = 5);
  ~ReplicationConnection();
  ReplicationConnection(const ReplicationConnection&) = delete;
  ReplicationConnection& operator=(const ReplicationConnection&) = delete;

  struct SystemInfo {
    std::string system_id;
    int timeline = 0;
    Lsn xlogpos = 0;
    std::string dbname;
  };
  Result<SystemInfo> IdentifySystem();

  struct CreatedSlot {
    std::string name;
    Lsn consistent_point = 0;
    std::string plugin;
  };
  // CREATE_REPLICATION_SLOT name [TEMPORARY] LOGICAL pgoutput (SNAPSHOT 'nothing').
  // EEXIST when a slot of that name exists.
  Result<CreatedSlot> CreateSlot(const std::string& name, bool temporary);
  Status DropSlot(const std::string& name);

  // START_REPLICATION SLOT name LOGICAL start (options); on success the connection is in
  // CopyBoth mode and non-blocking.
  Status StartReplication(const std::string& slot, Lsn start, const StartReplicationOptions& o);

  enum class ReadState { kFrame, kWouldBlock };
  // The next CopyData message from the server (valid until the next call), or kWouldBlock when
  // none is complete. An error when the stream ended or broke (with the server's reason).
  Result<ReadState> ReadFrame(std::string_view* frame);
  // Queues a standby status update and tries to send it.
  Status SendStatus(Lsn write, Lsn flush, Lsn apply, bool reply_requested = false);
  // Sends what is queued; true when nothing is left (else poll for POLLOUT and call again).
  Result<bool> Flush();
  int socket() const { return PQsocket(conn_); }
  const std::string& display_url() const { return display_url_; }

 private:
  ReplicationConnection(PGconn* c, std::string display) : conn_(c), display_url_(std::move(display)) {}
  Status ResultError(PGresult* r, std::string_view what);
  Result<std::unique_ptr<PGresult, void (*)(PGresult*)>> Command(const std::string& sql,
                                                                 ExecStatusType want);

  PGconn* conn_;
  std::string display_url_;
  char* buf_ = nullptr;  // the last frame returned by ReadFrame
};

// Quotes an identifier for replication commands and SQL ("name" with "" doubled).
std::string QuoteIdent(std::string_view name);
// Quotes a string literal ('...' with '' doubled).
std::string QuoteLiteral(std::string_view s);

}  // namespace diskinv
