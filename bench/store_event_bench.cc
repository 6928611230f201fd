// Cost of one event's write (InventoryStore::Sync with the touched knames) as a function of the
// node's size: an inventory of N disks with 2 partitions each (3N devices), loaded once by a
// full Sync; then every iteration changes the size of one disk (a different one each time) and
// syncs with that kname touched: identities, rows, the guarded UPDATE and the COMMIT, against a
// private PostgreSQL 15 with production settings (fsync on) in /var/tmp. Side by side: the
// same write for a node of 100 disks, the floor an event should cost whatever the node's size.
//
//   sudo build/bench/store_event_bench --benchmark_repetitions=3
//
// Without a database, the identity part alone: IdentifyInventory of the whole node (what every
// event cost before NodeIndex) and NodeIndex::Update for one touched disk (what it costs now).
//
// Needs root (the server runs as the user diskinv) and postgresql-15 (BM_EventSync only).
#include <benchmark/benchmark.h>
#include <fmt/format.h>
#include <unistd.h>

#include <filesystem>

#include "store/embedded_postgres.h"
#include "store/inventory_store.h"
#include "store/migrations.h"
#include "store/node_index.h"

namespace diskinv {
namespace {

BlockDevice Disk(size_t k) {
  BlockDevice d;
  d.kname = d.name = fmt::format("sd{}", k);
  d.type = "disk";
  d.devnum = {8, static_cast<uint32_t>(k * 16)};
  d.size_bytes = 960197124096;
  d.vendor = "ATA";
  d.model = "INTEL SSDSC2KB96";
  d.tran = "sata";
  d.serial = fmt::format("BTYF{:08d}", k);
  d.wwn = fmt::format("0x5000c500{:08x}", k + 1);
  d.udev.properties = {{"ID_PATH", fmt::format("pci-0000:00:17.0-ata-{}", k + 1)}};
  d.queue.Mutable().rotational = false;
  d.queue.Mutable().scheduler = "mq-deadline";
  d.partitions = {d.kname + "p1", d.kname + "p2"};
  return d;
}

BlockDevice Partition(const BlockDevice& disk, int n) {
  BlockDevice p = disk;
  p.kname = p.name = fmt::format("{}p{}", disk.kname, n);
  p.type = "part";
  p.is_partition = true;
  p.pkname = disk.kname;
  p.partitions.clear();
  p.partn = static_cast<uint64_t>(n);
  p.start = 2048;
  p.size_bytes = uint64_t{1} << 30;
  p.devnum.minor += static_cast<uint32_t>(n);
  return p;
}

struct Server {
  std::unique_ptr<EmbeddedPostgres> pg;
  std::string error;
  Server() {
    EmbeddedPostgresOptions po;
    po.state_dir = fmt::format("/var/tmp/diskinv-store-bench.{}", getpid());
    po.port = 55443;
    auto s = EmbeddedPostgres::Start(po);
    if (!s.ok()) {
      error = s.status().message();
      std::error_code ec;
      std::filesystem::remove_all(po.state_dir, ec);  // what a failed start left
      return;
    }
    pg = std::move(*s);
    auto c = PgConnection::Connect(pg->url());
    if (!c.ok() || !Migrate(**c).ok()) error = "migration failed";
  }
  ~Server() {
    if (pg) {
      std::string dir = fmt::format("/var/tmp/diskinv-store-bench.{}", getpid());
      pg.reset();
      std::error_code ec;
      std::filesystem::remove_all(dir, ec);
    }
  }
};

Server& TheServer() {
  static Server s;
  return s;
}

Inventory Node(size_t disks) {
  Inventory inv;
  for (size_t k = 0; k < disks; ++k) {
    BlockDevice d = Disk(k);
    inv.Add(Partition(d, 1));
    inv.Add(Partition(d, 2));
    inv.Add(std::move(d));
  }
  return inv;
}

void BM_IdentifyInventory(benchmark::State& state) {
  Inventory inv = Node(static_cast<size_t>(state.range(0)));
  for (auto _ : state) benchmark::DoNotOptimize(IdentifyInventory(inv, "m1"));
  state.counters["devices"] = static_cast<double>(inv.size());
}
BENCHMARK(BM_IdentifyInventory)->Arg(100)->Arg(1000)->Arg(10000)->Unit(benchmark::kMillisecond);

void BM_NodeIndexRebuild(benchmark::State& state) {
  Inventory inv = Node(static_cast<size_t>(state.range(0)));
  NodeIndex index("m1");
  for (auto _ : state) index.Rebuild(inv);
  state.counters["devices"] = static_cast<double>(inv.size());
}
BENCHMARK(BM_NodeIndexRebuild)->Arg(10000)->Unit(benchmark::kMillisecond);

void BM_NodeIndexUpdate(benchmark::State& state) {
  const size_t disks = static_cast<size_t>(state.range(0));
  Inventory inv = Node(disks);
  NodeIndex index("m1");
  index.Rebuild(inv);
  size_t k = 0;
  for (auto _ : state) {
    std::string kname = fmt::format("sd{}", k);
    BlockDevice d = *inv.FindByName(kname);
    *d.size_bytes += 4096;
    inv.Add(std::move(d));
    benchmark::DoNotOptimize(index.Update(inv, {kname}));
    k = (k + 1) % disks;
  }
  state.counters["devices"] = static_cast<double>(inv.size());
}
BENCHMARK(BM_NodeIndexUpdate)->Arg(100)->Arg(1000)->Arg(10000)->Unit(benchmark::kMicrosecond);

void BM_EventSync(benchmark::State& state) {
  if (geteuid() != 0) {
    state.SkipWithError("needs root");
    return;
  }
  Server& server = TheServer();
  if (!server.error.empty()) {
    state.SkipWithError(server.error.c_str());
    return;
  }
  const size_t disks = static_cast<size_t>(state.range(0));
  Inventory inv = Node(disks);
  auto store = InventoryStore::Connect(server.pg->url());
  if (!store.ok()) {
    state.SkipWithError(store.status().message().c_str());
    return;
  }
  // One node per size, so that the runs do not see each other's rows.
  auto node = (*store)->RegisterNode(
      {fmt::format("{:032x}", disks), fmt::format("bench-{}", disks), "boot", "bench"});
  if (!node.ok() || !(*store)->Sync(*node, inv).ok()) {
    state.SkipWithError("initial load failed");
    return;
  }
  size_t k = 0;
  uint64_t writes = 0;
  for (auto _ : state) {
    BlockDevice d = *inv.FindByName(fmt::format("sd{}", k));
    *d.size_bytes += 4096;
    inv.Add(std::move(d));
    std::vector<std::string> touched = {fmt::format("sd{}", k)};
    auto st = (*store)->Sync(*node, inv, &touched);
    if (!st.ok()) {
      state.SkipWithError(st.status().message().c_str());
      return;
    }
    writes += st->writes();
    k = (k + 1) % disks;
  }
  state.counters["devices"] = static_cast<double>(inv.size());
  state.counters["writes_per_event"] =
      benchmark::Counter(static_cast<double>(writes), benchmark::Counter::kAvgIterations);
}
BENCHMARK(BM_EventSync)->Arg(100)->Arg(1000)->Arg(10000)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace diskinv
