#include "support/cdc_harness.h"

#include <cerrno>
#include <thread>

#include "store/migrations.h"
#include "support/lsblk_compare.h"

namespace diskinv::testing {

namespace {
// After a server restart the first statement finds the old session gone: reconnect once.
Result<PgResult> Run(PgConnection& c, const std::string& sql) {
  auto r = c.Exec(sql);
  if (!r.ok() && (r.status().code() == ENOTCONN || !c.connected()) && c.EnsureConnected().ok()) {
    r = c.Exec(sql);
  }
  return r;
}
}  // namespace

std::string CdcDatabase::Exec(const std::string& sql) {
  auto r = Run(*conn, sql);
  return r.ok() ? "" : r.status().message();
}

std::string CdcDatabase::Scalar(const std::string& sql) {
  auto r = Run(*conn, sql);
  if (!r.ok()) return "ERROR: " + r.status().message();
  return r->rows() > 0 ? r->Str(0, 0) : "";
}

int64_t CdcDatabase::Int(const std::string& sql) {
  auto r = Run(*conn, sql);
  return r.ok() && r->rows() > 0 ? r->Int(0, 0) : -1;
}

Result<CdcDatabase> MakeCdcDatabase(const std::string& name) {
  auto cluster = SharedPgCluster();
  if (!cluster.ok()) return cluster.status();
  auto url = FreshDatabase(**cluster, name);
  if (!url.ok()) return url.status();
  auto c = PgConnection::Connect(*url);
  if (!c.ok()) return c.status();
  if (auto m = Migrate(**c); !m.ok()) return m.status();
  CdcDatabase db;
  db.cluster = *cluster;
  db.url = *url;
  db.conn = std::move(*c);
  return db;
}

bool WaitFor(const std::function<bool()>& done, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    if (done()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

std::string Diskinv(const std::string& url, const std::string& args, int* exit_code) {
  return RunCommand(ShellQuote(DiskinvBinary()) + " " + args + " --database-url " +
                        ShellQuote(url) + " 2>&1",
                    exit_code);
}

std::unique_ptr<ChildProcess> DiskinvBackground(const std::string& url,
                                                const std::vector<std::string>& args,
                                                const std::vector<std::string>& env) {
  std::vector<std::string> argv = {DiskinvBinary()};
  argv.insert(argv.end(), args.begin(), args.end());
  argv.push_back("--database-url");
  argv.push_back(url);
  auto p = ChildProcess::Start(argv, env);
  return p.ok() ? std::move(*p) : nullptr;
}

}  // namespace diskinv::testing
