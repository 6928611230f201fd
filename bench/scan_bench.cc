// Google Benchmark: the pure pieces of a scan (parsers, JSON rendering) without I/O.
#include <benchmark/benchmark.h>

#include "cli/output.h"
#include "common/parse.h"
#include "sysfs/attr_parse.h"
#include "sysfs/udev_db.h"

namespace diskinv {
namespace {

constexpr const char* kUdevRecord =
    "S:disk/by-id/nvme-eui.0025388b71b1c0e3\nS:disk/by-path/pci-0000:01:00.0-nvme-1\n"
    "S:disk/by-id/nvme-Samsung_SSD_970_EVO_Plus_1TB_S4EWNX0R123456\nI:1733300000123456\n"
    "E:ID_SERIAL_SHORT=S4EWNX0R123456\nE:ID_WWN=eui.0025388b71b1c0e3\n"
    "E:ID_MODEL=Samsung SSD 970 EVO Plus 1TB\nE:ID_REVISION=2B2QEXM7\nE:ID_NSID=1\n"
    "E:ID_SERIAL=Samsung_SSD_970_EVO_Plus_1TB_S4EWNX0R123456\nE:ID_PATH=pci-0000:01:00.0-nvme-1\n"
    "E:ID_PATH_TAG=pci-0000_01_00_0-nvme-1\nE:ID_PART_TABLE_UUID=1b2c3d4e\nE:ID_PART_TABLE_TYPE=gpt\n"
    "G:systemd\nQ:systemd\nV:1\n";

void BM_ParseUdevDbRecord(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(ParseUdevDbRecord(kUdevRecord));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ParseUdevDbRecord);

void BM_ParseU64(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(ParseU64("2000398934016\n"));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ParseU64);

void BM_ParseScheduler(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(ParseScheduler("[mq-deadline] kyber bfq none\n"));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ParseScheduler);

void BM_InventoryToJson(benchmark::State& state) {
  Inventory inv;
  for (int i = 0; i < state.range(0); ++i) {
    BlockDevice d;
    d.kname = d.name = "sd" + std::to_string(i);
    d.path = "/dev/" + d.kname;
    d.devnum = {8, static_cast<uint32_t>(i)};
    d.type = "disk";
    d.size_bytes = 4000787030016;
    d.model = "ST4000NM0035-1V4107";
    d.serial = "ZC1" + std::to_string(i);
    d.wwn = "0x5000c500a1b2c3d4";
    d.queue.Mutable().logical_block_size = 512;
    d.queue.Mutable().scheduler = "mq-deadline";
    d.udev = ParseUdevDbRecord(kUdevRecord);
    inv.Add(std::move(d));
  }
  OutputOptions opt;
  for (auto _ : state) benchmark::DoNotOptimize(InventoryToJson(inv, opt));
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_InventoryToJson)->Arg(1000);

}  // namespace
}  // namespace diskinv
