// The module side of db_module.h: diskinv-db.so's entry point. It sets up this module's copy
// of the logging state as the CLI's global options asked, then runs the subcommand.
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "cli/cli.h"
#include "cli/db_module.h"
#include "common/logging.h"
#include "common/version.h"

namespace diskinv {
namespace {

struct DbCommandEntry {
  const char* name;
  int (*run)(std::vector<std::string>);
};

constexpr DbCommandEntry kDbModuleCommands[] = {
    {"db", DbCommand},
    {"agent", AgentCommand},
    {"ls", LsCommand},
    {"show", ShowCommand},
    {"up", UpCommand},
    {"cdc", CdcCommand},
    {"reconcile", ReconcileCommand},
    {"pool", PoolCommand},
    {"tune", TuneCommand},
};

}  // namespace
}  // namespace diskinv

extern "C" __attribute__((visibility("default"))) int diskinv_db_module_run(
    const DiskinvDbModuleCall* call) {
  using namespace diskinv;
  if (!call || call->abi != kDbModuleAbi || !call->version ||
      std::strcmp(call->version, DISKINV_VERSION) != 0 || call->argc < 1 || !call->argv) {
    std::fprintf(stderr, "diskinv: %s %s does not match this diskinv (%s): reinstall diskinv\n",
                 kDbModuleFile, DISKINV_VERSION, call && call->version ? call->version : "?");
    return kExitFailure;
  }
  if (Status st = SetupLogging(call->log_level ? call->log_level : "warn",
                               call->log_json ? LogFormat::kJson : LogFormat::kText);
      !st.ok()) {
    return UsageError("", st.message());
  }
  if (call->log_level_from_command_line) MarkLogLevelFromCommandLine();
  std::vector<std::string> args(call->argv, call->argv + call->argc);
  for (const auto& c : kDbModuleCommands) {
    if (args[0] == c.name) return c.run(std::move(args));
  }
  return UsageError("", "unknown command '" + args[0] + "'");
}
