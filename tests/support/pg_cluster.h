// PgCluster: a private PostgreSQL 15 for tests (Debian package postgresql-15).
//
// Start() runs initdb in a fresh directory and starts `postgres` in the foreground as a child:
// wal_level=logical (CDC tests), fsync=off (speed; the data is thrown away), trust auth, a unix
// socket in the directory and 127.0.0.1 on a free port. postgres refuses to run as root, so as
// root both run as the system user `diskinv-test` (created with useradd when missing).
// Stop() is a fast shutdown (SIGINT) of the postmaster by its pid; Start() again reuses the
// data and the port (tests of "the database went away"). The destructor stops it and removes
// the directory unless `keep`.
//
// From a shell: PgClusterMain backs a tiny tool (`start [DIR]` prints export lines and leaves
// the server running, `stop DIR` stops it by the pid in DIR/data/postmaster.pid).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <memory>
#include <string>

#include "common/status.h"

namespace diskinv::testing {

struct PgClusterOptions {
  std::string bin_dir;  // empty: $DISKINV_PG_BINDIR, else /usr/lib/postgresql/15/bin
  std::string dir;      // empty: a new /tmp/diskinv-pg.XXXXXX
  std::string user = "diskinv-test";  // the server's user when we are root
  bool tcp = true;      // also listen on 127.0.0.1:port
  bool keep = false;    // leave the directory (and, for the shell tool, the server) behind
  std::chrono::milliseconds start_timeout{30000};
};

class PgCluster {
 public:
  // Fails with the reason (binaries missing: "install postgresql-15"; initdb or start failed:
  // the tail of the log) so that tests can skip outside CI.
  static Result<std::unique_ptr<PgCluster>> Create(PgClusterOptions options = {});
  ~PgCluster();
  PgCluster(const PgCluster&) = delete;
  PgCluster& operator=(const PgCluster&) = delete;

  Status Start();  // idempotent; waits until postmaster.pid says "ready"
  Status Stop();   // SIGINT, then SIGQUIT after 20 s; idempotent
  bool running() const { return pid_ > 0; }

  // postgresql://postgres@/postgres?host=DIR&port=PORT (unix socket), database `db`.
  std::string url(const std::string& db = "postgres") const;
  std::string tcp_url(const std::string& db = "postgres") const;  // 127.0.0.1:PORT
  const std::string& dir() const { return dir_; }
  int port() const { return port_; }
  pid_t pid() const { return pid_; }
  std::string log_file() const { return dir_ + "/postgres.log"; }
  // Runs SQL with psql as the superuser (creating test databases, say); stdout+stderr in `out`.
  Status Psql(const std::string& sql, const std::string& db = "postgres",
              std::string* out = nullptr) const;
  // Stops at once and leaves a shell-started server alone on destruction.
  void Detach() { detached_ = true; }

 private:
  explicit PgCluster(PgClusterOptions o) : opt_(std::move(o)) {}
  Status Init();
  PgClusterOptions opt_;
  std::string dir_, bin_;
  uid_t uid_ = 0;
  gid_t gid_ = 0;
  bool as_user_ = false;
  int port_ = 0;
  pid_t pid_ = 0;
  bool detached_ = false;
};

// One cluster per test process, started on first use and stopped at exit; the error is kept
// and returned again to every later caller.
Result<PgCluster*> SharedPgCluster();
// Drops (if it exists) and creates database `name` on `c`; returns its unix-socket URL.
Result<std::string> FreshDatabase(const PgCluster& c, const std::string& name);

// `diskinv-pgcluster start [DIR]` / `stop DIR` / `url DIR`; returns the exit code.
int PgClusterMain(int argc, char** argv);

}  // namespace diskinv::testing
