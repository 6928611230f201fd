// Helpers shared by the store_* and agent_* integration tests: a fresh migrated database on
// the test process's PostgreSQL, and snapshots of the observed tables to prove "no write".
#pragma once

#include <cstdlib>
#include <map>
#include <memory>
#include <string>
#include <tuple>

#include <gtest/gtest.h>

#include "store/migrations.h"
#include "store/pg_connection.h"
#include "support/pg_cluster.h"

namespace diskinv::testing {

// Skips (outside CI only) when no PostgreSQL can be started here; else `url` is a fresh,
// empty database `name` (not migrated).
#define REQUIRE_DATABASE(url, name)                                                 \
  auto cluster_##url = ::diskinv::testing::SharedPgCluster();                       \
  if (!cluster_##url.ok()) {                                                        \
    if (std::getenv("CI")) FAIL() << cluster_##url.status().message();              \
    GTEST_SKIP() << "no PostgreSQL (set CI to fail instead): "                      \
                 << cluster_##url.status().message();                               \
  }                                                                                 \
  auto url##_r = ::diskinv::testing::FreshDatabase(**cluster_##url, name);          \
  ASSERT_TRUE(url##_r.ok()) << url##_r.status().message();                          \
  const std::string url = *url##_r

// As REQUIRE_DATABASE, then migrated to the latest schema.
#define REQUIRE_MIGRATED_DATABASE(url, name)                                        \
  REQUIRE_DATABASE(url, name);                                                      \
  {                                                                                 \
    auto c_ = PgConnection::Connect(url);                                           \
    ASSERT_TRUE(c_.ok()) << c_.status().message();                                  \
    auto m_ = Migrate(**c_);                                                        \
    ASSERT_TRUE(m_.ok()) << m_.status().message();                                  \
  }

inline std::unique_ptr<PgConnection> MustConnect(const std::string& url) {
  auto c = PgConnection::Connect(url);
  EXPECT_TRUE(c.ok()) << c.status().message();
  return c.ok() ? std::move(*c) : nullptr;
}

// Every row of the observed tables by (table, id): its tuple id (xmin, ctid) and generation.
// Any UPDATE, even one that changes nothing visible, makes a new tuple; equal snapshots mean
// nothing was written.
using TableSnapshot = std::map<std::pair<std::string, std::string>, std::string>;
inline TableSnapshot Snapshot(PgConnection& c) {
  TableSnapshot out;
  for (const char* t : {"disk", "partition", "holder", "identity_conflict"}) {
    auto r = c.Exec(std::string("SELECT id::text, xmin::text || '/' || ctid::text || '/' || "
                                "generation::text FROM diskinv.") + t);
    EXPECT_TRUE(r.ok()) << r.status().message();
    if (!r.ok()) continue;
    for (int i = 0; i < r->rows(); ++i) out[{t, r->Str(i, 0)}] = r->Str(i, 1);
  }
  return out;
}

inline int64_t Count(PgConnection& c, const std::string& sql) {
  auto r = c.Exec(sql);
  EXPECT_TRUE(r.ok()) << sql << ": " << r.status().message();
  return r.ok() && r->rows() > 0 ? r->Int(0, 0) : -1;
}

inline std::string One(PgConnection& c, const std::string& sql) {
  auto r = c.Exec(sql);
  EXPECT_TRUE(r.ok()) << sql << ": " << r.status().message();
  return r.ok() && r->rows() > 0 ? r->Str(0, 0) : "<no row>";
}

}  // namespace diskinv::testing
