// Reads who this node is (machine-id, hostname, boot-id) under a root directory, for the
// node row the agent registers. Paths are relative to the root (STYLE.md rule 3):
//   etc/machine-id                     the node's stable key (32 hex digits, required)
//   proc/sys/kernel/hostname           else etc/hostname
//   proc/sys/kernel/random/boot_id     changes at every boot (optional)
// AgentConfig's machine_id / hostname override the files (containers, tests).
#pragma once

#include "agent/agent_config.h"
#include "store/inventory_store.h"
#include "sysfs/sysfs_reader.h"

namespace diskinv {

// Fails when there is no usable machine-id, with the path and what to do.
Result<NodeInfo> ReadNodeIdentity(SysfsReader& root, const AgentConfig& config);

}  // namespace diskinv
