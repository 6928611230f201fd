#include "cdc/replication_connection.h"

#include <cerrno>

#include <fmt/format.h>

#include "cdc/replication_message.h"
#include "common/logging.h"
#include "store/pg_connection.h"

namespace diskinv {
namespace {

std::string OneLine(const char* msg) {
  std::string s = msg ? msg : "";
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  for (char& c : s) {
    if (c == '\n') c = ' ';
  }
  return s;
}

}  // namespace

std::string QuoteIdent(std::string_view name) {
  std::string out = "\"";
  for (char c : name) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

std::string QuoteLiteral(std::string_view s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') out += '\'';
    out += c;
  }
  return out + "'";
}


Result<std::unique_ptr<ReplicationConnection>> ReplicationConnection::Connect(
    const std::string& url, int connect_timeout_s) {
  std::string timeout = std::to_string(connect_timeout_s);
  // dbname (the URL) first, replication last: the URL cannot turn replication mode off.
  const char* keys[] = {"connect_timeout", "fallback_application_name", "dbname", "replication",
                        nullptr};
  const char* vals[] = {timeout.c_str(), "diskinv-cdc", url.c_str(), "database", nullptr};
  PGconn* c = PQconnectdbParams(keys, vals, /*expand_dbname=*/1);
  std::string display = RedactUrl(url);
  if (c == nullptr) return Status(ENOMEM, "libpq: out of memory");
  if (PQstatus(c) != CONNECTION_OK) {
    std::string msg = OneLine(PQerrorMessage(c));
    PQfinish(c);
    return Status(ENOTCONN, fmt::format("cannot open a replication connection to {}: {}", display,
                                        msg));
  }
  PQsetNoticeProcessor(
      c, [](void*, const char* m) { Logger("cdc")->debug("postgres: {}", OneLine(m)); }, nullptr);
  return std::unique_ptr<ReplicationConnection>(new ReplicationConnection(c, std::move(display)));
}

ReplicationConnection::~ReplicationConnection() {
  if (buf_) PQfreemem(buf_);
  PQfinish(conn_);
}

Status ReplicationConnection::ResultError(PGresult* r, std::string_view what) {
  std::string msg = OneLine(r ? PQresultErrorMessage(r) : PQerrorMessage(conn_));
  if (msg.empty()) msg = OneLine(PQerrorMessage(conn_));
  const char* state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : nullptr;
  const char* detail = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_DETAIL) : nullptr;
  std::string sqlstate = state ? state : "";
  std::string text = fmt::format("{}: {}", what, msg);
  if (detail && msg.find(detail) == std::string::npos) text += fmt::format(" ({})", detail);
  if (!sqlstate.empty()) text += fmt::format(" [SQLSTATE {}]", sqlstate);
  int code = EIO;
  if (PQstatus(conn_) != CONNECTION_OK) {
    code = ENOTCONN;
    text += fmt::format(" [connection to {} lost]", display_url_);
  } else if (sqlstate == "42704") {
    code = ENOENT;  // undefined_object: replication slot "x" does not exist
  } else if (sqlstate == "55006") {
    code = EBUSY;  // object_in_use: replication slot "x" is active for PID n
  } else if (sqlstate == "42710") {
    code = EEXIST;  // duplicate_object
  } else if (sqlstate == "55000" &&
             (text.find("invalidated") != std::string::npos ||
              text.find("can no longer") != std::string::npos ||
              text.find("cannot read from logical replication slot") != std::string::npos)) {
    code = ESTALE;
  }
  return Status(code, text);
}

Result<std::unique_ptr<PGresult, void (*)(PGresult*)>> ReplicationConnection::Command(
    const std::string& sql, ExecStatusType want) {
  std::unique_ptr<PGresult, void (*)(PGresult*)> r(PQexec(conn_, sql.c_str()), PQclear);
  if (!r || PQresultStatus(r.get()) != want) {
    return ResultError(r.get(), sql.substr(0, sql.find(' ', sql.find(' ') + 1)));
  }
  return r;
}

Result<ReplicationConnection::SystemInfo> ReplicationConnection::IdentifySystem() {
  auto r = Command("IDENTIFY_SYSTEM", PGRES_TUPLES_OK);
  if (!r.ok()) return r.status();
  PGresult* res = r->get();
  if (PQntuples(res) != 1 || PQnfields(res) < 4) {
    return Status(EIO, "IDENTIFY_SYSTEM: unexpected result shape");
  }
  SystemInfo info;
  info.system_id = PQgetvalue(res, 0, 0);
  info.timeline = std::atoi(PQgetvalue(res, 0, 1));
  auto lsn = ParseLsn(PQgetvalue(res, 0, 2));
  if (!lsn.ok()) return lsn.status();
  info.xlogpos = *lsn;
  info.dbname = PQgetisnull(res, 0, 3) ? "" : PQgetvalue(res, 0, 3);
  return info;
}

Result<ReplicationConnection::CreatedSlot> ReplicationConnection::CreateSlot(const std::string& name,
                                                                             bool temporary) {
  std::string sql = fmt::format("CREATE_REPLICATION_SLOT {}{} LOGICAL pgoutput (SNAPSHOT 'nothing')",
                                QuoteIdent(name), temporary ? " TEMPORARY" : "");
  auto r = Command(sql, PGRES_TUPLES_OK);
  if (!r.ok()) return r.status();
  PGresult* res = r->get();
  if (PQntuples(res) != 1 || PQnfields(res) < 4) {
    return Status(EIO, "CREATE_REPLICATION_SLOT: unexpected result shape");
  }
  CreatedSlot s;
  s.name = PQgetvalue(res, 0, 0);
  auto lsn = ParseLsn(PQgetvalue(res, 0, 1));
  if (!lsn.ok()) return lsn.status();
  s.consistent_point = *lsn;
  s.plugin = PQgetisnull(res, 0, 3) ? "" : PQgetvalue(res, 0, 3);
  return s;
}

Status ReplicationConnection::DropSlot(const std::string& name) {
  return Command(fmt::format("DROP_REPLICATION_SLOT {}", QuoteIdent(name)), PGRES_COMMAND_OK)
      .status();
}

Status ReplicationConnection::StartReplication(const std::string& slot, Lsn start,
                                               const StartReplicationOptions& o) {
  std::string pubs;
  for (size_t i = 0; i < o.publications.size(); ++i) {
    if (i > 0) pubs += ',';
    pubs += QuoteIdent(o.publications[i]);
  }
  std::string sql = fmt::format(
      "START_REPLICATION SLOT {} LOGICAL {} (\"proto_version\" '{}', \"publication_names\" {}{}{})",
      QuoteIdent(slot), FormatLsn(start), o.proto_version, QuoteLiteral(pubs),
      o.binary ? ", \"binary\" 'true'" : "", o.messages ? ", \"messages\" 'true'" : "");
  Logger("cdc")->debug("{}", sql);
  auto r = Command(sql, PGRES_COPY_BOTH);
  if (!r.ok()) return r.status();
  if (PQsetnonblocking(conn_, 1) != 0) {
    return Status(EIO, fmt::format("PQsetnonblocking: {}", OneLine(PQerrorMessage(conn_))));
  }
  return Status::Ok();
}

Result<ReplicationConnection::ReadState> ReplicationConnection::ReadFrame(std::string_view* frame) {
  if (buf_) {
    PQfreemem(buf_);
    buf_ = nullptr;
  }
  int n = PQgetCopyData(conn_, &buf_, /*async=*/1);
  if (n == 0) {
    if (!PQconsumeInput(conn_)) {
      return Status(ENOTCONN, fmt::format("replication stream from {} broke: {}", display_url_,
                                          OneLine(PQerrorMessage(conn_))));
    }
    n = PQgetCopyData(conn_, &buf_, 1);
    if (n == 0) return ReadState::kWouldBlock;
  }
  if (n > 0) {
    *frame = std::string_view(buf_, static_cast<size_t>(n));
    return ReadState::kFrame;
  }
  if (n == -1) {
    // The server ended the COPY: the result carries its reason (an error, or a clean end).
    std::unique_ptr<PGresult, void (*)(PGresult*)> r(PQgetResult(conn_), PQclear);
    if (r && PQresultStatus(r.get()) == PGRES_FATAL_ERROR) {
      return ResultError(r.get(), "replication stream ended by the server");
    }
    return Status(ENOTCONN, fmt::format("replication stream from {} ended by the server",
                                        display_url_));
  }
  return Status(ENOTCONN, fmt::format("replication stream from {} broke: {}", display_url_,
                                      OneLine(PQerrorMessage(conn_))));
}

Status ReplicationConnection::SendStatus(Lsn write, Lsn flush, Lsn apply, bool reply_requested) {
  std::string msg = StandbyStatusUpdate(write, flush, apply, NowPgMicros(), reply_requested);
  int r = PQputCopyData(conn_, msg.data(), static_cast<int>(msg.size()));
  if (r < 0) {
    return Status(ENOTCONN, fmt::format("sending a status update to {}: {}", display_url_,
                                        OneLine(PQerrorMessage(conn_))));
  }
  if (r == 0) {
    // Non-blocking and the buffer is full: flush and try once more.
    if (auto f = Flush(); !f.ok()) return f.status();
    if (PQputCopyData(conn_, msg.data(), static_cast<int>(msg.size())) != 1) {
      return Status(EAGAIN, "status update not queued: libpq output buffer full");
    }
  }
  return Flush().status();
}

Result<bool> ReplicationConnection::Flush() {
  int r = PQflush(conn_);
  if (r < 0) {
    return Status(ENOTCONN, fmt::format("sending to {}: {}", display_url_,
                                        OneLine(PQerrorMessage(conn_))));
  }
  return r == 0;
}

}  // namespace diskinv
