// AgentConfig: the settings of `diskinv agent`, from a config file and the environment.
//
// File format (default /etc/diskinv/diskinv.conf): one `key = value` per line; `#` starts a
// comment line; blank lines are ignored; values may be quoted ("..." or '...'). Every key can
// also come from the environment as DISKINV_<KEY> (upper case), which wins over the file:
// DISKINV_DATABASE_URL, DISKINV_RESYNC_INTERVAL, ... Durations take a unit (ms, s, m, h; a bare
// number is seconds); sizes take K, M or G (powers of 1024). Unknown keys and bad values are
// errors that name the key and where it came from ("/etc/diskinv/diskinv.conf:3: resync_interval:
// 'ten' is not a duration ..."). The parsers are pure; only LoadAgentConfig reads a file.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace diskinv {

inline constexpr const char* kDefaultAgentConfigPath = "/etc/diskinv/diskinv.conf";

// Which uevent sources the agent follows. kAuto: both on the live system (sysroot "/"), none
// under another sysroot (the kernel's events describe the live /sys, not a fixture tree).
enum class EventSources { kAuto, kBoth, kKernel, kUdev, kNone };

struct AgentConfig {
  std::string database_url;  // empty: libpq defaults (PGHOST, ...)
  std::string sysroot = "/";
  EventSources events = EventSources::kAuto;
  // libudev monitor tag filter. "auto": "diskinv" when 60-diskinv.rules is installed (under the
  // sysroot's /usr/lib, /lib, /etc or /run udev rules.d), else no tag filter; "": no filter.
  std::string udev_tag = "auto";
  std::chrono::milliseconds resync_interval{std::chrono::minutes(10)};  // 0: never
  std::chrono::milliseconds reconnect_min{std::chrono::milliseconds(500)};
  std::chrono::milliseconds reconnect_max{std::chrono::seconds(30)};
  int rcvbuf = 128 << 20;  // receive buffer of each uevent socket, bytes
  std::chrono::milliseconds coalesce_window{2};
  std::chrono::milliseconds coalesce_max_delay{200};
  uint64_t burst_threshold = 5000;  // events per second that make the agent walk instead
  uint64_t batch_rows = 1000;       // row writes per transaction of a large sync
  std::chrono::milliseconds statement_timeout{std::chrono::seconds(20)};
  std::string log_level;  // empty: leave the level the command line chose
  // Overrides of what is read under the sysroot (etc/machine-id, proc/sys/kernel/hostname):
  // for containers and tests. Empty: read them.
  std::string machine_id;
  std::string hostname;
  // Prometheus endpoint HOST:PORT (docs/metrics.md); empty: none. Read at start only.
  std::string metrics_listen;
  // Start-up self-check of the uevent sources (uevent/self_check.h): "auto" picks a whole disk
  // every open source should report (the udev tag filter passes it), "off" skips it, anything
  // else is the kernel name of the device to trigger. A failing check does not stop the agent:
  // it logs, reports it in STATUS and diskinv_agent_self_check_ok, walks every
  // self_check_retry and repeats the check then, until one passes.
  std::string self_check = "auto";
  std::chrono::milliseconds self_check_timeout{std::chrono::seconds(5)};
  std::chrono::milliseconds self_check_retry{std::chrono::minutes(1)};
  // Apply the desired queue tuning of this node's disks (diskinv.disk_tuning) to sysfs.
  bool tuning = true;

  // Every key as "key = value" lines, in the file format, the database password masked.
  std::string Describe() const;
};

// Parses file text into `config` (keys not mentioned keep their value). `origin` prefixes
// error messages, usually the path.
Status ParseAgentConfig(std::string_view text, std::string_view origin, AgentConfig& config);
// Sets one key ("resync_interval", "90s"); errors are prefixed with `origin` and the key.
Status SetAgentConfigKey(std::string_view key, std::string_view value, std::string_view origin,
                         AgentConfig& config);
// Applies DISKINV_<KEY> variables; `getenv` is injectable for tests.
Status ApplyAgentEnvironment(const std::function<const char*(const char*)>& getenv,
                             AgentConfig& config);
// Cross-key checks (reconnect_min <= reconnect_max, ...), after file and environment.
Status ValidateAgentConfig(const AgentConfig& config);

// Defaults, then `path` (an explicit path must exist; the default path may be absent), then the
// process environment, then `overrides` (command-line options: key, value), then validation.
using ConfigOverrides = std::vector<std::pair<std::string, std::string>>;
Result<AgentConfig> LoadAgentConfig(const std::string& path, bool path_explicit,
                                    const ConfigOverrides& overrides = {});

// Value parsers, exposed for tests: "90s", "10m", "250ms", "1h", "600" (seconds); "128M".
Result<std::chrono::milliseconds> ParseDuration(std::string_view s);
Result<uint64_t> ParseByteSize(std::string_view s);
std::string_view ToString(EventSources e);
// Every key the file and the environment accept, in documentation order.
std::vector<std::string_view> AgentConfigKeys();

}  // namespace diskinv
