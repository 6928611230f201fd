// BlockDevice: everything diskinv knows about one block device (whole disk, partition, loop,
// zram, dm, md, NVMe namespace, ...) after one probe of sysfs and the udev database.
//
// Values that the kernel did not provide (missing attribute, unreadable file, garbage) are empty
// optionals, never zeros, and each failure is recorded in `errors` with the field and the path.
// A BlockDevice is a plain value: copyable, comparable, no pointers to other devices (relations
// are by kernel name, resolved through Inventory's indexes).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/parse.h"
#include "model/box.h"
#include "model/packed_strings.h"
#include "model/shared_value.h"

namespace diskinv {

// One field that could not be read or parsed. `field` is the JSON key ("size", "queue/...").
struct FieldError {
  std::string field;
  std::string path;     // path relative to the sysroot, e.g. "sys/block/sda/size"
  std::string message;  // human readable; includes errno text or the offending value
  int code = 0;         // errno (ENOENT, EACCES, EIO, ELOOP, ...) or EINVAL for bad data
  bool operator==(const FieldError&) const = default;
};

// The request queue's limits and settings (/sys/block/X/queue/*). Partitions inherit their
// whole disk's queue, exactly as the kernel and lsblk do.
struct QueueLimits {
  std::optional<bool> rotational;
  std::optional<uint64_t> logical_block_size;
  std::optional<uint64_t> physical_block_size;
  std::optional<uint64_t> minimum_io_size;
  std::optional<uint64_t> optimal_io_size;
  std::optional<uint64_t> discard_granularity;
  std::optional<uint64_t> discard_max_bytes;
  std::optional<uint64_t> discard_max_hw_bytes;
  std::optional<bool> discard_zeroes_data;
  std::optional<uint64_t> write_same_max_bytes;
  std::optional<uint64_t> write_zeroes_max_bytes;
  std::optional<uint64_t> max_sectors_kb;
  std::optional<uint64_t> max_hw_sectors_kb;
  std::optional<uint64_t> read_ahead_kb;
  std::optional<uint64_t> nr_requests;
  std::optional<uint64_t> nr_zones;
  std::optional<uint64_t> chunk_sectors;
  std::optional<uint64_t> max_open_zones;
  std::optional<uint64_t> max_active_zones;
  std::optional<uint64_t> zone_write_granularity;
  std::optional<uint64_t> zone_append_max_bytes;
  std::optional<uint64_t> rq_affinity;
  std::optional<bool> add_random;
  std::optional<bool> dax;
  std::optional<std::string> zoned;      // none | host-aware | host-managed
  std::optional<std::string> scheduler;  // the selected one ("[mq-deadline]" -> "mq-deadline")
  std::vector<std::string> schedulers;   // every scheduler the device offers
  bool operator==(const QueueLimits&) const = default;
};

// One designator from SCSI VPD page 0x83 (device identification), decoded from device/vpd_pg83.
struct VpdDesignator {
  int code_set = 0;     // 1 binary, 2 ASCII, 3 UTF-8
  int association = 0;  // 0 logical unit, 1 target port, 2 target device
  int type = 0;         // 1 T10 vendor, 2 EUI-64, 3 NAA, 4 rel. port, 8 SCSI name, ...
  std::string value;    // hex for binary designators, text otherwise
  bool operator==(const VpdDesignator&) const = default;
};

struct ScsiIdentity {
  std::string hctl;  // "H:C:T:L"
  std::optional<std::string> vendor, model, rev, wwid, state, sas_address, proc_name;
  std::optional<int64_t> device_type;  // SCSI peripheral device type (0 disk, 5 rom, 20 zbc)
  std::vector<VpdDesignator> vpd83;
  bool operator==(const ScsiIdentity&) const = default;
};

// NVMe namespace identity plus its controller and subsystem. For a native-multipath head
// (nvmeXnY under nvme-subsysX) `controller` is empty and `paths` lists the hidden nvmeXcYnZ.
struct NvmeIdentity {
  std::optional<std::string> eui64, nguid, uuid, wwid;
  std::optional<uint64_t> nsid;
  std::string controller;  // "nvme0"
  std::string subsystem;   // "nvme-subsys0"
  std::optional<std::string> serial, model, firmware_rev, transport, subsysnqn, address, state;
  std::optional<uint64_t> cntlid;
  std::vector<std::string> paths;        // native multipath: hidden path devices
  std::vector<std::string> controllers;  // controllers of the subsystem
  bool operator==(const NvmeIdentity&) const = default;
};

// The udev database record (run/udev/data/bMAJ:MIN) for the device. The lists are packed (one
// heap block each, see packed_strings.h): the agent keeps one record per device.
struct UdevRecord {
  bool present = false;
  PackedProperties properties;               // E: lines in file order
  PackedStrings links;                       // S: lines, e.g. "disk/by-id/..."
  PackedStrings tags;                        // G: lines
  PackedStrings current_tags;                // Q: lines
  std::optional<uint64_t> initialized_usec;  // I: line
  // Returns the value of property `key` (the first one) or nullopt.
  std::optional<std::string_view> Get(std::string_view key) const { return properties.Get(key); }
  bool operator==(const UdevRecord&) const = default;
};

struct BlockDevice {
  // Naming.
  std::string kname;    // kernel name: sda, sda1, nvme0n1, dm-0
  std::string name;     // lsblk NAME: the dm map name for dm devices, else kname
  std::string path;     // device node: /dev/sda, /dev/mapper/NAME
  std::string devpath;  // sysfs path without /sys: /devices/pci0000:00/.../block/sda
  DevNum devnum;
  std::string type;    // disk part loop dm mpath lvm crypt raid1 rom zbc ...
  std::string pkname;  // partitions: the whole disk's kname
  bool is_partition = false;
  bool hidden = false;  // e.g. NVMe multipath path devices (nvmeXcYnZ)

  // Size and flags.
  std::optional<uint64_t> size_bytes;
  std::optional<bool> ro, removable;
  std::optional<uint64_t> diskseq, partn, start, ext_range;
  std::optional<int64_t> alignment_offset, discard_alignment;

  // Identity as lsblk reports it (udev first, then sysfs; see `sources`).
  std::optional<std::string> tran, vendor, model, serial, wwn, rev, hctl, state;
  std::optional<std::string> wwid;  // sysfs wwid (SCSI: device/wwid, NVMe: wwid)
  std::optional<std::string> firmware_rev;
  // lsblk's SUBSYSTEMS (the de-duplicated chain of `subsystem` links from the device up to the
  // root of sys/devices, "block:scsi:pci") and HOTPLUG (removable, or some ancestor on usb,
  // ieee1394, pcmcia, mmc or ccw).
  std::optional<std::string> subsystems;
  std::optional<bool> hotplug;

  // Shared, copy on write: a partition's queue is its disk's (see QueueLimits).
  SharedValue<QueueLimits> queue;
  // Boxed (on the heap when present): most devices have neither, and inline optionals cost
  // about 950 bytes per device.
  Box<ScsiIdentity> scsi;
  Box<NvmeIdentity> nvme;
  UdevRecord udev;

  // Loop, dm, md specifics.
  std::optional<std::string> loop_backing_file;
  std::optional<std::string> dm_name, dm_uuid, md_level, md_uuid;

  // Stacking, by kernel name (sorted).
  std::vector<std::string> partitions;  // whole disks: their partitions
  std::vector<std::string> holders;     // devices built on this one (dm, md, ...)
  std::vector<std::string> slaves;      // devices this one is built on

  // Where both sysfs and the udev db gave a value: field -> {"used": "udev"|"sysfs", ...}.
  struct SourceNote {
    std::string used;  // "udev" or "sysfs"
    std::string udev_value, sysfs_value;
    bool operator==(const SourceNote&) const = default;
  };
  std::map<std::string, SourceNote> disagreements;

  std::vector<FieldError> errors;

  bool operator==(const BlockDevice&) const = default;
};

}  // namespace diskinv
