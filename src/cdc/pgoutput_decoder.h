// Pure decoder of pgoutput messages (STYLE.md rule 4): bytes in, PgoutputMessage out, no I/O.
//
// Every length is checked against the buffer; a message that is truncated, has trailing bytes,
// an unknown tag or tuple kind, a string without its NUL, or counts out of PostgreSQL's range
// is rejected with a message naming the message type and the offset. Nothing is assumed
// NUL-terminated. Fuzzed by tests/fuzz/fuzz_pgoutput.cc over fixtures/pgoutput.
#pragma once

#include <string_view>

#include "cdc/pgoutput_message.h"
#include "common/status.h"

namespace diskinv {

struct PgoutputDecodeOptions {
  int proto_version = 1;   // messages of a higher protocol are rejected
  bool in_stream = false;  // between Stream Start and Stream Stop: R/Y/I/U/D/T/M carry an xid
};

// PostgreSQL's MaxTupleAttributeNumber: no relation or tuple has more columns.
inline constexpr int kMaxPgColumns = 1664;

// Decodes `in` (one XLogData payload) into `*out`, whose vectors are reused.
Status DecodePgoutput(std::string_view in, const PgoutputDecodeOptions& options,
                      PgoutputMessage* out);

}  // namespace diskinv
