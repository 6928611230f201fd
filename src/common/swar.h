// Byte scans eight bytes at a time in a uint64_t ("SIMD within a register"), for the hot
// loops over short strings (uevent keys and values, JSON strings) where a call to memchr or a
// byte-by-byte loop costs more than the search. Little-endian only (x86-64, arm64).
//
// Each function flags bytes by their high bit. A flag can be wrong only above a true one (the
// borrow of a subtraction), so the lowest flag is exact: std::countr_zero(flags) / 8 is the
// index of the first matching byte.
#pragma once

#include <cstdint>

namespace diskinv::swar {

inline constexpr uint64_t kOnes = 0x0101010101010101, kHighs = 0x8080808080808080;

// Bytes equal to 0.
constexpr uint64_t ZeroBytes(uint64_t w) { return (w - kOnes) & ~w & kHighs; }
// Bytes equal to `c`.
constexpr uint64_t BytesEqual(uint64_t w, unsigned char c) { return ZeroBytes(w ^ (kOnes * c)); }
// Bytes below `n` (n <= 0x80) or at or above 0x80.
constexpr uint64_t BytesBelowOrHigh(uint64_t w, unsigned char n) {
  return ((w - kOnes * n) & ~w & kHighs) | (w & kHighs);
}

}  // namespace diskinv::swar
