#include "model/packed_strings.h"

#include <array>

namespace diskinv {
namespace {

void AppendVarint(std::string& out, size_t v) {
  for (; v >= 0x80; v >>= 7) out.push_back(static_cast<char>((v & 0x7f) | 0x80));
  out.push_back(static_cast<char>(v));
}

// Reads a LEB128 number at `p` and advances `p`; false when the data ends inside it.
bool ReadVarint(std::string_view data, size_t& p, size_t& v) {
  v = 0;
  for (int shift = 0; p < data.size() && shift < 64; shift += 7) {
    auto byte = static_cast<unsigned char>(data[p++]);
    v |= static_cast<size_t>(byte & 0x7f) << shift;
    if ((byte & 0x80) == 0) return true;
  }
  return false;
}

}  // namespace

// Entries are written only by push_back and Add, so the encoding is well formed; the bounds
// checks keep a corrupted list from reading outside it.
size_t PackedStrings::Decode(std::string_view data, size_t pos, std::string_view& value) {
  size_t length = 0;
  if (!ReadVarint(data, pos, length) || length > data.size() - pos) return std::string_view::npos;
  value = data.substr(pos, length);
  return pos + length;
}

PackedStrings::PackedStrings(std::initializer_list<std::string_view> items) {
  for (std::string_view s : items) push_back(s);
}

PackedStrings::PackedStrings(const std::vector<std::string>& items) {
  for (const std::string& s : items) push_back(s);
}

size_t PackedStrings::EncodedSize(size_t length) {
  size_t n = 1;
  for (size_t v = length; v >= 0x80; v >>= 7) ++n;
  return n + length;
}

void PackedStrings::push_back(std::string_view s) {
  AppendVarint(data_, s.size());
  data_.append(s);
}

bool PackedStrings::contains(std::string_view s) const {
  for (std::string_view e : *this) {
    if (e == s) return true;
  }
  return false;
}

std::vector<std::string> PackedStrings::ToVector() const {
  std::vector<std::string> out;
  for (std::string_view e : *this) out.emplace_back(e);
  return out;
}

namespace {

// Well-known keys: the E: properties of block devices in udev databases (60-persistent-storage,
// blkid, ata_id, scsi_id, dm and md rules), most frequent first so most take a one-byte tag.
// Only this process reads the encoding, so the list may change between versions.
// clang-format off
constexpr std::string_view kWellKnownKeys[] = {
    "ID_SERIAL", "ID_MODEL", "ID_REVISION", "ID_SERIAL_SHORT", "ID_WWN", "ID_PATH", "ID_PATH_TAG",
    "ID_PART_TABLE_TYPE", "ID_PART_TABLE_UUID", "ID_BUS", "ID_MODEL_ENC", "ID_TYPE",
    "ID_WWN_WITH_EXTENSION", "ID_FS_TYPE", "ID_FS_USAGE", "ID_FS_UUID", "ID_FS_UUID_ENC",
    "ID_PART_ENTRY_DISK", "ID_PART_ENTRY_NUMBER", "ID_PART_ENTRY_OFFSET", "ID_PART_ENTRY_SCHEME",
    "ID_PART_ENTRY_SIZE", "ID_PART_ENTRY_TYPE", "ID_PART_ENTRY_UUID", "ID_PART_ENTRY_NAME",
    "ID_NSID", "ID_ATA", "ID_ATA_SATA", "ID_PATH_ATA_COMPAT", "ID_SCSI", "ID_SCSI_SERIAL",
    "ID_VENDOR", "ID_VENDOR_ENC", "ID_ATA_FEATURE_SET_SMART", "ID_ATA_FEATURE_SET_SMART_ENABLED",
    "ID_ATA_ROTATION_RATE_RPM", "ID_ATA_WRITE_CACHE", "ID_ATA_WRITE_CACHE_ENABLED",
    "ID_ATA_DOWNLOAD_MICROCODE", "ID_ATA_FEATURE_SET_PM", "ID_ATA_FEATURE_SET_PM_ENABLED",
    "ID_ATA_SATA_SIGNAL_RATE_GEN1", "ID_ATA_SATA_SIGNAL_RATE_GEN2", "ID_FS_LABEL",
    "ID_FS_LABEL_ENC", "ID_FS_VERSION", "ID_TARGET_PORT", "ID_FS_UUID_SUB", "ID_FS_UUID_SUB_ENC",
    "DM_ACTIVATION", "DM_NAME", "DM_SUSPENDED", "DM_UDEV_DISABLE_LIBRARY_FALLBACK_FLAG",
    "DM_UDEV_PRIMARY_SOURCE_FLAG", "DM_UDEV_RULES_VSN", "DM_UUID", "ID_WWN_VENDOR_EXTENSION",
    "MD_DEVICES", "MD_LEVEL", "MD_METADATA", "MD_NAME", "MD_UUID", "SYSTEMD_MOUNT_DEVICE_BOUND",
    // Two-byte tags from here.
    "DM_PART", "DM_SERIAL", "DM_TYPE", "DM_UDEV_RULES", "DM_WWN", "DM_LV_NAME", "DM_VG_NAME",
    "DM_LV_LAYER", "DM_NOSCAN", "DM_UDEV_DISABLE_DISK_RULES_FLAG",
    "DM_UDEV_DISABLE_OTHER_RULES_FLAG", "DM_UDEV_DISABLE_SUBSYSTEM_RULES_FLAG",
    "DM_MULTIPATH_DEVICE_PATH", "MD_DEVNAME", "MPATH_DEVICE_READY", "MPATH_SBIN_PATH",
    "SYSTEMD_WANTS", "SYSTEMD_READY", "ID_CDROM", "ID_CDROM_DVD", "ID_CDROM_CD", "ID_CDROM_MEDIA",
    "ID_CDROM_MEDIA_CD", "ID_CDROM_MEDIA_SESSION_COUNT", "ID_CDROM_MEDIA_TRACK_COUNT",
    "ID_CDROM_MEDIA_TRACK_COUNT_DATA", "ID_IGNORE_DISKSEQ", "ID_FS_BLOCKSIZE", "ID_FS_LASTBLOCK",
    "ID_FS_SIZE", "ID_FS_APPLICATION_ID", "ID_PART_ENTRY_FLAGS", "ID_MODEL_ID", "ID_VENDOR_ID",
    "ID_INSTANCE", "ID_SCSI_INQUIRY", "ID_USB_DRIVER", "ID_USB_INTERFACES", "ID_USB_INTERFACE_NUM",
    "ID_USB_MODEL", "ID_USB_MODEL_ENC", "ID_USB_MODEL_ID", "ID_USB_REVISION", "ID_USB_SERIAL",
    "ID_USB_SERIAL_SHORT", "ID_USB_TYPE", "ID_USB_VENDOR", "ID_USB_VENDOR_ENC", "ID_USB_VENDOR_ID",
    "SCSI_IDENT_SERIAL", "SCSI_IDENT_LUN_NAA_REG", "SCSI_IDENT_LUN_NAA_REGEXT",
    "SCSI_IDENT_LUN_VENDOR", "SCSI_IDENT_LUN_T10", "SCSI_IDENT_LUN_EUI64", "SCSI_IDENT_PORT_NAME",
    "SCSI_IDENT_PORT_RELATIVE", "SCSI_IDENT_PORT_TARGET_PORT_GROUP", "SCSI_MODEL", "SCSI_MODEL_ENC",
    "SCSI_REVISION", "SCSI_TPGS", "SCSI_TYPE", "SCSI_VENDOR", "SCSI_VENDOR_ENC", "FC_TARGET_WWPN",
    "FC_INITIATOR_WWPN", "FC_TARGET_LUN", "DISKINV_IGNORE",
};
// clang-format on

// The well-known index of `key`, or -1: an open-addressing table built at compile time (FNV-1a,
// linear probing). Every udev property of every device goes through here (about 40 per
// device), and std::unordered_map's hashing and node chasing were 1.3% of a 1,000-disk scan.
constexpr uint32_t Fnv1a(std::string_view s) {
  uint32_t h = 2166136261u;
  for (char c : s) h = (h ^ static_cast<unsigned char>(c)) * 16777619u;
  return h;
}
constexpr size_t kKeyTableSize = 512;  // a power of two, over twice the number of keys
static_assert(std::size(kWellKnownKeys) * 2 < kKeyTableSize);
constexpr auto kKeyTable = [] {
  std::array<int16_t, kKeyTableSize> t{};
  t.fill(-1);
  for (size_t i = 0; i < std::size(kWellKnownKeys); ++i) {
    size_t slot = Fnv1a(kWellKnownKeys[i]) & (kKeyTableSize - 1);
    while (t[slot] >= 0) slot = (slot + 1) & (kKeyTableSize - 1);
    t[slot] = static_cast<int16_t>(i);
  }
  return t;
}();

int WellKnownKey(std::string_view key) {
  for (size_t slot = Fnv1a(key) & (kKeyTableSize - 1);; slot = (slot + 1) & (kKeyTableSize - 1)) {
    int i = kKeyTable[slot];
    if (i < 0 || kWellKnownKeys[i] == key) return i;
  }
}

}  // namespace

// Entry: tag (LEB128), then the key's bytes when the tag is even (2 * key length), none when it
// is odd (2 * well-known index + 1), then the value's length (LEB128) and bytes.
size_t PackedProperties::Decode(std::string_view data, size_t pos, Entry& entry) {
  size_t tag = 0;
  if (!ReadVarint(data, pos, tag)) return std::string_view::npos;
  if (tag % 2 == 1) {
    if (tag / 2 >= std::size(kWellKnownKeys)) return std::string_view::npos;
    entry.first = kWellKnownKeys[tag / 2];
  } else {
    if (tag / 2 > data.size() - pos) return std::string_view::npos;
    entry.first = data.substr(pos, tag / 2);
    pos += tag / 2;
  }
  return PackedStrings::Decode(data, pos, entry.second);
}

PackedProperties::PackedProperties(std::initializer_list<Entry> items) {
  for (const auto& [k, v] : items) Add(k, v);
}

void PackedProperties::Add(std::string_view key, std::string_view value) {
  if (int i = WellKnownKey(key); i >= 0) {
    AppendVarint(data_, 2 * static_cast<size_t>(i) + 1);
  } else {
    AppendVarint(data_, 2 * key.size());
    data_.append(key);
  }
  AppendVarint(data_, value.size());
  data_.append(value);
}

// Compares tags, not keys: a well-known key is one tag value, and another key can only match
// an entry whose tag says it has the same length. `diskinv scan` looks up about 20 keys per
// device, and decoding every entry's key was 2% of a 100-disk scan.
std::optional<std::string_view> PackedProperties::Get(std::string_view key) const {
  const int known = WellKnownKey(key);
  const size_t want = known >= 0 ? 2 * static_cast<size_t>(known) + 1 : 2 * key.size();
  const std::string_view data = data_;
  size_t pos = 0;
  while (pos < data.size()) {
    size_t tag = 0, length = 0;
    if (!ReadVarint(data, pos, tag)) break;
    bool match = tag == want;
    if (tag % 2 == 0) {
      if (tag / 2 > data.size() - pos) break;
      match = match && data.substr(pos, tag / 2) == key;
      pos += tag / 2;
    }
    if (!ReadVarint(data, pos, length) || length > data.size() - pos) break;
    if (match) return data.substr(pos, length);
    pos += length;
  }
  return std::nullopt;
}

}  // namespace diskinv
