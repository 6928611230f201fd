#include "agent/tuning_validator.h"

#include <cerrno>

#include <fmt/format.h>

#include "common/parse.h"
#include "reconcile/queue_attribute.h"
#include "sysfs/attr_parse.h"

namespace diskinv {
namespace {

constexpr uint64_t kUintMax = 0xffffffffu;
constexpr uint64_t kBlkdevMinRq = 4;    // include/linux/blkdev.h
constexpr uint64_t kMaxSchedRq = 2048;  // block/blk-mq-sched.h: 16 * BLKDEV_DEFAULT_RQ
constexpr uint64_t kMinSegmentKb = 4;   // BLK_MIN_SEGMENT_SIZE / 1024

const char* const kNumeric[] = {"nr_requests",      "read_ahead_kb",       "max_sectors_kb",
                                "max_hw_sectors_kb", "discard_max_bytes",  "discard_max_hw_bytes",
                                "discard_granularity", "logical_block_size", "rq_affinity",
                                "nomerges",          "add_random",          "iostats"};

}  // namespace

std::string QueueState::Current(std::string_view attribute) const {
  if (attribute == "scheduler") return scheduler.value_or("");
  auto it = values.find(std::string(attribute));
  return it == values.end() ? "" : std::to_string(it->second);
}

Result<QueueState> ReadQueueState(SysfsReader& reader, std::string_view kname) {
  if (kname.empty() || kname.find('/') != std::string_view::npos || kname == "." || kname == "..") {
    return Status::Invalid(fmt::format("{} is not a kernel device name", QuoteForError(kname)));
  }
  QueueState st;
  st.kname = kname;
  std::string q = fmt::format("sys/block/{}/queue", kname);
  if (!reader.IsDir(q)) {
    return Status(ENOENT, fmt::format("{}: no such device queue (device gone?)", q));
  }
  if (auto s = reader.ReadFile(q + "/scheduler"); s.ok()) {
    SchedulerList l = ParseScheduler(*s);
    st.schedulers = l.available;
    st.scheduler = l.selected;
    if (!st.scheduler && l.available.size() == 1 && l.available[0] == "none") st.scheduler = "none";
  }
  for (const char* name : kNumeric) {
    auto s = reader.ReadFile(q + "/" + name);
    if (!s.ok()) continue;
    auto v = ParseU64(*s);
    if (v.ok()) st.values[name] = *v;
  }
  std::string mq = fmt::format("sys/block/{}/mq", kname);
  st.blk_mq = reader.IsDir(mq);
  if (st.blk_mq) {
    if (auto s = reader.ReadFile(mq + "/0/nr_tags"); s.ok()) {
      if (auto v = ParseU64(*s); v.ok()) st.nr_tags = *v;
    }
    if (auto s = reader.ReadFile(mq + "/0/nr_reserved_tags"); s.ok()) {
      if (auto v = ParseU64(*s); v.ok()) st.nr_reserved_tags = *v;
    }
  }
  return st;
}

std::vector<TuningVerdict> ValidateTuning(const std::map<std::string, std::string>& desired,
                                          const QueueState& st, uint64_t page_size) {
  std::vector<TuningVerdict> out;
  const uint64_t page_kb = std::max<uint64_t>(page_size / 1024, 1);
  // The scheduler that will be active when nr_requests is written.
  std::optional<std::string> elevator = st.scheduler;
  auto have = [&](const char* name) { return st.values.count(name) > 0; };
  auto value_of = [&](const char* name) { return st.values.at(name); };
  // Unknown attributes first: they are never written.
  for (const auto& [attr, value] : desired) {
    if (FindQueueAttribute(attr) == nullptr) {
      out.push_back({attr, value, false, "not a tunable queue attribute (not on the whitelist)"});
    }
  }
  for (const QueueAttribute& a : TunableQueueAttributes()) {
    auto it = desired.find(a.name);
    if (it == desired.end()) continue;
    TuningVerdict v{a.name, it->second, false, ""};
    auto reject = [&](std::string reason) {
      v.reason = std::move(reason);
      out.push_back(v);
    };
    std::string attr = a.name;
    if (!a.numeric) {  // scheduler
      if (st.schedulers.empty()) {
        reject("the device has no queue/scheduler");
        continue;
      }
      if (Status s = CheckTuningSetting(attr, v.value); !s.ok()) {
        reject(s.message());
        continue;
      }
      bool listed = false;
      for (const auto& s : st.schedulers) listed = listed || s == v.value;
      if (!listed) {
        reject(fmt::format("'{}' is not one of the schedulers the device lists ({})", v.value,
                           fmt::join(st.schedulers, " ")));
        continue;
      }
      elevator = v.value;
      v.ok = true;
      out.push_back(v);
      continue;
    }
    auto parsed = ParseU64(v.value);
    bool digits = !v.value.empty() && v.value.find_first_not_of("0123456789") == std::string::npos;
    if (!digits || !parsed.ok()) {
      reject(fmt::format("{} is not a decimal number (kstrtoul)", QuoteForError(v.value)));
      continue;
    }
    uint64_t n = *parsed;
    if (n > kUintMax) {
      reject(fmt::format("{} is above UINT_MAX (queue_var_store: EINVAL)", n));
      continue;
    }
    if (attr != "nr_requests" && !have(a.name)) {
      reject(fmt::format("the device has no readable queue/{}", attr));
      continue;
    }
    if (attr == "nr_requests") {
      if (!st.blk_mq) {
        reject("not a blk-mq queue: the kernel refuses nr_requests (EINVAL)");
        continue;
      }
      if (n < kBlkdevMinRq) {
        reject(fmt::format("below BLKDEV_MIN_RQ: the kernel would store {}", kBlkdevMinRq));
        continue;
      }
      if (st.nr_reserved_tags && n <= *st.nr_reserved_tags) {
        reject(fmt::format("not above the {} reserved tags (EINVAL)", *st.nr_reserved_tags));
        continue;
      }
      bool none = !elevator || *elevator == "none";
      if (!none && n > kMaxSchedRq) {
        reject(fmt::format("above MAX_SCHED_RQ ({}) with scheduler {} (EINVAL)", kMaxSchedRq,
                           *elevator));
        continue;
      }
      if (none && st.nr_tags && n > *st.nr_tags) {
        reject(fmt::format("above the hardware queue depth {} (mq/0/nr_tags) with scheduler "
                           "none (EINVAL)", *st.nr_tags));
        continue;
      }
    } else if (attr == "read_ahead_kb") {
      if (n % page_kb != 0) {
        reject(fmt::format("not a multiple of the page size ({} KiB): the kernel would store {}",
                           page_kb, n / page_kb * page_kb));
        continue;
      }
    } else if (attr == "max_sectors_kb") {
      uint64_t lbs_kb = have("logical_block_size") ? value_of("logical_block_size") / 1024 : 0;
      if (n < kMinSegmentKb) {
        reject(n == 0 ? std::string("0 means \"the default\" (Linux >= 6.9), not a value")
                      : fmt::format("below the minimum segment size ({} KiB): EINVAL",
                                    kMinSegmentKb));
        continue;
      }
      if (have("max_hw_sectors_kb") && n > value_of("max_hw_sectors_kb")) {
        reject(fmt::format("above max_hw_sectors_kb {} (EINVAL before Linux 6.9, clamped since)",
                           value_of("max_hw_sectors_kb")));
        continue;
      }
      if (lbs_kb > 1 && n % lbs_kb != 0) {
        reject(fmt::format("not a multiple of the logical block size ({} KiB): the kernel would "
                           "store {}", lbs_kb, n / lbs_kb * lbs_kb));
        continue;
      }
    } else if (attr == "discard_max_bytes") {
      uint64_t g = have("discard_granularity") ? value_of("discard_granularity") : 0;
      // The kernel tests max & (granularity - 1) in 32 bits (granularity is unsigned int).
      uint64_t mask = (g - 1) & kUintMax;
      if (g == 0 && n != 0) {
        reject("the device has no discard granularity (no discard support): only 0 is accepted");
        continue;
      }
      if ((n & mask) != 0) {
        reject(fmt::format("not a multiple of discard_granularity {} (EINVAL)", g));
        continue;
      }
      if (have("discard_max_hw_bytes") && n > value_of("discard_max_hw_bytes")) {
        reject(fmt::format("above discard_max_hw_bytes {} (the kernel would clamp it)",
                           value_of("discard_max_hw_bytes")));
        continue;
      }
    } else if (n > a.max) {
      reject(fmt::format("{} is out of range 0..{} (the kernel {} it)", n, a.max,
                         attr == "rq_affinity" ? "accepts and ignores" : "would store 1 for"));
      continue;
    }
    v.ok = true;
    out.push_back(v);
  }
  return out;
}

}  // namespace diskinv
