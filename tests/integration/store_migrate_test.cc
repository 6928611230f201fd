// Schema migrations and connection errors against a real PostgreSQL 15 (tests/support/pg_cluster).
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "store/inventory_store.h"
#include "store/migrations.h"
#include "store_test_support.h"
#include "support/lsblk_compare.h"
#include "support/pg_cluster.h"

namespace diskinv {
namespace {

using testing::DiskinvBinary;
using testing::RunCommand;
using testing::ShellQuote;

using testing::MustConnect;

TEST(StoreMigrate, TwiceIsIdempotent) {
  REQUIRE_DATABASE(url, "migrate_twice");
  auto c = MustConnect(url);
  ASSERT_TRUE(c);
  auto before = GetSchemaStatus(*c);
  ASSERT_TRUE(before.ok()) << before.status().message();
  EXPECT_EQ(before->current, 0);
  EXPECT_EQ(before->pending.size(), EmbeddedMigrations().size());
  auto first = Migrate(*c);
  ASSERT_TRUE(first.ok()) << first.status().message();
  EXPECT_EQ(first->size(), EmbeddedMigrations().size());
  auto second = Migrate(*c);
  ASSERT_TRUE(second.ok()) << second.status().message();
  EXPECT_TRUE(second->empty());
  auto after = GetSchemaStatus(*c);
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->current, LatestSchemaVersion());
  EXPECT_TRUE(after->pending.empty());
  EXPECT_TRUE(after->problems.empty());
  auto n = c->Exec("SELECT count(*) FROM diskinv.schema_migration");
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(n->Int(0, 0), static_cast<int64_t>(EmbeddedMigrations().size()));
}

TEST(StoreMigrate, ConcurrentRunsApplyEachMigrationOnce) {
  REQUIRE_DATABASE(url, "migrate_concurrent");
  constexpr int kRunners = 4;
  std::atomic<int> applied{0}, failed{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kRunners; ++i) {
    threads.emplace_back([&] {
      auto c = PgConnection::Connect(url);
      if (!c.ok()) {
        ++failed;
        return;
      }
      auto r = Migrate(**c);
      if (!r.ok()) {
        ADD_FAILURE() << r.status().message();
        ++failed;
        return;
      }
      applied += static_cast<int>(r->size());
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failed.load(), 0);
  EXPECT_EQ(applied.load(), static_cast<int>(EmbeddedMigrations().size()));
}

TEST(StoreMigrate, DbCommandMigratesAndReports) {
  REQUIRE_DATABASE(url, "migrate_cli");
  std::string bin = ShellQuote(DiskinvBinary()) + " db ";
  std::string arg = " --database-url " + ShellQuote(url) + " 2>&1";
  int rc = -1;
  std::string out = RunCommand(bin + "status" + arg, &rc);
  EXPECT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("schema version: 0"), std::string::npos) << out;
  EXPECT_NE(out.find("pending:        1 schema"), std::string::npos) << out;
  out = RunCommand(bin + "migrate" + arg, &rc);
  EXPECT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("applied migration 1"), std::string::npos) << out;
  out = RunCommand(bin + "migrate" + arg, &rc);
  EXPECT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("up to date"), std::string::npos) << out;
  out = RunCommand(bin + "status" + arg, &rc);
  EXPECT_NE(out.find("pending:        none"), std::string::npos) << out;
  out = RunCommand(bin + "frobnicate" + arg, &rc);
  EXPECT_EQ(rc, 2) << out;
}

TEST(StoreMigrate, DatabaseDownIsAClearErrorWithoutThePassword) {
  // A port nobody listens on: the same error as a stopped server.
  std::string url = "postgresql://diskinv:s3cret@127.0.0.1:1/inventory";
  auto c = PgConnection::Connect(url, 2);
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("cannot connect to PostgreSQL at "
                                      "postgresql://diskinv:***@127.0.0.1:1/inventory: "),
            std::string::npos)
      << c.status().message();
  EXPECT_NE(c.status().message().find("refused"), std::string::npos) << c.status().message();
  EXPECT_EQ(c.status().message().find("s3cret"), std::string::npos);
  int rc = -1;
  std::string out = RunCommand(
      ShellQuote(DiskinvBinary()) + " db status --database-url " + ShellQuote(url) + " 2>&1", &rc);
  EXPECT_EQ(rc, 1) << out;
  EXPECT_NE(out.find("diskinv db status: cannot connect to PostgreSQL at"), std::string::npos)
      << out;
  EXPECT_EQ(out.find("s3cret"), std::string::npos) << out;
  EXPECT_EQ(RedactUrl("host=/run/pg password=x user=u"), "host=/run/pg password=*** user=u");
}

TEST(StoreMigrate, StoreRefusesAnUnmigratedDatabase) {
  REQUIRE_DATABASE(url, "migrate_missing");
  auto s = InventoryStore::Connect(url);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("run `diskinv db migrate`"), std::string::npos)
      << s.status().message();
}

// Stops a dedicated server under a connected store: errors, not crashes; reconnects after.
TEST(StoreMigrate, ServerStoppedAndRestarted) {
  auto cluster = testing::PgCluster::Create();
  if (!cluster.ok()) {
    if (std::getenv("CI")) FAIL() << cluster.status().message();
    GTEST_SKIP() << "no PostgreSQL (set CI to fail instead): " << cluster.status().message();
  }
  std::string url = (*cluster)->url();
  {
    auto c = MustConnect(url);
    ASSERT_TRUE(c);
    ASSERT_TRUE(Migrate(*c).ok());
  }
  auto store = InventoryStore::Connect(url);
  ASSERT_TRUE(store.ok()) << store.status().message();
  auto node = (*store)->RegisterNode({"m-stop", "host-stop", "b1", "test"});
  ASSERT_TRUE(node.ok()) << node.status().message();
  Inventory inv;
  BlockDevice d;
  d.kname = d.name = "sda";
  d.devnum = {8, 0};
  d.wwn = "0x5000c500a1b2c3d4";
  inv.Add(d);
  ASSERT_TRUE((*cluster)->Stop().ok());
  auto down = (*store)->Sync(*node, inv);
  ASSERT_FALSE(down.ok());
  EXPECT_EQ(down.status().code(), ENOTCONN) << down.status().message();
  std::printf("  while stopped: %s\n", down.status().message().c_str());
  auto again = (*store)->Sync(*node, inv);  // still down: a second clear error
  ASSERT_FALSE(again.ok());
  EXPECT_NE(again.status().message().find("cannot connect to PostgreSQL at"), std::string::npos)
      << again.status().message();
  ASSERT_TRUE((*cluster)->Start().ok());
  auto up = (*store)->Sync(*node, inv);
  ASSERT_TRUE(up.ok()) << up.status().message();
  EXPECT_EQ(up->inserted, 1u);
}

// Rows handed over one at a time (single-row mode): all of them in order; an error in the
// middle of the result is returned after the rows before it, and the connection stays usable.
TEST(StoreMigrate, RowsOneAtATimeAndAnErrorHalfway) {
  REQUIRE_DATABASE(url, "rows_each");
  auto c = PgConnection::Connect(url);
  ASSERT_TRUE(c.ok()) << c.status().message();
  std::vector<int64_t> got;
  int max_rows = 0;
  Status s = (*c)->ExecPreparedEach("series", "SELECT g FROM generate_series(1, $1::int) g",
                                    {std::string("2500")}, [&](const PgResult& r) {
                                      max_rows = std::max(max_rows, r.rows());
                                      for (int i = 0; i < r.rows(); ++i) got.push_back(r.Int(i, 0));
                                    });
  ASSERT_TRUE(s.ok()) << s.message();
  ASSERT_EQ(got.size(), 2500u);
  for (size_t i = 0; i < got.size(); ++i) ASSERT_EQ(got[i], static_cast<int64_t>(i + 1));
  EXPECT_EQ(max_rows, 1);  // never more than one row in memory
  got.clear();
  s = (*c)->ExecPreparedEach("div", "SELECT 10 / (5 - g) FROM generate_series(1, 9) g", {},
                             [&](const PgResult& r) {
                               for (int i = 0; i < r.rows(); ++i) got.push_back(r.Int(i, 0));
                             });
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("SQLSTATE 22012"), std::string::npos) << s.message();
  EXPECT_EQ(got, (std::vector<int64_t>{2, 3, 5, 10}));  // the rows before the error
  auto again = (*c)->ExecPrepared("series", "SELECT g FROM generate_series(1, $1::int) g",
                                  {std::string("3")});
  ASSERT_TRUE(again.ok()) << again.status().message();
  EXPECT_EQ(again->rows(), 3);
}

}  // namespace
}  // namespace diskinv
