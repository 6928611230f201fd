// Parser for one udev database record (/run/udev/data/bMAJ:MIN), as systemd-udevd writes it:
// one "X:value" per line — E: property KEY=VALUE, S: devlink below /dev, G: tag, Q: current tag,
// I: initialization time in usec, W: watch handle, L: link priority, V: db version.
// Pure and total: unknown line types are counted and skipped, malformed lines are counted, never
// fatal. Bounded: at most kMaxLines lines are looked at.
#pragma once

#include <string_view>

#include "model/block_device.h"

namespace diskinv {

struct UdevDbParseStats {
  uint32_t lines = 0;
  uint32_t unknown = 0;    // line types we do not use
  uint32_t malformed = 0;  // no ':' or an E: line without '='
};

inline constexpr uint32_t kUdevDbMaxLines = 4096;

// Parses `data` into a UdevRecord (present = true).
UdevRecord ParseUdevDbRecord(std::string_view data, UdevDbParseStats* stats = nullptr);

}  // namespace diskinv
