// TuningApplier: makes one device's queue attributes equal to the desired ones, or says why not.
//
// Apply (a new desired generation): read the queue, validate every desired value as the kernel
// would (tuning_validator.h), write only the valid ones that differ from the current value, in
// application order (scheduler first), re-read, and report what the kernel now shows. A value
// refused by validation or by the kernel (write error), or read back different from what was
// written (the kernel clamped or rounded it), is a rejection with its reason, never silently
// "applied".
// Resync (the same generation again, e.g. periodically): compare the device with the desired
// values; a difference is drift (someone changed it by hand). With drift_action "repair" the
// value is written again; with "report" it is only reported.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "agent/tuning_sysfs_writer.h"
#include "agent/tuning_validator.h"
#include "sysfs/sysfs_reader.h"

namespace diskinv {

struct TuningOutcome {
  std::map<std::string, std::string> observed;  // every desired attribute, as read after
  std::map<std::string, std::string> rejected;  // attribute -> reason (not applied)
  struct Drift {
    std::string desired, found;
    bool repaired = false;
  };
  std::map<std::string, Drift> drift;
  std::vector<std::string> written;  // attributes written this time
  // applied: observed == desired for all; partial: some rejected; rejected: all rejected;
  // drift: drift found and not repaired; error: the device could not be read.
  std::string status;
  std::string error;
};

class TuningApplier {
 public:
  TuningApplier(SysfsReader& reader, TuningSysfsWriter& writer, uint64_t page_size)
      : reader_(reader), writer_(writer), page_size_(page_size) {}

  // `resync`: the desired values were applied before (same generation): look for drift and
  // repair it when `repair_drift`.
  TuningOutcome Apply(std::string_view kname, const std::map<std::string, std::string>& desired,
                      bool resync, bool repair_drift);

 private:
  SysfsReader& reader_;
  TuningSysfsWriter& writer_;
  uint64_t page_size_;
};

}  // namespace diskinv
