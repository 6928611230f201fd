// Parser throughput (issue 3: >= 2 million datagrams per second per core): the captured kernel
// and udev datagrams of fixtures/uevent, plus the fast rejections.
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "uevent/coalescer.h"
#include "uevent/uevent.h"

namespace diskinv {
namespace {

std::string Fixture(const char* rel) {
  const char* src = std::getenv("DISKINV_SOURCE_DIR");
  std::filesystem::path dir = src ? std::filesystem::path(src)
                                  : std::filesystem::path(__FILE__).parent_path().parent_path();
  std::ifstream f(dir / "fixtures/uevent" / rel, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  if (ss.str().empty()) std::abort();
  return ss.str();
}

void BM_Kernel(benchmark::State& state, const char* rel) {
  std::string d = Fixture(rel);
  for (auto _ : state) {
    Result<Uevent> ev = ParseKernelUevent(d);
    benchmark::DoNotOptimize(ev);
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * d.size());
}

void BM_Udev(benchmark::State& state, const char* rel) {
  std::string d = Fixture(rel);
  for (auto _ : state) {
    Result<Uevent> ev = ParseUdevMonitorMessage(d);
    benchmark::DoNotOptimize(ev);
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * d.size());
}

// The per-event CPU work of a storm before any probe: parse, then the coalescer (one device,
// so every event after the first merges into a pending run; Poll as the agent loop does).
void BM_ParseAndCoalesce(benchmark::State& state) {
  std::string d = Fixture("kernel/loop-attach-change.bin");
  Coalescer c({.burst_threshold = 0});
  uint64_t n = 0;
  for (auto _ : state) {
    Result<Uevent> ev = ParseKernelUevent(d);
    c.Push(std::move(ev).value());
    auto out = c.Poll();
    benchmark::DoNotOptimize(out);
    if (++n % 4096 == 0) c.Flush();
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ParseAndCoalesce);

BENCHMARK_CAPTURE(BM_Kernel, loop_change, "kernel/loop-attach-change.bin");
BENCHMARK_CAPTURE(BM_Kernel, synth_change, "kernel/loop-change-synth-uuid-arg.bin");
BENCHMARK_CAPTURE(BM_Kernel, zram_add, "kernel/zram-hot-add.bin");
BENCHMARK_CAPTURE(BM_Kernel, reject_header_mismatch,
                  "malformed/kernel/header_mismatch--devpath.bin");
BENCHMARK_CAPTURE(BM_Kernel, reject_not_nul_terminated,
                  "malformed/kernel/not_nul_terminated--last-byte.bin");
BENCHMARK_CAPTURE(BM_Udev, loop_change, "udev/loop-attach-change.bin");
BENCHMARK_CAPTURE(BM_Udev, reject_bad_magic, "malformed/udev/bad_magic--zero.bin");

}  // namespace
}  // namespace diskinv
