// The queue attributes diskinv may tune (/sys/block/<disk>/queue/<name>): the whitelist shared
// by the controller (which checks a profile's syntax when it is created) and the agent (which
// validates values against the device as the kernel would, writes only these, and re-reads).
// The order is the order of application: the scheduler first, because switching it resets
// nr_requests to the new elevator's default.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace diskinv {

struct QueueAttribute {
  const char* name;
  bool numeric;       // a decimal unsigned value (kstrtoul); else a name (scheduler)
  uint64_t max;       // largest value the kernel's store function accepts
  const char* help;
};

// scheduler, nr_requests, read_ahead_kb, max_sectors_kb, discard_max_bytes, rq_affinity,
// nomerges, add_random, iostats, in application order.
const std::vector<QueueAttribute>& TunableQueueAttributes();
const QueueAttribute* FindQueueAttribute(std::string_view name);
// Syntax only (the device decides the rest): a known attribute, a decimal number within the
// attribute's range, or a scheduler name of at most 15 characters [a-z0-9_-].
Status CheckTuningSetting(std::string_view name, std::string_view value);

}  // namespace diskinv
