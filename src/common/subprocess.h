// Child processes for servers diskinv starts (the embedded PostgreSQL of `diskinv up`, the test
// cluster): fork + exec, output appended to a log file, in a new session (a ^C in the terminal
// reaches only diskinv, which then stops the child in order), with an empty signal mask (the
// agent blocks TERM/INT/HUP for its signalfd), optionally as another user (postgres refuses
// to run as root).
#pragma once

#include <sys/types.h>

#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace diskinv {

struct SpawnOptions {
  std::vector<std::string> argv;  // argv[0] is the program's path (no PATH search)
  std::string log = "/dev/null";  // stdout and stderr, appended
  bool as_user = false;           // setgid(gid) + setuid(uid), no supplementary groups
  uid_t uid = 0;
  gid_t gid = 0;
};

Result<pid_t> SpawnProcess(const SpawnOptions& options);
// Waits for `pid`: OK on exit status 0, else an error naming `what` with the tail of `log`.
Status WaitProcess(pid_t pid, std::string_view what, const std::string& log);
// The last `bytes` of a file ("..." first when cut), for error messages.
std::string FileTail(const std::string& path, size_t bytes = 2000);

}  // namespace diskinv
