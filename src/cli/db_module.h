// The database module: the commands that need PostgreSQL (db, agent, ls, show, up, cdc,
// reconcile, pool, tune) live in a private shared object, diskinv-db.so, that the CLI dlopen()s
// only when one of them runs. libpq pulls in ~20 shared libraries (libssl, libcrypto, gssapi,
// krb5, ldap, gnutls...) whose loading and relocation cost ~4 ms of CPU and 380 page faults
// per process: `diskinv scan` and `diskinv monitor` never pay it (docs/performance.md).
//
// The module is found next to the executable (the build tree) or at
// <exe dir>/DISKINV_DB_MODULE_RELPATH (installed: ../lib/diskinv/diskinv-db.so), so
// an installed tree can be moved as a whole. The call crosses the boundary as a plain C struct;
// the module refuses a caller of another version (the two are always built together).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

extern "C" {

// What the CLI hands the module: the subcommand with its arguments and the logging set-up the
// global options chose (the module has its own copy of the logging state).
struct DiskinvDbModuleCall {
  uint32_t abi;         // kDbModuleAbi
  const char* version;  // DISKINV_VERSION of the caller
  int argc;             // argv[0] is the subcommand ("db", "ls", ...)
  const char* const* argv;
  const char* log_level;  // "warn", "debug", ...
  int log_json;           // 1: --log-format json
  int log_level_from_command_line;
};

// The module's one exported symbol (kDbModuleEntry). Returns the command's exit status.
int diskinv_db_module_run(const DiskinvDbModuleCall* call);

}  // extern "C"

namespace diskinv {

inline constexpr uint32_t kDbModuleAbi = 1;
inline constexpr const char* kDbModuleEntry = "diskinv_db_module_run";
inline constexpr const char* kDbModuleFile = "diskinv-db.so";

struct DbModuleLogging {
  std::string level;
  bool json = false;
  bool level_from_command_line = false;
};

// Loads the module (once) and runs args[0] there. A missing or broken module is a clear error
// on stderr and kExitFailure.
int RunInDbModule(const std::vector<std::string>& args, const DbModuleLogging& logging);

// Where RunInDbModule looks, in order (for error messages and tests).
std::vector<std::string> DbModuleCandidates();

}  // namespace diskinv
