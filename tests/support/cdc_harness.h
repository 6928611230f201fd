// Shared setup of the CDC and reconciliation integration tests: a migrated database on the
// test process's private PostgreSQL (PgCluster), helpers to run SQL and the diskinv binary,
// and polling with a deadline (asynchronous pipelines are observed, never slept on blindly).
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "store/pg_connection.h"
#include "support/child_process.h"
#include "support/pg_cluster.h"

namespace diskinv::testing {

struct CdcDatabase {
  PgCluster* cluster = nullptr;
  std::string url;
  std::unique_ptr<PgConnection> conn;
  // Runs `sql` (may hold several statements); the message of a failure, "" on success.
  std::string Exec(const std::string& sql);
  // The first column of the first row ("" when no row; "ERROR: ..." on failure).
  std::string Scalar(const std::string& sql);
  int64_t Int(const std::string& sql);
};

// A fresh database `name`, migrated to the latest schema. Error: no PostgreSQL here.
Result<CdcDatabase> MakeCdcDatabase(const std::string& name);

// Polls `done` every 20 ms until it is true or `timeout` passed; returns the last value.
bool WaitFor(const std::function<bool()>& done, std::chrono::milliseconds timeout);

// `diskinv ARGS... --database-url URL` in the foreground: its output (stdout+stderr) and code.
std::string Diskinv(const std::string& url, const std::string& args, int* exit_code);
// The same in the background.
std::unique_ptr<ChildProcess> DiskinvBackground(const std::string& url,
                                                const std::vector<std::string>& args,
                                                const std::vector<std::string>& env = {});

}  // namespace diskinv::testing

// Skips (outside CI only) when no PostgreSQL can be started here; else `db` is ready.
#define REQUIRE_CDC_DATABASE(db, name)                                              \
  auto db##_r = diskinv::testing::MakeCdcDatabase(name);                            \
  if (!db##_r.ok()) {                                                               \
    if (std::getenv("CI")) FAIL() << db##_r.status().message();                     \
    GTEST_SKIP() << "no PostgreSQL (set CI to fail instead): "                      \
                 << db##_r.status().message();                                      \
  }                                                                                 \
  diskinv::testing::CdcDatabase& db = *db##_r
