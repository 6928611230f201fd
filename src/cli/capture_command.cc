// diskinv capture: copy the block-device part of sysfs and the udev db into a fixture tree.
#include <cstdio>

#include <fmt/format.h>

#include "cli/cli.h"
#include "sysfs/capture.h"

namespace diskinv {
namespace {

constexpr const char* kCaptureHelp = R"(Usage: diskinv capture [--sysroot DIR] --out DIR

Copy sys/block, sys/class/block, sys/dev/block, the device directories they lead to (with
their SCSI/NVMe ancestors), the SCSI/NVMe class links, run/udev/data records of block devices
and lsblk-style dev/<name> property files into a new directory, for use with --sysroot.
Unreadable and write-only attributes are skipped and reported.

Options:
      --sysroot DIR  the tree to copy from (default /)
      --out DIR      where to write; must not exist or be empty
  -q, --quiet        do not list skipped files
  -h, --help         show this help

Exit status: 0 done (skipped files are normal for a live sysfs); 1 failure; 2 usage error.
)";

}  // namespace

int CaptureCommand(std::vector<std::string> args) {
  ArgParser p{std::move(args)};
  CaptureOptions opt;
  bool quiet = false;
  std::string err;
  while (!p.Done()) {
    if (p.Flag("help", 'h')) {
      std::fputs(kCaptureHelp, stdout);
      return kExitOk;
    }
    if (p.Flag("quiet", 'q')) {
      quiet = true;
    } else if (p.Option("sysroot", 0, &opt.source_root, &err) ||
               p.Option("out", 0, &opt.output_dir, &err)) {
      if (!err.empty()) return UsageError("capture", err);
    } else {
      return UsageError("capture", fmt::format("unknown argument '{}'", p.Current()));
    }
  }
  if (opt.output_dir.empty()) return UsageError("capture", "--out DIR is required");
  auto rep = CaptureTree(opt);
  if (!rep.ok()) {
    std::fprintf(stderr, "diskinv capture: %s\n", rep.status().message().c_str());
    return kExitFailure;
  }
  if (!quiet) {
    for (const auto& w : rep->warnings) std::fprintf(stderr, "diskinv capture: skipped %s\n", w.c_str());
  }
  std::printf("captured %lu files, %lu symlinks, %lu directories into %s (%lu skipped)\n",
              static_cast<unsigned long>(rep->files), static_cast<unsigned long>(rep->symlinks),
              static_cast<unsigned long>(rep->dirs), opt.output_dir.c_str(),
              static_cast<unsigned long>(rep->skipped));
  return kExitOk;
}

}  // namespace diskinv
