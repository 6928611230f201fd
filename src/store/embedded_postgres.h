// EmbeddedPostgres: a private PostgreSQL server in a state directory, for `diskinv up` on a
// machine without a database of its own.
//
// Layout of the state directory:
//   pgdata/        the cluster (initdb on first use: UTF8, no locale, local trust, TCP
//                  scram-sha-256 with the password in `password`), owned by the server user
//   run/           the unix socket (mode 0700: only the server user and root reach it)
//   password       the password of role `diskinv` for TCP logins (0600)
//   postgres.log   the server's output
// The server listens on the socket in run/ and on 127.0.0.1:port only, with wal_level=logical
// (the CDC consumer) and fsync on (the data is meant to stay). postgres refuses to run as root:
// as root it runs as the system user `user` (created with useradd when missing). A server
// already running on the same pgdata (a second `diskinv up`) is reused and left running.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <memory>
#include <string>

#include "common/status.h"

namespace diskinv {

struct EmbeddedPostgresOptions {
  std::string state_dir;  // required
  std::string bin_dir;    // empty: $DISKINV_PG_BINDIR, else /usr/lib/postgresql/<newest>/bin
  std::string user = "diskinv";  // the server's user when we are root
  int port = 55432;              // 127.0.0.1 and the socket name (.s.PGSQL.<port>)
  std::string database = "diskinv";  // created when missing
  std::chrono::seconds start_timeout{60};
};

class EmbeddedPostgres {
 public:
  static Result<std::unique_ptr<EmbeddedPostgres>> Start(const EmbeddedPostgresOptions& options);
  ~EmbeddedPostgres();  // Stop()
  EmbeddedPostgres(const EmbeddedPostgres&) = delete;
  EmbeddedPostgres& operator=(const EmbeddedPostgres&) = delete;

  // Fast shutdown (SIGINT, SIGQUIT after 30 s) of a server this object started; else nothing.
  Status Stop();

  // postgresql://diskinv@/DB?host=STATE/run&port=PORT (the unix socket; no password needed).
  std::string url() const;
  std::string log_file() const { return opt_.state_dir + "/postgres.log"; }
  std::string version() const { return version_; }  // "15"
  bool started_by_us() const { return pid_ > 0; }
  bool initialized_now() const { return initialized_; }

 private:
  explicit EmbeddedPostgres(EmbeddedPostgresOptions o) : opt_(std::move(o)) {}
  Status Prepare();
  Status Init();
  Status Launch();
  Status CreateDatabase();

  EmbeddedPostgresOptions opt_;
  std::string bin_, version_;
  bool as_user_ = false;
  uid_t uid_ = 0;
  gid_t gid_ = 0;
  pid_t pid_ = 0;
  bool initialized_ = false;
};

}  // namespace diskinv
