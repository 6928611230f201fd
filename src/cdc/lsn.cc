#include "cdc/lsn.h"

#include <chrono>
#include <ctime>

#include <fmt/format.h>

namespace diskinv {

std::string FormatLsn(Lsn lsn) {
  return fmt::format("{:X}/{:X}", static_cast<uint32_t>(lsn >> 32), static_cast<uint32_t>(lsn));
}

Result<Lsn> ParseLsn(std::string_view s) {
  size_t slash = s.find('/');
  auto hex = [](std::string_view h, uint64_t* out) {
    if (h.empty() || h.size() > 8) return false;
    uint64_t v = 0;
    for (char c : h) {
      int d = c >= '0' && c <= '9'   ? c - '0'
              : c >= 'a' && c <= 'f' ? c - 'a' + 10
              : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                     : -1;
      if (d < 0) return false;
      v = v * 16 + static_cast<uint64_t>(d);
    }
    *out = v;
    return true;
  };
  uint64_t hi = 0, lo = 0;
  if (slash == std::string_view::npos || !hex(s.substr(0, slash), &hi) ||
      !hex(s.substr(slash + 1), &lo)) {
    return Status::Invalid(fmt::format("'{}' is not an LSN (expected X/X in hex)", s.substr(0, 40)));
  }
  return (hi << 32) | lo;
}

int64_t NowPgMicros() {
  auto now = std::chrono::system_clock::now().time_since_epoch();
  return std::chrono::duration_cast<std::chrono::microseconds>(now).count() - kPgEpochUnixMicros;
}

std::string FormatPgTimestamp(int64_t pg_micros) {
  int64_t unix_us = pg_micros + kPgEpochUnixMicros;
  int64_t secs = unix_us >= 0 ? unix_us / 1000000 : (unix_us - 999999) / 1000000;
  int64_t frac = unix_us - secs * 1000000;
  std::time_t t = static_cast<std::time_t>(secs);
  std::tm tm{};
  gmtime_r(&t, &tm);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
}

}  // namespace diskinv
