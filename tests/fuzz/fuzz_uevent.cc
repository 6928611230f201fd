// libFuzzer target for the uevent parsers (scripts/fuzz-uevent builds and runs it). Beyond "no
// crash, no sanitizer report" it checks the parsers' contract on every input: an accepted
// datagram formats back to the same bytes (kernel; udev when the header is canonical), and a
// rejected one has a reason.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "uevent/uevent.h"

namespace {

void Check(bool ok) {
  if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace diskinv;
  std::string_view d(reinterpret_cast<const char*>(data), size);
  for (bool udev : {false, true}) {
    UeventReject why = UeventReject::kTruncated;
    Result<Uevent> ev = udev ? ParseUdevMonitorMessage(d, &why) : ParseKernelUevent(d, &why);
    Check(ev.ok() == (why == UeventReject::kNone));
    if (!ev.ok()) continue;
    Check(size <= kMaxUeventDatagram && ev->properties.size() <= kMaxUeventProperties);
    Check(ev->seqnum > 0 && !ev->devpath.empty() && ev->devpath[0] == '/');
    Check(ev->major.has_value() == ev->minor.has_value());
    // sd-device strips one trailing '\n' per value, so only newline-free input round-trips.
    if (d.find('\n') != std::string_view::npos) continue;
    if (!udev) {
      Check(FormatKernelUevent(*ev) == d);
    } else if (d.size() >= 40 &&
               d.compare(12, 8, std::string_view("\x28\0\0\0\x28\0\0\0", 8)) == 0) {
      Check(FormatUdevMonitorMessage(*ev).substr(40) == d.substr(40));
    }
    Check(UeventFromProperties(ev->origin, ev->properties).ok());
  }
  return 0;
}
