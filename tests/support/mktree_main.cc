// diskinv-mktree: writes a sysfs + udev tree (kernel layout) for tests and benchmarks.
//
//   diskinv-mktree --out DIR --scenario NAME
//   diskinv-mktree --out DIR --disks N [--partitions K] [--seed S]
//
// Exit status: 0 written, 1 the tree could not be built or written, 2 bad usage.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include <fmt/format.h>

#include "support/tree_builder.h"

namespace {

using diskinv::testing::BuilderOptions;
using diskinv::testing::TreeBuilder;

constexpr int kExitOk = 0, kExitFailed = 1, kExitUsage = 2;

void PrintHelp(FILE* out) {
  fmt::print(out,
             "Usage: diskinv-mktree --out DIR (--scenario NAME | --disks N [options])\n"
             "\n"
             "Writes a sysfs + udev tree in Linux kernel layout below DIR (which must not exist\n"
             "or be empty), for `lsblk --sysroot DIR` and `diskinv scan --sysroot DIR`.\n"
             "\n"
             "  --out DIR            where to write the tree\n"
             "  --scenario NAME      one of the named scenarios (see --list)\n"
             "  --disks N            N synthetic disks, round-robin NVMe / SAS / SATA\n"
             "  --partitions K       GPT partitions per synthetic disk (default 2)\n"
             "  --seed S             seed for synthetic serials and WWNs (default 1)\n"
             "  --threads T          writer threads (default: number of CPUs)\n"
             "  --hardlinks          store identical files as hard links (default with --disks)\n"
             "  --no-hardlinks       write every file separately\n"
             "  --no-lsblk-node-attrs  leave MODE/OWNER/GROUP out of the dev/ files\n"
             "  --list               list the scenarios and exit\n"
             "  --quiet              print nothing on success\n"
             "  -h, --help           this text\n"
             "\n"
             "Exit status: 0 written, 1 build or write failed, 2 usage error.\n");
}

bool ParseUint(std::string_view s, uint64_t max, uint64_t* out) {
  if (s.empty() || s.size() > 20) return false;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    uint64_t next = v * 10 + static_cast<uint64_t>(c - '0');
    if (next < v) return false;
    v = next;
  }
  if (v > max) return false;
  *out = v;
  return true;
}

int Usage(const std::string& msg) {
  fmt::print(stderr, "diskinv-mktree: {}\nTry 'diskinv-mktree --help'.\n", msg);
  return kExitUsage;
}

}  // namespace

int main(int argc, char** argv) {
  std::string out, scenario;
  uint64_t disks = 0, partitions = 2, seed = 1, threads = 0;
  bool have_disks = false, quiet = false, node_attrs = true;
  int hardlinks = -1;  // -1: default for the mode
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    auto value = [&](std::string_view flag) -> const char* {
      if (i + 1 >= argc) return nullptr;
      (void)flag;
      return argv[++i];
    };
    if (a == "-h" || a == "--help") {
      PrintHelp(stdout);
      return kExitOk;
    } else if (a == "--list") {
      for (const auto& name : diskinv::testing::ScenarioNames())
        fmt::print("{:<16} {}\n", name, diskinv::testing::ScenarioDescription(name));
      return kExitOk;
    } else if (a == "--out") {
      const char* v = value(a);
      if (!v || !*v) return Usage("--out needs a directory");
      out = v;
    } else if (a == "--scenario") {
      const char* v = value(a);
      if (!v) return Usage("--scenario needs a name");
      scenario = v;
    } else if (a == "--disks") {
      const char* v = value(a);
      if (!v || !ParseUint(v, 1000000, &disks) || disks == 0)
        return Usage("--disks needs a number between 1 and 1000000");
      have_disks = true;
    } else if (a == "--partitions") {
      const char* v = value(a);
      if (!v || !ParseUint(v, 15, &partitions)) return Usage("--partitions needs 0..15");
    } else if (a == "--seed") {
      const char* v = value(a);
      if (!v || !ParseUint(v, UINT64_MAX, &seed)) return Usage("--seed needs a number");
    } else if (a == "--threads") {
      const char* v = value(a);
      if (!v || !ParseUint(v, 256, &threads)) return Usage("--threads needs 0..256");
    } else if (a == "--hardlinks") {
      hardlinks = 1;
    } else if (a == "--no-hardlinks") {
      hardlinks = 0;
    } else if (a == "--no-lsblk-node-attrs") {
      node_attrs = false;
    } else if (a == "--quiet" || a == "-q") {
      quiet = true;
    } else {
      return Usage(fmt::format("unknown argument '{}'", a));
    }
  }
  if (out.empty()) return Usage("--out DIR is required");
  if (scenario.empty() == !have_disks)
    return Usage("give exactly one of --scenario NAME and --disks N");
  if (!scenario.empty() && diskinv::testing::ScenarioDescription(scenario).empty())
    return Usage(fmt::format("unknown scenario '{}' (see --list)", scenario));

  BuilderOptions opts;
  opts.threads = static_cast<int>(threads);
  opts.hardlink_identical = hardlinks < 0 ? have_disks : hardlinks == 1;
  opts.lsblk_node_attrs = node_attrs;
  auto t0 = std::chrono::steady_clock::now();
  TreeBuilder b(opts);
  if (!scenario.empty()) {
    std::string err;
    if (!diskinv::testing::BuildScenario(scenario, b, &err)) {
      fmt::print(stderr, "diskinv-mktree: scenario {}: {}\n", scenario, err);
      return kExitFailed;
    }
  } else {
    diskinv::testing::SyntheticSpec spec;
    spec.disks = static_cast<int>(disks);
    spec.partitions = static_cast<int>(partitions);
    spec.seed = seed;
    diskinv::testing::BuildSynthetic(spec, b);
  }
  auto t1 = std::chrono::steady_clock::now();
  if (!b.WriteTo(out)) {
    fmt::print(stderr, "diskinv-mktree: {}\n", b.error());
    return kExitFailed;
  }
  auto t2 = std::chrono::steady_clock::now();
  if (!quiet) {
    fmt::print("{}: {} block devices, {} files and links in {:.2f} s (model {:.2f} s, write {:.2f} s)\n",
               out, b.device_count(), b.files_written(),
               std::chrono::duration<double>(t2 - t0).count(),
               std::chrono::duration<double>(t1 - t0).count(),
               std::chrono::duration<double>(t2 - t1).count());
  }
  return kExitOk;
}
