// Validation of desired queue attributes against one device, as the kernel's sysfs store
// functions would decide (Linux 6.x block/blk-sysfs.c, block/elevator.c, block/blk-settings.c),
// so that a value the kernel would refuse, clamp or round is reported with its reason and not
// written. Pure: QueueState is read separately (ReadQueueState) and everything else is data.
//
// Rules (kernel function in parentheses):
//   every numeric value: decimal, at most UINT_MAX (queue_var_store: kstrtoul, v > UINT_MAX)
//   scheduler: one of the names the device lists in queue/scheduler (elv_iosched_store; a name
//     not listed would make the kernel try request_module and may load an unvetted elevator)
//   nr_requests: blk-mq queues only; >= BLKDEV_MIN_RQ (4, else raised to 4); > the reserved
//     tags; <= MAX_SCHED_RQ (2048) with an elevator, <= the hardware tags (mq/0/nr_tags) with
//     "none" (queue_requests_store), judged against the scheduler that will be active
//   read_ahead_kb: a multiple of the page size in KiB, else rounded down (queue_ra_store)
//   max_sectors_kb: >= 4 (BLK_MIN_SEGMENT_SIZE; 0 means "default" on >= 6.9), <=
//     max_hw_sectors_kb (EINVAL before 6.9, clamped since), a multiple of the logical block
//     size in KiB, else rounded down (queue_max_sectors_store, blk_validate_limits)
//   discard_max_bytes: v & (discard_granularity - 1) == 0 (queue_max_discard_sectors_store),
//     so 0 only when the device has no discard granularity; <= discard_max_hw_bytes (clamped)
//   rq_affinity 0..2 (others are accepted and ignored), nomerges 0..2 (others read back as 1),
//   add_random and iostats 0 or 1 (other values read back as 1)
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "sysfs/sysfs_reader.h"

namespace diskinv {

// What the device's queue directory says now.
struct QueueState {
  std::string kname;
  std::optional<std::string> scheduler;  // selected; "none" when the list has only none
  std::vector<std::string> schedulers;
  std::map<std::string, uint64_t> values;  // numeric attributes that could be read
  bool blk_mq = false;                     // has an mq/ directory
  std::optional<uint64_t> nr_tags, nr_reserved_tags;  // mq/0/
  // The current value of a tunable attribute as text, as it would be reported; "" if unknown.
  std::string Current(std::string_view attribute) const;
};

// Reads sys/block/<kname>/queue/* and mq/0/* through `reader` (rooted). ENOENT when the device
// is gone.
Result<QueueState> ReadQueueState(SysfsReader& reader, std::string_view kname);

struct TuningVerdict {
  std::string attribute, value;
  bool ok = false;
  std::string reason;  // why not (when !ok)
};

// Verdicts for `desired` in application order (see queue_attribute.h). `page_size` in bytes.
std::vector<TuningVerdict> ValidateTuning(const std::map<std::string, std::string>& desired,
                                          const QueueState& state, uint64_t page_size);

}  // namespace diskinv
