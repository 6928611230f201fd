// Small, pure parsers for values read from the kernel: numbers, dev_t pairs, trimmed strings.
// None of them does I/O; all distrust their input (no NUL termination assumed, bounded).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"

namespace diskinv {

// Strips trailing newline(s) and ASCII whitespace, as sysfs attribute files end with "\n".
std::string_view TrimTrailing(std::string_view s);
// Strips leading and trailing ASCII whitespace.
std::string_view Trim(std::string_view s);

// Parses a decimal unsigned integer with optional surrounding whitespace. Rejects an empty
// value, signs, trailing garbage and overflow, with a message quoting (a bounded part of) the input.
Result<uint64_t> ParseU64(std::string_view s);
// Parses a decimal signed integer (for attributes such as "alignment_offset" that may be -1).
Result<int64_t> ParseI64(std::string_view s);

struct DevNum {
  uint32_t major = 0;
  uint32_t minor = 0;
  bool operator==(const DevNum&) const = default;
};
// Parses "MAJ:MIN" (the "dev" attribute).
Result<DevNum> ParseDevNum(std::string_view s);

// Collapses runs of whitespace into one space and trims the ends, as lsblk does for model and
// serial strings (util-linux normalize_whitespace).
std::string NormalizeWhitespace(std::string_view s);

// Decodes udev/blkid "\xNN" escapes (ID_MODEL_ENC, ID_FS_LABEL_ENC); other bytes are copied.
std::string UnhexMangle(std::string_view s);

// Quotes a value for an error message: at most 32 bytes, non-printable bytes as \xNN.
std::string QuoteForError(std::string_view s);

}  // namespace diskinv
