// SelfCheck: proves that uevent listeners are live, by a round trip through the kernel.
//
// It writes "change <uuid> DISKINV=<tag>" into <sysroot>/sys/class/block/<device>/uevent. The
// kernel answers with a synthetic change event carrying SYNTH_UUID=<uuid> and
// SYNTH_ARG_DISKINV=<tag>: the kernel socket gets it at once, a udev monitor after udevd ran
// its rules for it. The check passes when every given source returned that event within the
// timeout; it fails with the names of the sources that stayed silent.
//
// Nothing is swallowed: every event and Resync a source returns while the check waits
// (including the self-check event itself) goes to `sink`, in arrival order per source, so a
// caller can run the check on sources it already consumes. The write needs root; a udev
// monitor filtered by tag sees the event only for a device udev tagged so.
//
// Used by `diskinv monitor --selftest` and by the agent at start-up.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "uevent/uevent_source.h"

namespace diskinv {

struct SelfCheckOptions {
  std::string sysroot = "/";
  // Kernel name of the block device to trigger ("loop0", "sda"); empty: the first entry of
  // <sysroot>/sys/block in name order.
  std::string device;
  std::chrono::milliseconds timeout{5000};
  // SYNTH_ARG_DISKINV=<tag>: marks the event as ours for anyone watching (no whitespace).
  std::string tag = "selftest";
};

struct SelfCheckReport {
  std::string device;  // "loop0"
  std::string uuid;    // the SYNTH_UUID written
  // Per source, in the order given: from the write to the receipt of the event.
  std::vector<std::chrono::microseconds> round_trip;
};

// Called with the index of the source (in `sources`) and what it returned.
using SelfCheckSink = std::function<void(size_t source, SourceEvent event)>;

// Errors: no such device or no uevent file (ENOENT), the write refused (EACCES/EPERM: not
// root; EINVAL: the kernel rejected the arguments), a source failing, or ETIMEDOUT naming
// the sources that did not return the event within the timeout.
Result<SelfCheckReport> RunSelfCheck(const std::vector<UeventSource*>& sources,
                                     const SelfCheckOptions& options,
                                     const SelfCheckSink& sink = nullptr);

// What RunSelfCheck writes: "change <uuid> DISKINV=<tag>" (the kernel requires alphanumeric
// keys: SYNTH_ARG_ + key becomes the property name).
std::string SelfCheckTrigger(std::string_view uuid, std::string_view tag);
// A random RFC 4122 version 4 UUID in the lowercase 8-4-4-4-12 form the kernel accepts.
std::string NewUuid();

}  // namespace diskinv
