// diskinv scan: one walk, printed as a table or JSON.
#include <fmt/format.h>
#include <unistd.h>

#include <cstdio>

#include "cli/cli.h"
#include "cli/output.h"
#include "common/logging.h"
#include "common/parse.h"
#include "sysfs/parallel_walk.h"
#include "sysfs/walker.h"

namespace diskinv {
namespace {

// Walkers at most by default: beyond this the kernel's own locks, not the CPUs, set the pace.
constexpr unsigned kDefaultJobsCap = 8;
constexpr uint64_t kMaxJobs = 256;
// And one per 32 disks by default: below that a second thread costs more than it saves
// (docs/performance.md: 16 disks 6% slower, 32 even, 64 15% faster, 100 20% faster).
constexpr size_t kDefaultDisksPerJob = 32;

constexpr const char* kScanHelp =
    R"(Usage: diskinv scan [--sysroot DIR] [--json [--pretty]] [-o COLS] [-b] [--all] [-j N]

Walk sysfs (sys/block, queue limits, SCSI/NVMe identity, holders/slaves) and the udev
database (run/udev/data) once and print every block device.

Options:
      --sysroot DIR  use DIR as the system root (like lsblk --sysroot); default /
  -J, --json         print JSON (schema "diskinv.scan", version 1: docs/scan-json.md)
      --pretty       indent the JSON
  -o, --output COLS  columns by lsblk name, comma separated (e.g. NAME,SIZE,WWN); "+COLS"
                     adds to the default columns; with --json, only these keys are printed
  -b, --bytes        print sizes in bytes in the table
  -a, --all          also list empty loop devices and hidden devices (NVMe multipath paths)
      --no-udev      do not read the udev database
  -j, --jobs N       walk with up to N threads (one per 8 disks at most); default: one
                     per CPU this process may use and per 32 disks, at most 8 (the output
                     is the same for every N)
      --list-columns print the available columns and exit
  -h, --help         show this help

Exit status: 0 complete; 1 the sysroot or sys/block could not be read; 2 usage error;
3 partial: some devices vanished or attributes could not be read (listed in "errors").
)";

}  // namespace

int ScanCommand(std::vector<std::string> args) {
  ArgParser p{std::move(args)};
  OutputOptions out;
  WalkOptions walk;
  bool json = false;
  std::string cols, jobs, err;
  bool jobs_given = false;
  while (!p.Done()) {
    if (p.Flag("help", 'h')) {
      std::fputs(kScanHelp, stdout);
      return kExitOk;
    }
    if (p.Flag("json", 'J')) {
      json = true;
    } else if (p.Flag("pretty")) {
      out.pretty = true;
    } else if (p.Flag("bytes", 'b')) {
      out.bytes = true;
    } else if (p.Flag("all", 'a')) {
      walk.all = true;
    } else if (p.Flag("no-udev")) {
      walk.udev = false;
    } else if (p.Flag("list-columns")) {
      for (const auto& f : AllFields()) {
        std::printf("%-16s %s%s\n", f.column, f.help, f.lsblk ? "" : " (diskinv)");
      }
      return kExitOk;
    } else if (p.Option("jobs", 'j', &jobs, &err)) {
      if (!err.empty()) return UsageError("scan", err);
      jobs_given = true;
    } else if (p.Option("sysroot", 0, &out.sysroot, &err) || p.Option("output", 'o', &cols, &err)) {
      if (!err.empty()) return UsageError("scan", err);
    } else {
      return UsageError("scan", fmt::format("unknown argument '{}'", p.Current()));
    }
  }
  if (!cols.empty()) {
    auto c = ParseColumns(cols);
    if (!c.ok()) return UsageError("scan", c.status().message());
    out.columns = std::move(*c);
  }
  ParallelWalkOptions parallel{.threads = AvailableCpus(kDefaultJobsCap),
                               .min_disks_per_thread = kDefaultDisksPerJob};
  if (jobs_given) {
    auto n = ParseU64(jobs);
    if (!n.ok() || *n == 0 || *n > kMaxJobs) {
      return UsageError("scan", fmt::format("--jobs wants a number of threads from 1 to {}, not "
                                            "'{}'",
                                            kMaxJobs, jobs));
    }
    parallel.threads = static_cast<unsigned>(*n);
    parallel.min_disks_per_thread = 0;
  }
  // JSON streams device by device to stdout (memory stays flat at 10,000 disks); the table
  // needs every row for its column widths and keeps only the cells.
  std::vector<std::string> problems;  // per-field errors, printed to stderr after a table
  ScanJsonWriter json_out(out, [](std::string_view s) {
    return std::fwrite(s.data(), 1, s.size(), stdout) == s.size();
  });
  ScanTableWriter table_out(out);
  bool written = true;
  auto walked = ParallelWalk(RealSysfsReaders(out.sysroot), walk, parallel, [&](BlockDevice&& d) {
    if (json) {
      written = json_out.Add(d) && written;
    } else {
      table_out.Add(d);
      for (const auto& e : d.errors) {
        problems.push_back(fmt::format("{}: {}: {}", d.kname, e.field, e.message));
      }
    }
  });
  if (!walked.ok()) {
    std::fprintf(stderr, "diskinv scan: %s\n", walked.status().message().c_str());
    return kExitFailure;
  }
  const ScanStats& st = *walked;
  if (st.walk_errors > 0) {  // sys/block itself was unreadable: nothing was printed
    for (const auto& m : st.messages) std::fprintf(stderr, "diskinv scan: %s\n", m.c_str());
    return kExitFailure;
  }
  if (json) {
    written = json_out.Finish(st) && written;
  } else {
    std::string text = table_out.Finish();
    written = std::fwrite(text.data(), 1, text.size(), stdout) == text.size();
  }
  if (!written || std::fflush(stdout) != 0) {
    std::fprintf(stderr, "diskinv scan: cannot write output\n");
    return kExitFailure;
  }
  auto log = Logger("scan");
  log->info("{} devices, {} field errors, {} vanished", st.devices, st.field_errors, st.vanished);
  if (!st.complete() || st.field_errors > 0) {
    for (const auto& p : problems) std::fprintf(stderr, "diskinv scan: %s\n", p.c_str());
    if (!json && st.vanished > 0) {
      std::fprintf(stderr, "diskinv scan: %lu device(s) vanished during the walk\n",
                   static_cast<unsigned long>(st.vanished));
    }
    return kExitPartial;
  }
  return kExitOk;
}

}  // namespace diskinv
