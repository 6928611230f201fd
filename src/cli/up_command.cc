// diskinv up: the embedded default. A private PostgreSQL in a state directory (unless
// DISKINV_DATABASE_URL names a database), the schema, the agent, and the disk table.
#include <fmt/format.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

#include "agent/agent.h"
#include "cli/cli.h"
#include "cli/db_output.h"
#include "common/logging.h"
#include "store/disk_query.h"
#include "store/embedded_postgres.h"
#include "store/migrations.h"

namespace diskinv {
namespace {

constexpr const char* kUpHelp =
    R"(Usage: diskinv up [--state-dir DIR] [--port N] [--config FILE] [--sysroot DIR] [--once]

Run the inventory on this machine with nothing else installed: unless DISKINV_DATABASE_URL is
set, start a private PostgreSQL in DIR (initdb on first use; wal_level=logical; the unix socket
in DIR/run and 127.0.0.1:N only; as root the server runs as the system user "diskinv"),
apply the schema migrations, run the agent (as `diskinv agent`), and print the disk table once
the first sync is written. Then it keeps running and prints each change as it is committed;
Ctrl-C or SIGTERM stops the agent and then the server. Running it again reuses DIR.

Options:
      --state-dir DIR  where the database lives (default /var/lib/diskinv as root, else
                       $XDG_STATE_HOME/diskinv or ~/.local/state/diskinv)
      --port N         TCP port on 127.0.0.1 and the socket name (default 55432)
  -c, --config FILE    agent configuration (as `diskinv agent --config`); database_url is
                       replaced by the private server's
      --sysroot DIR    walk DIR instead of / (events off)
      --once           stop after printing the table (and stop the server)
  -h, --help           show this help

Exit status: 0 stopped by Ctrl-C/SIGTERM (or --once done); 1 the server, the migration or the
agent failed (the message says which, with the server log's tail); 2 usage or configuration
error.
)";

std::string DefaultStateDir() {
  if (geteuid() == 0) return "/var/lib/diskinv";
  if (const char* x = std::getenv("XDG_STATE_HOME"); x && *x == '/') {
    return std::string(x) + "/diskinv";
  }
  const char* home = std::getenv("HOME");
  return std::string(home && *home ? home : "/tmp") + "/.local/state/diskinv";
}

// Prints the disk table after the first sync and one line per committed change.
class UpPrinter : public AgentObserver {
 public:
  explicit UpPrinter(std::string url) : url_(std::move(url)) {}
  void OnStarted(const StartupReport& r) override {
    if (!r.synced) {
      std::printf("the database is not reachable yet; the agent keeps trying (see the log)\n");
      std::fflush(stdout);
      return;
    }
    auto conn = PgConnection::Connect(url_);
    if (!conn.ok()) return;
    DiskFilter f;
    f.node = std::to_string(r.node.id);
    auto disks = ListDisks(**conn, f, false);
    if (!disks.ok()) return;
    std::printf("\n%s", ResultToTable(*disks, DiskTableColumns(), false).c_str());
    std::printf("\n%d disks of node %s (%zu devices with partitions) written in %.3f s: %s\n",
                disks->rows(), r.hostname.c_str(), r.devices, (r.walk + r.sync).count(),
                r.stats.Summary().c_str());
    std::fflush(stdout);
  }
  void OnInventoryChanged(const LiveInventory&, const InventoryDiff& d, bool committed) override {
    if (!started_) {
      started_ = true;  // the first call is the first walk, already in the table
      return;
    }
    for (const auto& k : d.added) Print("added", k, committed);
    for (const auto& k : d.removed) Print("removed", k, committed);
    for (const auto& c : d.changed) Print("changed", c.kname, committed);
  }

 private:
  void Print(const char* what, const std::string& kname, bool committed) {
    std::printf("%s %s%s\n", kname.c_str(), what, committed ? "" : " (database down: kept)");
    std::fflush(stdout);
  }
  std::string url_;
  bool started_ = false;
};

}  // namespace

int UpCommand(std::vector<std::string> args) {
  ArgParser p{std::move(args)};
  std::string state_dir = DefaultStateDir(), port_s = "55432", config_path, sysroot, err;
  bool once = false, config_explicit = false;
  while (!p.Done()) {
    if (p.Flag("help", 'h')) {
      std::fputs(kUpHelp, stdout);
      return kExitOk;
    }
    if (p.Flag("once")) {
      once = true;
    } else if (p.Option("state-dir", 0, &state_dir, &err) || p.Option("port", 0, &port_s, &err) ||
               p.Option("sysroot", 0, &sysroot, &err)) {
      if (!err.empty()) return UsageError("up", err);
    } else if (p.Option("config", 'c', &config_path, &err)) {
      if (!err.empty()) return UsageError("up", err);
      config_explicit = true;
    } else {
      return UsageError("up", fmt::format("unknown argument '{}'", p.Current()));
    }
  }
  int port = std::atoi(port_s.c_str());
  if (port <= 0 || port > 65535 || std::to_string(port) != port_s) {
    return UsageError("up", fmt::format("--port needs a TCP port (1-65535), not '{}'", port_s));
  }
  if (state_dir.empty() || state_dir[0] != '/') {
    return UsageError("up", "--state-dir needs an absolute path");
  }
  AgentOptions opt;
  opt.once = once;
  opt.config_path = config_explicit ? config_path : kDefaultAgentConfigPath;
  opt.config_explicit = config_explicit;
  if (!sysroot.empty()) opt.overrides.emplace_back("sysroot", sysroot);

  std::unique_ptr<EmbeddedPostgres> pg;
  std::string url;
  const char* env = std::getenv("DISKINV_DATABASE_URL");
  if (env && *env) {
    url = env;
    std::printf("==> using DISKINV_DATABASE_URL %s\n", RedactUrl(url).c_str());
  } else {
    std::printf("==> PostgreSQL in %s\n", state_dir.c_str());
    std::fflush(stdout);
    EmbeddedPostgresOptions po;
    po.state_dir = state_dir;
    po.port = port;
    auto started = EmbeddedPostgres::Start(po);
    if (!started.ok()) {
      std::fprintf(stderr, "diskinv up: PostgreSQL: %s\n", started.status().message().c_str());
      return kExitFailure;
    }
    pg = std::move(*started);
    url = pg->url();
    std::printf("==> PostgreSQL %s %s: %s (log %s)\n", pg->version().c_str(),
                pg->initialized_now() ? "initialized and started"
                : pg->started_by_us() ? "started"
                                      : "already running",
                url.c_str(), pg->log_file().c_str());
    opt.overrides.emplace_back("database_url", url);
  }
  auto config = LoadAgentConfig(opt.config_path, opt.config_explicit, opt.overrides);
  if (!config.ok()) {
    std::fprintf(stderr, "diskinv up: configuration: %s\n", config.status().message().c_str());
    return kExitUsage;
  }
  {
    auto conn = PgConnection::Connect(url);
    if (!conn.ok()) {
      std::fprintf(stderr, "diskinv up: %s\n", conn.status().message().c_str());
      return kExitFailure;
    }
    auto done = Migrate(**conn);
    if (!done.ok()) {
      std::fprintf(stderr, "diskinv up: migration: %s\n", done.status().message().c_str());
      return kExitFailure;
    }
    std::printf("==> schema version %d%s\n", LatestSchemaVersion(),
                done->empty() ? " (up to date)"
                              : fmt::format(" ({} migrations applied)", done->size()).c_str());
  }
  if (config->log_level.empty() && !LogLevelFromCommandLine()) (void)SetLogLevel("warn");
  opt.config = std::move(*config);
  std::printf("==> agent: walking %s%s\n", opt.config.sysroot.c_str(),
              once ? "" : "; Ctrl-C stops it (and the server)");
  std::fflush(stdout);
  UpPrinter printer(url);
  Agent agent(std::move(opt));
  agent.AddObserver(&printer);
  Status s = agent.Run();
  if (!s.ok()) {
    std::fprintf(stderr, "diskinv up: agent: %s\n", s.message().c_str());
    return kExitFailure;
  }
  if (!once) {
    std::printf("==> agent stopped\n");
  }
  if (pg && pg->started_by_us()) {
    (void)pg->Stop();
    std::printf(
        "==> PostgreSQL stopped; `diskinv up --state-dir %s --port %d` starts it (and "
        "the agent) again\n",
        state_dir.c_str(), port);
  } else {
    std::printf("    query: diskinv ls --database-url '%s'   or   psql '%s'\n", url.c_str(),
                url.c_str());
  }
  return kExitOk;
}

}  // namespace diskinv
