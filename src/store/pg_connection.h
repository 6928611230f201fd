// PgConnection: one libpq connection with prepared statements, errors as Status values.
//
// Every statement runs in autocommit mode unless the caller sends BEGIN/COMMIT, so a single
// statement is a single transaction. Prepared statements are prepared on first use and again
// after a reconnect (a new server session has none). Messages carry the libpq text, the
// SQLSTATE and the URL with its password masked, never the password itself.
// Not thread-safe: one connection per thread.
#pragma once

#include <libpq-fe.h>

#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace diskinv {

using PgParams = std::vector<std::optional<std::string>>;  // text format; nullopt is NULL

// Owns one PGresult. Values are text; NULL is nullopt.
class PgResult {
 public:
  explicit PgResult(PGresult* r) : r_(r, PQclear) {}
  int rows() const { return PQntuples(r_.get()); }
  int cols() const { return PQnfields(r_.get()); }
  std::string_view name(int col) const { return PQfname(r_.get(), col); }
  Oid type(int col) const { return PQftype(r_.get(), col); }  // pg_type OID: 20 int8, 16 bool...
  int Col(std::string_view name) const;                       // -1 when absent
  std::optional<std::string_view> Get(int row, int col) const;
  std::string Str(int row, int col) const { return std::string(Get(row, col).value_or("")); }
  int64_t Int(int row, int col) const;
  uint64_t affected() const;  // rows changed by INSERT/UPDATE/DELETE
  int columns() const { return PQnfields(r_.get()); }
  std::string ColumnName(int col) const { return PQfname(r_.get(), col); }
  uint32_t ColumnType(int col) const { return PQftype(r_.get(), col); }

 private:
  std::shared_ptr<PGresult> r_;
};

class PgConnection {
 public:
  // `url`: a postgresql:// URL or key=value conninfo; empty means libpq defaults (PGHOST, ...).
  static Result<std::unique_ptr<PgConnection>> Connect(const std::string& url,
                                                       int connect_timeout_s = 5);
  ~PgConnection();
  PgConnection(const PgConnection&) = delete;
  PgConnection& operator=(const PgConnection&) = delete;

  // A simple query; may hold several statements (used for migrations and BEGIN/COMMIT).
  Result<PgResult> Exec(std::string_view sql);
  Result<PgResult> Exec(const std::string& sql, const PgParams& params);
  // Prepares `sql` as `name` on first use in this session, then executes it.
  Result<PgResult> ExecPrepared(const std::string& name, const std::string& sql,
                                const PgParams& params);
  // The same, handing the rows to `each` as they arrive (libpq's single-row mode: one small
  // PGresult at a time, not the whole result in memory). An error after some rows were handed
  // over is returned; the caller discards what it got.
  Status ExecPreparedEach(const std::string& name, const std::string& sql, const PgParams& params,
                          const std::function<void(const PgResult& rows)>& each);

  // Reconnects when the connection broke (server restart); OK when it is (again) usable.
  Status EnsureConnected();
  bool connected() const { return PQstatus(conn_) == CONNECTION_OK; }
  const std::string& display_url() const { return display_url_; }
  PGconn* raw() { return conn_; }

 private:
  PgConnection(PGconn* c, std::string display) : conn_(c), display_url_(std::move(display)) {}
  Result<PgResult> Check(PGresult* r, std::string_view what);
  Status Prepare(const std::string& name, const std::string& sql);  // once per session

  PGconn* conn_;
  std::string display_url_;
  std::set<std::string> prepared_;
};

// A libpq message on one line (trailing newline dropped, DETAIL lines joined).
std::string OneLine(const char* msg);

// The URL or conninfo with its password replaced by "***" ("(libpq defaults)" when empty).
std::string RedactUrl(std::string_view url);

// Text-format PostgreSQL array literal of `values` ({"a","b",NULL}), for unnest($1::text[]).
std::string PgArray(const std::vector<std::optional<std::string>>& values);

}  // namespace diskinv
