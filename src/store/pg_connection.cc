#include "store/pg_connection.h"

#include <fmt/format.h>

#include <cerrno>
#include <charconv>

#include "common/logging.h"

namespace diskinv {
// libpq messages end in a newline and sometimes carry "DETAIL:" lines: keep one line each.
std::string OneLine(const char* msg) {
  std::string s = msg ? msg : "";
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  for (char& c : s) {
    if (c == '\n') c = ' ';
  }
  return s;
}

std::optional<std::string_view> PgResult::Get(int row, int col) const {
  if (PQgetisnull(r_.get(), row, col)) return std::nullopt;
  return std::string_view(PQgetvalue(r_.get(), row, col),
                          static_cast<size_t>(PQgetlength(r_.get(), row, col)));
}

int PgResult::Col(std::string_view name) const {
  for (int c = 0; c < cols(); ++c) {
    if (this->name(c) == name) return c;
  }
  return -1;
}

int64_t PgResult::Int(int row, int col) const {
  std::string_view v = Get(row, col).value_or("0");
  int64_t out = 0;
  std::from_chars(v.data(), v.data() + v.size(), out);
  return out;
}

uint64_t PgResult::affected() const {
  const char* n = PQcmdTuples(r_.get());
  return n && *n ? std::strtoull(n, nullptr, 10) : 0;
}

std::string RedactUrl(std::string_view url) {
  if (url.empty()) return "(libpq defaults)";
  std::string s(url);
  if (s.starts_with("postgresql://") || s.starts_with("postgres://")) {
    size_t scheme = s.find("://") + 3;
    size_t at = s.find('@', scheme);
    size_t colon = s.find(':', scheme);
    if (at != std::string::npos && colon != std::string::npos && colon < at) {
      s.replace(colon + 1, at - colon - 1, "***");
    }
  }
  for (std::string_view key : {"password=", "?password=", "&password="}) {
    size_t p = s.find(key);
    if (p == std::string::npos) continue;
    size_t start = p + key.size();
    size_t end = s.find_first_of(" &", start);
    s.replace(start, end == std::string::npos ? std::string::npos : end - start, "***");
  }
  return s;
}

std::string PgArray(const std::vector<std::optional<std::string>>& values) {
  std::string out = "{";
  for (size_t i = 0; i < values.size(); ++i) {
    if (i > 0) out += ',';
    if (!values[i]) {
      out += "NULL";
      continue;
    }
    out += '"';
    for (char c : *values[i]) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    out += '"';
  }
  out += '}';
  return out;
}

Result<std::unique_ptr<PgConnection>> PgConnection::Connect(const std::string& url,
                                                            int connect_timeout_s) {
  std::string timeout = std::to_string(connect_timeout_s);
  // dbname comes last so that what the URL says overrides these defaults.
  const char* keys[] = {"connect_timeout", "fallback_application_name", "dbname", nullptr};
  const char* vals[] = {timeout.c_str(), "diskinv", url.c_str(), nullptr};
  PGconn* c = PQconnectdbParams(keys, vals, /*expand_dbname=*/1);
  std::string display = RedactUrl(url);
  if (c == nullptr) return Status(ENOMEM, "libpq: out of memory");
  if (PQstatus(c) != CONNECTION_OK) {
    std::string msg = OneLine(PQerrorMessage(c));
    PQfinish(c);
    return Status(ENOTCONN, fmt::format("cannot connect to PostgreSQL at {}: {}", display, msg));
  }
  // Quiet NOTICEs ("schema already exists, skipping") instead of libpq printing them to stderr.
  PQsetNoticeProcessor(
      c, [](void*, const char* m) { Logger("store")->debug("postgres: {}", OneLine(m)); }, nullptr);
  return std::unique_ptr<PgConnection>(new PgConnection(c, std::move(display)));
}

PgConnection::~PgConnection() { PQfinish(conn_); }

Status PgConnection::EnsureConnected() {
  if (PQstatus(conn_) == CONNECTION_OK) return Status::Ok();
  PQreset(conn_);
  prepared_.clear();
  if (PQstatus(conn_) == CONNECTION_OK) {
    Logger("store")->info("reconnected to {}", display_url_);
    return Status::Ok();
  }
  return Status(ENOTCONN, fmt::format("cannot connect to PostgreSQL at {}: {}", display_url_,
                                      OneLine(PQerrorMessage(conn_))));
}

Result<PgResult> PgConnection::Check(PGresult* r, std::string_view what) {
  ExecStatusType st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
  if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) return PgResult(r);
  std::string msg = OneLine(r ? PQresultErrorMessage(r) : PQerrorMessage(conn_));
  if (msg.empty()) msg = OneLine(PQerrorMessage(conn_));
  const char* state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : nullptr;
  if (r) PQclear(r);
  bool down = PQstatus(conn_) != CONNECTION_OK;
  std::string text = state ? fmt::format("{}: {} (SQLSTATE {})", what, msg, state)
                           : fmt::format("{}: {}", what, msg);
  if (down) text += fmt::format(" [connection to {} lost]", display_url_);
  return Status(down ? ENOTCONN : EIO, text);
}

Result<PgResult> PgConnection::Exec(std::string_view sql) {
  std::string s(sql);
  return Check(PQexec(conn_, s.c_str()), "query failed");
}

namespace {
std::vector<const char*> Pointers(const PgParams& params) {
  std::vector<const char*> p;
  p.reserve(params.size());
  for (const auto& v : params) p.push_back(v ? v->c_str() : nullptr);
  return p;
}
}  // namespace

Result<PgResult> PgConnection::Exec(const std::string& sql, const PgParams& params) {
  auto p = Pointers(params);
  return Check(PQexecParams(conn_, sql.c_str(), static_cast<int>(p.size()), nullptr, p.data(),
                            nullptr, nullptr, 0),
               "query failed");
}

Status PgConnection::Prepare(const std::string& name, const std::string& sql) {
  if (prepared_.contains(name)) return Status::Ok();
  auto r = Check(PQprepare(conn_, name.c_str(), sql.c_str(), 0, nullptr),
                 fmt::format("prepare {}", name));
  if (!r.ok()) return r.status();
  prepared_.insert(name);
  return Status::Ok();
}

Result<PgResult> PgConnection::ExecPrepared(const std::string& name, const std::string& sql,
                                            const PgParams& params) {
  if (Status s = Prepare(name, sql); !s.ok()) return s;
  auto p = Pointers(params);
  return Check(PQexecPrepared(conn_, name.c_str(), static_cast<int>(p.size()), p.data(), nullptr,
                              nullptr, 0),
               name);
}

Status PgConnection::ExecPreparedEach(const std::string& name, const std::string& sql,
                                      const PgParams& params,
                                      const std::function<void(const PgResult& rows)>& each) {
  if (Status s = Prepare(name, sql); !s.ok()) return s;
  auto p = Pointers(params);
  if (PQsendQueryPrepared(conn_, name.c_str(), static_cast<int>(p.size()), p.data(), nullptr,
                          nullptr, 0) == 0) {
    return Check(nullptr, name).status();
  }
  // Without single-row mode (it can only fail right after the send) the rows come in one
  // result: the same rows, more memory.
  (void)PQsetSingleRowMode(conn_);
  Status status = Status::Ok();
  // Every result is read, also after an error: libpq needs the connection drained.
  while (PGresult* r = PQgetResult(conn_)) {
    ExecStatusType st = PQresultStatus(r);
    if (st == PGRES_SINGLE_TUPLE) {
      PgResult row(r);
      if (status.ok()) each(row);
    } else if (auto c = Check(r, name); c.ok()) {
      if (status.ok()) each(*c);  // PGRES_TUPLES_OK: no rows (or all, without single-row mode)
    } else if (status.ok()) {
      status = c.status();
    }
  }
  return status;
}

}  // namespace diskinv
