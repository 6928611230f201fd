// Capture: copies the block-device part of a live sysfs tree and udev database into a fixture
// directory, so tests and benchmarks can walk a real machine's layout with --sysroot.
//
// What is copied (all relative to `source_root`; reads are plain openat/fstatat/readlinkat,
// symlinks are never followed while copying, so sysfs's link loops cannot trap it):
// - sys/block, sys/class/block, sys/dev/block: every entry, and each device directory an entry
//   leads to, recursively (queue/, holders/, slaves/, dm/, md/, loop/, integrity/, partitions),
//   except the mq/, power/ and trace/ subdirectories.
// - Every ancestor of such a directory, and of its `device` link target, up to sys/: only that
//   directory's own attribute files and links (SCSI device/target/host, NVMe controller, virtio,
//   PCI), never its other subdirectories.
// - sys/class/{scsi_host,sas_host,fc_host,spi_host,iscsi_host,nvme,nvme-subsystem,sas_device,
//   sas_end_device,fc_remote_ports,iscsi_session} and sys/bus/scsi/devices: the links, plus
//   their targets' own attributes and those targets' ancestors'.
// - run/udev/data/b<maj>:<min> of each captured block device, verbatim.
// - dev/<kname> ('!' as '/'; dm devices dev/mapper/<dm name>): the KEY=VALUE file lsblk
//   --sysroot reads instead of the udev db, written when the device has a udev record or a
//   block node under source_root/dev: MODE/OWNER/GROUP of the node, then the MODEL, SERIAL and
//   WWN values lsblk's udev reader would choose (its fake-file reader keeps the first matching
//   line and decodes nothing), then every E: property (last value per key, as libudev).
// Every symlink is recreated with the same text; an absolute one is rewritten relative so the
// capture never points at the capturing host. Files are written 0644, directories 0755.
//
// Skipped and counted in `skipped` (with a line in `warnings`), never fatal: write-only
// attributes (no read bit), files whose open/read fails (EIO, EINVAL, EACCES, ...), files larger
// than `max_file_bytes`, entries that vanish mid-walk, links that cannot be resolved (dangling,
// looping, escaping the root) where the capture needed their target. Never opened, whatever
// their mode, because reading them has effects: PCI config/resource<N>/rom/vpd and
// zram-control/hot_add (sys/class/zram-control is not captured).
//
// Errors: an unopenable source root, a root without any of the three block directories, a
// non-empty output directory (ENOTEMPTY; nothing is written), and any failure writing the output.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"

namespace diskinv {

struct CaptureOptions {
  std::string source_root = "/";
  std::string output_dir;  // created (with parents) if missing; must be empty
  size_t max_file_bytes = size_t{64} * 1024;
};

struct CaptureReport {
  uint64_t files = 0, symlinks = 0, dirs = 0;  // created in the output (not counting its root)
  uint64_t skipped = 0;                        // unreadable / write-only / too large / unresolvable
  std::vector<std::string> warnings;  // "<path>: <reason>" per skip; at most 256 + a summary
};

Result<CaptureReport> CaptureTree(const CaptureOptions& options);

}  // namespace diskinv
