// The diskinv command line: global options, dispatch to subcommands, exit codes.
//
// Exit codes (documented in --help and docs/): 0 success; 1 failure (the command could not do
// its job: unreadable sysroot, bad output dir, ...); 2 usage error; 3 partial result (the scan
// finished but some devices vanished or attributes could not be read: see "errors" in JSON).
#pragma once

#include <string>
#include <vector>

namespace diskinv {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;
inline constexpr int kExitPartial = 3;

int RunCli(int argc, char** argv);

// Subcommands: args[0] is the subcommand name.
int ScanCommand(std::vector<std::string> args);
int CaptureCommand(std::vector<std::string> args);
int DbCommand(std::vector<std::string> args);
int AgentCommand(std::vector<std::string> args);
int LsCommand(std::vector<std::string> args);
int ShowCommand(std::vector<std::string> args);
int UpCommand(std::vector<std::string> args);

// The inventory database: `flag` if given, else $DISKINV_DATABASE_URL, else database_url of
// /etc/diskinv/diskinv.conf (when readable), else "" (the libpq defaults).
std::string ResolveDatabaseUrl(const std::string& flag);
int CdcCommand(std::vector<std::string> args);
int ReconcileCommand(std::vector<std::string> args);
int PoolCommand(std::vector<std::string> args);
int TuneCommand(std::vector<std::string> args);

// getopt_long-style parsing shared by subcommands.
struct ArgParser {
  std::vector<std::string> args;
  size_t pos = 1;
  // Returns true and sets `value` when args[pos] is --name[=value] / -s value.
  bool Flag(std::string_view long_name, char short_name = 0);
  bool Option(std::string_view long_name, char short_name, std::string* value, std::string* error);
  bool Done() const { return pos >= args.size(); }
  const std::string& Current() const { return args[pos]; }
};

// Prints "diskinv: <msg>" and a hint to stderr; returns kExitUsage.
int UsageError(std::string_view command, std::string_view msg);

}  // namespace diskinv
