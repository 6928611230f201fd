// diskinv agent: the node daemon (src/agent/agent.h, docs/agent.md).
#include <fmt/format.h>

#include <cstdio>
#include <cstdlib>

#include "agent/agent.h"
#include "agent/agent_metrics.h"
#include "agent/metrics_server.h"
#include "agent/tuning_observer.h"
#include "cli/cli.h"
#include "common/logging.h"
#include "common/version.h"

namespace diskinv {
namespace {

constexpr const char* kAgentHelp =
    R"(Usage: diskinv agent [--config FILE] [--database-url URL] [--sysroot DIR] [--once]
                     [--print-config] [--metrics-listen HOST:PORT]

Keep this node's block devices in the inventory database: walk sysfs and the udev database,
write the difference, then follow kernel and udev events (one transaction per change) with a
periodic full resync. Runs in the foreground; under systemd as Type=notify (READY, STATUS,
WATCHDOG). When the database is down the agent keeps running, keeps the current state in
memory and writes the difference once the database answers again.

Options:
  -c, --config FILE      config file; default /etc/diskinv/diskinv.conf when it exists
      --database-url URL override database_url
      --sysroot DIR      override sysroot (events default to off under a sysroot other than /)
      --once             walk, write the difference, print what was written and exit
      --print-config     print the effective configuration (file + environment + options)
                         and exit
      --metrics-listen HOST:PORT
                         override metrics_listen: serve Prometheus metrics on
                         http://HOST:PORT/metrics (docs/metrics.md); unauthenticated: use a
                         loopback address such as 127.0.0.1:9417 unless the port is firewalled
  -h, --help             show this help

Configuration (file lines `key = value`; every key also as environment DISKINV_<KEY>, which
wins over the file; command-line options win over both):
  database_url        postgresql://USER[:PASSWORD]@HOST[:PORT]/DB or conninfo; empty: libpq
                      defaults (PGHOST, PGPORT, ..., ~/.pgpass)
  sysroot             root of sys/, run/udev, etc/machine-id (default /)
  events              auto (default: kernel+udev on /, none under another sysroot), both,
                      kernel, udev, none
  udev_tag            libudev monitor tag filter; auto (default): "diskinv" when
                      60-diskinv.rules is installed, else none; empty: none
  resync_interval     full walk + diff every so often (default 10m; 0: never)
  reconnect_min/max   database reconnect backoff, doubling from min to max (500ms, 30s)
  rcvbuf              receive buffer of each uevent socket (default 128M)
  coalesce_window     events of one device within this window become one re-probe (2ms)
  coalesce_max_delay  ... but never held longer than this (200ms)
  burst_threshold     more events per second than this: one full walk instead (5000)
  batch_rows          row writes per transaction of a large sync (1000)
  statement_timeout   per SQL statement (20s)
  log_level           trace, debug, info (default), warn, error (the command line's
                      -v/--log-level win)
  machine_id, hostname  instead of <sysroot>/etc/machine-id, proc/sys/kernel/hostname
  metrics_listen      HOST:PORT of the Prometheus endpoint; empty (default): none; read at
                      start only
  self_check          auto (default): at start, write a synthetic event into a disk's uevent
                      file and wait for it on every event source; off; or a kernel name
  self_check_timeout  how long to wait for it (5s)
  self_check_retry    after a failed check: walk everything this often and check again (1m)
  tuning              on (default) or off: apply this node's desired queue tuning
                      (diskinv.disk_tuning, from `diskinv reconcile`) to sysfs

Devices whose udev record has DISKINV_IGNORE=1 (rules/60-diskinv.rules) are not inventoried;
one that becomes ignored is removed (its row tombstoned).

A failed self-check does not stop the agent: it logs the error, says so in the systemd STATUS
and in diskinv_agent_self_check_ok, walks everything every self_check_retry and checks again
until a check passes.

Signals: SIGTERM or SIGINT: finish the transaction in progress and exit 0. SIGHUP: read the
configuration again (a bad one is logged and the running one kept).

Exit status: 0 stopped by a signal (or --once wrote everything); 1 could not start (sysroot,
machine-id, event sources, the metrics address) or, with --once, could not write the
inventory; 2 usage or configuration error (the message names the key).
)";

}  // namespace

int AgentCommand(std::vector<std::string> args) {
  ArgParser p{std::move(args)};
  AgentOptions opt;
  std::string path, value, err;
  bool print_config = false;
  while (!p.Done()) {
    if (p.Flag("help", 'h')) {
      std::fputs(kAgentHelp, stdout);
      return kExitOk;
    }
    if (p.Flag("once")) {
      opt.once = true;
    } else if (p.Flag("print-config")) {
      print_config = true;
    } else if (p.Option("config", 'c', &path, &err)) {
      if (!err.empty()) return UsageError("agent", err);
      opt.config_explicit = true;
    } else if (p.Option("database-url", 0, &value, &err)) {
      if (!err.empty()) return UsageError("agent", err);
      opt.overrides.emplace_back("database_url", value);
    } else if (p.Option("sysroot", 0, &value, &err)) {
      if (!err.empty()) return UsageError("agent", err);
      opt.overrides.emplace_back("sysroot", value);
    } else if (p.Option("metrics-listen", 0, &value, &err)) {
      if (!err.empty()) return UsageError("agent", err);
      opt.overrides.emplace_back("metrics_listen", value);
    } else {
      return UsageError("agent", fmt::format("unknown argument '{}'", p.Current()));
    }
  }
  opt.config_path = opt.config_explicit ? path : kDefaultAgentConfigPath;
  auto config = LoadAgentConfig(opt.config_path, opt.config_explicit, opt.overrides);
  if (!config.ok()) {
    std::fprintf(stderr, "diskinv agent: configuration: %s\n", config.status().message().c_str());
    return kExitUsage;
  }
  if (print_config) {
    std::fputs(config->Describe().c_str(), stdout);
    return kExitOk;
  }
  // A daemon says what it does (start, syncs, reloads, reconnects: a line per change, none per
  // event) unless told otherwise; the other commands default to warnings only.
  if (config->log_level.empty() && !LogLevelFromCommandLine()) (void)SetLogLevel("info");
  std::string metrics_listen = config->metrics_listen;
  opt.config = std::move(*config);
  bool once = opt.once;
  Agent agent(std::move(opt));
  // Metrics: the registry reads the agent's counters at scrape time; the server has its own
  // thread. Both outlive agent.Run(). A change of metrics_listen takes effect at restart.
  MetricsRegistry registry;
  std::unique_ptr<AgentMetrics> metrics;
  std::unique_ptr<MetricsServer> server;
  if (!metrics_listen.empty()) {
    auto m = AgentMetrics::Register(&registry, DISKINV_VERSION, &agent.counters());
    if (!m.ok()) {
      std::fprintf(stderr, "diskinv agent: metrics: %s\n", m.status().message().c_str());
      return kExitFailure;
    }
    metrics = std::move(*m);
    agent.AddObserver(metrics.get());
    auto srv = MetricsServer::Start({.listen = metrics_listen}, &registry);
    if (!srv.ok()) {
      std::fprintf(stderr, "diskinv agent: --metrics-listen: %s\n", srv.status().message().c_str());
      return kExitFailure;
    }
    server = std::move(*srv);
    Logger("agent")->info("metrics on http://{}/metrics", server->address());
  }
  // Queue tuning on its own thread (tuning_observer.h); `tuning = off` keeps it idle, and a
  // reload can turn it on or off.
  std::unique_ptr<TuningObserver> tuning;
  if (!once) {
    tuning = std::make_unique<TuningObserver>(&agent);
    agent.AddObserver(tuning.get());
  }
  Status s = agent.Run();
  tuning.reset();  // stops its thread before the agent goes
  if (!s.ok()) {
    std::fprintf(stderr, "diskinv agent: %s\n", s.message().c_str());
    return kExitFailure;
  }
  if (once) {
    const StartupReport& r = agent.startup();
    std::printf("node %s (id %lld): %zu devices walked in %.3f s; database: %s in %.3f s\n",
                r.hostname.c_str(), static_cast<long long>(r.node.id), r.devices, r.walk.count(),
                r.stats.Summary().c_str(), r.sync.count());
  }
  return kExitOk;
}

}  // namespace diskinv
