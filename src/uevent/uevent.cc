#include "uevent/uevent.h"

#include <fmt/format.h>

#include <algorithm>
#include <bit>
#include <charconv>
#include <cstring>

#include "common/parse.h"
#include "common/swar.h"

namespace diskinv {
namespace {

constexpr std::string_view kUdevPrefix{"libudev\0", 8};
constexpr uint32_t kUdevMagic = 0xfeedcafe;
// struct monitor_netlink_header of sd-device: prefix[8] and eight unsigned ints.
constexpr size_t kUdevHeaderSize = 40;
constexpr size_t kOffMagic = 8, kOffHeaderSize = 12, kOffPropertiesOff = 16, kOffPropertiesLen = 20,
                 kOffSubsystemHash = 24, kOffDevtypeHash = 28, kOffBloomHi = 32, kOffBloomLo = 36;

Status Reject(UeventReject* why, UeventReject reason, std::string_view detail) {
  if (why) *why = reason;
  return Status::Invalid(fmt::format("uevent rejected ({}): {}", ToString(reason), detail));
}

// Header fields the sender wrote in its own byte order (header_size, properties_off/len).
uint32_t LoadHost32(std::string_view b, size_t off) {
  uint32_t v;
  std::memcpy(&v, b.data() + off, 4);
  return v;
}
// Fields sd-device stores in network byte order (magic, hashes, bloom) for socket filters.
uint32_t LoadBig32(std::string_view b, size_t off) {
  auto u = [&](size_t i) { return static_cast<uint32_t>(static_cast<uint8_t>(b[off + i])); };
  return u(0) << 24 | u(1) << 16 | u(2) << 8 | u(3);
}
void StoreHost32(std::string& b, size_t off, uint32_t v) { std::memcpy(b.data() + off, &v, 4); }
void StoreBig32(std::string& b, size_t off, uint32_t v) {
  for (int i = 0; i < 4; ++i) b[off + i] = static_cast<char>(v >> (24 - 8 * i));
}

// Strict decimal: digits only, no sign, no spaces, no overflow.
template <typename T>
std::optional<T> Decimal(std::string_view s) {
  if (s.empty() || s.size() > 20) return std::nullopt;
  T v{};
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v, 10);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

// A kobject path: absolute, no empty, "." or ".." components (it is joined to a sysroot).
bool ValidDevpath(std::string_view p) {
  if (p.size() < 2 || p.front() != '/') return false;
  size_t i = 1;
  while (i <= p.size()) {
    size_t j = p.find('/', i);
    if (j == std::string_view::npos) j = p.size();
    std::string_view part = p.substr(i, j - i);
    if (part.empty() || part == "." || part == "..") return false;
    i = j + 1;
  }
  return true;
}

bool ValidKey(std::string_view k) {
  return !k.empty() && std::all_of(k.begin(), k.end(), [](char c) { return c > ' ' && c < 0x7f; });
}

// The first NUL at or after `p`; the caller guarantees one before `end`. Eight bytes at a time
// while they are inside [p, end): values are mostly 5-60 bytes, where a call to memchr costs
// more than the search.
const char* FindNul(const char* p, const char* end) {
  while (end - p >= 8) {
    uint64_t w;
    std::memcpy(&w, p, 8);
    if (uint64_t z = swar::ZeroBytes(w); z != 0) return p + std::countr_zero(z) / 8;
    p += 8;
  }
  while (*p != '\0') ++p;
  return p;
}

// Bytes allowed in a key: printable ASCII except space and '='.
constexpr bool KeyByte(unsigned char c) { return c > ' ' && c < 0x7f && c != '='; }

// The first byte at or after `p` that cannot be part of a key ('=' ends a good key, NUL at
// the latest: the caller guarantees one before `end`). Eight bytes at a time, as FindNul: the
// key scan was a third of the parse time byte by byte.
const char* EndOfKey(const char* p, const char* end) {
  while (end - p >= 8) {
    uint64_t w;
    std::memcpy(&w, p, 8);
    uint64_t stop = swar::BytesBelowOrHigh(w, 0x21)  // controls, space, NUL; >= 0x80
                    | swar::BytesEqual(w, 0x7f)      // DEL
                    | swar::BytesEqual(w, '=');
    if (stop != 0) return p + std::countr_zero(stop) / 8;
    p += 8;
  }
  while (KeyByte(static_cast<unsigned char>(*p))) ++p;
  return p;
}

// Splits "K=V\0K=V\0" (last byte known to be NUL) into properties, in one pass.
Status SplitProperties(std::string_view nulstr, std::vector<UeventProperty>& out,
                       UeventReject* why) {
  out.reserve(16);
  const char* const begin = nulstr.data();
  const char* const end = begin + nulstr.size();
  const char* p = begin;
  while (p < end) {
    const char* key = p;
    p = EndOfKey(p, end);
    if (p == key || *p != '=') {
      const char* nul = FindNul(key, end);
      return Reject(why, UeventReject::kBadProperty,
                    fmt::format("entry at offset {} is not KEY=VALUE: {}", key - begin,
                                QuoteForError(std::string_view(key, nul - key))));
    }
    const char* value = p + 1;
    const char* nul = FindNul(value, end);
    // As sd-device: some drivers end a value with a stray newline.
    const char* vend = nul > value && nul[-1] == '\n' ? nul - 1 : nul;
    if (out.size() == kMaxUeventProperties) {
      return Reject(why, UeventReject::kTooManyProperties,
                    fmt::format("more than {} properties", kMaxUeventProperties));
    }
    UeventProperty& prop = out.emplace_back();
    prop.key.assign(key, p - key);
    prop.value.assign(value, vend - value);
    p = nul + 1;
  }
  return Status::Ok();
}

enum Key {
  kAction,
  kDevpath,
  kDevpathOld,
  kSubsystem,
  kDevtype,
  kDevname,
  kMajor,
  kMinor,
  kDiskseq,
  kSeqnum,
  kSynthUuid,
  kKeys
};
constexpr std::string_view kNames[kKeys] = {"ACTION",  "DEVPATH", "DEVPATH_OLD", "SUBSYSTEM",
                                            "DEVTYPE", "DEVNAME", "MAJOR",       "MINOR",
                                            "DISKSEQ", "SEQNUM",  "SYNTH_UUID"};

// Which of the keys above `k` is, or -1; one comparison per key (this is the hot loop).
int KeyIndex(std::string_view k) {
  int i = -1;
  switch (k.size()) {
    case 5:
      i = k[1] == 'A' ? kMajor : kMinor;
      break;
    case 6:
      i = k[0] == 'A' ? kAction : kSeqnum;
      break;
    case 7:
      i = k[3] == 'P' ? kDevpath : k[3] == 'T' ? kDevtype : k[3] == 'N' ? kDevname : kDiskseq;
      break;
    case 9:
      i = kSubsystem;
      break;
    case 10:
      i = kSynthUuid;
      break;
    case 11:
      i = kDevpathOld;
      break;
  }
  return i >= 0 && k == kNames[i] ? i : -1;
}

// Validates ev.properties and fills the other fields of `ev` from them. `split`: the
// properties come from SplitProperties, which already checked keys and values.
Status Build(UeventOrigin origin, UeventReject* why, bool split, Uevent& ev) {
  const std::vector<UeventProperty>& props = ev.properties;
  if (props.size() > kMaxUeventProperties) {
    return Reject(why, UeventReject::kTooManyProperties,
                  fmt::format("{} properties, limit {}", props.size(), kMaxUeventProperties));
  }
  const std::string* v[kKeys] = {};
  for (const UeventProperty& p : props) {
    if (!split && (!ValidKey(p.key) || p.key.find('=') != std::string::npos ||
                   p.value.find('\0') != std::string::npos)) {
      return Reject(why, UeventReject::kBadProperty,
                    fmt::format("bad property {}", QuoteForError(p.key)));
    }
    int k = KeyIndex(p.key);
    if (k < 0) continue;
    if (v[k]) return Reject(why, UeventReject::kDuplicateKey, fmt::format("{} twice", p.key));
    v[k] = &p.value;
  }
  for (Key k : {kAction, kDevpath, kSubsystem, kSeqnum}) {
    if (!v[k]) return Reject(why, UeventReject::kMissingKey, fmt::format("no {}", kNames[k]));
  }
  ev.origin = origin;
  auto bad = [&](Key k) {
    return Reject(why, UeventReject::kBadValue,
                  fmt::format("{}={}", kNames[k], QuoteForError(*v[k])));
  };
  auto action = UeventActionFromString(*v[kAction]);
  if (!action) return bad(kAction);
  ev.action = *action;
  if (!ValidDevpath(*v[kDevpath])) return bad(kDevpath);
  ev.devpath = *v[kDevpath];
  if (v[kDevpathOld]) {
    if (!ValidDevpath(*v[kDevpathOld])) return bad(kDevpathOld);
    ev.devpath_old = *v[kDevpathOld];
  } else if (ev.action == UeventAction::kMove) {
    return Reject(why, UeventReject::kMissingKey, "move without DEVPATH_OLD");
  }
  if (v[kSubsystem]->empty() || v[kSubsystem]->find('/') != std::string::npos) {
    return bad(kSubsystem);
  }
  ev.subsystem = *v[kSubsystem];
  auto seq = Decimal<uint64_t>(*v[kSeqnum]);
  if (!seq || *seq == 0) return bad(kSeqnum);
  ev.seqnum = *seq;
  if (!v[kMajor] != !v[kMinor]) {
    return Reject(why, UeventReject::kMissingKey,
                  v[kMajor] ? "MAJOR without MINOR" : "MINOR without MAJOR");
  }
  if (v[kMajor]) {
    ev.major = Decimal<uint32_t>(*v[kMajor]);
    if (!ev.major) return bad(kMajor);
    ev.minor = Decimal<uint32_t>(*v[kMinor]);
    if (!ev.minor) return bad(kMinor);
  }
  if (v[kDiskseq]) {
    ev.diskseq = Decimal<uint64_t>(*v[kDiskseq]);
    if (!ev.diskseq) return bad(kDiskseq);
  }
  if (v[kDevtype]) ev.devtype = *v[kDevtype];
  if (v[kDevname]) ev.devname = *v[kDevname];
  if (v[kSynthUuid]) ev.synth_uuid = *v[kSynthUuid];
  return Status::Ok();
}

// Runs `fill` on a Uevent that already sits inside the Result, so a parsed event is never
// moved (a Uevent is a dozen strings); one named return keeps the copy elided.
template <typename Fill>
Result<Uevent> InPlace(UeventReject* why, Fill fill) {
  if (why) *why = UeventReject::kNone;
  Result<Uevent> out{Uevent{}};
  if (Status s = fill(out.value()); !s.ok()) out = Result<Uevent>(std::move(s));
  return out;
}

// Datagram-level checks shared by both framings.
Status CheckSize(std::string_view d, size_t min, UeventReject* why) {
  if (d.size() > kMaxUeventDatagram) {
    return Reject(why, UeventReject::kTooLarge,
                  fmt::format("{} bytes, limit {}", d.size(), kMaxUeventDatagram));
  }
  if (d.size() < min) {
    return Reject(why, UeventReject::kTooShort, fmt::format("{} bytes", d.size()));
  }
  return Status::Ok();
}

}  // namespace

std::string_view ToString(UeventOrigin origin) {
  return origin == UeventOrigin::kKernel ? "kernel" : "udev";
}

std::string_view ToString(UeventAction action) {
  static constexpr std::string_view kNames[] = {"add",    "remove",  "change", "move",
                                                "online", "offline", "bind",   "unbind"};
  return kNames[static_cast<size_t>(action)];
}

std::optional<UeventAction> UeventActionFromString(std::string_view s) {
  for (int i = 0; i <= static_cast<int>(UeventAction::kUnbind); ++i) {
    auto a = static_cast<UeventAction>(i);
    if (ToString(a) == s) return a;
  }
  return std::nullopt;
}

std::string_view ToString(UeventReject reason) {
  static constexpr std::string_view kNames[kUeventRejectCount] = {"none",
                                                                  "too_short",
                                                                  "too_large",
                                                                  "not_nul_terminated",
                                                                  "bad_header",
                                                                  "bad_magic",
                                                                  "bad_offsets",
                                                                  "bad_property",
                                                                  "too_many_properties",
                                                                  "missing_key",
                                                                  "bad_value",
                                                                  "duplicate_key",
                                                                  "header_mismatch",
                                                                  "hash_mismatch",
                                                                  "untrusted_sender",
                                                                  "no_credentials",
                                                                  "truncated"};
  return kNames[static_cast<size_t>(reason)];
}

uint64_t UeventRejectCounters::total() const {
  uint64_t t = 0;
  for (uint64_t n : n_) t += n;
  return t;
}

std::string UeventRejectCounters::ToString() const {
  std::string out;
  for (size_t i = 0; i < n_.size(); ++i) {
    if (n_[i] == 0) continue;
    if (!out.empty()) out += ' ';
    out += fmt::format("{}={}", diskinv::ToString(static_cast<UeventReject>(i)), n_[i]);
  }
  return out;
}

const std::string* Uevent::Find(std::string_view key) const {
  for (const UeventProperty& p : properties) {
    if (p.key == key) return &p.value;
  }
  return nullptr;
}

Result<Uevent> UeventFromProperties(UeventOrigin origin, std::vector<UeventProperty> properties,
                                    UeventReject* why) {
  return InPlace(why, [&](Uevent& ev) {
    ev.properties = std::move(properties);
    return Build(origin, why, false, ev);
  });
}

namespace {

Status ParseKernelInto(std::string_view d, UeventReject* why, Uevent& ev) {
  if (Status s = CheckSize(d, sizeof("a@/d"), why); !s.ok()) return s;
  if (d.back() != '\0') {
    return Reject(why, UeventReject::kNotNulTerminated, "last byte is not NUL");
  }
  size_t nul = d.find('\0');
  std::string_view header = d.substr(0, nul);
  size_t at = header.find('@');
  if (at == std::string_view::npos || at == 0 || at + 1 >= header.size() || header[at + 1] != '/') {
    return Reject(why, UeventReject::kBadHeader,
                  fmt::format("no ACTION@/DEVPATH header: {}", QuoteForError(header)));
  }
  std::string_view body = d.substr(nul + 1);
  if (body.empty()) return Reject(why, UeventReject::kTooShort, "header without properties");
  if (Status s = SplitProperties(body, ev.properties, why); !s.ok()) return s;
  if (Status s = Build(UeventOrigin::kKernel, why, true, ev); !s.ok()) return s;
  if (header.substr(0, at) != ToString(ev.action) || header.substr(at + 1) != ev.devpath) {
    return Reject(why, UeventReject::kHeaderMismatch,
                  fmt::format("header {} but ACTION={} DEVPATH={}", QuoteForError(header),
                              ToString(ev.action), QuoteForError(ev.devpath)));
  }
  return Status::Ok();
}

Status ParseUdevInto(std::string_view d, UeventReject* why, Uevent& ev) {
  if (Status s = CheckSize(d, kUdevHeaderSize + 1, why); !s.ok()) return s;
  if (d.substr(0, kUdevPrefix.size()) != kUdevPrefix) {
    return Reject(why, UeventReject::kBadHeader,
                  fmt::format("no libudev prefix: {}", QuoteForError(d.substr(0, 8))));
  }
  if (uint32_t magic = LoadBig32(d, kOffMagic); magic != kUdevMagic) {
    return Reject(why, UeventReject::kBadMagic, fmt::format("magic {:#010x}", magic));
  }
  // 64-bit sums: the offsets are attacker-chosen 32-bit values.
  uint64_t hsize = LoadHost32(d, kOffHeaderSize), off = LoadHost32(d, kOffPropertiesOff),
           len = LoadHost32(d, kOffPropertiesLen);
  if (hsize < kUdevHeaderSize || off < hsize || len == 0 || off + len != d.size()) {
    return Reject(why, UeventReject::kBadOffsets,
                  fmt::format("header_size={} properties_off={} properties_len={} in {} bytes",
                              hsize, off, len, d.size()));
  }
  std::string_view body = d.substr(off);
  if (body.back() != '\0') {
    return Reject(why, UeventReject::kNotNulTerminated, "last byte is not NUL");
  }
  if (Status s = SplitProperties(body, ev.properties, why); !s.ok()) return s;
  if (Status s = Build(UeventOrigin::kUdev, why, true, ev); !s.ok()) return s;
  // The hashes steer in-kernel BPF filters of every listener; a header that lies about them
  // is inconsistent with its own body, so the whole message is suspect.
  uint32_t sub = LoadBig32(d, kOffSubsystemHash), dt = LoadBig32(d, kOffDevtypeHash);
  if (sub != UdevStringHash(ev.subsystem) ||
      dt != (ev.devtype.empty() ? 0 : UdevStringHash(ev.devtype))) {
    return Reject(why, UeventReject::kHashMismatch,
                  fmt::format("subsystem/devtype hash {:#x}/{:#x} do not match {}/{}", sub, dt,
                              QuoteForError(ev.subsystem), QuoteForError(ev.devtype)));
  }
  uint64_t bloom = uint64_t{LoadBig32(d, kOffBloomHi)} << 32 | LoadBig32(d, kOffBloomLo);
  if (const std::string* tags = ev.Find("TAGS")) {
    std::string_view t = *tags;
    while (!t.empty()) {
      size_t c = t.find(':');
      std::string_view tag = t.substr(0, c);
      t = c == std::string_view::npos ? std::string_view() : t.substr(c + 1);
      if (!tag.empty() && (UdevTagBloom(tag) & ~bloom) != 0) {
        return Reject(why, UeventReject::kHashMismatch,
                      fmt::format("tag {} not in bloom {:#018x}", QuoteForError(tag), bloom));
      }
    }
  }
  return Status::Ok();
}

}  // namespace

Result<Uevent> ParseKernelUevent(std::string_view d, UeventReject* why) {
  return InPlace(why, [&](Uevent& ev) { return ParseKernelInto(d, why, ev); });
}

Result<Uevent> ParseUdevMonitorMessage(std::string_view d, UeventReject* why) {
  return InPlace(why, [&](Uevent& ev) { return ParseUdevInto(d, why, ev); });
}

std::string FormatKernelUevent(const Uevent& ev) {
  std::string out = fmt::format("{}@{}", ToString(ev.action), ev.devpath);
  out.push_back('\0');
  for (const UeventProperty& p : ev.properties) {
    out += p.key;
    out += '=';
    out += p.value;
    out.push_back('\0');
  }
  return out;
}

std::string FormatUdevMonitorMessage(const Uevent& ev) {
  std::string out(kUdevHeaderSize, '\0');
  out.replace(0, kUdevPrefix.size(), kUdevPrefix);
  for (const UeventProperty& p : ev.properties) {
    out += p.key;
    out += '=';
    out += p.value;
    out.push_back('\0');
  }
  StoreBig32(out, kOffMagic, kUdevMagic);
  StoreHost32(out, kOffHeaderSize, kUdevHeaderSize);
  StoreHost32(out, kOffPropertiesOff, kUdevHeaderSize);
  StoreHost32(out, kOffPropertiesLen, static_cast<uint32_t>(out.size() - kUdevHeaderSize));
  StoreBig32(out, kOffSubsystemHash, UdevStringHash(ev.subsystem));
  StoreBig32(out, kOffDevtypeHash, ev.devtype.empty() ? 0 : UdevStringHash(ev.devtype));
  uint64_t bloom = 0;
  if (const std::string* tags = ev.Find("TAGS")) {
    std::string_view t = *tags;
    while (!t.empty()) {
      size_t c = t.find(':');
      if (c != 0) bloom |= UdevTagBloom(t.substr(0, c));
      t = c == std::string_view::npos ? std::string_view() : t.substr(c + 1);
    }
  }
  StoreBig32(out, kOffBloomHi, static_cast<uint32_t>(bloom >> 32));
  StoreBig32(out, kOffBloomLo, static_cast<uint32_t>(bloom));
  return out;
}

uint32_t UdevStringHash(std::string_view s) {
  // MurmurHash2 by Austin Appleby, seed 0, little-endian word loads (as systemd on x86/arm).
  constexpr uint32_t m = 0x5bd1e995;
  uint32_t h = static_cast<uint32_t>(s.size());
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  size_t len = s.size();
  for (; len >= 4; p += 4, len -= 4) {
    uint32_t k = uint32_t{p[0]} | uint32_t{p[1]} << 8 | uint32_t{p[2]} << 16 | uint32_t{p[3]} << 24;
    k *= m;
    k ^= k >> 24;
    k *= m;
    h = h * m ^ k;
  }
  switch (len) {
    case 3:
      h ^= uint32_t{p[2]} << 16;
      [[fallthrough]];
    case 2:
      h ^= uint32_t{p[1]} << 8;
      [[fallthrough]];
    case 1:
      h ^= p[0];
      h *= m;
  }
  h ^= h >> 13;
  h *= m;
  h ^= h >> 15;
  return h;
}

uint64_t UdevTagBloom(std::string_view tag) {
  uint32_t h = UdevStringHash(tag);
  return uint64_t{1} << (h & 63) | uint64_t{1} << ((h >> 6) & 63) |
         uint64_t{1} << ((h >> 12) & 63) | uint64_t{1} << ((h >> 18) & 63);
}

}  // namespace diskinv
