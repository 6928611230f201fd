// Per-node roles, row-level security (migration 0003), TLS with sslmode=verify-full and password
// files, against a dedicated PostgreSQL 15 configured like a deployment: TLS from a private CA
// made here with openssl, SCRAM passwords over TCP, no unencrypted TCP, every statement logged
// (so the test can show that no secret reaches a log).
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <libpq-fe.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <sstream>
#include <string>
#include <tuple>

#include "model/inventory.h"
#include "store/inventory_store.h"
#include "store/migrations.h"
#include "support/lsblk_compare.h"
#include "support/pg_cluster.h"

namespace diskinv {
namespace {

namespace fs = std::filesystem;
using testing::DiskinvBinary;
using testing::RunCommand;
using testing::ShellQuote;

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void WriteFile(const std::string& path, const std::string& text, mode_t mode) {
  std::ofstream(path) << text;
  chmod(path.c_str(), mode);
}

// Files the server reads must belong to its user (diskinv-test when we are root).
void GiveToServer(const std::string& path) {
  if (geteuid() != 0) return;
  const passwd* pw = getpwnam("diskinv-test");
  if (pw != nullptr) (void)chown(path.c_str(), pw->pw_uid, pw->pw_gid);
}

BlockDevice Disk(const std::string& kname, uint32_t minor, const std::string& wwn) {
  BlockDevice d;
  d.kname = d.name = kname;
  d.devnum = {8, minor};
  d.wwn = wwn;
  d.size_bytes = 1ull << 30;
  return d;
}

class Security : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto c = testing::PgCluster::Create();
    if (!c.ok()) {
      setup_error_ = c.status().message();
      return;
    }
    cluster_ = std::move(*c).release();
    setup_error_ = Configure();
    if (setup_error_.empty()) setup_error_ = MakeDatabaseAndRoles();
  }
  static void TearDownTestSuite() {
    delete cluster_;
    cluster_ = nullptr;
    if (!saved_passfile_.empty()) setenv("PGPASSFILE", saved_passfile_.c_str(), 1);
  }

  void SetUp() override {
    if (!setup_error_.empty()) {
      if (std::getenv("CI")) FAIL() << setup_error_;
      GTEST_SKIP() << "no PostgreSQL with TLS here (set CI to fail instead): " << setup_error_;
    }
  }

  // openssl: a CA, a server certificate for DNS:localhost only (so 127.0.0.1 is a name
  // mismatch), and a second, unrelated CA. Then ssl=on, SCRAM, pg_hba without plain TCP.
  static std::string Configure() {
    const std::string d = cluster_->dir();
    tls_ = d + "/tls";
    fs::create_directories(tls_);
    std::string cmd = fmt::format(
        "set -e; cd {0}; "
        "openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj '/CN=diskinv test CA' "
        "-keyout ca.key -out ca.crt; "
        "openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj '/CN=other CA' "
        "-keyout other.key -out other.crt; "
        "openssl req -newkey rsa:2048 -nodes -subj '/CN=localhost' -keyout server.key "
        "-out server.csr; "
        "printf 'subjectAltName=DNS:localhost\\n' > san.ext; "
        "openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 "
        "-extfile san.ext -out server.crt",
        ShellQuote(tls_));
    int rc = -1;
    std::string out = RunCommand("(" + cmd + ") 2>&1", &rc);
    if (rc != 0) return "openssl failed: " + out;
    chmod((tls_ + "/server.key").c_str(), 0600);
    GiveToServer(tls_ + "/server.key");
    WriteFile(cluster_->dir() + "/data/pg_hba.conf",
              "local all all trust\n"
              "hostssl all all 127.0.0.1/32 scram-sha-256\n"
              "hostssl all all ::1/128 scram-sha-256\n"
              "hostnossl all all 0.0.0.0/0 reject\n"
              "hostnossl all all ::/0 reject\n",
              0600);
    GiveToServer(cluster_->dir() + "/data/pg_hba.conf");
    // One psql call each: ALTER SYSTEM cannot run inside the transaction of a multi-statement -c.
    for (const std::string& s :
         {fmt::format("ALTER SYSTEM SET ssl_cert_file = '{}/server.crt'", tls_),
          fmt::format("ALTER SYSTEM SET ssl_key_file = '{}/server.key'", tls_),
          std::string("ALTER SYSTEM SET ssl = on"),
          std::string("ALTER SYSTEM SET password_encryption = 'scram-sha-256'"),
          std::string("ALTER SYSTEM SET log_statement = 'all'"),
          std::string("ALTER SYSTEM SET log_connections = on"),
          std::string("SELECT pg_reload_conf()")}) {
      std::string psql_out;
      if (Status st = cluster_->Psql(s, "postgres", &psql_out); !st.ok()) return psql_out;
    }
    return "";
  }

  // A URL as a node would use it: TLS verified against our CA, the password from PGPASSFILE.
  static std::string NodeUrl(const std::string& role, const std::string& host = "localhost",
                             const std::string& ca = "") {
    return fmt::format("postgresql://{}@{}:{}/secdb?sslmode=verify-full&sslrootcert={}", role, host,
                       cluster_->port(), ca.empty() ? tls_ + "/ca.crt" : ca);
  }

  // Creates login role `role` with a SCRAM verifier computed here (libpq), so the password
  // itself never reaches the server or its log; adds it to the password file.
  static std::string MakeRole(PgConnection& admin, const std::string& role,
                              const std::string& password, const std::string& extra) {
    char* verifier =
        PQencryptPasswordConn(admin.raw(), password.c_str(), role.c_str(), "scram-sha-256");
    if (verifier == nullptr) return PQerrorMessage(admin.raw());
    std::string v = verifier;
    PQfreemem(verifier);
    auto r = admin.Exec(fmt::format(
        "DROP ROLE IF EXISTS {0}; CREATE ROLE {0} LOGIN {1} PASSWORD '{2}'", role, extra, v));
    if (!r.ok()) return r.status().message();
    std::ofstream(passfile_, std::ios::app)
        << fmt::format("localhost:{}:secdb:{}:{}\n", cluster_->port(), role, password);
    chmod(passfile_.c_str(), 0600);
    return "";
  }

  // Database secdb, migrated; roles node_a and node_b (enrolled as machine-a, machine-b) and
  // reconciler (controller); PGPASSFILE with their passwords. Every test of the suite uses them
  // (ctest runs each test in a process of its own).
  static std::string MakeDatabaseAndRoles() {
    auto db = testing::FreshDatabase(*cluster_, "secdb");
    if (!db.ok()) return db.status().message();
    admin_url_ = *db;
    auto admin = PgConnection::Connect(*db);
    if (!admin.ok()) return admin.status().message();
    if (auto m = Migrate(**admin); !m.ok()) return m.status().message();
    passfile_ = cluster_->dir() + "/pgpass";
    std::remove(passfile_.c_str());
    if (const char* p = std::getenv("PGPASSFILE")) saved_passfile_ = p;
    setenv("PGPASSFILE", passfile_.c_str(), 1);
    const std::tuple<const char*, const char*, const char*> roles[] = {
        {"node_a", kPasswordA, ""},
        {"node_b", kPasswordB, ""},
        {"reconciler", kPasswordCtl, "REPLICATION IN ROLE diskinv_controller"}};
    for (const auto& [role, pw, extra] : roles) {
      if (std::string e = MakeRole(**admin, role, pw, extra); !e.empty()) return e;
    }
    auto e = (*admin)->Exec(
        "SELECT diskinv.enroll_node('node_a', 'machine-a'); "
        "SELECT diskinv.enroll_node('node_b', 'machine-b')");
    return e.ok() ? "" : e.status().message();
  }

  // Secrets used below; the last test greps every log for them.
  static constexpr const char* kPasswordA = "pw-node-a-7f3a9c21e4";
  static constexpr const char* kPasswordB = "pw-node-b-0d6b8e55a1";
  static constexpr const char* kPasswordCtl = "pw-controller-c41d2e";

  static testing::PgCluster* cluster_;
  static std::string setup_error_, tls_, passfile_, saved_passfile_, admin_url_;
};

testing::PgCluster* Security::cluster_ = nullptr;
std::string Security::setup_error_, Security::tls_, Security::passfile_, Security::saved_passfile_,
    Security::admin_url_;

// The administrator's connection and both agents' stores, connected as their own roles, with
// their nodes registered.
struct TwoNodes {
  std::unique_ptr<PgConnection> admin;
  Result<std::unique_ptr<InventoryStore>> store_a = Status::Invalid("unset"),
                                          store_b = Status::Invalid("unset");
  Result<NodeRef> node_a = Status::Invalid("unset"), node_b = Status::Invalid("unset");
};

void ConnectTwoNodes(const std::string& admin_url, const std::string& url_a,
                     const std::string& url_b, TwoNodes& n) {
  auto admin_r = PgConnection::Connect(admin_url);
  ASSERT_TRUE(admin_r.ok()) << admin_r.status().message();
  n.admin = std::move(*admin_r);
  n.store_a = InventoryStore::Connect(url_a);
  ASSERT_TRUE(n.store_a.ok()) << n.store_a.status().message();
  n.store_b = InventoryStore::Connect(url_b);
  ASSERT_TRUE(n.store_b.ok()) << n.store_b.status().message();
  n.node_a = (*n.store_a)->RegisterNode({"machine-a", "host-a", "boot-a", "test"});
  ASSERT_TRUE(n.node_a.ok()) << n.node_a.status().message();
  n.node_b = (*n.store_b)->RegisterNode({"machine-b", "host-b", "boot-b", "test"});
  ASSERT_TRUE(n.node_b.ok()) << n.node_b.status().message();
}

TEST_F(Security, NodeCannotChangeAnotherNodesDisks) {
  // Both agents write their inventories through the real store, as their own roles.
  TwoNodes n;
  ConnectTwoNodes(admin_url_, NodeUrl("node_a"), NodeUrl("node_b"), n);
  if (HasFatalFailure()) return;
  PgConnection& admin = *n.admin;
  auto [store_a, store_b, node_a, node_b] = std::tie(n.store_a, n.store_b, n.node_a, n.node_b);
  Inventory inv_a, inv_b;
  inv_a.Add(Disk("sda", 0, "0x5000c500000000a1"));
  inv_b.Add(Disk("sda", 0, "0x5000c500000000b1"));
  inv_b.Add(Disk("sdb", 16, "0x5000c500000000b2"));
  auto wa = (*store_a)->Sync(*node_a, inv_a);
  ASSERT_TRUE(wa.ok()) << wa.status().message();
  EXPECT_EQ(wa->inserted, 1u);
  auto wb = (*store_b)->Sync(*node_b, inv_b);
  ASSERT_TRUE(wb.ok()) << wb.status().message();
  EXPECT_EQ(wb->inserted, 2u);
  auto again = (*store_b)->Sync(*node_b, inv_b);
  ASSERT_TRUE(again.ok()) << again.status().message();
  EXPECT_EQ(again->writes(), 0u);

  const std::string b = std::to_string(node_b->id), a = std::to_string(node_a->id);
  ASSERT_TRUE(admin
                  .Exec(fmt::format("INSERT INTO diskinv.holder (node_id, parent_uid, child_uid) "
                                    "VALUES ({}, 'wwn-b-parent', 'wwn-b-child')",
                                    b))
                  .ok());
  const std::string fingerprint_sql = fmt::format(
      "SELECT (SELECT md5(coalesce(string_agg(d::text, '|' ORDER BY id), '')) FROM diskinv.disk d "
      "WHERE node_id = {0}) || (SELECT md5(n::text) FROM diskinv.node n WHERE id = {0}) || "
      "(SELECT count(*) FROM diskinv.holder WHERE node_id = {0})::text || "
      "(SELECT count(*) FROM diskinv.disk)::text",
      b);
  auto before = admin.Exec(fingerprint_sql);
  ASSERT_TRUE(before.ok()) << before.status().message();
  auto b_uid =
      admin.Exec(fmt::format("SELECT uid FROM diskinv.disk WHERE node_id = {} ORDER BY id "
                             "LIMIT 1",
                             b));
  ASSERT_TRUE(b_uid.ok() && b_uid->rows() == 1);

  auto conn_r = PgConnection::Connect(NodeUrl("node_a"));
  ASSERT_TRUE(conn_r.ok()) << conn_r.status().message();
  PgConnection& as_a = **conn_r;
  auto denied = [&](const std::string& sql, const char* why) {
    auto r = as_a.Exec(sql);
    ASSERT_FALSE(r.ok()) << why << ": node A could run: " << sql;
    EXPECT_NE(r.status().message().find("SQLSTATE 42501"), std::string::npos)
        << why << ": " << r.status().message();
    std::printf("  refused (%s): %s\n", why, r.status().message().c_str());
  };
  auto zero_rows = [&](const std::string& sql, const char* why) {
    auto r = as_a.Exec(sql);
    ASSERT_TRUE(r.ok()) << why << ": " << r.status().message();
    EXPECT_EQ(r->affected(), 0u) << why << ": " << sql;
  };
  denied(fmt::format("INSERT INTO diskinv.disk (uid, node_id, kname, identity_source, etag) "
                     "VALUES ('evil', {}, 'sdz', 'wwn', 'x')",
                     b),
         "insert a disk for node B");
  denied(fmt::format("INSERT INTO diskinv.disk (uid, node_id, kname, identity_source, etag) "
                     "VALUES ('{}', {}, 'sdz', 'wwn', 'x') ON CONFLICT (uid) DO UPDATE SET "
                     "size_bytes = 1, node_id = {}",
                     b_uid->Str(0, 0), a, a),
         "upsert onto node B's disk");
  denied(fmt::format("UPDATE diskinv.disk SET node_id = {} WHERE node_id = {}", b, a),
         "hand own disk to node B");
  denied("DELETE FROM diskinv.disk", "delete disks");
  denied("TRUNCATE diskinv.disk", "truncate disks");
  denied(
      "INSERT INTO diskinv.node (machine_id, hostname) VALUES ('machine-b', 'evil') "
      "ON CONFLICT (machine_id) DO UPDATE SET hostname = 'evil'",
      "take over node B's row");
  denied("SET ROLE node_b", "become node B");
  denied("SELECT diskinv.enroll_node('node_a', 'machine-b')", "re-enroll as node B");
  denied("INSERT INTO diskinv.node_credential VALUES ('node_a', 'machine-c')",
         "forge a credential");
  denied("UPDATE diskinv.node_credential SET machine_id = 'machine-b'", "change own credential");
  zero_rows(fmt::format("UPDATE diskinv.disk SET size_bytes = 1 WHERE node_id = {}", b),
            "update node B's disks");
  zero_rows(fmt::format("UPDATE diskinv.partition SET size_bytes = 1 WHERE node_id = {}", b),
            "update node B's partitions");
  denied(fmt::format("DELETE FROM diskinv.holder WHERE node_id = {}", b),
         "delete node B's stacking edges");
  zero_rows(fmt::format("UPDATE diskinv.holder SET state = 'removed' WHERE node_id = {}", b),
            "tombstone node B's stacking edges");
  zero_rows("UPDATE diskinv.node SET hostname = 'evil' WHERE machine_id = 'machine-b'",
            "update node B's node row");
  // Reads: its own node and disks only.
  auto seen = as_a.Exec(
      "SELECT (SELECT count(*) FROM diskinv.disk), (SELECT count(*) FROM "
      "diskinv.node), (SELECT count(*) FROM diskinv.holder), "
      "(SELECT count(*) FROM diskinv.node_credential)");
  ASSERT_TRUE(seen.ok()) << seen.status().message();
  EXPECT_EQ(seen->Str(0, 0), "1");
  EXPECT_EQ(seen->Str(0, 1), "1");
  EXPECT_EQ(seen->Str(0, 2), "0");
  EXPECT_EQ(seen->Str(0, 3), "1");
  auto where =
      as_a.Exec(fmt::format("SELECT node_id, state FROM diskinv.disk_locations("
                            "ARRAY['{}'])",
                            b_uid->Str(0, 0)));
  ASSERT_TRUE(where.ok()) << where.status().message();
  ASSERT_EQ(where->rows(), 1);  // a disk A holds too would show up here as node B's
  EXPECT_EQ(where->Str(0, 0), b);

  // A's agent observing a disk that is present on B (a shared or cloned identifier): the store
  // cannot see or write B's row; whatever it reports, B's row stays as it was.
  Inventory inv_a_clash = inv_a;
  inv_a_clash.Add(Disk("sdq", 32, "0x5000c500000000b1"));
  auto clash = (*store_a)->Sync(*node_a, inv_a_clash);
  std::printf("  node A observing node B's present disk: %s\n",
              clash.ok() ? clash->Summary().c_str() : clash.status().message().c_str());

  // Nothing of node B changed.
  auto after = admin.Exec(fingerprint_sql);
  ASSERT_TRUE(after.ok()) << after.status().message();
  EXPECT_EQ(after->Str(0, 0), before->Str(0, 0));

  // A disk that moves from B to A: B tombstones it, A adopts the tombstone, same row.
  Inventory inv_b2;
  inv_b2.Add(Disk("sda", 0, "0x5000c500000000b1"));
  auto gone = (*store_b)->Sync(*node_b, inv_b2);
  ASSERT_TRUE(gone.ok()) << gone.status().message();
  EXPECT_EQ(gone->tombstoned, 1u);
  inv_a.Add(Disk("sdb", 16, "0x5000c500000000b2"));
  auto moved = (*store_a)->Sync(*node_a, inv_a);
  ASSERT_TRUE(moved.ok()) << moved.status().message();
  EXPECT_EQ(moved->moved, 1u);
  auto owner =
      admin.Exec("SELECT node_id, state FROM diskinv.disk WHERE wwn = '0x5000c500000000b2'");
  ASSERT_TRUE(owner.ok() && owner->rows() == 1);
  EXPECT_EQ(owner->Str(0, 0), a);
  EXPECT_EQ(owner->Str(0, 1), "present");

  // The controller reads every node's rows and writes none.
  auto ctl_r = PgConnection::Connect(NodeUrl("reconciler"));
  ASSERT_TRUE(ctl_r.ok()) << ctl_r.status().message();
  auto all = (*ctl_r)->Exec("SELECT count(*) FROM diskinv.disk");
  ASSERT_TRUE(all.ok()) << all.status().message();
  EXPECT_EQ(all->Str(0, 0), "3");
  auto write = (*ctl_r)->Exec("UPDATE diskinv.disk SET size_bytes = 1");
  ASSERT_FALSE(write.ok());
  EXPECT_NE(write.status().message().find("SQLSTATE 42501"), std::string::npos);
}

// A disk moved from node B to node A, and A's agent saw it before B's tombstoned it: A cannot
// read or write B's present row (row-level security), so its Sync writes everything else and
// holds that row back (diskinv.disk_locations() tells it is present on B), full or event-driven;
// once B has tombstoned it, A's next full Sync adopts the same row.
TEST_F(Security, DiskStillPresentOnItsOldNodeIsHeldBackNotAFailedSync) {
  TwoNodes n;
  ConnectTwoNodes(admin_url_, NodeUrl("node_a"), NodeUrl("node_b"), n);
  if (HasFatalFailure()) return;
  PgConnection& admin = *n.admin;
  auto [store_a, store_b, node_a, node_b] = std::tie(n.store_a, n.store_b, n.node_a, n.node_b);
  const std::string kMoving = "0x5000c5000000c0d1";
  Inventory inv_b;
  inv_b.Add(Disk("sdm", 64, kMoving));
  auto wb = (*store_b)->Sync(*node_b, inv_b);
  ASSERT_TRUE(wb.ok()) << wb.status().message();
  ASSERT_EQ(wb->inserted, 1u);
  const std::string row_sql = fmt::format(
      "SELECT id, node_id, state, kname, generation FROM diskinv.disk WHERE wwn = '{}'", kMoving);
  auto b_row = admin.Exec(row_sql);
  ASSERT_TRUE(b_row.ok() && b_row->rows() == 1);
  const std::string id = b_row->Str(0, 0), b = std::to_string(node_b->id),
                    a = std::to_string(node_a->id);

  // A sees the moved disk (as sdx) and a new one of its own.
  Inventory inv_a;
  inv_a.Add(Disk("sdw", 80, "0x5000c5000000c0d2"));
  inv_a.Add(Disk("sdx", 96, kMoving));
  auto full = (*store_a)->Sync(*node_a, inv_a);
  ASSERT_TRUE(full.ok()) << "a disk present on another node failed the whole sync: "
                         << full.status().message();
  std::printf("  node A, full sync, disk still present on B: %s\n", full->Summary().c_str());
  EXPECT_EQ(full->inserted, 1u);
  EXPECT_EQ(full->held_elsewhere, 1u);
  EXPECT_EQ(full->moved, 0u);
  auto own = admin.Exec(fmt::format(
      "SELECT count(*) FROM diskinv.disk WHERE node_id = {} AND wwn = '0x5000c5000000c0d2'", a));
  ASSERT_TRUE(own.ok());
  EXPECT_EQ(own->Str(0, 0), "1");
  // An event on that disk (event mode, from the mirror) is held back the same way.
  const std::vector<std::string> touched = {"sdx"};
  auto event = (*store_a)->Sync(*node_a, inv_a, &touched);
  ASSERT_TRUE(event.ok()) << event.status().message();
  EXPECT_EQ(event->held_elsewhere, 1u);
  EXPECT_EQ(event->writes(), 0u);
  // B's row is untouched: same node, state, name and generation.
  auto still = admin.Exec(row_sql);
  ASSERT_TRUE(still.ok() && still->rows() == 1);
  for (int c = 0; c < 5; ++c) EXPECT_EQ(still->Str(0, c), b_row->Str(0, c)) << "column " << c;

  // B's agent notices the disk is gone: tombstone. A's next full sync takes the same row over.
  auto gone = (*store_b)->Sync(*node_b, Inventory{});
  ASSERT_TRUE(gone.ok()) << gone.status().message();
  EXPECT_EQ(gone->tombstoned, 1u);
  auto moved = (*store_a)->Sync(*node_a, inv_a);
  ASSERT_TRUE(moved.ok()) << moved.status().message();
  std::printf("  node A, after B tombstoned it: %s\n", moved->Summary().c_str());
  EXPECT_EQ(moved->moved, 1u);
  EXPECT_EQ(moved->held_elsewhere, 0u);
  auto after = admin.Exec(row_sql);
  ASSERT_TRUE(after.ok() && after->rows() == 1);
  EXPECT_EQ(after->Str(0, 0), id) << "the disk kept its row";
  EXPECT_EQ(after->Str(0, 1), a);
  EXPECT_EQ(after->Str(0, 2), "present");
  EXPECT_EQ(after->Str(0, 3), "sdx");
  auto quiet = (*store_a)->Sync(*node_a, inv_a);
  ASSERT_TRUE(quiet.ok()) << quiet.status().message();
  EXPECT_EQ(quiet->writes(), 0u);
}

TEST_F(Security, TlsVerifyFullAgainstThePrivateCa) {
  auto ok = PgConnection::Connect(NodeUrl("node_a"));
  ASSERT_TRUE(ok.ok()) << ok.status().message();
  auto ssl = (*ok)->Exec("SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()");
  ASSERT_TRUE(ssl.ok()) << ssl.status().message();
  EXPECT_EQ(ssl->Str(0, 0), "t");
  std::printf("  verify-full: %s\n", ssl->Str(0, 1).c_str());

  auto other_ca = PgConnection::Connect(NodeUrl("node_a", "localhost", tls_ + "/other.crt"));
  ASSERT_FALSE(other_ca.ok());
  EXPECT_NE(other_ca.status().message().find("certificate verify failed"), std::string::npos)
      << other_ca.status().message();

  auto wrong_name = PgConnection::Connect(NodeUrl("node_a", "127.0.0.1"));
  ASSERT_FALSE(wrong_name.ok());
  EXPECT_NE(wrong_name.status().message().find("does not match host name"), std::string::npos)
      << wrong_name.status().message();

  auto plain = PgConnection::Connect(
      fmt::format("postgresql://node_a@localhost:{}/secdb?sslmode=disable", cluster_->port()));
  ASSERT_FALSE(plain.ok());
  EXPECT_NE(plain.status().message().find("no encryption"), std::string::npos)
      << plain.status().message();
}

TEST_F(Security, PasswordFileAndNoSecretInAnyLog) {
  // The password only in the URL (no file): works, and the CLI prints no secret.
  unsetenv("PGPASSFILE");
  std::string with_pw = fmt::format(
      "postgresql://node_a:{}@localhost:{}/secdb?sslmode=verify-full&sslrootcert={}/ca.crt",
      kPasswordA, cluster_->port(), tls_);
  int rc = -1;
  std::string out = RunCommand(
      ShellQuote(DiskinvBinary()) + " db status --database-url " + ShellQuote(with_pw) + " 2>&1",
      &rc);
  EXPECT_EQ(rc, 0) << out;
  std::string bad_pw = with_pw;
  bad_pw.replace(bad_pw.find(kPasswordA), std::string(kPasswordA).size(), kPasswordB);
  std::string bad = RunCommand(
      ShellQuote(DiskinvBinary()) + " db status --database-url " + ShellQuote(bad_pw) + " 2>&1",
      &rc);
  EXPECT_EQ(rc, 1) << bad;
  EXPECT_NE(bad.find("password authentication failed"), std::string::npos) << bad;
  // Through the password file: no password anywhere on the command line or in the URL.
  setenv("PGPASSFILE", passfile_.c_str(), 1);
  std::string via_file =
      RunCommand("PGPASSFILE=" + ShellQuote(passfile_) + " " + ShellQuote(DiskinvBinary()) +
                     " db status --database-url " + ShellQuote(NodeUrl("node_b")) + " 2>&1",
                 &rc);
  EXPECT_EQ(rc, 0) << via_file;
  std::string no_file =
      RunCommand("PGPASSFILE=/nonexistent " + ShellQuote(DiskinvBinary()) +
                     " db status --database-url " + ShellQuote(NodeUrl("node_b")) + " 2>&1",
                 &rc);
  EXPECT_EQ(rc, 1) << no_file;
  EXPECT_NE(no_file.find("password"), std::string::npos) << no_file;

  // No secret in what the CLI printed nor in the server log (every statement and connection).
  std::string server_log = ReadAll(cluster_->log_file());
  ASSERT_NE(server_log.find("connection authorized: user=node_a"), std::string::npos);
  ASSERT_NE(server_log.find("SCRAM-SHA-256$4096:"), std::string::npos);  // verifiers only
  for (const char* secret : {kPasswordA, kPasswordB, kPasswordCtl}) {
    for (const std::string* text : {&out, &bad, &via_file, &no_file, &server_log}) {
      EXPECT_EQ(text->find(secret), std::string::npos) << "secret leaked into:\n" << *text;
    }
  }
}

}  // namespace
}  // namespace diskinv
