#include "agent/node_identity.h"

#include <algorithm>
#include <cctype>

#include <fmt/format.h>

#include "common/parse.h"
#include "common/version.h"

namespace diskinv {
namespace {

std::string ReadTrimmed(SysfsReader& root, std::string_view path) {
  auto r = root.ReadFile(path, 4096);
  return r.ok() ? std::string(Trim(*r)) : std::string();
}

bool IsMachineId(std::string_view s) {
  return s.size() == 32 && std::all_of(s.begin(), s.end(), [](char c) {
           return std::isxdigit(static_cast<unsigned char>(c));
         });
}

}  // namespace

Result<NodeInfo> ReadNodeIdentity(SysfsReader& root, const AgentConfig& config) {
  NodeInfo info;
  info.agent_version = DISKINV_VERSION;
  info.machine_id = config.machine_id;
  if (info.machine_id.empty()) {
    auto r = root.ReadFile("etc/machine-id", 4096);
    if (!r.ok()) {
      return Status(r.status().code(),
                    fmt::format("cannot read the node's machine-id under sysroot {}: {} (set "
                                "machine_id in the config or DISKINV_MACHINE_ID)",
                                config.sysroot, r.status().message()));
    }
    info.machine_id = std::string(Trim(*r));
    if (!IsMachineId(info.machine_id)) {
      return Status::Invalid(fmt::format(
          "{}/etc/machine-id holds {}, not 32 hex digits (run systemd-machine-id-setup, or set "
          "machine_id in the config)",
          config.sysroot == "/" ? "" : config.sysroot, QuoteForError(info.machine_id)));
    }
  }
  info.hostname = config.hostname;
  if (info.hostname.empty()) info.hostname = ReadTrimmed(root, "proc/sys/kernel/hostname");
  if (info.hostname.empty()) info.hostname = ReadTrimmed(root, "etc/hostname");
  if (info.hostname.empty()) info.hostname = "unknown";
  info.boot_id = ReadTrimmed(root, "proc/sys/kernel/random/boot_id");
  return info;
}

}  // namespace diskinv
