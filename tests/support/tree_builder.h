// TreeBuilder: writes a sysfs + udev tree under a root directory, laid out as the Linux kernel
// (6.x) and systemd-udevd 252 lay it out, so that `lsblk --sysroot ROOT` and diskinv's walker can
// be pointed at it.
//
// What gets written, per device (see fixtures/sysfs/README.md for the full rules):
//   sys/devices/...           the device directories with their attribute files, queue/, holders/,
//                             slaves/, the `device` and `subsystem` links; parent devices (PCI
//                             functions, SCSI hosts/targets/LUNs, NVMe controllers and subsystems)
//   sys/block, sys/class/..., sys/dev/block, sys/bus/...   class/bus links, relative like the kernel's
//   run/udev/data/bMAJ:MIN    udev database records (S:, I:, E:, G:, Q:, V: lines)
//   dev/NAME, dev/mapper/NAME the KEY=VALUE "fake udev" files lsblk reads under --sysroot instead
//                             of the udev database (lsblk-properties.c: get_properties_by_file)
//
// Usage: add devices (each Add* returns a small handle), optionally edit attributes or udev
// properties for negative tests, then WriteTo(root). Nothing touches the disk before WriteTo.
// Errors (bad handles, impossible topologies, I/O) are sticky: the first one is kept, later calls
// become no-ops, and WriteTo returns false; error() says what went wrong.
//
// Major/minor numbers, kernel names (sda, nvme0n1, md0p1, ...), diskseq, HCTLs and udev
// timestamps are allocated the way the kernel allocates them, in call order, so the same sequence
// of calls always produces byte-identical trees.
//
// Not thread-safe. Only std and fmt; no gtest.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace diskinv::testing {

// ---------------------------------------------------------------------------------------------
// Handles. A default-constructed handle is invalid; passing one sets the sticky error.
struct ScsiHost {
  int id = -1;
  bool valid() const { return id >= 0; }
};
struct NvmeSubsystem {
  int id = -1;
  bool valid() const { return id >= 0; }
};
struct NvmeController {
  int id = -1;
  bool valid() const { return id >= 0; }
};
struct Dev {  // any block device: disk, partition, namespace, head, path, dm, md, loop, zram
  int id = -1;
  bool valid() const { return id >= 0; }
};

// ---------------------------------------------------------------------------------------------
// The request queue (/sys/block/X/queue/*). Values are written as the kernel prints them.
struct QueueSpec {
  bool mq = true;  // blk-mq (request based): has scheduler, nr_requests, rq_affinity, wbt_lat_usec
  bool rotational = false;
  uint32_t logical_block_size = 512;
  uint32_t physical_block_size = 512;
  uint32_t minimum_io_size = 512;
  uint32_t optimal_io_size = 0;
  uint64_t discard_granularity = 0;
  uint64_t discard_max_bytes = 0;
  uint64_t discard_max_hw_bytes = 0;
  uint64_t write_same_max_bytes = 0;
  uint64_t write_zeroes_max_bytes = 0;
  uint32_t max_sectors_kb = 1280;
  uint32_t max_hw_sectors_kb = 32767;
  uint32_t read_ahead_kb = 128;
  uint32_t nr_requests = 64;
  // The scheduler file's text without the newline; the selected one in brackets. Kernels differ
  // ("[mq-deadline] kyber bfq none" on 6.1, "none [mq-deadline] kyber " on 6.18): keep both.
  std::string scheduler = "[mq-deadline] kyber bfq none";
  std::string zoned = "none";  // none | host-aware | host-managed
  uint64_t nr_zones = 0;
  uint64_t chunk_sectors = 0;  // zone size in 512-byte sectors for zoned devices
  uint64_t max_open_zones = 0;
  uint64_t max_active_zones = 0;
  uint64_t zone_append_max_bytes = 0;
  uint64_t zone_write_granularity = 0;
  bool add_random = false;
  bool dax = false;
  int rq_affinity = 1;
  uint32_t max_segments = 168;
  uint32_t max_segment_size = 65536;
  uint32_t max_discard_segments = 1;
  uint32_t wbt_lat_usec = 2000;
  std::string write_cache = "write back";
  bool fua = false;

  static QueueSpec SataHdd();   // 512e HDD: rotational, no discard, mq-deadline
  static QueueSpec SataSsd();   // SATA SSD with TRIM
  static QueueSpec SasHdd();    // 4Kn SAS HDD
  static QueueSpec SasSsd();    // SAS SSD with UNMAP
  static QueueSpec Nvme(uint32_t lba_size = 512);  // NVMe namespace, scheduler [none]
  static QueueSpec Virtio();    // virtio-blk as on a QEMU/Firecracker guest
  static QueueSpec Loop();      // loop device, 6.18-style scheduler line
  static QueueSpec BioBased();  // bio-based (zram, md, dm-linear, NVMe multipath head)
};

// ---------------------------------------------------------------------------------------------
// SCSI

enum class ScsiHostKind {
  kSataAhci,   // one host per AHCI port, under .../ataN/hostM; proc_name ahci; lsblk tran "sata"
  kSas,        // mpt3sas HBA with sas_host class; proc_name mpt3sas; lsblk tran "sas"
  kVirtioScsi, // virtio-scsi under .../virtioN/hostM; proc_name virtio_scsi; lsblk tran empty
  kMegasas,    // MegaRAID virtual drives on channel 2; proc_name megaraid_sas; lsblk tran empty
};

struct ScsiHostSpec {
  ScsiHostKind kind = ScsiHostKind::kSataAhci;
  // The HBA's PCI function as a path under sys/devices, e.g. "pci0000:00/0000:00:17.0" or
  // "pci0000:00/0000:00:03.0/0000:02:00.0" (bridges first). Empty = a default per kind.
  std::string pci_path;
  int port_no = 1;            // AHCI: port number on the controller (1-based), for ID_PATH
  std::string sas_address;    // SAS: the HBA's own SAS address (host_sas_address, phys)
  std::string board_name;     // SAS/MegaRAID: board name, e.g. "SAS9300-8i"
  int host_no = -1;           // -1: next free host number
};

struct ScsiDiskSpec {
  std::string name;           // "" = next sd name (sda, sdb, ..., sdaa, ...)
  int channel = 0;            // MegaRAID hosts default to 2 when left at 0
  int target = -1;            // -1: next free target id on the host (AHCI: 0)
  int lun = 0;
  // For AHCI disks pass the ATA identity (model up to 40 chars, firmware 8, serial 20): the
  // builder derives what libata's SCSI translation shows in sysfs (vendor "ATA", model cut to 16
  // chars, rev = firmware chars 5-8). For other hosts pass INQUIRY vendor(8)/model(16)/rev(4).
  std::string vendor = "ATA";
  std::string model;
  std::string rev;
  std::string serial;         // ATA serial / SCSI unit serial number (VPD page 0x80)
  // NAA designator as hex without "0x": 16 digits (NAA 5) or 32 (NAA 6). Drives wwid, vpd_pg83,
  // ID_WWN(_WITH_EXTENSION) and ID_SERIAL. Empty: no NAA (wwid falls back to t10.).
  std::string naa;
  std::optional<std::string> vpd_pg83;  // raw page bytes, overriding the generated page
  std::string sas_address;    // SAS: target port address ("0x5000c500a1b2c3d5"); "" = derived
  int scsi_type = 0;          // peripheral device type: 0 disk, 20 (0x14) host-managed ZBC
  uint64_t size_bytes = 0;
  QueueSpec queue = QueueSpec::SataSsd();
  int rotation_rpm = -1;      // ATA ID_ATA_ROTATION_RATE_RPM; -1: 0 for SSD, 7200 for rotational
  bool removable = false;
  bool ro = false;
  bool udev = true;           // write a udev record (and lsblk's dev/ file)
};

// ---------------------------------------------------------------------------------------------
// NVMe

enum class NvmeTransport { kPcie, kTcp, kRdma, kFc, kLoop };

struct NvmeSubsystemSpec {
  std::string nqn;            // subsysnqn
  std::string model;          // up to 40 chars (padded with spaces in sysfs, as the kernel does)
  std::string serial;         // up to 20 chars
  std::string firmware_rev;   // up to 8 chars
  uint16_t vendor_id = 0x144d;  // for the "nvme.VVVV-..." wwid fallback
  // Native NVMe multipath (CMIC multi-controller): namespaces get a head nvmeSnN under
  // sys/devices/virtual/nvme-subsystem/nvme-subsysS and a hidden path nvmeScCnN per controller.
  bool multipath = false;
  std::string iopolicy = "numa";
};

struct NvmeControllerSpec {
  NvmeTransport transport = NvmeTransport::kPcie;
  std::string pci_path;       // PCIe: e.g. "pci0000:00/0000:00:1d.0/0000:3d:00.0"; "" = default
  std::string traddr;         // fabrics: target address
  std::string trsvcid = "4420";
  std::string host_traddr;    // fabrics: our source address (address= "src_addr=")
  std::string hostnqn = "nqn.2014-08.org.nvmexpress:uuid:5c3ee8a4-2a2e-4bb9-9d8b-0f4ad1c0e2b1";
  int cntlid = 1;
  std::string state = "live";
  std::string ana_state = "optimized";  // ANA state of this controller's paths (multipath only)
  int queue_count = 33;
  int sqsize = 1023;
  int instance = -1;          // -1: next free nvmeN
};

struct NvmeNamespaceSpec {
  uint32_t nsid = 1;
  std::string eui64;          // 16 hex digits, "" = none (attribute not shown)
  std::string nguid;          // 32 hex digits, "" = none
  std::string uuid;           // "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx", "" = none
  uint64_t size_bytes = 0;
  QueueSpec queue = QueueSpec::Nvme();
  int csi = 0;                // command set: 0 NVM, 2 zoned (ZNS)
  uint64_t nuse_blocks = 0;
  bool udev = true;
};

// ---------------------------------------------------------------------------------------------
// Partitions, filesystems, stacked and virtual devices

struct PartitionSpec {
  int partn = 0;              // 0: next number
  uint64_t start_sector = 0;  // in 512-byte sectors; 0: right after the previous one (or 2048)
  uint64_t size_sectors = 0;  // required
  std::string name;           // GPT partition name (PARTNAME= and ID_PART_ENTRY_NAME)
  std::string type_guid = "0fc63daf-8483-4772-8e79-3d69d8477de4";  // Linux filesystem
  std::string part_uuid;      // "" = derived deterministically
};

struct FilesystemSpec {
  std::string type;           // ext4, xfs, vfat, swap, linux_raid_member, LVM2_member, ...
  std::string uuid;
  std::string label;
  std::string version;        // ID_FS_VERSION, "" = a default for the type
  std::string usage;          // ID_FS_USAGE, "" = a default for the type
};

struct DmSpec {
  std::string name;           // dm/name, e.g. "mpatha"
  std::string uuid;           // dm/uuid, e.g. "mpath-3600a0b8...", "LVM-<vg><lv>", "part1-mpath-.."
  std::vector<Dev> slaves;
  uint64_t size_bytes = 0;    // 0: the first slave's size
  bool request_based = false; // dm-multipath: blk-mq queue with a scheduler; linear: bio based
  std::optional<QueueSpec> queue;  // default: stacked from the first slave
};

struct MdSpec {
  std::string name = "md0";
  std::string level = "raid1";
  std::vector<Dev> members;   // usually partitions
  std::string metadata_version = "1.2";
  std::string uuid = "3a1b2c3d:4e5f6071:8293a4b5:c6d7e8f9";  // mdadm format
  std::string array_name = "node1:0";                      // MD_NAME / superblock name
  uint64_t size_bytes = 0;    // 0: derived from the members and level
};

struct LoopSpec {
  std::string backing_file;   // "" = unbound loop device (size 0, lsblk hides it)
  uint64_t size_bytes = 0;
  uint64_t offset = 0;
  bool ro = false;
  bool udev = true;
};

struct ZramSpec {
  uint64_t disksize = 0;      // 0 = not initialised (size 0, as after modprobe)
  std::string comp_algorithm = "[lzo-rle] lzo lz4 ";
  int major = -1;             // -1: BuilderOptions::zram_major (the major is dynamic)
  bool udev = true;
};

struct VirtioBlkSpec {
  std::string name;           // "" = next vd name
  std::string pci_path;       // "" = default
  int virtio_index = -1;      // the virtioN bus device; -1: next free
  std::string serial;         // the disk's `serial` attribute
  uint64_t size_bytes = 0;
  QueueSpec queue = QueueSpec::Virtio();
  bool udev = true;           // false: like a guest without udevd (no record, no dev/ file)
};

// ---------------------------------------------------------------------------------------------

struct BuilderOptions {
  // Write files with identical content as hard links to one pooled copy (much faster for big
  // synthetic trees; a test that edits such a file in place changes all of them: replace files
  // with rename() instead). Off by default.
  bool hardlink_identical = false;
  int threads = 0;            // writer threads for WriteTo; 0 = hardware concurrency
  // Add MODE=/OWNER=/GROUP= to the dev/ files so lsblk --sysroot does not stat the host's /dev.
  bool lsblk_node_attrs = true;
  int dm_major = 253;
  int virtblk_major = 254;
  int zram_major = 252;
  int nvme_char_major = 240;
  uint64_t udev_usec_base = 4000000;  // I: timestamps start here
};

class TreeBuilder {
 public:
  explicit TreeBuilder(BuilderOptions options = {});
  ~TreeBuilder();
  TreeBuilder(const TreeBuilder&) = delete;
  TreeBuilder& operator=(const TreeBuilder&) = delete;

  ScsiHost AddScsiHost(const ScsiHostSpec& spec);
  Dev AddScsiDisk(ScsiHost host, const ScsiDiskSpec& spec);

  NvmeSubsystem AddNvmeSubsystem(const NvmeSubsystemSpec& spec);
  NvmeController AddNvmeController(NvmeSubsystem subsys, const NvmeControllerSpec& spec);
  // Adds a namespace to every controller of the subsystem. Multipath subsystem: returns the head
  // (paths via NvmePaths); otherwise the subsystem must have exactly one controller.
  Dev AddNvmeNamespace(NvmeSubsystem subsys, const NvmeNamespaceSpec& spec);
  std::vector<Dev> NvmePaths(Dev head) const;

  // Partition table of a whole device ("gpt" or "dos"); AddPartition sets gpt if none was set.
  void SetPartitionTable(Dev disk, std::string_view type, std::string_view uuid);
  Dev AddPartition(Dev disk, const PartitionSpec& spec);
  void SetFilesystem(Dev dev, const FilesystemSpec& fs);

  Dev AddDm(const DmSpec& spec);
  Dev AddMd(const MdSpec& spec);
  Dev AddLoop(const LoopSpec& spec);
  Dev AddZram(const ZramSpec& spec);
  Dev AddVirtioBlk(const VirtioBlkSpec& spec);

  // Edits, for tests of odd kernels and broken input. `rel` is relative to the device's sysfs
  // directory ("size", "queue/rotational", "device/model"); the value is written verbatim.
  void SetAttr(Dev dev, std::string_view rel, std::string_view value);
  void RemoveAttr(Dev dev, std::string_view rel);
  // Any file below the root (e.g. "proc/self/mountinfo"); parents are created.
  void SetFile(std::string_view path, std::string_view content);
  void SetUdevProperty(Dev dev, std::string_view key, std::string_view value);
  void RemoveUdevProperty(Dev dev, std::string_view key);
  void AddUdevLink(Dev dev, std::string_view link);  // S: line, without "/dev/"
  void DropUdevRecord(Dev dev);  // no run/udev/data record and no dev/ file

  // Queries.
  const std::string& Name(Dev dev) const;         // kernel name: "sda", "nvme0c0n1", "dm-0"
  std::string SysPath(Dev dev) const;             // "sys/devices/.../block/sda" (root-relative)
  std::string MajMin(Dev dev) const;              // "8:0"; "" for hidden devices
  size_t device_count() const;

  // Writes the tree below `root`, which must not exist or be an empty directory.
  bool WriteTo(const std::string& root);
  size_t files_written() const;                   // files + symlinks of the last WriteTo

  bool ok() const;
  const std::string& error() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// ---------------------------------------------------------------------------------------------
// Named scenarios (committed under fixtures/sysfs/<name>/, regenerated by scripts/make-fixtures)
// and synthetic fleets for benchmarks.

std::vector<std::string> ScenarioNames();
// One-line description of a scenario; "" for an unknown name.
std::string ScenarioDescription(std::string_view name);
// Adds the scenario's devices to `builder`. False (and *error set) for an unknown name.
bool BuildScenario(std::string_view name, TreeBuilder& builder, std::string* error);

struct SyntheticSpec {
  int disks = 0;              // round-robin NVMe, SAS, SATA
  int partitions = 2;         // per disk, GPT
  uint64_t seed = 1;          // serials and WWNs are derived from it; same seed, same tree
};
void BuildSynthetic(const SyntheticSpec& spec, TreeBuilder& builder);

// Helpers shared with tests: what udev-mode lsblk shows for a model/serial value.
std::string UdevEncode(std::string_view s);         // udev_util_encode_string: ' ' -> "\x20"
std::string UdevReplaceWhitespace(std::string_view s);  // trims, inner runs -> '_'

}  // namespace diskinv::testing
