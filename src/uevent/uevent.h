// Uevent: one device event as the kernel (NETLINK_KOBJECT_UEVENT group 1) or udevd (libudev
// framing, group 2) broadcast it, and the pure parsers that build it from the datagram's bytes.
//
// The parsers trust nothing (STYLE.md rule 5): a datagram is accepted only when it is bounded
// (at most kMaxUeventDatagram bytes and kMaxUeventProperties properties), NUL-terminated,
// framed consistently (kernel "ACTION@DEVPATH" header equal to ACTION= and DEVPATH=; libudev
// magic, header size, properties offset/length and filter hashes matching the properties) and
// carries the keys every event has (ACTION, DEVPATH, SUBSYSTEM, SEQNUM) with valid values.
// A rejected datagram yields a non-OK Status with the reason in its message and, through the
// optional `why` argument, as a UeventReject; callers count them in UeventRejectCounters.
// Unknown keys are kept, in datagram order, in `properties`.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace diskinv {

// Larger than any kernel uevent (UEVENT_BUFFER_SIZE is 2048 plus the header) and equal to the
// receive buffer libudev itself uses, so a bigger udev message would be truncated there too.
inline constexpr size_t kMaxUeventDatagram = 8192;
// The kernel allows 64 variables (UEVENT_NUM_ENVP); udev adds its own properties.
inline constexpr size_t kMaxUeventProperties = 256;

enum class UeventOrigin : uint8_t { kKernel, kUdev };
// Exactly the kernel's kobject_actions; any other ACTION is rejected, as sd-device does.
enum class UeventAction : uint8_t {
  kAdd,
  kRemove,
  kChange,
  kMove,
  kOnline,
  kOffline,
  kBind,
  kUnbind
};

std::string_view ToString(UeventOrigin origin);
std::string_view ToString(UeventAction action);
std::optional<UeventAction> UeventActionFromString(std::string_view s);

struct UeventProperty {
  std::string key;
  std::string value;
  bool operator==(const UeventProperty&) const = default;
};

struct Uevent {
  UeventOrigin origin = UeventOrigin::kKernel;
  UeventAction action = UeventAction::kChange;
  std::string devpath;      // "/devices/virtual/block/loop0": absolute, no empty/"."/".." parts
  std::string devpath_old;  // DEVPATH_OLD, set for (and required by) kMove
  std::string subsystem;    // "block"
  std::string devtype;      // "disk", "partition"; empty when absent
  std::string devname;      // kernel "loop0", udev "/dev/loop0"; empty when absent
  std::optional<uint32_t> major;  // MAJOR and MINOR come together or not at all
  std::optional<uint32_t> minor;
  std::optional<uint64_t> diskseq;
  uint64_t seqnum = 0;                     // > 0; global across subsystems for kernel events
  std::optional<std::string> synth_uuid;   // "change <uuid>" written to a uevent file; "0" if none
  std::vector<UeventProperty> properties;  // every KEY=VALUE, datagram order, incl. the above

  // The first property named `key`, or nullptr.
  const std::string* Find(std::string_view key) const;
  bool operator==(const Uevent&) const = default;
};

// Why a datagram was dropped. The parser yields the first group; the sources add the last three.
enum class UeventReject : uint8_t {
  kNone,
  kTooShort,          // empty, shorter than a header, or no properties
  kTooLarge,          // more than kMaxUeventDatagram bytes
  kNotNulTerminated,  // last byte of the properties is not NUL
  kBadHeader,         // kernel: no "ACTION@/DEVPATH" header; libudev: no "libudev" prefix
  kBadMagic,          // libudev: magic is not 0xfeedcafe in network byte order
  kBadOffsets,        // libudev: header_size/properties_off/properties_len out of range
  kBadProperty,       // empty entry, no '=', empty key or a key with non-printable bytes
  kTooManyProperties,
  kMissingKey,       // ACTION, DEVPATH, SUBSYSTEM or SEQNUM missing; MAJOR without MINOR...
  kBadValue,         // unknown ACTION, SEQNUM/MAJOR/MINOR/DISKSEQ not decimal, bad DEVPATH
  kDuplicateKey,     // one of the keys above given twice
  kHeaderMismatch,   // kernel header ACTION@DEVPATH differs from the ACTION=/DEVPATH= values
  kHashMismatch,     // libudev subsystem/devtype hash or tag bloom filter do not match
  kUntrustedSender,  // source: netlink sender pid != 0 (kernel group) or credentials uid != 0
  kNoCredentials,    // source: no SCM_CREDENTIALS control message
  kTruncated,        // source: MSG_TRUNC, the datagram did not fit
};
inline constexpr size_t kUeventRejectCount = static_cast<size_t>(UeventReject::kTruncated) + 1;
std::string_view ToString(UeventReject reason);  // "bad_magic"

// Per-reason counters of dropped datagrams. Not thread-safe; one per source.
class UeventRejectCounters {
 public:
  void Add(UeventReject reason) { ++n_[static_cast<size_t>(reason)]; }
  uint64_t count(UeventReject reason) const { return n_[static_cast<size_t>(reason)]; }
  uint64_t total() const;
  std::string ToString() const;  // "too_short=1 bad_magic=2", only non-zero reasons

 private:
  std::array<uint64_t, kUeventRejectCount> n_{};
};

// Parses a kernel datagram: "ACTION@DEVPATH\0KEY=VALUE\0...KEY=VALUE\0".
Result<Uevent> ParseKernelUevent(std::string_view datagram, UeventReject* why = nullptr);
// Parses a libudev monitor datagram: 40-byte header ("libudev\0", magic, header_size,
// properties_off/len, subsystem/devtype hashes, tag bloom) followed by the properties.
Result<Uevent> ParseUdevMonitorMessage(std::string_view datagram, UeventReject* why = nullptr);
// Validates an already split property list (what libudev hands out) into a Uevent with the
// same rules as the parsers: required keys, values, duplicates, the property limit.
Result<Uevent> UeventFromProperties(UeventOrigin origin, std::vector<UeventProperty> properties,
                                    UeventReject* why = nullptr);

// The inverse of the parsers, for tests, benchmarks and fuzz seeds: a kernel datagram with the
// "ACTION@DEVPATH" header, or a libudev message with a correct header, hashes and tag bloom
// (tags from the TAGS property). Properties are written as they are, in order.
std::string FormatKernelUevent(const Uevent& event);
std::string FormatUdevMonitorMessage(const Uevent& event);

// The MurmurHash2 (seed 0) libudev puts into the header for in-kernel socket filters, and
// the 64-bit tag bloom built from it. Exposed for tests and for building datagrams.
uint32_t UdevStringHash(std::string_view s);
uint64_t UdevTagBloom(std::string_view tag);

}  // namespace diskinv
