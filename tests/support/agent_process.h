// AgentProcess: `diskinv agent` as a child process for integration tests: its JSON log in a
// file, its sd_notify datagrams (READY, STATUS, WATCHDOG, ...) on a socket the test reads.
// The destructor SIGKILLs and reaps it if it still runs.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace diskinv::testing {

class AgentProcess {
 public:
  // Runs `diskinv --log-format json --log-level debug agent --config CONFIG` with `env` added;
  // the log goes to DIR/agent-N.log, the notify socket is DIR/notify-N.
  AgentProcess(const std::string& dir, const std::string& config,
               std::map<std::string, std::string> env = {});
  ~AgentProcess();
  AgentProcess(const AgentProcess&) = delete;
  AgentProcess& operator=(const AgentProcess&) = delete;

  pid_t pid() const { return pid_; }
  bool alive();
  // Every datagram the agent sent to $NOTIFY_SOCKET so far.
  const std::vector<std::string>& notifications();
  bool Notified(const std::string& what);
  // The last STATUS= it sent ("" when none).
  std::string LastStatus();
  bool WaitReady(std::chrono::milliseconds timeout = std::chrono::milliseconds(20000));
  void Signal(int sig);
  // Exit status after SIGTERM etc.: the code, 128+signal, or -1 when still running.
  int WaitExit(std::chrono::milliseconds timeout = std::chrono::milliseconds(15000));
  void Kill9();
  // The JSON log lines so far; whether a message of `level` ("" any) contains `text`.
  std::vector<nlohmann::json> Log() const;
  bool Logged(const std::string& level, const std::string& text) const;
  std::string LogText() const;

 private:
  static inline int count_ = 0;
  std::string log_, notify_path_;
  int sock_ = -1;
  pid_t pid_ = -1;
  int status_ = 0;
  std::vector<std::string> notes_;
};

}  // namespace diskinv::testing
