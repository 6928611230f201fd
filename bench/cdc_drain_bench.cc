// Draining a replication slot with the CDC consumer, fully decoding into EventGroups (issue 5:
// the side-by-side with pg_recvlogical is bench/cdc_drain_vs_recvlogical, which runs this
// program). Configured by the environment, because it needs a prepared server and slot:
//   CDC_BENCH_URL        database URL
//   CDC_BENCH_SLOT       a logical slot (pgoutput) with the backlog
//   CDC_BENCH_PUB        publication name
//   CDC_BENCH_TXNS       drain: stop once this many transactions were handled
//   CDC_BENCH_SECONDS    live: stream for this long instead
// One iteration; reports wall time, transactions and messages per second, process CPU (user +
// system, both threads) per message and the peak queue size.
#include <benchmark/benchmark.h>
#include <sys/resource.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <string>
#include <thread>

#include "cdc/cdc_consumer.h"

namespace diskinv {
namespace {

// Counts what it is given; touches every value so nothing decoded goes unread.
class CountingHandler : public ChangeHandler {
 public:
  Status Handle(std::span<const EventGroup* const> groups, PgConnection*) override {
    for (const EventGroup* g : groups) {
      for (const Change& c : g->changes()) {
        TupleView t = g->NewTuple(c);
        for (size_t i = 0; i < t.size(); ++i) bytes += t.bytes(i).size();
      }
    }
    return Status::Ok();
  }
  uint64_t bytes = 0;
};

double CpuSeconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_utime.tv_sec + u.ru_stime.tv_sec + (u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

void BM_DrainSlot(benchmark::State& state) {
  const char* url = std::getenv("CDC_BENCH_URL");
  const char* slot = std::getenv("CDC_BENCH_SLOT");
  const char* pub = std::getenv("CDC_BENCH_PUB");
  const char* txns = std::getenv("CDC_BENCH_TXNS");
  const char* secs = std::getenv("CDC_BENCH_SECONDS");
  if (!url || !slot || !pub || (!txns && !secs)) {
    state.SkipWithError(
        "set CDC_BENCH_URL, CDC_BENCH_SLOT, CDC_BENCH_PUB and CDC_BENCH_TXNS or "
        "CDC_BENCH_SECONDS (bench/cdc_drain_vs_recvlogical does)");
    return;
  }
  uint64_t want = txns ? std::strtoull(txns, nullptr, 10) : 0;
  for (auto _ : state) {
    ConsumerOptions o;
    o.url = url;
    o.slot = slot;
    o.publications = {pub};
    o.max_reconnects = 0;
    CountingHandler h;
    CdcConsumer c(o, &h);
    std::atomic<bool> stop{false};
    double cpu0 = CpuSeconds();
    auto t0 = std::chrono::steady_clock::now();
    std::thread watcher([&] {
      auto end = t0 + std::chrono::seconds(secs ? std::atoi(secs) : 3600);
      while (!stop.load()) {
        if ((want && c.stats().transactions.load() >= want) ||
            std::chrono::steady_clock::now() >= end) {
          stop = true;
        }
        std::this_thread::sleep_for(std::chrono::microseconds(500));
      }
    });
    Status s = c.Run(stop);
    stop = true;
    watcher.join();
    double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    double cpu = CpuSeconds() - cpu0;
    if (!s.ok()) state.SkipWithError(s.message().c_str());
    double msgs = static_cast<double>(c.stats().frames.load() - c.stats().keepalives.load());
    state.counters["wall_s"] = wall;
    state.counters["txn"] = static_cast<double>(c.stats().transactions.load());
    state.counters["msgs"] = msgs;
    state.counters["txn_per_s"] = c.stats().transactions.load() / wall;
    state.counters["msgs_per_s"] = msgs / wall;
    state.counters["cpu_s"] = cpu;
    state.counters["cpu_us_per_msg"] = msgs > 0 ? cpu * 1e6 / msgs : 0;
    state.counters["queue_peak_MB"] = c.stats().queue_bytes_peak.load() / 1048576.0;
    state.counters["acked_lag_B"] =
        static_cast<double>(c.stats().received_lsn.load() - c.stats().acked_lsn.load());
  }
}

BENCHMARK(BM_DrainSlot)->Iterations(1)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
}  // namespace diskinv
