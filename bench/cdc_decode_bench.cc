// pgoutput decoding throughput (issue 5: decoder messages/s), over streams captured from
// PostgreSQL 15 (fixtures/pgoutput): the bare decoder, and the decoder + transaction assembler
// producing EventGroups as the consumer's stream thread does.
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <utility>
#include <vector>

#include "cdc/pgoutput_decoder.h"
#include "cdc/replication_message.h"
#include "cdc/transaction_assembler.h"

namespace diskinv {
namespace {

std::vector<std::pair<Lsn, std::string>> Fixture(const char* name) {
  const char* src = std::getenv("DISKINV_SOURCE_DIR");
  std::filesystem::path dir = src ? std::filesystem::path(src)
                                  : std::filesystem::path(__FILE__).parent_path().parent_path();
  std::ifstream f(dir / "fixtures/pgoutput" / (std::string(name) + ".bin"), std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  std::string d = ss.str();
  std::vector<std::pair<Lsn, std::string>> out;
  for (size_t i = 0; i + 12 <= d.size();) {
    uint64_t lsn = 0;
    uint32_t n = 0;
    for (int k = 0; k < 8; ++k) lsn = (lsn << 8) | static_cast<uint8_t>(d[i + k]);
    for (int k = 8; k < 12; ++k) n = (n << 8) | static_cast<uint8_t>(d[i + k]);
    out.emplace_back(lsn, d.substr(i + 12, n));
    i += 12 + n;
  }
  if (out.empty()) std::abort();
  return out;
}

void BM_Decode(benchmark::State& state, const char* name) {
  auto msgs = Fixture(name);
  PgoutputMessage m;
  PgoutputDecodeOptions opt;
  size_t bytes = 0;
  for (auto _ : state) {
    for (const auto& [lsn, payload] : msgs) {
      Status s = DecodePgoutput(payload, opt, &m);
      benchmark::DoNotOptimize(s);
      bytes += payload.size();
    }
  }
  state.SetItemsProcessed(state.iterations() * msgs.size());
  state.SetBytesProcessed(bytes);
}

// The stream thread's work per message: parse the XLogData frame, decode, assemble EventGroups
// (recycled through the pool as the handler thread would).
void BM_FrameDecodeAssemble(benchmark::State& state, const char* name) {
  auto msgs = Fixture(name);
  std::vector<std::string> frames;
  for (const auto& [lsn, payload] : msgs) frames.push_back(XLogDataFrame(lsn, lsn, 0, payload));
  EventGroupPool pool;
  TransactionAssembler a({}, &pool);
  uint64_t groups = 0;
  auto sink = [&](std::unique_ptr<EventGroup> g) {
    ++groups;
    pool.Release(std::move(g));
    return Status::Ok();
  };
  for (auto _ : state) {
    for (const std::string& f : frames) {
      auto frame = ParseServerFrame(f);
      Status s = a.Feed(frame->xlog, sink);
      if (!s.ok()) state.SkipWithError(s.message().c_str());
    }
  }
  state.SetItemsProcessed(state.iterations() * frames.size());
  state.counters["txn/s"] =
      benchmark::Counter(static_cast<double>(groups), benchmark::Counter::kIsRate);
}

BENCHMARK_CAPTURE(BM_Decode, pgbench, "pgbench");
BENCHMARK_CAPTURE(BM_Decode, basic, "basic");
BENCHMARK_CAPTURE(BM_Decode, ddl, "ddl");
BENCHMARK_CAPTURE(BM_Decode, toast, "toast");
BENCHMARK_CAPTURE(BM_FrameDecodeAssemble, pgbench, "pgbench");
BENCHMARK_CAPTURE(BM_FrameDecodeAssemble, basic, "basic");

}  // namespace
}  // namespace diskinv
