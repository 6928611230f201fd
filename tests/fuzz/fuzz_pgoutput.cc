// libFuzzer target for the CDC decoding path (scripts/fuzz-pgoutput builds and runs it). The
// input is a sequence of length-prefixed CopyData frames (u16 length, then the bytes), fed
// through ParseServerFrame, DecodePgoutput and the TransactionAssembler as the consumer does,
// with small part limits. Beyond "no crash, no sanitizer report" it checks the contract: every
// rejected message has a reason; an accepted message never reads past the input; a group's
// tuples have as many values as its relation has columns; parts are bounded; only the last part
// of a transaction has an end LSN.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "cdc/pgoutput_decoder.h"
#include "cdc/replication_message.h"
#include "cdc/transaction_assembler.h"

namespace {

void Check(bool ok) {
  if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace diskinv;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  // The first byte picks the protocol version for the bare decoder check.
  PgoutputDecodeOptions dopt;
  if (!in.empty()) {
    dopt.proto_version = 1 + static_cast<uint8_t>(in[0]) % 4;
    dopt.in_stream = (static_cast<uint8_t>(in[0]) & 0x10) != 0;
  }
  PgoutputMessage m;
  Status bare = DecodePgoutput(in.empty() ? in : in.substr(1), dopt, &m);
  Check(bare.ok() || !bare.message().empty());
  if (bare.ok()) {
    for (const auto& c : m.new_tuple) {
      Check(c.data.empty() || (c.data.data() >= in.data() && c.data.data() + c.data.size() <= in.data() + in.size()));
    }
  }
  EventGroupPool pool(4, 1 << 16);
  AssemblerOptions aopt;
  aopt.max_changes = 8;
  aopt.max_bytes = 4096;
  aopt.proto_version = 1;
  TransactionAssembler a(aopt, &pool);
  auto sink = [&](std::unique_ptr<EventGroup> g) {
    Check(g->changes().size() <= aopt.max_changes);
    Check(g->last_part || g->end_lsn == 0);
    for (const Change& c : g->changes()) {
      if (c.kind == ChangeKind::kInsert || c.kind == ChangeKind::kUpdate) {
        Check(c.relation != nullptr && g->NewTuple(c).size() == c.relation->columns.size());
      }
      if (c.old_kind != 0) Check(g->OldTuple(c).size() == c.relation->columns.size());
    }
    pool.Release(std::move(g));
    return Status::Ok();
  };
  size_t pos = 1;
  while (pos + 2 <= in.size()) {
    size_t n = (static_cast<uint8_t>(in[pos]) << 8) | static_cast<uint8_t>(in[pos + 1]);
    pos += 2;
    if (pos + n > in.size()) n = in.size() - pos;
    std::string_view frame = in.substr(pos, n);
    pos += n;
    auto f = ParseServerFrame(frame);
    if (!f.ok()) {
      Check(!f.status().message().empty());
      continue;
    }
    if (f->kind != ServerFrame::kXLogData) continue;
    Status s = a.Feed(f->xlog, sink);
    Check(s.ok() || !s.message().empty());
    if (!s.ok()) break;  // the consumer stops at the first error, as here
  }
  return 0;
}
