// ArgParser and UsageError (cli.h): shared by the CLI and by the database module (db_module.h),
// so they live apart from RunCli and its command table.
#include <fmt/format.h>

#include <cstdio>

#include "cli/cli.h"

namespace diskinv {

bool ArgParser::Flag(std::string_view long_name, char short_name) {
  const std::string& a = args[pos];
  if ((a.size() > 2 && a.compare(0, 2, "--") == 0 && std::string_view(a).substr(2) == long_name) ||
      (short_name != 0 && a.size() == 2 && a[0] == '-' && a[1] == short_name)) {
    ++pos;
    return true;
  }
  return false;
}

bool ArgParser::Option(std::string_view long_name, char short_name, std::string* value,
                       std::string* error) {
  const std::string& a = args[pos];
  std::string lng = fmt::format("--{}", long_name);
  if (a == lng || (short_name != 0 && a.size() == 2 && a[0] == '-' && a[1] == short_name)) {
    if (pos + 1 >= args.size()) {
      *error = fmt::format("option {} needs a value", a);
      ++pos;
      return true;
    }
    *value = args[pos + 1];
    pos += 2;
    return true;
  }
  if (a.compare(0, lng.size() + 1, lng + "=") == 0) {
    *value = a.substr(lng.size() + 1);
    ++pos;
    return true;
  }
  if (short_name != 0 && a.size() > 2 && a[0] == '-' && a[1] == short_name) {
    *value = a.substr(2);
    ++pos;
    return true;
  }
  return false;
}

int UsageError(std::string_view command, std::string_view msg) {
  std::fprintf(stderr, "diskinv%s%s: %.*s\nTry 'diskinv %s%s--help' for more information.\n",
               command.empty() ? "" : " ", std::string(command).c_str(),
               static_cast<int>(msg.size()), msg.data(), std::string(command).c_str(),
               command.empty() ? "" : " ");
  return kExitUsage;
}

}  // namespace diskinv
