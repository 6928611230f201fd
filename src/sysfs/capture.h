// Capture: copies the block-device part of a live sysfs tree and udev database into a fixture
// directory, so tests and benchmarks can walk a real machine's layout with --sysroot.
//
// What is copied (all relative to `source_root`): sys/block, sys/class/block, sys/dev/block
// and every device directory they lead to (attribute files, with symlinks rebuilt as relative
// links inside the capture), the ancestors' attributes the walker reads (SCSI device, host,
// NVMe controller and subsystem), sys/class/{scsi_host,sas_host,fc_host,iscsi_host,nvme,
// nvme-subsystem}, sys/bus/scsi/devices, run/udev/data/b* of the block devices, and for each
// device with a udev record a dev/<name> property file in the form lsblk --sysroot reads.
// Write-only attributes, unreadable files and files larger than `max_file_bytes` are skipped
// and counted, never fatal.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"

namespace diskinv {

struct CaptureOptions {
  std::string source_root = "/";
  std::string output_dir;        // created if missing; must be empty or not exist
  size_t max_file_bytes = 64 * 1024;
};

struct CaptureReport {
  uint64_t files = 0, symlinks = 0, dirs = 0;
  uint64_t skipped = 0;                // unreadable / write-only / too large
  std::vector<std::string> warnings;  // one line per skipped path (bounded)
};

Result<CaptureReport> CaptureTree(const CaptureOptions& options);

}  // namespace diskinv
