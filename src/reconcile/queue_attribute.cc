#include "reconcile/queue_attribute.h"

#include <fmt/format.h>

#include "common/parse.h"

namespace diskinv {

const std::vector<QueueAttribute>& TunableQueueAttributes() {
  // Limits from block/blk-sysfs.c (Linux 6.x): queue_var_store() rejects values above
  // UINT_MAX; rq_affinity 0-2, nomerges 0-2, add_random/iostats 0-1.
  static const std::vector<QueueAttribute> attrs = {
      {"scheduler", false, 0, "I/O scheduler (elevator): one of those the device lists"},
      {"nr_requests", true, 0xffffffffu, "request queue depth (blk-mq)"},
      {"read_ahead_kb", true, 0xffffffffu, "read-ahead in KiB (a multiple of the page size)"},
      {"max_sectors_kb", true, 0xffffffffu, "largest I/O in KiB (<= max_hw_sectors_kb)"},
      {"discard_max_bytes", true, 0xffffffffu,
       "largest discard in bytes (a multiple of discard_granularity, <= discard_max_hw_bytes)"},
      {"rq_affinity", true, 2, "complete on the submitting CPU group (1) or CPU (2)"},
      {"nomerges", true, 2, "disable merges: 1 simple ones, 2 all"},
      {"add_random", true, 1, "feed the entropy pool"},
      {"iostats", true, 1, "I/O statistics"},
  };
  return attrs;
}

const QueueAttribute* FindQueueAttribute(std::string_view name) {
  for (const auto& a : TunableQueueAttributes()) {
    if (name == a.name) return &a;
  }
  return nullptr;
}

Status CheckTuningSetting(std::string_view name, std::string_view value) {
  const QueueAttribute* a = FindQueueAttribute(name);
  if (a == nullptr) {
    std::string names;
    for (const auto& x : TunableQueueAttributes()) names += (names.empty() ? "" : ", ") + std::string(x.name);
    return Status::Invalid(fmt::format("'{}' is not a tunable queue attribute (tunable: {})",
                                       QuoteForError(name), names));
  }
  if (!a->numeric) {
    bool ok = !value.empty() && value.size() <= 15;
    for (char c : value) {
      ok = ok && ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_');
    }
    if (!ok) {
      return Status::Invalid(fmt::format("{}: '{}' is not a scheduler name (at most 15 of a-z 0-9 "
                                         "- _)", name, QuoteForError(value)));
    }
    return Status::Ok();
  }
  for (char c : value) {
    if (c < '0' || c > '9') {
      return Status::Invalid(fmt::format("{}: '{}' is not a decimal number", name,
                                         QuoteForError(value)));
    }
  }
  auto v = ParseU64(value);
  if (!v.ok()) return Status::Invalid(fmt::format("{}: {}", name, v.status().message()));
  if (*v > a->max) {
    return Status::Invalid(fmt::format("{}: {} is above the kernel's limit {}", name, *v, a->max));
  }
  return Status::Ok();
}

}  // namespace diskinv
