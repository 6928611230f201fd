#include "cli/cli.h"

#include <fmt/format.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "cli/db_module.h"
#include "common/logging.h"
#include "common/version.h"

namespace diskinv {
namespace {

struct Command {
  const char* name;
  int (*run)(std::vector<std::string>);  // nullptr: in the database module (db_module.h)
  const char* summary;
};

// The subcommands, in --help order. A new command is one line here and one *_command.cc.
const Command kCommands[] = {
    {"scan", ScanCommand, "walk sysfs and the udev database once and print every block device"},
    {"capture", CaptureCommand,
     "copy the block-device part of sysfs and the udev db into a fixture tree"},
    {"db", nullptr, "apply or show the schema migrations of the inventory database"},
    {"monitor", MonitorCommand, "print block-device uevents as they arrive, and what each changed"},
    {"agent", nullptr, "the node daemon: keep this node's devices in the inventory database"},
    {"ls", nullptr, "list the disks in the inventory database"},
    {"show", nullptr, "show one disk from the inventory database, with its history"},
    {"up", nullptr, "run the agent on a private PostgreSQL (or DISKINV_DATABASE_URL)"},
    {"cdc", nullptr, "change data capture: slots, live tail, replay, status"},
    {"reconcile", nullptr, "the controller: pool claims and desired queue tuning from CDC"},
    {"pool", nullptr, "pools of disks and the policies that claim disks into them"},
    {"tune", nullptr, "queue tuning profiles, per-disk tuning state, and applying it on a node"},
};

constexpr const char* kUsageHead = R"(Usage: diskinv [GLOBAL OPTIONS] COMMAND [ARGS]

Block-device inventory for Linux storage nodes.

Commands:
)";

constexpr const char* kUsageTail =
    R"(  help       show this help, or `diskinv help COMMAND` for a command's help

Global options:
  -v, --verbose          more logging (repeat for debug)
      --log-level LEVEL  trace, debug, info, warn (default), error, critical, off
      --log-format FMT   text (default) or json (one JSON object per line)
  -h, --help             show this help
  -V, --version          print version and build information

Environment:
  DISKINV_LOG_LEVEL      default for --log-level
  DISKINV_DATABASE_URL   the inventory database (agent, db, ls, show, up)

Exit status:
  0 success, 1 failure, 2 usage error, 3 partial result (scan finished with unreadable parts),
  4 not found (show); each command's --help has the details
)";

void PrintUsage(FILE* out) {
  std::fputs(kUsageHead, out);
  for (const auto& c : kCommands) std::fprintf(out, "  %-10s %s\n", c.name, c.summary);
  std::fputs(kUsageTail, out);
}

}  // namespace

int RunCli(int argc, char** argv) {
  ArgParser p;
  for (int i = 0; i < argc; ++i) p.args.emplace_back(argv[i]);
  std::string level = std::getenv("DISKINV_LOG_LEVEL") ? std::getenv("DISKINV_LOG_LEVEL") : "warn";
  std::string format = "text";
  int verbose = 0;
  bool level_given = false;
  std::string err;
  while (!p.Done() && !p.Current().empty() && p.Current()[0] == '-') {
    if (p.Flag("help", 'h')) {
      PrintUsage(stdout);
      return kExitOk;
    }
    if (p.Flag("version", 'V')) {
      std::printf("diskinv %s\nbuilt %s %s with g++ %s, C++%ld\n", DISKINV_VERSION, __DATE__,
                  __TIME__, __VERSION__, __cplusplus / 100 % 100);
      return kExitOk;
    }
    if (p.Flag("verbose", 'v')) {
      ++verbose;
      continue;
    }
    if (p.Current() == "-vv") {
      verbose += 2;
      ++p.pos;
      continue;
    }
    if (p.Option("log-level", 0, &level, &err)) {
      if (!err.empty()) return UsageError("", err);
      level_given = true;
      continue;
    }
    if (p.Option("log-format", 0, &format, &err)) {
      if (!err.empty()) return UsageError("", err);
      continue;
    }
    return UsageError("", fmt::format("unknown option '{}'", p.Current()));
  }
  if (verbose == 1) level = "info";
  if (verbose >= 2) level = "debug";
  if (format != "text" && format != "json") {
    return UsageError("", fmt::format("--log-format must be text or json, not '{}'", format));
  }
  if (Status st = SetupLogging(level, format == "json" ? LogFormat::kJson : LogFormat::kText);
      !st.ok()) {
    return UsageError("", st.message());
  }
  // An explicit level (option or environment) wins over the config file and the daemons'
  // default of info.
  bool explicit_level = level_given || verbose > 0 || std::getenv("DISKINV_LOG_LEVEL") != nullptr;
  if (explicit_level) MarkLogLevelFromCommandLine();
  if (p.Done()) {
    PrintUsage(stderr);
    return kExitUsage;
  }
  std::vector<std::string> rest(p.args.begin() + static_cast<std::ptrdiff_t>(p.pos), p.args.end());
  const std::string& cmd = rest[0];
  if (cmd == "help") {
    if (rest.size() > 1) {
      std::vector<std::string> sub = {rest[1], "--help"};
      rest = sub;
    } else {
      PrintUsage(stdout);
      return kExitOk;
    }
  }
  for (const auto& c : kCommands) {
    if (rest[0] != c.name) continue;
    if (c.run) return c.run(rest);
    return RunInDbModule(rest, {level, format == "json", explicit_level});
  }
  return UsageError("", fmt::format("unknown command '{}'", rest[0]));
}

}  // namespace diskinv
