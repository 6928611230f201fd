// DiskIdentity: the stable identity `uid` of a block device, derived from its strongest
// identifier, so that a disk keeps its database row across renames (sda<->sdb), reboots (new
// diskseq, new dev_t) and moves to another node.
//
// Strength order for whole disks: WWN (NAA, SCSI VPD 0x83) > EUI-64 / NGUID / namespace UUID
// (NVMe) > vendor+model+serial > by-path (udev ID_PATH). Stacked and virtual devices have their
// own identifiers: dm devices the dm uuid, md arrays the md uuid, loop devices the backing file;
// a partition is its parent's uid plus "-part<N>". Bogus identifiers (all-zero or all-F WWN and
// EUI, empty, whitespace or placeholder serials such as "0000000000" or "To be filled by O.E.M.")
// are rejected with a reason and the next identifier is tried.
//
// by-path, loop and name identities are only unique on one node: their uids carry the node key
// (machine-id) and do not survive a move. Everything here is pure: no I/O, no clock.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "model/block_device.h"
#include "model/inventory.h"

namespace diskinv {

enum class IdentitySource : uint8_t {
  kNone,       // nothing usable: `uid` is empty
  kWwn,        // NAA / SCSI WWN, "wwn:<lower hex>"
  kEui64,      // "eui:<hex>"
  kNguid,      // "nguid:<hex>"
  kNsUuid,     // NVMe namespace UUID, "uuid:<uuid>"
  kSerial,     // "serial:<vendor>:<model>:<serial>" (whitespace normalized)
  kPath,       // "path:<node>:<ID_PATH>" (node scoped)
  kDmUuid,     // "dm:<DM_UUID>"
  kMdUuid,     // "md:<MD_UUID>"
  kLoop,       // "loop:<node>:<backing file>" (node scoped)
  kPartition,  // "<parent uid>-part<N>"
  kName,       // "name:<node>:<lsblk NAME>", last resort (zram, nbd, dm without uuid)
};
std::string_view IdentitySourceName(IdentitySource s);  // "wwn", "eui64", ..., "name"

// An identifier that was present but not used, and why ("all-zero WWN", "placeholder serial").
struct RejectedIdentifier {
  std::string kind;   // "wwn", "eui64", "nguid", "uuid", "serial", "path"
  std::string value;  // as the device reported it
  std::string reason;
  bool operator==(const RejectedIdentifier&) const = default;
};

struct DiskIdentity {
  std::string uid;  // empty when source == kNone
  IdentitySource source = IdentitySource::kNone;
  std::string identifier;  // the normalized identifier value the uid is built on
  std::vector<RejectedIdentifier> rejected;
  // Set by IdentifyInventory when several devices of one inventory derive the same uid: each of
  // them then gets "<uid>~<ID_PATH or kname>" and this says why (never merged silently).
  std::string conflict;

  bool ok() const { return !uid.empty(); }
  bool node_scoped() const {
    return source == IdentitySource::kPath || source == IdentitySource::kLoop ||
           source == IdentitySource::kName;
  }

  // `node` is the node key (machine-id) used in node-scoped uids. A partition needs its whole
  // disk's identity as `parent`; without it the partition's own (udev-inherited) identifiers
  // are used the same way, which gives the same uid when udev copied them.
  static DiskIdentity FromDevice(const BlockDevice& dev, std::string_view node = {},
                                 const DiskIdentity* parent = nullptr);
  // What FromDevice gives a partition with number `partn` of a whole disk identified as
  // `parent` when parent.ok() (without the partition's BlockDevice).
  static DiskIdentity ForPartition(const DiskIdentity& parent, uint64_t partn);
  // The uid of partition `partn` of a whole disk whose uid is `parent_uid`: "<uid>-part<N>".
  static std::string PartitionUid(std::string_view parent_uid, uint64_t partn);
};

// Identities of every device of `inv`, index-aligned with inv.devices(). Duplicates inside the
// inventory (one serial on two disks, one WWN on two multipath paths) are disambiguated and
// marked in `conflict`; partitions are derived from their (possibly disambiguated) parents.
std::vector<DiskIdentity> IdentifyInventory(const Inventory& inv, std::string_view node = {});

// Disambiguates whole disks that derived one uid (at least two, identities as FromDevice gave
// them): each uid gets "~<ID_PATH or kname>" (node scoped when `node` is given) and `conflict`
// says why, naming every member and the holder they share (multipath). Independent of order.
void MarkDuplicates(const std::vector<std::pair<const BlockDevice*, DiskIdentity*>>& group,
                    std::string_view node);

// Helpers, exposed for tests. Each returns "" when the value is acceptable, else the reason.
std::string BogusHexIdReason(std::string_view hex);      // after prefix removal, lower case
std::string BogusSerialReason(std::string_view serial);  // whitespace normalized

}  // namespace diskinv
