// Lsn: a PostgreSQL WAL position (64-bit byte offset), printed as "X/X" the way the server does.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"

namespace diskinv {

using Lsn = uint64_t;
inline constexpr Lsn kInvalidLsn = 0;

// "16/B374D848" (upper and lower 32 bits in upper-case hex).
std::string FormatLsn(Lsn lsn);
// Parses "X/X" (1-8 hex digits each side, either case). Rejects anything else.
Result<Lsn> ParseLsn(std::string_view s);

// PostgreSQL timestamps in the replication protocol: microseconds since 2000-01-01 00:00 UTC.
inline constexpr int64_t kPgEpochUnixMicros = 946684800LL * 1000000LL;
int64_t NowPgMicros();
// ISO 8601 UTC with microseconds: "2024-05-01T12:00:00.123456Z".
std::string FormatPgTimestamp(int64_t pg_micros);

}  // namespace diskinv
