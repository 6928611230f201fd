// diskinv agent: the node daemon (src/agent/agent.h, docs/agent.md).
#include <cstdio>

#include <fmt/format.h>

#include "agent/agent.h"
#include "cli/cli.h"

namespace diskinv {
namespace {

constexpr const char* kAgentHelp = R"(Usage: diskinv agent [--config FILE] [--database-url URL] [--sysroot DIR] [--once]
                     [--print-config]

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
  coalesce_window     events of one device within this window become one re-probe (5ms)
  coalesce_max_delay  ... but never held longer than this (200ms)
  burst_threshold     more events per second than this: one full walk instead (5000)
  batch_rows          row writes per transaction of a large sync (1000)
  statement_timeout   per SQL statement (20s)
  log_level           trace, debug, info, warn, error (the command line's -v/--log-level win)
  machine_id, hostname  instead of <sysroot>/etc/machine-id, proc/sys/kernel/hostname

Signals: SIGTERM or SIGINT: finish the transaction in progress and exit 0. SIGHUP: read the
configuration again (a bad one is logged and the running one kept).

Exit status: 0 stopped by a signal (or --once wrote everything); 1 could not start (sysroot,
machine-id, event sources) or, with --once, could not write the inventory; 2 usage or
configuration error (the message names the key).
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
  opt.config = std::move(*config);
  bool once = opt.once;
  Agent agent(std::move(opt));
  Status s = agent.Run();
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
