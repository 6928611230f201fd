// TreeBuilder implementation. Layout references: Linux block/genhd.c, block/partitions/core.c,
// block/blk-sysfs.c, drivers/scsi/scsi_sysfs.c, drivers/ata/libata-scsi.c, drivers/nvme/host/
// {core,multipath,sysfs}.c, fs/kernfs/symlink.c; systemd 252 60-persistent-storage.rules, ata_id,
// scsi_id, path_id; util-linux 2.38.1 lsblk and lib/sysfs.c. See fixtures/sysfs/README.md.
#include "support/tree_builder.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <unordered_map>

#include <fmt/format.h>

namespace diskinv::testing {
namespace {

// ---------------------------------------------------------------------------------------------
// Small string helpers.

bool IsHex(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return isxdigit(static_cast<unsigned char>(c)); });
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string HexToBytes(std::string_view hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<char>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
  }
  return out;
}

std::string Pad(std::string_view s, size_t width) {
  std::string out(s.substr(0, std::min(s.size(), width)));
  out.resize(width, ' ');
  return out;
}

std::string TrimRight(std::string_view s) {
  size_t n = s.size();
  while (n > 0 && isspace(static_cast<unsigned char>(s[n - 1]))) --n;
  return std::string(s.substr(0, n));
}

// lsblk's normalize_whitespace(): trims and collapses runs of whitespace to one.
std::string NormalizeWhitespace(std::string_view s) {
  std::string out;
  bool pending_space = false;
  for (char c : s) {
    if (isspace(static_cast<unsigned char>(c))) {
      pending_space = !out.empty();
    } else {
      if (pending_space) out.push_back(' ');
      pending_space = false;
      out.push_back(c);
    }
  }
  return out;
}

// lsblk's unhexmangle_string(): "\x20" -> ' '.
std::string Unhexmangle(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size() && s[i + 1] == 'x' &&
        isxdigit(static_cast<unsigned char>(s[i + 2])) &&
        isxdigit(static_cast<unsigned char>(s[i + 3]))) {
      out.push_back(static_cast<char>(std::stoi(std::string(s.substr(i + 2, 2)), nullptr, 16)));
      i += 3;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

bool AllowedDevnodeChar(char c) {
  return isalnum(static_cast<unsigned char>(c)) || strchr("#+-.:=@_", c) != nullptr;
}

// udev's util_replace_chars(s, NULL): anything outside the devnode allow list becomes '_'.
std::string UdevReplaceChars(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (!AllowedDevnodeChar(c)) c = '_';
  }
  return out;
}

// FNV-1a, for deterministic derived identifiers.
uint64_t Hash64(std::string_view s, uint64_t seed = 0xcbf29ce484222325ULL) {
  uint64_t h = seed;
  for (unsigned char c : s) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  h ^= h >> 29;
  h *= 0xbf58476d1ce4e5b9ULL;
  h ^= h >> 32;
  return h;
}

std::string DeriveUuid(std::string_view what) {
  uint64_t a = Hash64(what), b = Hash64(what, a);
  return fmt::format("{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}", a >> 32, (a >> 16) & 0xffff,
                     a & 0xfff, 0x8000 | (b >> 48 & 0x3fff), b & 0xffffffffffffULL);
}

std::string FormatUuidBytes(std::string_view hex32) {  // 32 hex -> 8-4-4-4-12, lower case
  std::string h = Lower(hex32);
  return fmt::format("{}-{}-{}-{}-{}", h.substr(0, 8), h.substr(8, 4), h.substr(12, 4),
                     h.substr(16, 4), h.substr(20, 12));
}

std::string Stat17() {
  std::string s;
  for (int i = 0; i < 17; ++i) s += fmt::format("{}{:>8}", i ? " " : "", 0);
  return s;
}

// "0000:00:17.0" from "pci0000:00/0000:00:17.0".
std::string LastComponent(std::string_view path) {
  size_t p = path.rfind('/');
  return std::string(p == std::string_view::npos ? path : path.substr(p + 1));
}

std::string Dirname(std::string_view path) {
  size_t p = path.rfind('/');
  return p == std::string_view::npos ? std::string() : std::string(path.substr(0, p));
}

bool LooksLikeBdf(std::string_view s) {  // dddd:bb:dd.f
  return s.size() == 12 && s[4] == ':' && s[7] == ':' && s[10] == '.';
}

// Relative symlink target exactly as kernfs_get_target_path() computes it: climb from the
// link's directory until reaching an ancestor (or self) of the target's parent, then descend.
// Both arguments are root-relative paths starting with "sys/".
std::string KernfsRelative(std::string_view link_dir, std::string_view target) {
  auto split = [](std::string_view p) {
    std::vector<std::string_view> parts;
    if (p.substr(0, 4) == "sys/") p.remove_prefix(4);
    else if (p == "sys") p = {};
    while (!p.empty()) {
      size_t s = p.find('/');
      parts.push_back(p.substr(0, s));
      if (s == std::string_view::npos) break;
      p.remove_prefix(s + 1);
    }
    return parts;
  };
  std::vector<std::string_view> base = split(link_dir), tgt = split(target);
  std::vector<std::string_view> tparent(tgt.begin(), tgt.end() - (tgt.empty() ? 0 : 1));
  std::string rel;
  auto is_prefix = [&](const std::vector<std::string_view>& a) {
    if (a.size() > tparent.size()) return false;
    return std::equal(a.begin(), a.end(), tparent.begin());
  };
  while (!base.empty()) {
    if (is_prefix(base)) break;
    rel += "../";
    base.pop_back();
  }
  for (size_t i = base.size(); i < tgt.size(); ++i) {
    rel += tgt[i];
    if (i + 1 < tgt.size()) rel += '/';
  }
  return rel;
}

// ---------------------------------------------------------------------------------------------
// FsPlan: the whole tree in memory; Write() materialises it with a few threads.

class FsPlan {
 public:
  using DirId = uint32_t;
  static constexpr uint16_t kRO = 0444, kRW = 0644, kWO = 0200;

  FsPlan() {
    dirs_.push_back({"", 0, 0, {}});
    index_.emplace("", 0);
  }

  DirId Dir(std::string_view path) {
    auto it = index_.find(std::string(path));
    if (it != index_.end()) return it->second;
    DirId parent = Dir(Dirname(path));
    DirId id = static_cast<DirId>(dirs_.size());
    dirs_.push_back({std::string(path), parent, dirs_[parent].depth + 1, {}});
    index_.emplace(std::string(path), id);
    return id;
  }
  bool HasDir(std::string_view path) const { return index_.count(std::string(path)) > 0; }
  const std::string& DirPath(DirId d) const { return dirs_[d].path; }

  void File(DirId d, std::string_view name, std::string_view content, uint16_t mode = kRO) {
    dirs_[d].entries.push_back({std::string(name), Blob(content), mode, false});
  }
  void Link(DirId d, std::string_view name, std::string_view target) {
    dirs_[d].entries.push_back({std::string(name), Blob(target), 0777, true});
  }

  // Replaces (or adds) a file by root-relative path. Symlinked directories are not followed.
  void Put(std::string_view path, std::string_view content, uint16_t mode = kRW) {
    DirId d = Dir(Dirname(path));
    std::string name = LastComponent(path);
    for (auto& e : dirs_[d].entries) {
      if (e.name == name && !e.removed) {
        e.blob = Blob(content);
        e.symlink = false;
        return;
      }
    }
    File(d, name, content, mode);
  }
  bool Remove(std::string_view path) {
    auto it = index_.find(Dirname(path));
    if (it == index_.end()) return false;
    std::string name = LastComponent(path);
    for (auto& e : dirs_[it->second].entries) {
      if (e.name == name && !e.removed) {
        e.removed = true;
        return true;
      }
    }
    return false;
  }

  bool Write(const std::string& root, int threads, bool hardlink, std::string* error,
             size_t* count);

 private:
  struct Entry {
    std::string name;
    uint32_t blob;
    uint16_t mode;
    bool symlink;
    bool removed = false;
  };
  struct DirNode {
    std::string path;
    DirId parent;
    uint32_t depth;
    std::vector<Entry> entries;
  };

  uint32_t Blob(std::string_view content) {
    auto [it, inserted] = blob_index_.try_emplace(std::string(content), blobs_.size());
    if (inserted) blobs_.push_back(&it->first);
    return it->second;
  }

  std::vector<DirNode> dirs_;
  std::unordered_map<std::string, DirId> index_;
  std::unordered_map<std::string, uint32_t> blob_index_;
  std::vector<const std::string*> blobs_;
};

class FirstError {
 public:
  void Set(std::string msg) {
    std::lock_guard<std::mutex> lock(mu_);
    if (msg_.empty()) msg_ = std::move(msg);
    failed_ = true;
  }
  bool failed() const { return failed_.load(std::memory_order_relaxed); }
  const std::string& message() const { return msg_; }

 private:
  std::mutex mu_;
  std::string msg_;
  std::atomic<bool> failed_{false};
};

template <typename Fn>
void ParallelFor(size_t n, int threads, Fn fn) {
  if (threads <= 1 || n < 64) {
    for (size_t i = 0; i < n; ++i) fn(i);
    return;
  }
  std::atomic<size_t> next{0};
  auto worker = [&] {
    constexpr size_t kChunk = 32;
    for (;;) {
      size_t begin = next.fetch_add(kChunk);
      if (begin >= n) return;
      size_t end = std::min(n, begin + kChunk);
      for (size_t i = begin; i < end; ++i) fn(i);
    }
  };
  std::vector<std::thread> pool;
  for (int t = 1; t < threads; ++t) pool.emplace_back(worker);
  worker();
  for (auto& t : pool) t.join();
}

bool WriteAll(int fd, const std::string& data) {
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::write(fd, data.data() + off, data.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    off += static_cast<size_t>(n);
  }
  return true;
}

bool FsPlan::Write(const std::string& root, int threads, bool hardlink, std::string* error,
                   size_t* count) {
  if (threads <= 0) threads = std::max(1u, std::thread::hardware_concurrency());
  // Create the root (and its parents), refuse a non-empty existing directory.
  {
    std::string partial;
    size_t pos = 0;
    while (pos != std::string::npos) {
      pos = root.find('/', pos + 1);
      partial = root.substr(0, pos);
      if (!partial.empty() && ::mkdir(partial.c_str(), 0755) != 0 && errno != EEXIST) {
        *error = fmt::format("mkdir {}: {}", partial, strerror(errno));
        return false;
      }
    }
  }
  int rootfd = ::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (rootfd < 0) {
    *error = fmt::format("open {}: {}", root, strerror(errno));
    return false;
  }
  {
    int probe = ::dup(rootfd);
    DIR* d = probe >= 0 ? fdopendir(probe) : nullptr;
    bool empty = true;
    if (d) {
      while (dirent* de = readdir(d)) {
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0) empty = false;
      }
      closedir(d);
    }
    if (!empty) {
      ::close(rootfd);
      *error = fmt::format("{}: output directory exists and is not empty", root);
      return false;
    }
  }
  mode_t old_umask = ::umask(022);
  FirstError err;

  // Directories, level by level (parents exist before children), in parallel within a level.
  std::vector<std::vector<DirId>> levels;
  for (DirId i = 1; i < dirs_.size(); ++i) {
    if (levels.size() <= dirs_[i].depth) levels.resize(dirs_[i].depth + 1);
    levels[dirs_[i].depth].push_back(i);
  }
  for (auto& level : levels) {
    ParallelFor(level.size(), threads, [&](size_t k) {
      const std::string& p = dirs_[level[k]].path;
      if (::mkdirat(rootfd, p.c_str(), 0755) != 0 && errno != EEXIST)
        err.Set(fmt::format("mkdir {}/{}: {}", root, p, strerror(errno)));
    });
    if (err.failed()) break;
  }

  // Pool of shared contents for hard links: (blob, mode) used at least twice.
  constexpr const char* kPool = ".tree-builder-pool";
  std::unordered_map<uint64_t, std::string> pooled;  // (blob << 16 | mode) -> pool file name
  int poolfd = -1;
  if (hardlink && !err.failed()) {
    std::unordered_map<uint64_t, uint32_t> uses;
    for (const auto& d : dirs_)
      for (const auto& e : d.entries)
        if (!e.symlink && !e.removed) ++uses[(uint64_t{e.blob} << 16) | e.mode];
    if (::mkdirat(rootfd, kPool, 0700) == 0) {
      poolfd = ::openat(rootfd, kPool, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    }
    if (poolfd < 0) err.Set(fmt::format("{}/{}: {}", root, kPool, strerror(errno)));
    for (const auto& [key, n] : uses) {
      if (n < 2 || poolfd < 0) continue;
      std::string name = fmt::format("{:x}", key);
      int fd = ::openat(poolfd, name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
                        static_cast<mode_t>(key & 0xffff));
      if (fd < 0 || !WriteAll(fd, *blobs_[key >> 16])) {
        err.Set(fmt::format("{}/{}/{}: {}", root, kPool, name, strerror(errno)));
      }
      if (fd >= 0) ::close(fd);
      pooled.emplace(key, std::move(name));
    }
  }

  std::atomic<size_t> written{0};
  if (!err.failed()) {
    ParallelFor(dirs_.size(), threads, [&](size_t i) {
      const DirNode& d = dirs_[i];
      if (d.entries.empty() || err.failed()) return;
      int dfd = i == 0 ? rootfd
                       : ::openat(rootfd, d.path.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
      if (dfd < 0) {
        err.Set(fmt::format("open {}/{}: {}", root, d.path, strerror(errno)));
        return;
      }
      size_t n = 0;
      for (const Entry& e : d.entries) {
        if (e.removed) continue;
        const std::string& content = *blobs_[e.blob];
        int rc = 0;
        if (e.symlink) {
          rc = ::symlinkat(content.c_str(), dfd, e.name.c_str());
        } else if (auto it = pooled.find((uint64_t{e.blob} << 16) | e.mode); it != pooled.end()) {
          rc = ::linkat(poolfd, it->second.c_str(), dfd, e.name.c_str(), 0);
        } else {
          int fd = ::openat(dfd, e.name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, e.mode);
          if (fd < 0 || !WriteAll(fd, content)) rc = -1;
          if (fd >= 0) ::close(fd);
        }
        if (rc != 0) {
          err.Set(fmt::format("create {}/{}/{}: {}", root, d.path, e.name, strerror(errno)));
          break;
        }
        ++n;
      }
      if (dfd != rootfd) ::close(dfd);
      written.fetch_add(n, std::memory_order_relaxed);
    });
  }

  if (poolfd >= 0) {
    for (const auto& [key, name] : pooled) ::unlinkat(poolfd, name.c_str(), 0);
    ::close(poolfd);
    ::unlinkat(rootfd, kPool, AT_REMOVEDIR);
  }
  ::umask(old_umask);
  ::close(rootfd);
  *count = written.load();
  if (err.failed()) {
    *error = err.message();
    return false;
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
// udev property lists keep insertion order, like sd-device's ordered hashmap.

using Props = std::vector<std::pair<std::string, std::string>>;

void SetProp(Props& props, std::string_view key, std::string_view value) {
  for (auto& [k, v] : props) {
    if (k == key) {
      v = value;
      return;
    }
  }
  props.emplace_back(key, value);
}

const std::string* GetProp(const Props& props, std::string_view key) {
  for (const auto& [k, v] : props)
    if (k == key) return &v;
  return nullptr;
}

void RemoveProp(Props& props, std::string_view key) {
  props.erase(std::remove_if(props.begin(), props.end(),
                             [&](const auto& kv) { return kv.first == key; }),
              props.end());
}

// ---------------------------------------------------------------------------------------------
// SCSI VPD pages.

std::string VpdPage(int type, int page, const std::string& body) {
  std::string p;
  p.push_back(static_cast<char>(type & 0x1f));
  p.push_back(static_cast<char>(page));
  p.push_back(static_cast<char>((body.size() >> 8) & 0xff));
  p.push_back(static_cast<char>(body.size() & 0xff));
  return p + body;
}

std::string Designator(int proto_codeset, int piv_assoc_type, const std::string& id) {
  std::string d;
  d.push_back(static_cast<char>(proto_codeset));
  d.push_back(static_cast<char>(piv_assoc_type));
  d.push_back(0);
  d.push_back(static_cast<char>(id.size()));
  return d + id;
}

std::string SasAddressBytes(std::string_view addr) {  // "0x5000c500a1b2c3d5" -> 8 bytes
  std::string_view h = addr;
  if (h.substr(0, 2) == "0x") h.remove_prefix(2);
  return HexToBytes(h);
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Public helpers.

std::string UdevEncode(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (static_cast<unsigned char>(c) >= 0x80) {
      out.push_back(c);  // (valid UTF-8 sequences are kept as they are)
    } else if (c == '\\' || !AllowedDevnodeChar(c)) {
      out += fmt::format("\\x{:02x}", static_cast<unsigned char>(c));
    } else {
      out.push_back(c);
    }
  }
  return out;
}

std::string UdevReplaceWhitespace(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  std::string out;
  bool space = false;
  for (size_t i = b; i < e; ++i) {
    if (isspace(static_cast<unsigned char>(s[i]))) {
      space = true;
    } else {
      if (space) out.push_back('_');
      space = false;
      out.push_back(s[i]);
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Queue presets.

QueueSpec QueueSpec::SataHdd() {
  QueueSpec q;
  q.rotational = true;
  q.logical_block_size = 512;
  q.physical_block_size = 4096;
  q.minimum_io_size = 4096;
  q.max_sectors_kb = 1280;
  q.max_hw_sectors_kb = 32767;
  q.nr_requests = 64;
  q.scheduler = "[mq-deadline] kyber bfq none";
  q.add_random = true;
  q.wbt_lat_usec = 75000;
  q.fua = false;
  return q;
}

QueueSpec QueueSpec::SataSsd() {
  QueueSpec q;
  q.rotational = false;
  q.logical_block_size = 512;
  q.physical_block_size = 512;
  q.minimum_io_size = 512;
  q.discard_granularity = 512;
  q.discard_max_bytes = 2147450880;
  q.discard_max_hw_bytes = 2147450880;
  q.max_discard_segments = 1;
  q.nr_requests = 64;
  q.scheduler = "[mq-deadline] kyber bfq none";
  q.wbt_lat_usec = 2000;
  q.fua = false;
  return q;
}

QueueSpec QueueSpec::SasHdd() {
  QueueSpec q;
  q.rotational = true;
  q.logical_block_size = 4096;
  q.physical_block_size = 4096;
  q.minimum_io_size = 4096;
  q.max_sectors_kb = 2048;
  q.max_hw_sectors_kb = 16383;
  q.nr_requests = 256;
  q.scheduler = "[mq-deadline] kyber bfq none";
  q.add_random = true;
  q.max_segments = 128;
  q.wbt_lat_usec = 75000;
  q.fua = true;
  q.write_same_max_bytes = 33550336;
  q.write_zeroes_max_bytes = 33550336;
  return q;
}

QueueSpec QueueSpec::SasSsd() {
  QueueSpec q = SasHdd();
  q.rotational = false;
  q.logical_block_size = 512;
  q.physical_block_size = 4096;
  q.minimum_io_size = 4096;
  q.discard_granularity = 4096;
  q.discard_max_bytes = 4294966784;
  q.discard_max_hw_bytes = 4294966784;
  q.add_random = false;
  q.wbt_lat_usec = 2000;
  q.write_same_max_bytes = 0;
  q.write_zeroes_max_bytes = 4294966784;
  return q;
}

QueueSpec QueueSpec::Nvme(uint32_t lba_size) {
  QueueSpec q;
  q.rotational = false;
  q.logical_block_size = lba_size;
  q.physical_block_size = lba_size;
  q.minimum_io_size = lba_size;
  q.optimal_io_size = 0;
  q.discard_granularity = lba_size;
  q.discard_max_bytes = 2199023255040;
  q.discard_max_hw_bytes = 2199023255040;
  q.max_discard_segments = 256;
  q.write_zeroes_max_bytes = 8388608;
  q.max_sectors_kb = 128;
  q.max_hw_sectors_kb = 128;
  q.nr_requests = 1023;
  q.scheduler = "[none] mq-deadline kyber bfq ";
  q.max_segments = 33;
  q.max_segment_size = 4294967295u;
  q.wbt_lat_usec = 2000;
  q.fua = true;
  return q;
}

QueueSpec QueueSpec::Virtio() {  // as on this repository's Firecracker CI guest (6.18)
  QueueSpec q;
  q.rotational = true;
  q.logical_block_size = 512;
  q.physical_block_size = 4096;
  q.minimum_io_size = 4096;
  q.discard_granularity = 4096;
  q.discard_max_bytes = 1073741824;
  q.discard_max_hw_bytes = 1073741824;
  q.max_sectors_kb = 4096;
  q.max_hw_sectors_kb = 2147483647;
  q.read_ahead_kb = 8192;
  q.nr_requests = 256;
  q.scheduler = "none [mq-deadline] kyber ";
  q.max_segments = 254;
  q.max_segment_size = 4294967295u;
  q.wbt_lat_usec = 75000;
  return q;
}

QueueSpec QueueSpec::Loop() {
  QueueSpec q;
  q.rotational = false;
  q.max_sectors_kb = 1280;
  q.max_hw_sectors_kb = 1280;
  q.nr_requests = 128;
  q.scheduler = "[none] mq-deadline kyber ";
  q.max_segments = 128;
  q.write_cache = "write through";
  return q;
}

QueueSpec QueueSpec::BioBased() {
  QueueSpec q;
  q.mq = false;
  q.rotational = false;
  q.scheduler.clear();
  q.nr_requests = 0;
  q.max_sectors_kb = 1280;
  q.max_hw_sectors_kb = 4294967295u / 1024;
  q.write_cache = "write through";
  return q;
}

// ---------------------------------------------------------------------------------------------
// The device model.

namespace {

enum class Kind { kScsiDisk, kNvmeNs, kNvmeHead, kNvmePath, kPartition, kDm, kMd, kLoop, kZram,
                  kVirtioBlk };

struct Device {
  Kind kind;
  std::string name;
  std::string dir;  // root-relative sysfs directory ("sys/devices/.../sda")
  int major = 0, minor = 0;
  bool has_devt = true;
  uint64_t diskseq = 0;
  uint64_t size_sectors = 0;
  int parent = -1;  // partition: whole device
  int partn = 0;
  int next_partn = 1;
  uint64_t next_start = 2048;
  std::vector<int> partitions;
  int minors = 0;   // consecutive minors reserved for partitions (sd 16, vd 16, others 0)
  // udev
  bool udev = true;
  uint64_t usec = 0;
  Props identity;              // properties from ata_id/scsi_id/NVMe rules/path_id/dm/md rules
  std::vector<std::string> identity_links;
  std::vector<std::pair<bool, std::pair<std::string, std::string>>> edits;  // set?, key, value
  std::vector<std::string> extra_links;
  std::string devnode;         // root-relative lsblk dev file: "dev/sda", "dev/mapper/mpatha"
  std::string pttype, ptuuid;
  std::optional<FilesystemSpec> fs;
  PartitionSpec part;
  // NVMe
  int subsys = -1;
  std::vector<int> paths;
  std::string nvme_wwid;
  // bus id for by-id links ("ata", "scsi", "nvme", "virtio") and the by-id serial
  std::string byid_bus;
};

struct Host {
  ScsiHostSpec spec;
  int host_no = 0;
  std::string dir;       // sys/devices/.../hostN
  std::string pci_bdf;   // "0000:00:17.0"
  int ata_print_id = 0;  // AHCI: ataN
  int next_target = 0;
  int next_sas_port = 0;
};

struct Subsys {
  NvmeSubsystemSpec spec;
  int instance = -1;
  std::string dir;
  std::vector<int> ctrls;
  int next_ns_instance = 1;
};

struct Ctrl {
  NvmeControllerSpec spec;
  int subsys = -1;
  int instance = 0;
  std::string dir;
  std::string pci_bdf;
};

const char* ProcName(ScsiHostKind k) {
  switch (k) {
    case ScsiHostKind::kSataAhci: return "ahci";
    case ScsiHostKind::kSas: return "mpt3sas";
    case ScsiHostKind::kVirtioScsi: return "virtio_scsi";
    case ScsiHostKind::kMegasas: return "megaraid_sas";
  }
  return "";
}

std::string SdName(int index) {
  std::string s;
  int i = index;
  do {
    s.insert(s.begin(), static_cast<char>('a' + i % 26));
    i = i / 26 - 1;
  } while (i >= 0);
  return "sd" + s;
}

std::string VdName(int index) { return "v" + SdName(index).substr(1); }

int SdMajor(int index) {
  int i = (index & 0xf0) >> 4;
  if (i == 0) return 8;
  if (i < 8) return 65 + i - 1;
  return 128 + i - 8;
}

int SdFirstMinor(int index) { return ((index & 0xf) << 4) | (index & 0xfff00); }

}  // namespace

struct TreeBuilder::Impl {
  BuilderOptions opt;
  FsPlan plan;
  std::string error;
  size_t files_written = 0;

  std::vector<Device> devs;
  std::vector<Host> hosts;
  std::vector<Subsys> subsystems;
  std::vector<Ctrl> ctrls;
  std::set<std::string> names;
  std::set<std::string> pci_done;
  std::set<int> host_numbers;
  int next_sd_index = 0, next_vd_index = 0, next_loop = 0, next_zram = 0, next_dm = 0;
  int next_md = 0, next_sg = 0, next_ata = 1, next_virtio = 0, next_nvme_instance = 0;
  int next_blkext = 0;
  uint64_t next_diskseq = 1;
  uint64_t next_usec = 0;
  std::set<std::pair<int, int>> used_devt;

  explicit Impl(BuilderOptions o) : opt(std::move(o)) {
    next_usec = opt.udev_usec_base;
    // The class and bus directories every tree has, so relative links always resolve.
    for (const char* d : {"sys/block", "sys/class/block", "sys/dev/block", "sys/dev/char",
                          "sys/bus/scsi/devices", "sys/bus/scsi/drivers/sd", "sys/bus/pci/devices",
                          "sys/devices/virtual/block", "run/udev/data", "dev"}) {
      plan.Dir(d);
    }
  }

  bool Fail(std::string msg) {
    if (error.empty()) error = std::move(msg);
    return false;
  }
  bool Ok() const { return error.empty(); }

  Device* Get(Dev d) {
    if (d.id < 0 || static_cast<size_t>(d.id) >= devs.size()) {
      Fail(fmt::format("invalid device handle {}", d.id));
      return nullptr;
    }
    return &devs[d.id];
  }

  // --- small writers --------------------------------------------------------------------------
  void A(FsPlan::DirId d, std::string_view name, std::string_view value,
         uint16_t mode = FsPlan::kRO) {
    std::string v(value);
    v.push_back('\n');
    plan.File(d, name, v, mode);
  }
  void A(FsPlan::DirId d, std::string_view name, uint64_t value, uint16_t mode = FsPlan::kRO) {
    plan.File(d, name, fmt::format("{}\n", value), mode);
  }
  void Raw(FsPlan::DirId d, std::string_view name, std::string_view bytes,
           uint16_t mode = FsPlan::kRO) {
    plan.File(d, name, bytes, mode);
  }
  void L(FsPlan::DirId d, std::string_view name, std::string_view target_root_rel) {
    plan.Link(d, name, KernfsRelative(plan.DirPath(d), target_root_rel));
  }
  void Subsystem(FsPlan::DirId d, std::string_view sub) { L(d, "subsystem", sub); }

  uint64_t NextUsec() {
    uint64_t u = next_usec;
    next_usec += 12873;
    return u;
  }

  bool ClaimName(const std::string& name) {
    if (!names.insert(name).second) return Fail(fmt::format("duplicate device name {}", name));
    return true;
  }

  // --- PCI -------------------------------------------------------------------------------------
  struct PciId {
    const char* vendor;
    const char* device;
    const char* cls;
    const char* driver;
  };
  // Creates every component of `pci_path` below sys/devices; BDF components get the usual
  // attributes once. Returns the BDF of the last component.
  std::string EnsurePci(std::string_view pci_path, const PciId& id) {
    std::string path = "sys/devices";
    std::string bdf;
    std::string_view rest = pci_path;
    std::vector<std::string> comps;
    while (!rest.empty()) {
      size_t s = rest.find('/');
      comps.emplace_back(rest.substr(0, s));
      if (s == std::string_view::npos) break;
      rest.remove_prefix(s + 1);
    }
    for (size_t i = 0; i < comps.size(); ++i) {
      path += "/" + comps[i];
      bool last = i + 1 == comps.size();
      if (!LooksLikeBdf(comps[i]) || pci_done.count(path)) {
        plan.Dir(path);
        if (LooksLikeBdf(comps[i])) bdf = comps[i];
        continue;
      }
      pci_done.insert(path);
      bdf = comps[i];
      auto d = plan.Dir(path);
      const char* vendor = last ? id.vendor : "0x8086";
      const char* device = last ? id.device : "0x347a";
      const char* cls = last ? id.cls : "0x060400";
      const char* driver = last ? id.driver : "pcieport";
      A(d, "vendor", vendor);
      A(d, "device", device);
      A(d, "class", cls);
      A(d, "subsystem_vendor", vendor);
      A(d, "subsystem_device", "0x0000");
      A(d, "revision", "0x01");
      A(d, "numa_node", "-1");
      A(d, "enable", "1", FsPlan::kRW);
      std::string v4 = std::string(vendor + 2), d4 = std::string(device + 2);
      for (char& c : v4) c = static_cast<char>(toupper(static_cast<unsigned char>(c)));
      for (char& c : d4) c = static_cast<char>(toupper(static_cast<unsigned char>(c)));
      A(d, "uevent",
        fmt::format("DRIVER={}\nPCI_CLASS={:X}\nPCI_ID={}:{}\nPCI_SUBSYS_ID={}:0000\n"
                    "PCI_SLOT_NAME={}\nMODALIAS=pci:v0000{}d0000{}sv0000{}sd00000000",
                    driver, std::stoul(cls, nullptr, 16), v4, d4, v4, bdf, v4, d4, v4),
        FsPlan::kRW);
      Subsystem(d, "sys/bus/pci");
      std::string drvdir = fmt::format("sys/bus/pci/drivers/{}", driver);
      plan.Dir(drvdir);
      L(d, "driver", drvdir);
      L(plan.Dir("sys/bus/pci/devices"), bdf, path);
    }
    return bdf;
  }

  // --- block device attributes -----------------------------------------------------------------
  void WriteQueue(const std::string& dev_dir, const QueueSpec& q) {
    auto d = plan.Dir(dev_dir + "/queue");
    A(d, "add_random", q.add_random ? 1 : 0, FsPlan::kRW);
    A(d, "chunk_sectors", q.chunk_sectors);
    A(d, "dax", q.dax ? 1 : 0);
    A(d, "discard_granularity", q.discard_granularity);
    A(d, "discard_max_bytes", q.discard_max_bytes, FsPlan::kRW);
    A(d, "discard_max_hw_bytes", q.discard_max_hw_bytes);
    A(d, "discard_zeroes_data", 0);
    A(d, "dma_alignment", 511);
    A(d, "fua", q.fua ? 1 : 0);
    A(d, "hw_sector_size", q.logical_block_size);
    A(d, "io_poll", 0, FsPlan::kRW);
    A(d, "io_poll_delay", "-1", FsPlan::kRW);
    A(d, "iostats", 1, FsPlan::kRW);
    A(d, "logical_block_size", q.logical_block_size);
    A(d, "max_active_zones", q.max_active_zones);
    A(d, "max_discard_segments", q.max_discard_segments);
    A(d, "max_hw_sectors_kb", q.max_hw_sectors_kb);
    A(d, "max_integrity_segments", 0);
    A(d, "max_open_zones", q.max_open_zones);
    A(d, "max_sectors_kb", q.max_sectors_kb, FsPlan::kRW);
    A(d, "max_segment_size", q.max_segment_size);
    A(d, "max_segments", q.max_segments);
    A(d, "minimum_io_size", q.minimum_io_size);
    A(d, "nomerges", 0, FsPlan::kRW);
    A(d, "nr_zones", q.nr_zones);
    A(d, "optimal_io_size", q.optimal_io_size);
    A(d, "physical_block_size", q.physical_block_size);
    A(d, "read_ahead_kb", q.read_ahead_kb, FsPlan::kRW);
    A(d, "rotational", q.rotational ? 1 : 0, FsPlan::kRW);
    A(d, "stable_writes", 0, FsPlan::kRW);
    A(d, "virt_boundary_mask", 0);
    A(d, "write_cache", q.write_cache, FsPlan::kRW);
    A(d, "write_same_max_bytes", q.write_same_max_bytes);
    A(d, "write_zeroes_max_bytes", q.write_zeroes_max_bytes);
    A(d, "zone_append_max_bytes", q.zone_append_max_bytes);
    A(d, "zone_write_granularity", q.zone_write_granularity);
    A(d, "zoned", q.zoned);
    if (q.mq) {  // blk-mq only attributes (hidden for bio-based queues)
      A(d, "nr_requests", q.nr_requests, FsPlan::kRW);
      A(d, "rq_affinity", q.rq_affinity, FsPlan::kRW);
      A(d, "scheduler", q.scheduler, FsPlan::kRW);
      A(d, "wbt_lat_usec", q.wbt_lat_usec, FsPlan::kRW);
    }
  }

  struct DiskOpts {
    int range = 0;
    int ext_range = 256;
    bool removable = false;
    bool ro = false;
    bool hidden = false;
    bool partscan = true;
    std::string device_link;  // root-relative target of `device`, "" = none
    std::string events;
  };

  // Allocates devt and diskseq and writes the generic gendisk attributes plus queue/.
  void WriteDisk(Device& dev, const QueueSpec& q, const DiskOpts& o) {
    dev.diskseq = next_diskseq++;
    auto d = plan.Dir(dev.dir);
    A(d, "alignment_offset", 0);
    A(d, "capability", 0);
    if (dev.has_devt) A(d, "dev", fmt::format("{}:{}", dev.major, dev.minor));
    A(d, "discard_alignment", 0);
    A(d, "diskseq", dev.diskseq);
    A(d, "events", o.events);
    A(d, "events_async", "");
    A(d, "events_poll_msecs", "-1", FsPlan::kRW);
    A(d, "ext_range", o.ext_range);
    A(d, "hidden", o.hidden ? 1 : 0);
    A(d, "inflight", fmt::format("{:>8} {:>8}", 0, 0));
    A(d, "partscan", o.partscan ? 1 : 0);
    A(d, "range", o.range);
    A(d, "removable", o.removable ? 1 : 0);
    A(d, "ro", o.ro ? 1 : 0);
    A(d, "size", dev.size_sectors);
    A(d, "stat", Stat17());
    std::string ue;
    if (dev.has_devt)
      ue = fmt::format("MAJOR={}\nMINOR={}\nDEVNAME={}\n", dev.major, dev.minor, dev.name);
    ue += fmt::format("DEVTYPE=disk\nDISKSEQ={}\n", dev.diskseq);
    Raw(d, "uevent", ue, FsPlan::kRW);
    plan.Dir(dev.dir + "/holders");
    plan.Dir(dev.dir + "/slaves");
    Subsystem(d, "sys/class/block");
    if (!o.device_link.empty()) L(d, "device", o.device_link);
    WriteQueue(dev.dir, q);
    // Class links: /sys/block (also for hidden disks), /sys/class/block, /sys/dev/block.
    L(plan.Dir("sys/block"), dev.name, dev.dir);
    L(plan.Dir("sys/class/block"), dev.name, dev.dir);
    if (dev.has_devt) L(plan.Dir("sys/dev/block"), fmt::format("{}:{}", dev.major, dev.minor), dev.dir);
  }

  Dev NewDevice(Device dev) {
    if (dev.has_devt && !used_devt.insert({dev.major, dev.minor}).second) {
      Fail(fmt::format("{}: device number {}:{} already used", dev.name, dev.major, dev.minor));
      return {};
    }
    dev.usec = NextUsec();
    if (dev.devnode.empty()) dev.devnode = "dev/" + dev.name;
    devs.push_back(std::move(dev));
    return Dev{static_cast<int>(devs.size() - 1)};
  }

  // --- SCSI ------------------------------------------------------------------------------------
  ScsiHost AddScsiHost(const ScsiHostSpec& spec) {
    if (!Ok()) return {};
    Host h;
    h.spec = spec;
    int no = spec.host_no;
    if (no < 0) {
      no = 0;
      while (host_numbers.count(no)) ++no;
    } else if (host_numbers.count(no)) {
      Fail(fmt::format("scsi host{} already exists", no));
      return {};
    }
    host_numbers.insert(no);
    h.host_no = no;
    std::string pci = spec.pci_path;
    PciId id{};
    switch (spec.kind) {
      case ScsiHostKind::kSataAhci:
        if (pci.empty()) pci = "pci0000:00/0000:00:17.0";
        id = {"0x8086", "0xa352", "0x010601", "ahci"};
        break;
      case ScsiHostKind::kSas:
        if (pci.empty()) pci = "pci0000:00/0000:00:03.0/0000:02:00.0";
        id = {"0x1000", "0x0097", "0x010700", "mpt3sas"};
        break;
      case ScsiHostKind::kVirtioScsi:
        if (pci.empty()) pci = "pci0000:00/0000:00:04.0";
        id = {"0x1af4", "0x1004", "0x010000", "virtio-pci"};
        break;
      case ScsiHostKind::kMegasas:
        if (pci.empty()) pci = "pci0000:00/0000:00:02.0/0000:03:00.0";
        id = {"0x1000", "0x005d", "0x010400", "megaraid_sas"};
        break;
    }
    h.pci_bdf = EnsurePci(pci, id);
    std::string parent = "sys/devices/" + pci;
    if (spec.kind == ScsiHostKind::kSataAhci) {
      h.ata_print_id = next_ata++;
      std::string ata = fmt::format("{}/ata{}", parent, h.ata_print_id);
      auto ad = plan.Dir(ata);
      auto port = plan.Dir(fmt::format("{}/ata_port/ata{}", ata, h.ata_print_id));
      A(port, "port_no", spec.port_no);
      A(port, "idle_irq", 0);
      A(port, "nr_pmp_links", 0);
      Raw(port, "uevent", "", FsPlan::kRW);
      Subsystem(port, "sys/class/ata_port");
      L(port, "device", ata);
      L(plan.Dir("sys/class/ata_port"), fmt::format("ata{}", h.ata_print_id), plan.DirPath(port));
      std::string link = fmt::format("{}/link{}", ata, h.ata_print_id);
      auto ld = plan.Dir(fmt::format("{}/ata_link/link{}", link, h.ata_print_id));
      A(ld, "hw_sata_spd_limit", "6.0 Gbps");
      A(ld, "sata_spd", "6.0 Gbps");
      A(ld, "sata_spd_limit", "<unknown>");
      Subsystem(ld, "sys/class/ata_link");
      L(ld, "device", link);
      L(plan.Dir("sys/class/ata_link"), fmt::format("link{}", h.ata_print_id), plan.DirPath(ld));
      Raw(ad, "uevent", "", FsPlan::kRW);
      parent = ata;
    } else if (spec.kind == ScsiHostKind::kVirtioScsi) {
      int vi = next_virtio++;
      std::string v = fmt::format("{}/virtio{}", parent, vi);
      WriteVirtioDevice(v, vi, "0x0008", "virtio_scsi");
      parent = v;
    }
    h.dir = fmt::format("{}/host{}", parent, no);
    auto hd = plan.Dir(h.dir);
    Raw(hd, "uevent", "DEVTYPE=scsi_host\n", FsPlan::kRW);
    Subsystem(hd, "sys/bus/scsi");
    L(plan.Dir("sys/bus/scsi/devices"), fmt::format("host{}", no), h.dir);
    std::string sh = fmt::format("{}/scsi_host/host{}", h.dir, no);
    auto shd = plan.Dir(sh);
    A(shd, "proc_name", ProcName(spec.kind));
    A(shd, "unique_id", no + 1);
    A(shd, "state", "running");
    A(shd, "host_busy", 0);
    A(shd, "supported_mode", "Initiator");
    A(shd, "active_mode", "Initiator");
    A(shd, "prot_capabilities", 0);
    A(shd, "prot_guard_type", 0);
    A(shd, "eh_deadline", "off", FsPlan::kRW);
    A(shd, "nr_hw_queues", 1);
    A(shd, "host_reset", "", FsPlan::kWO);
    A(shd, "scan", "", FsPlan::kWO);
    Raw(shd, "uevent", "", FsPlan::kRW);
    switch (spec.kind) {
      case ScsiHostKind::kSataAhci:
        A(shd, "can_queue", 32);
        A(shd, "cmd_per_lun", 0);
        A(shd, "sg_tablesize", 168);
        A(shd, "link_power_management_policy", "max_performance", FsPlan::kRW);
        break;
      case ScsiHostKind::kSas:
        A(shd, "can_queue", 4802);
        A(shd, "cmd_per_lun", 7);
        A(shd, "sg_tablesize", 128);
        A(shd, "board_name", spec.board_name.empty() ? "SAS9300-8i" : spec.board_name);
        A(shd, "version_fw", "16.00.01.00");
        A(shd, "host_sas_address",
          spec.sas_address.empty() ? "0x500605b0000272b0" : spec.sas_address);
        break;
      case ScsiHostKind::kVirtioScsi:
        A(shd, "can_queue", 1024);
        A(shd, "cmd_per_lun", 1024);
        A(shd, "sg_tablesize", 126);
        break;
      case ScsiHostKind::kMegasas:
        A(shd, "can_queue", 5069);
        A(shd, "cmd_per_lun", 256);
        A(shd, "sg_tablesize", 128);
        A(shd, "fw_version", "4.740.00-8452");
        break;
    }
    Subsystem(shd, "sys/class/scsi_host");
    L(shd, "device", h.dir);
    L(plan.Dir("sys/class/scsi_host"), fmt::format("host{}", no), sh);
    if (spec.kind == ScsiHostKind::kSas) {
      std::string sas = fmt::format("{}/sas_host/host{}", h.dir, no);
      auto sd = plan.Dir(sas);
      Raw(sd, "uevent", "", FsPlan::kRW);
      Subsystem(sd, "sys/class/sas_host");
      L(sd, "device", h.dir);
      L(plan.Dir("sys/class/sas_host"), fmt::format("host{}", no), sas);
    }
    hosts.push_back(std::move(h));
    return ScsiHost{static_cast<int>(hosts.size() - 1)};
  }

  void WriteVirtioDevice(const std::string& dir, int index, const char* device_id,
                         const char* driver) {
    auto d = plan.Dir(dir);
    A(d, "device", device_id);
    A(d, "vendor", "0x1af4");
    A(d, "features", "0110010000000000000000000000110010000000000000000000000000000000");
    A(d, "status", "0x0000000f");
    std::string modalias =
        fmt::format("virtio:d{:08X}v00001AF4", std::stoul(device_id, nullptr, 16));
    A(d, "modalias", modalias);
    A(d, "uevent", fmt::format("DRIVER={}\nMODALIAS={}", driver, modalias), FsPlan::kRW);
    Subsystem(d, "sys/bus/virtio");
    std::string drv = fmt::format("sys/bus/virtio/drivers/{}", driver);
    plan.Dir(drv);
    L(d, "driver", drv);
    L(plan.Dir("sys/bus/virtio/devices"), fmt::format("virtio{}", index), dir);
  }

  std::string BuildVpd83(const Host& h, const ScsiDiskSpec& s, const std::string& inq_vendor,
                         const std::string& sas_addr) {
    std::string body;
    if (h.spec.kind == ScsiHostKind::kSataAhci) {  // libata ata_scsiop_inq_83()
      body += Designator(0x02, 0x00, Pad(s.serial, 20));
      body += Designator(0x02, 0x01, "ATA     " + Pad(s.model, 40) + Pad(s.serial, 20));
      if (!s.naa.empty()) body += Designator(0x01, 0x03, HexToBytes(s.naa));
    } else {
      if (!s.naa.empty()) body += Designator(0x01, 0x03, HexToBytes(s.naa));
      if (h.spec.kind == ScsiHostKind::kSas && !sas_addr.empty()) {
        body += Designator(0x61, 0x93, SasAddressBytes(sas_addr));          // target port
        body += Designator(0x61, 0x94, std::string("\0\0\0\1", 4));         // relative port
        uint64_t dev_addr = std::stoull(sas_addr.substr(2), nullptr, 16) + 2;
        body += Designator(0x61, 0xa3, SasAddressBytes(fmt::format("0x{:016x}", dev_addr)));
      }
      if (s.naa.empty()) {
        body += Designator(0x02, 0x01, Pad(inq_vendor, 8) + Pad(s.model, 16) + s.serial);
      }
    }
    return VpdPage(s.scsi_type, 0x83, body);
  }

  // The kernel's sdev wwid (scsi_vpd_lun_id): NAA preferred, else T10 vendor id.
  static std::string Wwid(const Host& h, const ScsiDiskSpec& s, const std::string& inq_vendor) {
    if (!s.naa.empty()) return "naa." + Lower(s.naa);
    if (h.spec.kind == ScsiHostKind::kSataAhci)
      return "t10.ATA     " + Pad(s.model, 40) + Pad(s.serial, 20);
    return "t10." + Pad(inq_vendor, 8) + Pad(s.model, 16) + s.serial;
  }

  Dev AddScsiDisk(ScsiHost hh, const ScsiDiskSpec& s) {
    if (!Ok()) return {};
    if (hh.id < 0 || static_cast<size_t>(hh.id) >= hosts.size()) {
      Fail(fmt::format("AddScsiDisk: invalid host handle {}", hh.id));
      return {};
    }
    Host& h = hosts[hh.id];
    bool ata = h.spec.kind == ScsiHostKind::kSataAhci;
    if (s.size_bytes == 0 || s.size_bytes % 512) {
      Fail(fmt::format("AddScsiDisk {}: size_bytes must be a non-zero multiple of 512", s.model));
      return {};
    }
    if (!s.naa.empty() && (!IsHex(s.naa) || (s.naa.size() != 16 && s.naa.size() != 32))) {
      Fail(fmt::format("AddScsiDisk {}: naa must be 16 or 32 hex digits", s.model));
      return {};
    }
    int channel = s.channel;
    if (h.spec.kind == ScsiHostKind::kMegasas && channel == 0) channel = 2;
    int target = s.target >= 0 ? s.target : (ata ? 0 : h.next_target);
    h.next_target = std::max(h.next_target, target + 1);
    int lun = s.lun;
    std::string hctl = fmt::format("{}:{}:{}:{}", h.host_no, channel, target, lun);
    if (plan.HasDir("sys/bus/scsi/devices/" + hctl) ||
        names.count("scsi:" + hctl)) {
      Fail(fmt::format("AddScsiDisk: {} already exists", hctl));
      return {};
    }
    names.insert("scsi:" + hctl);

    Device dev;
    dev.kind = Kind::kScsiDisk;
    int index = next_sd_index;
    dev.name = s.name.empty() ? SdName(index) : s.name;
    if (!ClaimName(dev.name)) return {};
    ++next_sd_index;
    dev.major = SdMajor(index);
    dev.minor = SdFirstMinor(index);
    dev.minors = 16;
    dev.size_sectors = s.size_bytes / 512;
    dev.udev = s.udev;

    // Parent chain: [port-H:N/end_device-H:N/]targetH:C:T/H:C:T:L
    std::string parent = h.dir;
    std::string sas_addr = s.sas_address;
    if (h.spec.kind == ScsiHostKind::kSas) {
      int n = h.next_sas_port++;
      if (sas_addr.empty()) {
        sas_addr = fmt::format("0x5000c500{:08x}", static_cast<uint32_t>(Hash64(hctl + s.serial)) | 1u);
      }
      WriteSasPort(h, n, sas_addr, target);
      parent = fmt::format("{}/port-{}:{}/end_device-{}:{}", h.dir, h.host_no, n, h.host_no, n);
    }
    std::string tdir = fmt::format("{}/target{}:{}:{}", parent, h.host_no, channel, target);
    if (!plan.HasDir(tdir)) {
      auto td = plan.Dir(tdir);
      Raw(td, "uevent", "DEVTYPE=scsi_target\n", FsPlan::kRW);
      Subsystem(td, "sys/bus/scsi");
      L(plan.Dir("sys/bus/scsi/devices"), fmt::format("target{}:{}:{}", h.host_no, channel, target),
        tdir);
    }
    std::string ldir = tdir + "/" + hctl;
    auto ld = plan.Dir(ldir);

    // INQUIRY as the kernel sees it. libata: vendor "ATA", product = ATA model[0:16],
    // revision = firmware[4:8] (or [0:4] when that is blank).
    std::string inq_vendor = ata ? "ATA" : s.vendor;
    std::string inq_model = Pad(s.model, 16);
    std::string inq_rev;
    if (ata) {
      std::string fw = Pad(s.rev, 8);
      inq_rev = fw.substr(4, 4) == "    " ? fw.substr(0, 4) : fw.substr(4, 4);
    } else {
      inq_rev = Pad(s.rev, 4);
    }
    std::string inquiry(36, '\0');
    inquiry[0] = static_cast<char>(s.scsi_type);
    inquiry[1] = s.removable ? static_cast<char>(0x80) : 0;
    inquiry[2] = ata ? 0x07 : 0x06;
    inquiry[3] = 0x02;
    inquiry[4] = 31;
    inquiry.replace(8, 8, Pad(inq_vendor, 8));
    inquiry.replace(16, 16, inq_model);
    inquiry.replace(32, 4, inq_rev);
    std::string modalias = fmt::format("scsi:t-0x{:02x}", s.scsi_type);
    A(ld, "vendor", Pad(inq_vendor, 8));
    A(ld, "model", inq_model);
    A(ld, "rev", inq_rev);
    A(ld, "type", s.scsi_type);
    A(ld, "scsi_level", ata ? 8 : 7);
    A(ld, "state", "running", FsPlan::kRW);
    A(ld, "wwid", Wwid(h, s, inq_vendor));
    Raw(ld, "vpd_pg83", s.vpd_pg83 ? *s.vpd_pg83 : BuildVpd83(h, s, inq_vendor, sas_addr));
    Raw(ld, "vpd_pg80", VpdPage(s.scsi_type, 0x80, ata ? Pad(s.serial, 20) : s.serial));
    Raw(ld, "inquiry", inquiry);
    A(ld, "queue_depth",
      ata ? 32 : h.spec.kind == ScsiHostKind::kSas ? 254 : h.spec.kind == ScsiHostKind::kMegasas ? 256 : 128,
      FsPlan::kRW);
    A(ld, "queue_type", ata ? "simple" : "simple", FsPlan::kRW);
    A(ld, "timeout", 30, FsPlan::kRW);
    A(ld, "eh_timeout", 10, FsPlan::kRW);
    A(ld, "device_blocked", 0, FsPlan::kRW);
    A(ld, "device_busy", 0);
    A(ld, "iocounterbits", 32);
    A(ld, "iodone_cnt", "0x0");
    A(ld, "ioerr_cnt", "0x0");
    A(ld, "iorequest_cnt", "0x0");
    A(ld, "modalias", modalias);
    A(ld, "rescan", "", FsPlan::kWO);
    A(ld, "delete", "", FsPlan::kWO);
    A(ld, "uevent", fmt::format("DEVTYPE=scsi_device\nDRIVER=sd\nMODALIAS={}", modalias),
      FsPlan::kRW);
    if (h.spec.kind == ScsiHostKind::kSas) {
      A(ld, "sas_address", sas_addr);
      A(ld, "sas_device_handle", fmt::format("0x{:04x}", 9 + target));
      A(ld, "sas_ncq_prio_supported", 0);
    }
    Subsystem(ld, "sys/bus/scsi");
    L(ld, "driver", "sys/bus/scsi/drivers/sd");
    L(plan.Dir("sys/bus/scsi/devices"), hctl, ldir);
    // scsi_device, scsi_disk and scsi_generic class devices.
    {
      std::string sdev = fmt::format("{}/scsi_device/{}", ldir, hctl);
      auto d = plan.Dir(sdev);
      Raw(d, "uevent", "", FsPlan::kRW);
      Subsystem(d, "sys/class/scsi_device");
      L(d, "device", ldir);
      L(plan.Dir("sys/class/scsi_device"), hctl, sdev);
    }
    {
      std::string sdisk = fmt::format("{}/scsi_disk/{}", ldir, hctl);
      auto d = plan.Dir(sdisk);
      bool discard = s.queue.discard_granularity > 0;
      A(d, "allow_restart", ata ? 0 : 1, FsPlan::kRW);
      A(d, "app_tag_own", 0);
      A(d, "cache_type", s.queue.write_cache, FsPlan::kRW);
      A(d, "FUA", s.queue.fua ? 1 : 0);
      A(d, "manage_start_stop", ata ? 1 : 0, FsPlan::kRW);
      A(d, "max_medium_access_timeouts", 2, FsPlan::kRW);
      A(d, "max_retries", 5, FsPlan::kRW);
      A(d, "max_write_same_blocks", s.queue.write_same_max_bytes / s.queue.logical_block_size,
        FsPlan::kRW);
      A(d, "protection_mode", "none");
      A(d, "protection_type", 0, FsPlan::kRW);
      A(d, "provisioning_mode", discard ? "unmap" : "full", FsPlan::kRW);
      A(d, "thin_provisioning", discard ? 1 : 0);
      A(d, "zeroing_mode", "write", FsPlan::kRW);
      A(d, "zoned_cap", "none");
      Raw(d, "uevent", "", FsPlan::kRW);
      Subsystem(d, "sys/class/scsi_disk");
      L(d, "device", ldir);
      L(plan.Dir("sys/class/scsi_disk"), hctl, sdisk);
    }
    {
      int sg = next_sg++;
      std::string sgd = fmt::format("{}/scsi_generic/sg{}", ldir, sg);
      auto d = plan.Dir(sgd);
      A(d, "dev", fmt::format("21:{}", sg));
      A(d, "uevent", fmt::format("MAJOR=21\nMINOR={}\nDEVNAME=sg{}", sg, sg), FsPlan::kRW);
      Subsystem(d, "sys/class/scsi_generic");
      L(d, "device", ldir);
      L(plan.Dir("sys/class/scsi_generic"), fmt::format("sg{}", sg), sgd);
      L(plan.Dir("sys/dev/char"), fmt::format("21:{}", sg), sgd);
      L(ld, "generic", sgd);
    }

    dev.dir = fmt::format("{}/block/{}", ldir, dev.name);
    DiskOpts o;
    o.range = 16;
    o.removable = s.removable;
    o.ro = s.ro;
    o.device_link = ldir;
    WriteDisk(dev, s.queue, o);

    // udev identity (ata_id or scsi_id, then ID_BUS, then path_id).
    Props& p = dev.identity;
    std::string path_id, path_compat;
    switch (h.spec.kind) {
      case ScsiHostKind::kSataAhci:
        path_id = fmt::format("pci-{}-ata-{}.0", h.pci_bdf, h.spec.port_no);
        path_compat = fmt::format("pci-{}-ata-{}", h.pci_bdf, h.spec.port_no);
        break;
      case ScsiHostKind::kSas:
        path_id = fmt::format("pci-{}-sas-phy{}-lun-{}", h.pci_bdf, h.next_sas_port - 1, lun);
        break;
      case ScsiHostKind::kVirtioScsi:
      case ScsiHostKind::kMegasas:
        path_id = fmt::format("pci-{}-scsi-0:{}:{}:{}", h.pci_bdf, channel, target, lun);
        break;
    }
    if (ata) {
      std::string model = UdevReplaceChars(UdevReplaceWhitespace(s.model));
      std::string serial = UdevReplaceChars(UdevReplaceWhitespace(s.serial));
      SetProp(p, "ID_ATA", "1");
      SetProp(p, "ID_TYPE", "disk");
      SetProp(p, "ID_BUS", "ata");
      SetProp(p, "ID_MODEL", model);
      SetProp(p, "ID_MODEL_ENC", UdevEncode(Pad(s.model, 40)));
      SetProp(p, "ID_REVISION", UdevReplaceChars(UdevReplaceWhitespace(s.rev)));
      SetProp(p, "ID_SERIAL", serial.empty() ? model : model + "_" + serial);
      if (!serial.empty()) SetProp(p, "ID_SERIAL_SHORT", serial);
      SetProp(p, "ID_ATA_WRITE_CACHE", "1");
      SetProp(p, "ID_ATA_WRITE_CACHE_ENABLED", "1");
      SetProp(p, "ID_ATA_FEATURE_SET_PM", "1");
      SetProp(p, "ID_ATA_FEATURE_SET_PM_ENABLED", "1");
      SetProp(p, "ID_ATA_FEATURE_SET_SMART", "1");
      SetProp(p, "ID_ATA_FEATURE_SET_SMART_ENABLED", "1");
      SetProp(p, "ID_ATA_DOWNLOAD_MICROCODE", "1");
      SetProp(p, "ID_ATA_SATA", "1");
      SetProp(p, "ID_ATA_SATA_SIGNAL_RATE_GEN2", "1");
      SetProp(p, "ID_ATA_SATA_SIGNAL_RATE_GEN1", "1");
      int rpm = s.rotation_rpm >= 0 ? s.rotation_rpm : (s.queue.rotational ? 7200 : 0);
      SetProp(p, "ID_ATA_ROTATION_RATE_RPM", std::to_string(rpm));
      if (!s.naa.empty()) {
        SetProp(p, "ID_WWN", "0x" + Lower(s.naa));
        SetProp(p, "ID_WWN_WITH_EXTENSION", "0x" + Lower(s.naa));
      }
      dev.byid_bus = "ata";
    } else {
      std::string vendor8 = Pad(s.vendor, 8), model16 = Pad(s.model, 16);
      SetProp(p, "ID_SCSI", "1");
      SetProp(p, "ID_VENDOR", UdevReplaceChars(UdevReplaceWhitespace(vendor8)));
      SetProp(p, "ID_VENDOR_ENC", UdevEncode(vendor8));
      SetProp(p, "ID_MODEL", UdevReplaceChars(UdevReplaceWhitespace(model16)));
      SetProp(p, "ID_MODEL_ENC", UdevEncode(model16));
      SetProp(p, "ID_REVISION", UdevReplaceChars(UdevReplaceWhitespace(s.rev)));
      SetProp(p, "ID_TYPE", s.scsi_type == 0x14 ? "zbc" : "disk");
      if (!s.naa.empty()) {
        SetProp(p, "ID_SERIAL", "3" + Lower(s.naa));
        SetProp(p, "ID_SERIAL_SHORT", Lower(s.naa));
        std::string naa = Lower(s.naa);
        SetProp(p, "ID_WWN", "0x" + naa.substr(0, 16));
        if (naa.size() == 32) SetProp(p, "ID_WWN_VENDOR_EXTENSION", "0x" + naa.substr(16));
        SetProp(p, "ID_WWN_WITH_EXTENSION", "0x" + naa);
      } else if (!s.serial.empty()) {
        SetProp(p, "ID_SERIAL",
                "S" + UdevReplaceChars(UdevReplaceWhitespace(vendor8 + model16 + s.serial)));
        SetProp(p, "ID_SERIAL_SHORT", UdevReplaceChars(UdevReplaceWhitespace(s.serial)));
      }
      if (!s.serial.empty()) SetProp(p, "ID_SCSI_SERIAL", s.serial);
      SetProp(p, "ID_BUS", "scsi");
      dev.byid_bus = "scsi";
    }
    SetProp(p, "ID_PATH", path_id);
    SetProp(p, "ID_PATH_TAG", PathTag(path_id));
    if (!path_compat.empty()) SetProp(p, "ID_PATH_ATA_COMPAT", path_compat);
    return NewDevice(std::move(dev));
  }

  static std::string PathTag(std::string_view path) {
    std::string t(path);
    for (char& c : t)
      if (!isalnum(static_cast<unsigned char>(c)) && c != '-') c = '_';
    return t;
  }

  void WriteSasPort(Host& h, int n, const std::string& sas_addr, int target) {
    int H = h.host_no;
    std::string hba_addr = h.spec.sas_address.empty() ? "0x500605b0000272b0" : h.spec.sas_address;
    // The HBA phy this end device hangs off.
    std::string phy = fmt::format("{}/phy-{}:{}", h.dir, H, n);
    {
      plan.Dir(phy);
      std::string cls = fmt::format("{}/sas_phy/phy-{}:{}", phy, H, n);
      auto d = plan.Dir(cls);
      A(d, "sas_address", hba_addr);
      A(d, "phy_identifier", n);
      A(d, "device_type", "end device");
      A(d, "initiator_port_protocols", "smp,stp,ssp");
      A(d, "target_port_protocols", "none");
      A(d, "negotiated_linkrate", "12.0 Gbit");
      A(d, "minimum_linkrate", "3.0 Gbit", FsPlan::kRW);
      A(d, "maximum_linkrate", "12.0 Gbit", FsPlan::kRW);
      A(d, "invalid_dword_count", 0);
      Raw(d, "uevent", "", FsPlan::kRW);
      Subsystem(d, "sys/class/sas_phy");
      L(d, "device", phy);
      L(plan.Dir("sys/class/sas_phy"), fmt::format("phy-{}:{}", H, n), cls);
    }
    std::string port = fmt::format("{}/port-{}:{}", h.dir, H, n);
    plan.Dir(port);
    L(plan.Dir(port), fmt::format("phy-{}:{}", H, n), phy);
    {
      std::string cls = fmt::format("{}/sas_port/port-{}:{}", port, H, n);
      auto d = plan.Dir(cls);
      A(d, "num_phys", 1);
      Raw(d, "uevent", "", FsPlan::kRW);
      Subsystem(d, "sys/class/sas_port");
      L(d, "device", port);
      L(plan.Dir("sys/class/sas_port"), fmt::format("port-{}:{}", H, n), cls);
    }
    std::string ed = fmt::format("{}/end_device-{}:{}", port, H, n);
    plan.Dir(ed);
    {
      std::string cls = fmt::format("{}/sas_device/end_device-{}:{}", ed, H, n);
      auto d = plan.Dir(cls);
      A(d, "sas_address", sas_addr);
      A(d, "device_type", "end device");
      A(d, "initiator_port_protocols", "none");
      A(d, "target_port_protocols", "ssp");
      A(d, "phy_identifier", 0);
      A(d, "bay_identifier", n);
      A(d, "enclosure_identifier", "0x500605b0000272bf");
      A(d, "scsi_target_id", target);
      Raw(d, "uevent", "", FsPlan::kRW);
      Subsystem(d, "sys/class/sas_device");
      L(d, "device", ed);
      L(plan.Dir("sys/class/sas_device"), fmt::format("end_device-{}:{}", H, n), cls);
    }
    {
      std::string cls = fmt::format("{}/sas_end_device/end_device-{}:{}", ed, H, n);
      auto d = plan.Dir(cls);
      A(d, "I_T_nexus_loss_timeout", 2000);
      A(d, "initiator_response_timeout", 2000);
      A(d, "ready_led_meaning", 1);
      A(d, "tlr_enabled", 0);
      A(d, "tlr_supported", 0);
      Raw(d, "uevent", "", FsPlan::kRW);
      Subsystem(d, "sys/class/sas_end_device");
      L(d, "device", ed);
      L(plan.Dir("sys/class/sas_end_device"), fmt::format("end_device-{}:{}", H, n), cls);
    }
  }

  // --- NVMe ------------------------------------------------------------------------------------
  NvmeSubsystem AddNvmeSubsystem(const NvmeSubsystemSpec& spec) {
    if (!Ok()) return {};
    if (spec.nqn.empty()) {
      Fail("AddNvmeSubsystem: nqn is required");
      return {};
    }
    for (const auto& s : subsystems) {
      if (s.spec.nqn == spec.nqn) {
        Fail(fmt::format("AddNvmeSubsystem: duplicate subsysnqn {}", spec.nqn));
        return {};
      }
    }
    Subsys s;
    s.spec = spec;
    subsystems.push_back(std::move(s));
    return NvmeSubsystem{static_cast<int>(subsystems.size() - 1)};
  }

  NvmeController AddNvmeController(NvmeSubsystem ss, const NvmeControllerSpec& spec) {
    if (!Ok()) return {};
    if (ss.id < 0 || static_cast<size_t>(ss.id) >= subsystems.size()) {
      Fail(fmt::format("AddNvmeController: invalid subsystem handle {}", ss.id));
      return {};
    }
    Subsys& sub = subsystems[ss.id];
    if (!sub.spec.multipath && !sub.ctrls.empty()) {
      Fail(fmt::format("AddNvmeController: subsystem {} is not multipath and already has a "
                       "controller", sub.spec.nqn));
      return {};
    }
    Ctrl c;
    c.spec = spec;
    c.subsys = ss.id;
    c.instance = spec.instance >= 0 ? spec.instance : next_nvme_instance;
    for (const auto& o : ctrls) {
      if (o.instance == c.instance) {
        Fail(fmt::format("AddNvmeController: nvme{} already exists", c.instance));
        return {};
      }
    }
    next_nvme_instance = std::max(next_nvme_instance, c.instance + 1);
    bool pcie = spec.transport == NvmeTransport::kPcie;
    if (pcie) {
      std::string pci = spec.pci_path;
      if (pci.empty()) {
        pci = fmt::format("pci0000:00/0000:00:1d.{}/0000:{:02x}:00.0", c.instance % 8,
                          0x3d + c.instance);
      }
      c.pci_bdf = EnsurePci(pci, {"0x144d", "0xa80a", "0x010802", "nvme"});
      c.dir = fmt::format("sys/devices/{}/nvme/nvme{}", pci, c.instance);
    } else {
      std::string ctl = "sys/devices/virtual/nvme-fabrics/ctl";
      if (!plan.HasDir(ctl)) {
        auto d = plan.Dir(ctl);
        A(d, "dev", "10:122");
        A(d, "uevent", "MAJOR=10\nMINOR=122\nDEVNAME=nvme-fabrics", FsPlan::kRW);
        Subsystem(d, "sys/class/nvme-fabrics");
        L(plan.Dir("sys/class/nvme-fabrics"), "ctl", ctl);
      }
      c.dir = fmt::format("{}/nvme{}", ctl, c.instance);
    }
    if (sub.instance < 0) {  // the subsystem takes the instance of its first controller
      sub.instance = c.instance;
      sub.dir = fmt::format("sys/devices/virtual/nvme-subsystem/nvme-subsys{}", sub.instance);
      auto d = plan.Dir(sub.dir);
      A(d, "firmware_rev", Pad(sub.spec.firmware_rev, 8));
      A(d, "iopolicy", sub.spec.iopolicy, FsPlan::kRW);
      A(d, "model", Pad(sub.spec.model, 40));
      A(d, "serial", Pad(sub.spec.serial, 20));
      A(d, "subsysnqn", sub.spec.nqn);
      A(d, "subsystype", "nvm");
      Raw(d, "uevent", "", FsPlan::kRW);
      Subsystem(d, "sys/class/nvme-subsystem");
      L(plan.Dir("sys/class/nvme-subsystem"), fmt::format("nvme-subsys{}", sub.instance), sub.dir);
    }
    const char* trname[] = {"pcie", "tcp", "rdma", "fc", "loop"};
    std::string tr = trname[static_cast<int>(spec.transport)];
    auto d = plan.Dir(c.dir);
    std::string address;
    if (pcie) {
      address = c.pci_bdf;
    } else if (spec.transport == NvmeTransport::kFc) {
      address = fmt::format("traddr={},host_traddr={}", spec.traddr, spec.host_traddr);
    } else if (spec.transport == NvmeTransport::kLoop) {
      address = "";
    } else {
      address = fmt::format("traddr={},trsvcid={}", spec.traddr, spec.trsvcid);
      if (!spec.host_traddr.empty()) address += ",src_addr=" + spec.host_traddr;
    }
    if (spec.transport != NvmeTransport::kLoop) A(d, "address", address);
    A(d, "cntlid", spec.cntlid);
    A(d, "cntrltype", "io");
    A(d, "dctype", "none");
    A(d, "dev", fmt::format("{}:{}", opt.nvme_char_major, c.instance));
    A(d, "firmware_rev", Pad(sub.spec.firmware_rev, 8));
    A(d, "kato", pcie ? 0 : 5);
    A(d, "model", Pad(sub.spec.model, 40));
    A(d, "numa_node", "-1");
    A(d, "passthru_err_log_enabled", "off", FsPlan::kRW);
    A(d, "queue_count", spec.queue_count);
    A(d, "quirks", "none");
    A(d, "serial", Pad(sub.spec.serial, 20));
    A(d, "sqsize", spec.sqsize);
    A(d, "state", spec.state);
    A(d, "subsysnqn", sub.spec.nqn);
    A(d, "transport", tr);
    A(d, "reset_controller", "", FsPlan::kWO);
    A(d, "rescan_controller", "", FsPlan::kWO);
    if (pcie) {
      A(d, "hmb", 1, FsPlan::kRW);
    } else {
      A(d, "hostnqn", spec.hostnqn);
      A(d, "hostid", DeriveUuid(spec.hostnqn));
      A(d, "ctrl_loss_tmo", 600, FsPlan::kRW);
      A(d, "reconnect_delay", 10, FsPlan::kRW);
      A(d, "fast_io_fail_tmo", "off", FsPlan::kRW);
      A(d, "delete_controller", "", FsPlan::kWO);
    }
    std::string ue = fmt::format("MAJOR={}\nMINOR={}\nDEVNAME=nvme{}\nNVME_TRTYPE={}\n",
                                 opt.nvme_char_major, c.instance, c.instance, tr);
    if (!pcie && spec.transport != NvmeTransport::kLoop) {
      ue += fmt::format("NVME_TRADDR={}\nNVME_TRSVCID={}\nNVME_HOST_TRADDR={}\nNVME_HOST_IFACE=none\n",
                        spec.traddr, spec.transport == NvmeTransport::kFc ? "none" : spec.trsvcid,
                        spec.host_traddr.empty() ? "none" : spec.host_traddr);
    }
    Raw(d, "uevent", ue, FsPlan::kRW);
    Subsystem(d, "sys/class/nvme");
    if (pcie) L(d, "device", Dirname(Dirname(c.dir)));
    L(plan.Dir("sys/class/nvme"), fmt::format("nvme{}", c.instance), c.dir);
    L(plan.Dir("sys/dev/char"), fmt::format("{}:{}", opt.nvme_char_major, c.instance), c.dir);
    L(plan.Dir(sub.dir), fmt::format("nvme{}", c.instance), c.dir);
    ctrls.push_back(std::move(c));
    sub.ctrls.push_back(static_cast<int>(ctrls.size() - 1));
    return NvmeController{static_cast<int>(ctrls.size() - 1)};
  }

  static std::string NvmeWwid(const Subsys& sub, const NvmeNamespaceSpec& s) {
    if (!s.uuid.empty()) return "uuid." + Lower(s.uuid);
    if (!s.nguid.empty()) return "eui." + Lower(s.nguid);
    if (!s.eui64.empty()) return "eui." + Lower(s.eui64);
    std::string serial = TrimRight(sub.spec.serial), model = TrimRight(sub.spec.model);
    std::string hs, hm;
    for (unsigned char ch : serial) hs += fmt::format("{:02x}", ch);
    for (unsigned char ch : model) hm += fmt::format("{:02x}", ch);
    return fmt::format("nvme.{:04x}-{}-{}-{:08x}", sub.spec.vendor_id, hs, hm, s.nsid);
  }

  void WriteNsAttrs(FsPlan::DirId d, const std::string& wwid, const NvmeNamespaceSpec& s) {
    A(d, "wwid", wwid);
    if (!s.uuid.empty()) {
      A(d, "uuid", Lower(s.uuid));
    } else if (!s.nguid.empty()) {
      A(d, "uuid", FormatUuidBytes(s.nguid));  // "No UUID available providing old NGUID"
    }
    if (!s.nguid.empty()) A(d, "nguid", FormatUuidBytes(s.nguid));
    if (!s.eui64.empty()) {
      std::string e = Lower(s.eui64), spaced;
      for (size_t i = 0; i < e.size(); i += 2) spaced += (i ? " " : "") + e.substr(i, 2);
      A(d, "eui", spaced);
    }
    A(d, "csi", s.csi);
    A(d, "nsid", s.nsid);
    A(d, "metadata_bytes", 0);
    A(d, "nuse", s.nuse_blocks ? s.nuse_blocks : s.size_bytes / s.queue.logical_block_size);
    A(d, "passthru_err_log_enabled", "off", FsPlan::kRW);
  }

  Dev AddNvmeNamespace(NvmeSubsystem ss, const NvmeNamespaceSpec& s) {
    if (!Ok()) return {};
    if (ss.id < 0 || static_cast<size_t>(ss.id) >= subsystems.size()) {
      Fail(fmt::format("AddNvmeNamespace: invalid subsystem handle {}", ss.id));
      return {};
    }
    Subsys& sub = subsystems[ss.id];
    if (sub.ctrls.empty()) {
      Fail(fmt::format("AddNvmeNamespace: subsystem {} has no controller", sub.spec.nqn));
      return {};
    }
    if (s.size_bytes == 0 || s.size_bytes % s.queue.logical_block_size) {
      Fail("AddNvmeNamespace: size_bytes must be a non-zero multiple of the LBA size");
      return {};
    }
    if ((!s.eui64.empty() && (s.eui64.size() != 16 || !IsHex(s.eui64))) ||
        (!s.nguid.empty() && (s.nguid.size() != 32 || !IsHex(s.nguid)))) {
      Fail("AddNvmeNamespace: eui64 must be 16 and nguid 32 hex digits");
      return {};
    }
    int head_instance = sub.next_ns_instance++;
    std::string wwid = NvmeWwid(sub, s);
    const Ctrl& first = ctrls[sub.ctrls.front()];

    Device dev;
    dev.kind = sub.spec.multipath ? Kind::kNvmeHead : Kind::kNvmeNs;
    dev.name = fmt::format("nvme{}n{}", sub.instance, head_instance);
    if (!ClaimName(dev.name)) return {};
    dev.major = 259;
    dev.minor = next_blkext++;
    dev.size_sectors = s.size_bytes / 512;
    dev.udev = s.udev;
    dev.subsys = ss.id;
    dev.nvme_wwid = wwid;
    dev.dir = sub.spec.multipath ? fmt::format("{}/{}", sub.dir, dev.name)
                                 : fmt::format("{}/{}", first.dir, dev.name);
    DiskOpts o;
    o.device_link = sub.spec.multipath ? sub.dir : first.dir;
    QueueSpec q = s.queue;
    if (sub.spec.multipath) {  // the head is a bio-based stacking queue
      q.mq = false;
    }
    WriteDisk(dev, q, o);
    WriteNsAttrs(plan.Dir(dev.dir), wwid, s);

    Props& p = dev.identity;  // 60-persistent-storage.rules, NVMe section, then path_id
    std::string model = TrimRight(sub.spec.model), serial = TrimRight(sub.spec.serial);
    SetProp(p, "ID_SERIAL_SHORT", serial);
    SetProp(p, "ID_WWN", wwid);
    SetProp(p, "ID_MODEL", model);
    SetProp(p, "ID_REVISION", TrimRight(sub.spec.firmware_rev));
    SetProp(p, "ID_NSID", std::to_string(s.nsid));
    SetProp(p, "ID_SERIAL", fmt::format("{}_{}", model, serial));
    dev.identity_links.push_back("disk/by-id/nvme-" + UdevReplaceWhitespace(wwid));
    dev.identity_links.push_back("disk/by-id/nvme-" +
                                 UdevReplaceWhitespace(fmt::format("{}_{}", model, serial)));
    SetProp(p, "ID_SERIAL", fmt::format("{}_{}_{}", model, serial, s.nsid));
    dev.identity_links.push_back(
        "disk/by-id/nvme-" + UdevReplaceWhitespace(fmt::format("{}_{}_{}", model, serial, s.nsid)));
    if (first.spec.transport == NvmeTransport::kPcie) {
      std::string path_id = fmt::format("pci-{}-nvme-{}", first.pci_bdf, s.nsid);
      SetProp(p, "ID_PATH", path_id);
      SetProp(p, "ID_PATH_TAG", PathTag(path_id));
    }
    dev.byid_bus = "nvme";
    Dev handle = NewDevice(std::move(dev));
    if (!handle.valid()) return handle;

    if (sub.spec.multipath) {  // hidden per-controller paths, linked from head/multipath/
      auto mp = plan.Dir(devs[handle.id].dir + "/multipath");
      bool first_optimized = true;
      for (int ci : sub.ctrls) {
        const Ctrl& c = ctrls[ci];
        Device path;
        path.kind = Kind::kNvmePath;
        path.name = fmt::format("nvme{}c{}n{}", sub.instance, c.instance, head_instance);
        if (!ClaimName(path.name)) return {};
        path.has_devt = false;
        path.size_sectors = s.size_bytes / 512;
        path.udev = false;  // uevents of hidden disks stay suppressed: no udev record
        path.subsys = ss.id;
        path.parent = -1;
        path.dir = fmt::format("{}/{}", c.dir, path.name);
        DiskOpts po;
        po.hidden = true;
        po.ext_range = 1;
        po.partscan = false;
        po.device_link = c.dir;
        WriteDisk(path, s.queue, po);
        auto pd = plan.Dir(path.dir);
        WriteNsAttrs(pd, wwid, s);
        A(pd, "ana_grpid", 1);
        A(pd, "ana_state", c.spec.ana_state);
        bool current = first_optimized && c.spec.ana_state == "optimized";
        if (current) first_optimized = false;
        A(pd, "numa_nodes", current ? "0" : "");
        Raw(pd, "queue_depth", "");
        L(mp, path.name, path.dir);
        Dev ph = NewDevice(std::move(path));
        if (!ph.valid()) return ph;
        devs[handle.id].paths.push_back(ph.id);
      }
    }
    return handle;
  }

  // --- partitions ------------------------------------------------------------------------------
  Dev AddPartition(Dev dh, const PartitionSpec& s) {
    if (!Ok()) return {};
    Device* disk = Get(dh);
    if (!disk) return {};
    if (disk->kind == Kind::kPartition || disk->kind == Kind::kNvmePath) {
      Fail(fmt::format("AddPartition: {} cannot be partitioned", disk->name));
      return {};
    }
    if (s.size_sectors == 0) {
      Fail(fmt::format("AddPartition on {}: size_sectors is required", disk->name));
      return {};
    }
    int partn = s.partn > 0 ? s.partn : disk->next_partn;
    uint64_t start = s.start_sector > 0 ? s.start_sector : disk->next_start;
    if (start + s.size_sectors > disk->size_sectors) {
      Fail(fmt::format("AddPartition: {}{} does not fit on {}", disk->name, partn, disk->name));
      return {};
    }
    disk->next_partn = std::max(disk->next_partn, partn + 1);
    disk->next_start = std::max(disk->next_start, start + s.size_sectors);
    if (disk->pttype.empty()) {
      disk->pttype = "gpt";
      disk->ptuuid = DeriveUuid("pt:" + disk->name + disk->nvme_wwid);
    }
    Device part;
    part.kind = Kind::kPartition;
    bool digit = isdigit(static_cast<unsigned char>(disk->name.back()));
    part.name = fmt::format("{}{}{}", disk->name, digit ? "p" : "", partn);
    if (!ClaimName(part.name)) return {};
    if (partn < disk->minors) {
      part.major = disk->major;
      part.minor = disk->minor + partn;
    } else {
      part.major = 259;
      part.minor = next_blkext++;
    }
    part.parent = dh.id;
    part.partn = partn;
    part.size_sectors = s.size_sectors;
    part.udev = disk->udev;
    part.part = s;
    part.part.partn = partn;
    part.part.start_sector = start;
    if (part.part.part_uuid.empty()) part.part.part_uuid = DeriveUuid("part:" + part.name + disk->ptuuid);
    part.dir = disk->dir + "/" + part.name;
    part.byid_bus = disk->byid_bus;
    if (disk->kind == Kind::kDm) part.devnode = "dev/" + part.name;

    auto d = plan.Dir(part.dir);
    A(d, "alignment_offset", 0);
    A(d, "dev", fmt::format("{}:{}", part.major, part.minor));
    A(d, "discard_alignment", 0);
    A(d, "inflight", fmt::format("{:>8} {:>8}", 0, 0));
    A(d, "partition", partn);
    A(d, "ro", 0);
    A(d, "size", s.size_sectors);
    A(d, "start", start);
    A(d, "stat", Stat17());
    std::string ue = fmt::format("MAJOR={}\nMINOR={}\nDEVNAME={}\nDEVTYPE=partition\nPARTN={}\n",
                                 part.major, part.minor, part.name, partn);
    if (!s.name.empty()) ue += fmt::format("PARTNAME={}\n", s.name);
    Raw(d, "uevent", ue, FsPlan::kRW);
    plan.Dir(part.dir + "/holders");
    Subsystem(d, "sys/class/block");
    L(plan.Dir("sys/class/block"), part.name, part.dir);
    L(plan.Dir("sys/dev/block"), fmt::format("{}:{}", part.major, part.minor), part.dir);
    Dev h = NewDevice(std::move(part));
    if (h.valid()) devs[dh.id].partitions.push_back(h.id);
    return h;
  }

  // Holder/slave links, both ways, as bd_link_disk_holder() makes them.
  void LinkHolder(int holder, int slave) {
    Device& H = devs[holder];
    Device& S = devs[slave];
    L(plan.Dir(H.dir + "/slaves"), S.name, S.dir);
    L(plan.Dir(S.dir + "/holders"), H.name, H.dir);
  }

  const QueueSpec* QueueOf(int idx) {
    int i = idx;
    while (i >= 0 && devs[i].kind == Kind::kPartition) i = devs[i].parent;
    auto it = queues.find(i);
    return it == queues.end() ? nullptr : &it->second;
  }
  std::map<int, QueueSpec> queues;  // whole device -> its queue (for stacking defaults)

  Dev AddDm(const DmSpec& s) {
    if (!Ok()) return {};
    if (s.name.empty()) {
      Fail("AddDm: name is required");
      return {};
    }
    std::vector<int> slaves;
    for (Dev sl : s.slaves) {
      if (!Get(sl)) return {};
      slaves.push_back(sl.id);
    }
    Device dev;
    dev.kind = Kind::kDm;
    int n = next_dm++;
    dev.name = fmt::format("dm-{}", n);
    if (!ClaimName(dev.name) || !ClaimName("mapper/" + s.name)) return {};
    dev.major = opt.dm_major;
    dev.minor = n;
    dev.size_sectors =
        s.size_bytes ? s.size_bytes / 512 : (slaves.empty() ? 0 : devs[slaves[0]].size_sectors);
    dev.dir = "sys/devices/virtual/block/" + dev.name;
    dev.devnode = "dev/mapper/" + s.name;
    QueueSpec q;
    if (s.queue) {
      q = *s.queue;
    } else if (!slaves.empty() && QueueOf(slaves[0])) {
      q = *QueueOf(slaves[0]);
    } else {
      q = QueueSpec::BioBased();
    }
    q.mq = s.request_based;
    if (s.request_based) {
      q.scheduler = "[mq-deadline] kyber bfq none";
      q.nr_requests = 256;
    }
    DiskOpts o;
    o.range = 1;
    o.ext_range = 1;
    o.partscan = false;
    WriteDisk(dev, q, o);
    auto dmd = plan.Dir(dev.dir + "/dm");
    A(dmd, "name", s.name);
    A(dmd, "uuid", s.uuid);
    A(dmd, "suspended", 0);
    A(dmd, "use_blk_mq", s.request_based ? 1 : 0);
    A(dmd, "rq_based_seq_io_merge_deadline", 0, FsPlan::kRW);

    Props& p = dev.identity;  // 10-dm.rules, 11-dm-mpath.rules, 13-dm-disk.rules
    SetProp(p, "DM_UDEV_DISABLE_LIBRARY_FALLBACK_FLAG", "1");
    SetProp(p, "DM_UDEV_PRIMARY_SOURCE_FLAG", "1");
    SetProp(p, "DM_UDEV_RULES_VSN", "2");
    SetProp(p, "DM_ACTIVATION", "1");
    SetProp(p, "DM_NAME", s.name);
    if (!s.uuid.empty()) SetProp(p, "DM_UUID", s.uuid);
    SetProp(p, "DM_SUSPENDED", "0");
    if (s.uuid.rfind("mpath-", 0) == 0) {
      std::string wwid = s.uuid.substr(6);
      SetProp(p, "MPATH_SBIN_PATH", "/sbin");
      SetProp(p, "MPATH_DEVICE_READY", "1");
      SetProp(p, "DM_TYPE", "scsi");
      SetProp(p, "DM_WWN", "0x" + (wwid.size() > 1 ? wwid.substr(1) : wwid));
      SetProp(p, "DM_SERIAL", wwid);
    } else if (s.uuid.rfind("part", 0) == 0) {
      SetProp(p, "DM_PART", s.uuid.substr(4, s.uuid.find('-') - 4));
    } else if (s.uuid.rfind("LVM-", 0) == 0) {
      SetProp(p, "DM_LV_LAYER", "");
    }
    dev.identity_links.push_back("disk/by-id/dm-name-" + s.name);
    if (!s.uuid.empty()) dev.identity_links.push_back("disk/by-id/dm-uuid-" + s.uuid);
    dev.identity_links.push_back("mapper/" + s.name);
    Dev h = NewDevice(std::move(dev));
    if (!h.valid()) return h;
    queues[h.id] = q;
    for (int sl : slaves) LinkHolder(h.id, sl);
    return h;
  }

  Dev AddMd(const MdSpec& s) {
    if (!Ok()) return {};
    std::vector<int> members;
    for (Dev m : s.members) {
      if (!Get(m)) return {};
      members.push_back(m.id);
    }
    if (members.empty()) {
      Fail("AddMd: members are required");
      return {};
    }
    int n = 0;
    if (s.name.size() > 2 && s.name.rfind("md", 0) == 0) n = std::atoi(s.name.c_str() + 2);
    Device dev;
    dev.kind = Kind::kMd;
    dev.name = s.name;
    if (!ClaimName(dev.name)) return {};
    dev.major = 9;
    dev.minor = n;
    uint64_t member_sectors = devs[members[0]].size_sectors;
    for (int m : members) member_sectors = std::min(member_sectors, devs[m].size_sectors);
    uint64_t data_offset = 264192;  // 1.2 superblock, 129 MiB data offset for big members
    if (member_sectors < 4 * data_offset) data_offset = 2048;
    uint64_t component = (member_sectors - data_offset) & ~uint64_t{7};
    uint64_t nm = members.size();
    uint64_t array = s.level == "raid0"   ? component * nm
                     : s.level == "raid5" ? component * (nm - 1)
                     : s.level == "raid6" ? component * (nm - 2)
                     : s.level == "raid10" ? component * nm / 2
                                           : component;
    dev.size_sectors = s.size_bytes ? s.size_bytes / 512 : array;
    dev.dir = "sys/devices/virtual/block/" + dev.name;
    QueueSpec q = QueueSpec::BioBased();
    if (const QueueSpec* mq = QueueOf(members[0])) {
      q.rotational = mq->rotational;
      q.logical_block_size = mq->logical_block_size;
      q.physical_block_size = mq->physical_block_size;
      q.minimum_io_size = mq->minimum_io_size;
      q.discard_granularity = mq->discard_granularity;
      q.discard_max_bytes = q.discard_max_hw_bytes = mq->discard_max_bytes;
      q.max_hw_sectors_kb = mq->max_hw_sectors_kb;
      q.max_sectors_kb = mq->max_sectors_kb;
    }
    DiskOpts o;
    o.range = 1;
    WriteDisk(dev, q, o);
    auto md = plan.Dir(dev.dir + "/md");
    A(md, "level", s.level, FsPlan::kRW);
    A(md, "raid_disks", nm, FsPlan::kRW);
    A(md, "chunk_size", s.level == "raid1" ? 0 : 524288, FsPlan::kRW);
    A(md, "layout", 0, FsPlan::kRW);
    A(md, "metadata_version", s.metadata_version, FsPlan::kRW);
    A(md, "array_state", "clean", FsPlan::kRW);
    A(md, "array_size", "default", FsPlan::kRW);
    A(md, "component_size", component / 2, FsPlan::kRW);
    A(md, "degraded", 0);
    A(md, "sync_action", "idle", FsPlan::kRW);
    A(md, "mismatch_cnt", 0);
    A(md, "uuid", DashedMdUuid(s.uuid));
    for (size_t i = 0; i < members.size(); ++i) {
      const Device& m = devs[members[i]];
      std::string rd = fmt::format("{}/md/dev-{}", dev.dir, m.name);
      auto r = plan.Dir(rd);
      A(r, "slot", i, FsPlan::kRW);
      A(r, "state", "in_sync", FsPlan::kRW);
      A(r, "offset", data_offset, FsPlan::kRW);
      A(r, "size", component / 2, FsPlan::kRW);
      A(r, "errors", 0, FsPlan::kRW);
      L(r, "block", m.dir);
      L(md, fmt::format("rd{}", i), rd);
    }
    Props& p = dev.identity;  // 63-md-raid-arrays.rules: mdadm --detail --export
    SetProp(p, "MD_LEVEL", s.level);
    SetProp(p, "MD_DEVICES", std::to_string(nm));
    SetProp(p, "MD_METADATA", s.metadata_version);
    SetProp(p, "MD_UUID", s.uuid);
    std::string devname = s.array_name.substr(s.array_name.find(':') + 1);
    SetProp(p, "MD_DEVNAME", devname);
    SetProp(p, "MD_NAME", s.array_name);
    for (size_t i = 0; i < members.size(); ++i) {
      const std::string& mn = devs[members[i]].name;
      SetProp(p, fmt::format("MD_DEVICE_ev_{}_ROLE", mn), std::to_string(i));
      SetProp(p, fmt::format("MD_DEVICE_ev_{}_DEV", mn), "/dev/" + mn);
    }
    dev.identity_links.push_back("disk/by-id/md-name-" + s.array_name);
    dev.identity_links.push_back("disk/by-id/md-uuid-" + s.uuid);
    dev.identity_links.push_back("md/" + devname);
    Dev h = NewDevice(std::move(dev));
    if (!h.valid()) return h;
    queues[h.id] = q;
    for (size_t i = 0; i < members.size(); ++i) {
      LinkHolder(h.id, members[i]);
      FilesystemSpec fs;
      fs.type = "linux_raid_member";
      fs.uuid = DashedMdUuid(s.uuid);
      fs.label = s.array_name;
      fs.version = s.metadata_version;
      fs.usage = "raid";
      devs[members[i]].fs = fs;
    }
    return h;
  }

  static std::string DashedMdUuid(std::string_view md) {  // 3a1b2c3d:4e5f6071:... -> 8-4-4-4-12
    std::string hex;
    for (char c : md)
      if (c != ':' && c != '-') hex.push_back(c);
    return hex.size() == 32 ? FormatUuidBytes(hex) : std::string(md);
  }

  Dev AddLoop(const LoopSpec& s) {
    if (!Ok()) return {};
    Device dev;
    dev.kind = Kind::kLoop;
    int n = next_loop++;
    dev.name = fmt::format("loop{}", n);
    if (!ClaimName(dev.name)) return {};
    dev.major = 7;
    dev.minor = n;
    dev.size_sectors = s.backing_file.empty() ? 0 : s.size_bytes / 512;
    dev.udev = s.udev;
    dev.dir = "sys/devices/virtual/block/" + dev.name;
    DiskOpts o;
    o.range = 1;
    o.partscan = false;
    o.ro = s.ro;
    o.events = "media_change";
    QueueSpec q = QueueSpec::Loop();
    WriteDisk(dev, q, o);
    if (!s.backing_file.empty()) {
      auto l = plan.Dir(dev.dir + "/loop");
      A(l, "backing_file", s.backing_file);
      A(l, "offset", s.offset);
      A(l, "sizelimit", 0);
      A(l, "autoclear", 0);
      A(l, "partscan", 0);
      A(l, "dio", 0);
    }
    Dev h = NewDevice(std::move(dev));
    if (h.valid()) queues[h.id] = q;
    return h;
  }

  Dev AddZram(const ZramSpec& s) {
    if (!Ok()) return {};
    Device dev;
    dev.kind = Kind::kZram;
    int n = next_zram++;
    dev.name = fmt::format("zram{}", n);
    if (!ClaimName(dev.name)) return {};
    dev.major = s.major >= 0 ? s.major : opt.zram_major;
    dev.minor = n;
    dev.size_sectors = s.disksize / 512;
    dev.udev = s.udev;
    dev.dir = "sys/devices/virtual/block/" + dev.name;
    QueueSpec q = QueueSpec::BioBased();
    q.logical_block_size = q.physical_block_size = q.minimum_io_size = q.optimal_io_size = 4096;
    q.discard_granularity = 4096;
    q.discard_max_bytes = q.discard_max_hw_bytes = 2199023255040;
    q.write_zeroes_max_bytes = 2199023255040;
    q.max_sectors_kb = q.max_hw_sectors_kb = 124;
    q.max_segments = 128;
    DiskOpts o;
    o.range = 1;
    o.ext_range = 1;
    o.partscan = false;
    WriteDisk(dev, q, o);
    auto d = plan.Dir(dev.dir);
    A(d, "comp_algorithm", TrimRight(s.comp_algorithm) + " ", FsPlan::kRW);
    A(d, "disksize", s.disksize, FsPlan::kRW);
    A(d, "initstate", s.disksize ? 1 : 0);
    A(d, "mm_stat", fmt::format("{:>8} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8}", 0, 0, 0,
                                0, 0, 0, 0, 0, 0));
    A(d, "io_stat", fmt::format("{:>8} {:>8} {:>8} {:>8}", 0, 0, 0, 0));
    A(d, "debug_stat", "version: 1\n       0        0");
    for (const char* wo : {"reset", "compact", "idle", "mem_limit", "mem_used_max"})
      A(d, wo, "", FsPlan::kWO);
    Dev h = NewDevice(std::move(dev));
    if (h.valid()) queues[h.id] = q;
    return h;
  }

  Dev AddVirtioBlk(const VirtioBlkSpec& s) {
    if (!Ok()) return {};
    if (s.size_bytes == 0 || s.size_bytes % 512) {
      Fail("AddVirtioBlk: size_bytes must be a non-zero multiple of 512");
      return {};
    }
    Device dev;
    dev.kind = Kind::kVirtioBlk;
    int index = next_vd_index;
    dev.name = s.name.empty() ? VdName(index) : s.name;
    if (!ClaimName(dev.name)) return {};
    ++next_vd_index;
    dev.major = opt.virtblk_major;
    dev.minor = index * 16;
    dev.minors = 16;
    dev.size_sectors = s.size_bytes / 512;
    dev.udev = s.udev;
    std::string pci =
        s.pci_path.empty() ? fmt::format("pci0000:00/0000:00:{:02x}.0", 2 + index) : s.pci_path;
    std::string bdf = EnsurePci(pci, {"0x1af4", "0x1001", "0x010000", "virtio-pci"});
    int vi = s.virtio_index >= 0 ? s.virtio_index : next_virtio;
    next_virtio = std::max(next_virtio, vi + 1);
    std::string vdir = fmt::format("sys/devices/{}/virtio{}", pci, vi);
    WriteVirtioDevice(vdir, vi, "0x0002", "virtio_blk");
    dev.dir = fmt::format("{}/block/{}", vdir, dev.name);
    DiskOpts o;
    o.range = 16;
    o.device_link = vdir;
    WriteDisk(dev, s.queue, o);
    auto d = plan.Dir(dev.dir);
    A(d, "cache_type", s.queue.write_cache);
    if (!s.serial.empty()) A(d, "serial", s.serial);
    Props& p = dev.identity;
    if (!s.serial.empty()) {
      SetProp(p, "ID_SERIAL", s.serial);
      dev.identity_links.push_back("disk/by-id/virtio-" + s.serial);
    }
    std::string path_id = "pci-" + bdf;
    SetProp(p, "ID_PATH", path_id);
    SetProp(p, "ID_PATH_TAG", PathTag(path_id));
    dev.byid_bus = "virtio";
    Dev h = NewDevice(std::move(dev));
    if (h.valid()) queues[h.id] = s.queue;
    return h;
  }

  // --- udev records ----------------------------------------------------------------------------
  // Kernel names that 60-persistent-storage.rules handles (KERNEL!= list) get parent imports
  // and blkid there; dm and md get blkid from their own rules.
  static bool PersistentStorageKernel(const Device& d) {
    return d.kind == Kind::kScsiDisk || d.kind == Kind::kNvmeNs || d.kind == Kind::kNvmeHead ||
           d.kind == Kind::kVirtioBlk || d.kind == Kind::kLoop;
  }

  void BlkidProps(const Device& d, Props& p) {
    if (!d.pttype.empty()) {
      SetProp(p, "ID_PART_TABLE_UUID", d.ptuuid);
      SetProp(p, "ID_PART_TABLE_TYPE", d.pttype);
    }
    if (d.fs) {
      const FilesystemSpec& fs = *d.fs;
      std::string version = fs.version, usage = fs.usage;
      if (version.empty()) {
        version = fs.type == "ext4" ? "1.0" : fs.type == "vfat" ? "FAT32" : fs.type == "swap" ? "1" : "";
      }
      if (usage.empty()) {
        usage = fs.type == "swap" ? "other" : (fs.type == "linux_raid_member" || fs.type == "LVM2_member") ? "raid" : "filesystem";
      }
      if (!fs.label.empty()) {
        SetProp(p, "ID_FS_LABEL", UdevReplaceChars(fs.label));
        SetProp(p, "ID_FS_LABEL_ENC", UdevEncode(fs.label));
      }
      if (!fs.uuid.empty()) {
        SetProp(p, "ID_FS_UUID", fs.uuid);
        SetProp(p, "ID_FS_UUID_ENC", UdevEncode(fs.uuid));
      }
      if (fs.type == "linux_raid_member") {
        std::string sub = DeriveUuid("raidsub:" + d.name + fs.uuid);
        SetProp(p, "ID_FS_UUID_SUB", sub);
        SetProp(p, "ID_FS_UUID_SUB_ENC", sub);
      }
      if (!version.empty()) SetProp(p, "ID_FS_VERSION", version);
      SetProp(p, "ID_FS_TYPE", fs.type);
      SetProp(p, "ID_FS_USAGE", usage);
    }
    if (d.kind == Kind::kPartition) {
      const Device& disk = devs[d.parent];
      SetProp(p, "ID_PART_ENTRY_SCHEME", disk.pttype);
      if (!d.part.name.empty()) SetProp(p, "ID_PART_ENTRY_NAME", UdevEncode(d.part.name));
      SetProp(p, "ID_PART_ENTRY_UUID", d.part.part_uuid);
      SetProp(p, "ID_PART_ENTRY_TYPE", d.part.type_guid);
      SetProp(p, "ID_PART_ENTRY_NUMBER", std::to_string(d.partn));
      SetProp(p, "ID_PART_ENTRY_OFFSET", std::to_string(d.part.start_sector));
      SetProp(p, "ID_PART_ENTRY_SIZE", std::to_string(d.size_sectors));
      SetProp(p, "ID_PART_ENTRY_DISK", fmt::format("{}:{}", disk.major, disk.minor));
    }
  }

  void Compose(const Device& d, Props* props, std::vector<std::string>* links) {
    Props& p = *props;
    bool partition = d.kind == Kind::kPartition;
    const Device* disk = partition ? &devs[d.parent] : nullptr;
    if (partition && PersistentStorageKernel(*disk)) {
      // IMPORT{parent}: every ID_* of the disk except ID_FS_*.
      Props parent;
      Compose(*disk, &parent, nullptr);
      for (const auto& [k, v] : parent)
        if (k.rfind("ID_", 0) == 0 && k.rfind("ID_FS_", 0) != 0) SetProp(p, k, v);
    }
    if (partition && disk->kind == Kind::kDm) {  // kpartx-style partition of a dm device
      for (const auto& [k, v] : disk->identity)
        if (k.rfind("DM_UDEV", 0) == 0) SetProp(p, k, v);
    }
    for (const auto& [k, v] : d.identity) SetProp(p, k, v);
    BlkidProps(d, p);
    for (const auto& [set, kv] : d.edits) {
      if (set) SetProp(p, kv.first, kv.second);
      else RemoveProp(p, kv.first);
    }
    if (!links) return;
    const Props& fin = p;
    auto get = [&](const char* k) -> std::string {
      const std::string* v = GetProp(fin, k);
      return v ? *v : std::string();
    };
    std::string suffix = partition ? fmt::format("-part{}", d.partn) : "";
    if (partition) {
      for (const auto& l : disk->identity_links)
        if (l.rfind("disk/by-id/", 0) == 0 && disk->kind != Kind::kDm && disk->kind != Kind::kMd)
          links->push_back(l + suffix);
    } else {
      for (const auto& l : d.identity_links) links->push_back(l);
    }
    std::string bus = get("ID_BUS"), serial = get("ID_SERIAL");
    if (d.byid_bus == "ata" || d.byid_bus == "scsi") {
      if (!bus.empty() && !serial.empty())
        links->push_back(fmt::format("disk/by-id/{}-{}{}", bus, UdevReplaceWhitespace(serial), suffix));
    }
    std::string wwn = get("ID_WWN_WITH_EXTENSION");
    if (!wwn.empty()) links->push_back(fmt::format("disk/by-id/wwn-{}{}", wwn, suffix));
    std::string path = get("ID_PATH");
    if (!path.empty()) links->push_back(fmt::format("disk/by-path/{}{}", path, suffix));
    std::string compat = get("ID_PATH_ATA_COMPAT");
    if (!compat.empty()) links->push_back(fmt::format("disk/by-path/{}{}", compat, suffix));
    if (d.kind == Kind::kVirtioBlk && !path.empty())
      links->push_back(fmt::format("disk/by-path/virtio-{}", path));
    std::string usage = get("ID_FS_USAGE"), uuid_enc = get("ID_FS_UUID_ENC"),
                label_enc = get("ID_FS_LABEL_ENC");
    if ((usage == "filesystem" || usage == "other" || usage == "crypto") && !uuid_enc.empty())
      links->push_back("disk/by-uuid/" + uuid_enc);
    if ((usage == "filesystem" || usage == "other" || usage == "crypto") && !label_enc.empty())
      links->push_back("disk/by-label/" + label_enc);
    std::string puuid = get("ID_PART_ENTRY_UUID");
    if (!puuid.empty()) links->push_back("disk/by-partuuid/" + puuid);
    std::string pname = get("ID_PART_ENTRY_NAME");
    if (!pname.empty() && get("ID_PART_ENTRY_SCHEME") == "gpt")
      links->push_back("disk/by-partlabel/" + pname);
    if (!partition) links->push_back(fmt::format("disk/by-diskseq/{}", d.diskseq));
    for (const auto& l : d.extra_links) links->push_back(l);
  }

  // The udev database record, as sd-device's device_update_db() writes it.
  std::string UdevRecord(const Device& d, const Props& props, const std::vector<std::string>& links) {
    std::string out;
    for (const auto& l : links) out += "S:" + l + "\n";
    out += fmt::format("I:{}\n", d.usec);
    for (const auto& [k, v] : props) out += fmt::format("E:{}={}\n", k, v);
    out += "G:systemd\nQ:systemd\nV:1\n";
    return out;
  }

  // lsblk --sysroot's fake udev file: same properties, but lsblk takes the first match per
  // field and reads only ID_MODEL (never ID_MODEL_ENC) and never normalises whitespace, so:
  //  * ID_MODEL carries what udev-mode lsblk shows: ID_MODEL_ENC decoded, whitespace normalised;
  //  * the serial keys come as one block in udev-mode lsblk's priority order (SCSI_IDENT_SERIAL,
  //    ID_SCSI_SERIAL, ID_SERIAL_SHORT, ID_SERIAL), whitespace normalised;
  //  * ID_WWN_WITH_EXTENSION comes before ID_WWN.
  std::string LsblkFile(const Props& props) {
    static const char* kSerial[] = {"SCSI_IDENT_SERIAL", "ID_SCSI_SERIAL", "ID_SERIAL_SHORT",
                                    "ID_SERIAL"};
    static const char* kWwn[] = {"ID_WWN_WITH_EXTENSION", "ID_WWN"};
    auto in = [](const char* const* set, size_t n, const std::string& k) {
      for (size_t i = 0; i < n; ++i)
        if (k == set[i]) return true;
      return false;
    };
    std::string out;
    bool serial_done = false, wwn_done = false;
    for (const auto& [k, v] : props) {
      if (in(kSerial, 4, k)) {
        if (serial_done) continue;
        serial_done = true;
        for (const char* s : kSerial)
          if (const std::string* sv = GetProp(props, s))
            out += fmt::format("{}={}\n", s, NormalizeWhitespace(*sv));
      } else if (in(kWwn, 2, k)) {
        if (wwn_done) continue;
        wwn_done = true;
        for (const char* s : kWwn)
          if (const std::string* sv = GetProp(props, s)) out += fmt::format("{}={}\n", s, *sv);
      } else if (k == "ID_MODEL") {
        const std::string* enc = GetProp(props, "ID_MODEL_ENC");
        out += fmt::format("ID_MODEL={}\n", NormalizeWhitespace(enc ? Unhexmangle(*enc) : v));
      } else {
        out += fmt::format("{}={}\n", k, v);
      }
    }
    if (opt.lsblk_node_attrs) out += "MODE=brw-rw----\nOWNER=root\nGROUP=disk\n";
    return out;
  }

  bool WriteTo(const std::string& root) {
    if (!Ok()) return false;
    for (const Device& d : devs) {
      if (!d.udev || !d.has_devt) continue;
      Props props;
      std::vector<std::string> links;
      Compose(d, &props, &links);
      plan.File(plan.Dir("run/udev/data"), fmt::format("b{}:{}", d.major, d.minor),
                UdevRecord(d, props, links), FsPlan::kRW);
      // Device names are unique (ClaimName), so no lookup is needed: dev/ has one entry per
      // device and a scan per insert would be quadratic.
      plan.File(plan.Dir(Dirname(d.devnode)), LastComponent(d.devnode), LsblkFile(props),
                FsPlan::kRW);
    }
    std::string err;
    size_t count = 0;
    bool ok = plan.Write(root, opt.threads, opt.hardlink_identical, &err, &count);
    files_written = count;
    if (!ok) return Fail(err);
    return true;
  }
};

// ---------------------------------------------------------------------------------------------
// TreeBuilder forwarding.

TreeBuilder::TreeBuilder(BuilderOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}
TreeBuilder::~TreeBuilder() = default;

ScsiHost TreeBuilder::AddScsiHost(const ScsiHostSpec& spec) { return impl_->AddScsiHost(spec); }
Dev TreeBuilder::AddScsiDisk(ScsiHost host, const ScsiDiskSpec& spec) {
  Dev d = impl_->AddScsiDisk(host, spec);
  if (d.valid()) impl_->queues[d.id] = spec.queue;
  return d;
}
NvmeSubsystem TreeBuilder::AddNvmeSubsystem(const NvmeSubsystemSpec& spec) {
  return impl_->AddNvmeSubsystem(spec);
}
NvmeController TreeBuilder::AddNvmeController(NvmeSubsystem subsys, const NvmeControllerSpec& spec) {
  return impl_->AddNvmeController(subsys, spec);
}
Dev TreeBuilder::AddNvmeNamespace(NvmeSubsystem subsys, const NvmeNamespaceSpec& spec) {
  Dev d = impl_->AddNvmeNamespace(subsys, spec);
  if (d.valid()) impl_->queues[d.id] = spec.queue;
  return d;
}
std::vector<Dev> TreeBuilder::NvmePaths(Dev head) const {
  std::vector<Dev> out;
  if (head.id < 0 || static_cast<size_t>(head.id) >= impl_->devs.size()) return out;
  for (int p : impl_->devs[head.id].paths) out.push_back(Dev{p});
  return out;
}
void TreeBuilder::SetPartitionTable(Dev disk, std::string_view type, std::string_view uuid) {
  if (Device* d = impl_->Get(disk)) {
    d->pttype = type;
    d->ptuuid = uuid;
  }
}
Dev TreeBuilder::AddPartition(Dev disk, const PartitionSpec& spec) {
  return impl_->AddPartition(disk, spec);
}
void TreeBuilder::SetFilesystem(Dev dev, const FilesystemSpec& fs) {
  if (Device* d = impl_->Get(dev)) d->fs = fs;
}
Dev TreeBuilder::AddDm(const DmSpec& spec) { return impl_->AddDm(spec); }
Dev TreeBuilder::AddMd(const MdSpec& spec) { return impl_->AddMd(spec); }
Dev TreeBuilder::AddLoop(const LoopSpec& spec) { return impl_->AddLoop(spec); }
Dev TreeBuilder::AddZram(const ZramSpec& spec) { return impl_->AddZram(spec); }
Dev TreeBuilder::AddVirtioBlk(const VirtioBlkSpec& spec) { return impl_->AddVirtioBlk(spec); }

void TreeBuilder::SetAttr(Dev dev, std::string_view rel, std::string_view value) {
  if (Device* d = impl_->Get(dev)) impl_->plan.Put(d->dir + "/" + std::string(rel), value);
}
void TreeBuilder::RemoveAttr(Dev dev, std::string_view rel) {
  if (Device* d = impl_->Get(dev)) {
    if (!impl_->plan.Remove(d->dir + "/" + std::string(rel)))
      impl_->Fail(fmt::format("RemoveAttr: {}/{} does not exist", d->dir, rel));
  }
}
void TreeBuilder::SetFile(std::string_view path, std::string_view content) {
  impl_->plan.Put(path, content);
}
void TreeBuilder::SetUdevProperty(Dev dev, std::string_view key, std::string_view value) {
  if (Device* d = impl_->Get(dev)) d->edits.push_back({true, {std::string(key), std::string(value)}});
}
void TreeBuilder::RemoveUdevProperty(Dev dev, std::string_view key) {
  if (Device* d = impl_->Get(dev)) d->edits.push_back({false, {std::string(key), ""}});
}
void TreeBuilder::AddUdevLink(Dev dev, std::string_view link) {
  if (Device* d = impl_->Get(dev)) d->extra_links.emplace_back(link);
}
void TreeBuilder::DropUdevRecord(Dev dev) {
  if (Device* d = impl_->Get(dev)) d->udev = false;
}

const std::string& TreeBuilder::Name(Dev dev) const {
  static const std::string kEmpty;
  if (dev.id < 0 || static_cast<size_t>(dev.id) >= impl_->devs.size()) return kEmpty;
  return impl_->devs[dev.id].name;
}
std::string TreeBuilder::SysPath(Dev dev) const {
  if (dev.id < 0 || static_cast<size_t>(dev.id) >= impl_->devs.size()) return {};
  return impl_->devs[dev.id].dir;
}
std::string TreeBuilder::MajMin(Dev dev) const {
  if (dev.id < 0 || static_cast<size_t>(dev.id) >= impl_->devs.size()) return {};
  const Device& d = impl_->devs[dev.id];
  return d.has_devt ? fmt::format("{}:{}", d.major, d.minor) : std::string();
}
size_t TreeBuilder::device_count() const { return impl_->devs.size(); }
bool TreeBuilder::WriteTo(const std::string& root) { return impl_->WriteTo(root); }
size_t TreeBuilder::files_written() const { return impl_->files_written; }
bool TreeBuilder::ok() const { return impl_->Ok(); }
const std::string& TreeBuilder::error() const { return impl_->error; }

// ---------------------------------------------------------------------------------------------
// Scenarios. Values are modelled on real devices; every identifier is unique across scenarios.

namespace {

constexpr uint64_t kGiB = 1024ULL * 1024 * 1024;
constexpr uint64_t kMiB = 1024ULL * 1024;
constexpr const char* kEfiGuid = "c12a7328-f81f-11d2-ba4b-00a0c93ec93b";
constexpr const char* kLinuxGuid = "0fc63daf-8483-4772-8e79-3d69d8477de4";
constexpr const char* kRaidGuid = "a19d880f-05fc-4d3b-a006-743f0f84911e";

// GPT: p1 = EFI system partition of `efi` bytes, p2 = Linux filesystem of the rest (minus the
// backup GPT), both 1 MiB aligned.
void EfiAndRoot(TreeBuilder& b, Dev disk, uint64_t disk_bytes, uint64_t efi, const char* root_fs,
                const char* tag) {
  PartitionSpec p1;
  p1.start_sector = 2048;
  p1.size_sectors = efi / 512;
  p1.name = "EFI System Partition";
  p1.type_guid = kEfiGuid;
  Dev e = b.AddPartition(disk, p1);
  b.SetFilesystem(e, {"vfat", fmt::format("{:04X}-{:04X}", Hash64(tag) & 0xffff,
                                          Hash64(tag, 7) & 0xffff), "EFI", "FAT32", ""});
  PartitionSpec p2;
  p2.size_sectors = ((disk_bytes / 512 - 2048 - 34 - (2048 + efi / 512)) / 2048) * 2048;
  p2.name = "root";
  p2.type_guid = kLinuxGuid;
  Dev r = b.AddPartition(disk, p2);
  b.SetFilesystem(r, {root_fs, DeriveUuid(std::string("fs:") + tag), tag, "", ""});
}

void NvmeSingle(TreeBuilder& b) {
  NvmeSubsystemSpec ss;
  ss.nqn = "nqn.1994-11.com.samsung:nvme:PM9A3:2.5-inch:S64HNE0R401234";
  ss.model = "SAMSUNG MZQL23T8HCLS-00A07";
  ss.serial = "S64HNE0R401234";
  ss.firmware_rev = "GDC5602Q";
  ss.vendor_id = 0x144d;
  auto sub = b.AddNvmeSubsystem(ss);
  NvmeControllerSpec c;
  c.pci_path = "pci0000:00/0000:00:1d.0/0000:3d:00.0";
  c.cntlid = 6;
  c.queue_count = 65;
  b.AddNvmeController(sub, c);
  NvmeNamespaceSpec ns;
  ns.nsid = 1;
  ns.size_bytes = 7501476528ULL * 512;
  ns.eui64 = "002538b411b01234";
  ns.nguid = "36344830524012340025384500000001";
  ns.queue = QueueSpec::Nvme(512);
  Dev n = b.AddNvmeNamespace(sub, ns);
  b.SetPartitionTable(n, "gpt", "7c1a5e2f-9b3d-4c8e-a6f1-2d4b8e0c9a17");
  EfiAndRoot(b, n, ns.size_bytes, 1 * kGiB, "ext4", "nvme-single-root");
}

void NvmeMultiNs(TreeBuilder& b) {
  NvmeSubsystemSpec ss;
  ss.nqn = "nqn.2019-10.com.kioxia:KCM61VUL3T20:X0A0A01AT0S8";
  ss.model = "KIOXIA KCM61VUL3T20";
  ss.serial = "X0A0A01AT0S8";
  ss.firmware_rev = "0106";
  ss.vendor_id = 0x1e0f;
  auto sub = b.AddNvmeSubsystem(ss);
  NvmeControllerSpec c;
  c.pci_path = "pci0000:00/0000:00:1b.0/0000:5e:00.0";
  c.cntlid = 1;
  b.AddNvmeController(sub, c);
  NvmeNamespaceSpec n1;  // EUI-64 only: wwid eui.<eui64>
  n1.nsid = 1;
  n1.size_bytes = 1953525168ULL * 512;
  n1.eui64 = "8ce38e0400a1b2c3";
  n1.queue = QueueSpec::Nvme(512);
  b.AddNvmeNamespace(sub, n1);
  NvmeNamespaceSpec n2;  // NGUID only, 4 KiB LBA format: wwid eui.<nguid>
  n2.nsid = 2;
  n2.size_bytes = 512 * kGiB;
  n2.nguid = "8ce38e1000a1b2c40000000000000002";
  n2.queue = QueueSpec::Nvme(4096);
  b.AddNvmeNamespace(sub, n2);
  NvmeNamespaceSpec n3;  // UUID + NGUID + EUI-64: wwid uuid.<uuid>
  n3.nsid = 3;
  n3.size_bytes = 256 * kGiB;
  n3.uuid = "e2a0b1c4-5d6e-4f70-8192-a3b4c5d6e7f8";
  n3.nguid = "8ce38e1000a1b2c50000000000000003";
  n3.eui64 = "8ce38e0400a1b2c5";
  n3.queue = QueueSpec::Nvme(512);
  b.AddNvmeNamespace(sub, n3);
}

void NvmeMultipath(TreeBuilder& b) {
  NvmeSubsystemSpec ss;
  ss.nqn = "nqn.1992-08.com.netapp:sn.4a3c9e2b1f0d11eeb1a2d039ea1b2c3d:subsystem.db01";
  ss.model = "NetApp ONTAP Controller";
  ss.serial = "81Kq3ZxYbGdpAAAAAAAB";
  ss.firmware_rev = "FFFFFFFF";
  ss.vendor_id = 0x1275;
  ss.multipath = true;
  auto sub = b.AddNvmeSubsystem(ss);
  NvmeControllerSpec a;
  a.transport = NvmeTransport::kTcp;
  a.traddr = "192.168.10.21";
  a.host_traddr = "192.168.10.5";
  a.cntlid = 3;
  a.ana_state = "optimized";
  a.queue_count = 9;
  a.sqsize = 127;
  b.AddNvmeController(sub, a);
  NvmeControllerSpec c2 = a;
  c2.traddr = "192.168.20.21";
  c2.host_traddr = "192.168.20.5";
  c2.cntlid = 4;
  c2.ana_state = "non-optimized";
  b.AddNvmeController(sub, c2);
  NvmeNamespaceSpec ns;
  ns.nsid = 1;
  ns.size_bytes = 1024 * kGiB;
  ns.uuid = "6b3f1c2e-8d4a-4e5b-9c7d-1a2b3c4d5e6f";
  ns.nguid = "6b3f1c2e8d4a4e5b9c7d1a2b3c4d5e6f";
  ns.queue = QueueSpec::Nvme(4096);
  ns.queue.max_sectors_kb = ns.queue.max_hw_sectors_kb = 1024;
  Dev head = b.AddNvmeNamespace(sub, ns);
  b.SetFilesystem(head, {"xfs", "0c6b9f2e-4a1d-4b7e-8f3c-5d2a1e0b9c8d", "db01", "", ""});
}

ScsiDiskSpec Ata(std::string model, std::string fw, std::string serial, std::string naa,
                 uint64_t bytes, QueueSpec q, int rpm) {
  ScsiDiskSpec d;
  d.model = std::move(model);
  d.rev = std::move(fw);
  d.serial = std::move(serial);
  d.naa = std::move(naa);
  d.size_bytes = bytes;
  d.queue = std::move(q);
  d.rotation_rpm = rpm;
  return d;
}

ScsiHost AhciPort(TreeBuilder& b, int port_no, const char* pci = "pci0000:00/0000:00:17.0") {
  ScsiHostSpec h;
  h.kind = ScsiHostKind::kSataAhci;
  h.pci_path = pci;
  h.port_no = port_no;
  return b.AddScsiHost(h);
}

void Sata(TreeBuilder& b) {
  Dev hdd = b.AddScsiDisk(AhciPort(b, 1),
                          Ata("WDC WD40EFRX-68N32N0", "82.00A82", "WD-WCC7K4ABCDEF",
                              "50014ee2b5a1c3d7", 7814037168ULL * 512, QueueSpec::SataHdd(), 5400));
  b.SetPartitionTable(hdd, "gpt", "a8d1e6c2-3b5f-4e7a-9c1d-0f2e4b6a8c91");
  PartitionSpec data;
  data.size_sectors = ((7814037168ULL - 2048 - 34) / 2048) * 2048;
  data.name = "data";
  Dev d1 = b.AddPartition(hdd, data);
  b.SetFilesystem(d1, {"xfs", "5d1f3b7a-9c2e-4f6d-8a0b-1c3e5f7a9b2d", "data", "", ""});
  Dev ssd = b.AddScsiDisk(AhciPort(b, 2),
                          Ata("Samsung SSD 860 EVO 500GB", "RVT04B6Q", "S3Z2NB0K123456A",
                              "5002538e40a1b2c3", 976773168ULL * 512, QueueSpec::SataSsd(), 0));
  b.SetPartitionTable(ssd, "gpt", "3e9b7c1d-5a2f-4d8e-b6c0-9f1a3e5d7b24");
  EfiAndRoot(b, ssd, 976773168ULL * 512, 512 * kMiB, "ext4", "sata-root");
}

ScsiHost Mpt3sas(TreeBuilder& b, const char* pci, const char* addr) {
  ScsiHostSpec h;
  h.kind = ScsiHostKind::kSas;
  h.pci_path = pci;
  h.sas_address = addr;
  h.board_name = "SAS9300-8i";
  return b.AddScsiHost(h);
}

ScsiDiskSpec Scsi(std::string vendor, std::string model, std::string rev, std::string serial,
                  std::string naa, std::string sas_address, uint64_t bytes, QueueSpec q) {
  ScsiDiskSpec d;
  d.vendor = std::move(vendor);
  d.model = std::move(model);
  d.rev = std::move(rev);
  d.serial = std::move(serial);
  d.naa = std::move(naa);
  d.sas_address = std::move(sas_address);
  d.size_bytes = bytes;
  d.queue = std::move(q);
  return d;
}

void Sas(TreeBuilder& b) {
  ScsiHost h = Mpt3sas(b, "pci0000:00/0000:00:03.0/0000:02:00.0", "0x500605b0000272b0");
  b.AddScsiDisk(h, Scsi("SEAGATE", "ST4000NM0023", "GS10", "Z1Z2ABCD0000R544ABCD",
                        "5000c500a1b2c3d4", "0x5000c500a1b2c3d5", 976754646ULL * 4096,
                        QueueSpec::SasHdd()));
  b.AddScsiDisk(h, Scsi("HGST", "HUSMM1680ASS204", "C360", "0QV1ABCD", "5000cca04e1a2b3c",
                        "0x5000cca04e1a2b3d", 1562824368ULL * 512, QueueSpec::SasSsd()));
}

void DmMultipath(TreeBuilder& b) {
  Dev boot = b.AddScsiDisk(AhciPort(b, 1),
                           Ata("INTEL SSDSC2KB480G8", "XCV10110", "PHYF812345AB480BGN",
                               "55cd2e414f1a2b3c", 937703088ULL * 512, QueueSpec::SataSsd(), 0));
  b.SetPartitionTable(boot, "gpt", "d4c2b1a0-9e8f-4d7c-b6a5-f4e3d2c1b0a9");
  EfiAndRoot(b, boot, 937703088ULL * 512, 512 * kMiB, "ext4", "dm-multipath-root");
  // One NetApp E-Series LUN behind two HBAs (controller A via host1, controller B via host2).
  ScsiHost a = Mpt3sas(b, "pci0000:00/0000:00:03.0/0000:02:00.0", "0x500605b0000272c0");
  ScsiHost c = Mpt3sas(b, "pci0000:80/0000:80:03.0/0000:81:00.0", "0x500605b0000273d0");
  QueueSpec q = QueueSpec::SasSsd();
  q.rotational = true;  // an array LUN says "rotational" unless the array tells otherwise
  q.add_random = false;
  q.discard_granularity = q.discard_max_bytes = q.discard_max_hw_bytes = 0;
  q.write_zeroes_max_bytes = 0;
  q.physical_block_size = q.minimum_io_size = 4096;
  q.optimal_io_size = 131072;
  const std::string naa = "600a098000a1b2c3000004d25e1f0a2b";
  const uint64_t bytes = 2 * 1024 * kGiB;
  Dev p1 = b.AddScsiDisk(a, Scsi("NETAPP", "INF-01-00", "0872", "721716000123", naa,
                                 "0x500a0981a1b2c301", bytes, q));
  Dev p2 = b.AddScsiDisk(c, Scsi("NETAPP", "INF-01-00", "0872", "721716000123", naa,
                                 "0x500a0981a1b2c305", bytes, q));
  DmSpec mp;
  mp.name = "mpatha";
  mp.uuid = "mpath-3" + naa;
  mp.slaves = {p1, p2};
  mp.request_based = true;
  Dev mpath = b.AddDm(mp);
  b.SetPartitionTable(mpath, "gpt", "9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a");
  DmSpec part;  // kpartx partition mapping on top of the multipath map
  part.name = "mpatha-part1";
  part.uuid = "part1-mpath-3" + naa;
  part.slaves = {mpath};
  part.size_bytes = bytes - 2 * kMiB;
  Dev pm = b.AddDm(part);
  b.SetFilesystem(pm, {"xfs", "2b4d6f8a-0c1e-4a3b-9d5f-7e9a1c3b5d7f", "archive", "", ""});
}

void MdRaid1(TreeBuilder& b) {
  const uint64_t sectors = 937703088ULL;
  std::vector<Dev> members;
  const char* serials[] = {"PHYF8123000A480BGN", "PHYF8123000B480BGN"};
  const char* naas[] = {"55cd2e414f1a0001", "55cd2e414f1a0002"};
  for (int i = 0; i < 2; ++i) {
    Dev d = b.AddScsiDisk(AhciPort(b, i + 1),
                          Ata("INTEL SSDSC2KB480G8", "XCV10110", serials[i], naas[i],
                              sectors * 512, QueueSpec::SataSsd(), 0));
    b.SetPartitionTable(d, "gpt", DeriveUuid(fmt::format("md-raid1-pt{}", i)));
    PartitionSpec p;
    p.size_sectors = ((sectors - 2048 - 34) / 2048) * 2048;
    p.name = "raid";
    p.type_guid = kRaidGuid;
    members.push_back(b.AddPartition(d, p));
  }
  MdSpec md;
  md.name = "md0";
  md.level = "raid1";
  md.members = members;
  md.uuid = "3a1b2c3d:4e5f6071:8293a4b5:c6d7e8f9";
  md.array_name = "node1:0";
  Dev m = b.AddMd(md);
  b.SetPartitionTable(m, "gpt", "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d");
  PartitionSpec boot;
  boot.size_sectors = 2 * kGiB / 512;
  boot.name = "boot";
  Dev mb = b.AddPartition(m, boot);
  b.SetFilesystem(mb, {"ext4", "6e5d4c3b-2a19-4807-b6f5-e4d3c2b1a098", "boot", "", ""});
  PartitionSpec root;
  root.size_sectors = 400 * kGiB / 512;
  root.name = "root";
  Dev mr = b.AddPartition(m, root);
  b.SetFilesystem(mr, {"ext4", "1f2e3d4c-5b6a-4978-8695-a4b3c2d1e0f9", "root", "", ""});
}

void Zoned(TreeBuilder& b) {
  // Host-managed SMR (ZBC, peripheral device type 0x14) on SAS.
  ScsiHost h = Mpt3sas(b, "pci0000:00/0000:00:03.0/0000:02:00.0", "0x500605b0000274e0");
  QueueSpec q = QueueSpec::SasHdd();
  q.zoned = "host-managed";
  q.chunk_sectors = 524288;  // 256 MiB zones
  q.nr_zones = 52156;
  q.max_open_zones = 128;
  q.max_active_zones = 0;
  q.zone_append_max_bytes = 1310720;
  q.zone_write_granularity = 4096;
  q.scheduler = "[mq-deadline] none";
  q.write_same_max_bytes = q.write_zeroes_max_bytes = 0;
  ScsiDiskSpec smr = Scsi("HGST", "HSH721414AL52M0", "A3A0", "9JGABCDE", "5000cca26f1a2b3c",
                          "0x5000cca26f1a2b3d", 52156ULL * 256 * kMiB, q);
  smr.scsi_type = 0x14;
  b.AddScsiDisk(h, smr);
  // Zoned namespace (NVMe ZNS, command set 2).
  NvmeSubsystemSpec ss;
  ss.nqn = "nqn.2018-01.com.wdc:nguid:E8238FA6BF53-0001-001B448B4A1B2C3D";
  ss.model = "WZS4C8T4TDSP303";
  ss.serial = "A0A1B2C3";
  ss.firmware_rev = "R2110003";
  ss.vendor_id = 0x1b96;
  auto sub = b.AddNvmeSubsystem(ss);
  NvmeControllerSpec c;
  c.pci_path = "pci0000:00/0000:00:1c.0/0000:04:00.0";
  b.AddNvmeController(sub, c);
  NvmeNamespaceSpec ns;
  ns.nsid = 1;
  ns.csi = 2;
  ns.nguid = "e8238fa6bf530001001b448b4a1b2c3d";
  ns.queue = QueueSpec::Nvme(4096);
  ns.queue.zoned = "host-managed";
  ns.queue.chunk_sectors = 4194304;  // 2 GiB zones
  ns.queue.nr_zones = 3688;
  ns.queue.max_open_zones = 14;
  ns.queue.max_active_zones = 14;
  ns.queue.zone_append_max_bytes = 131072;
  ns.queue.zone_write_granularity = 4096;
  ns.queue.scheduler = "[none] mq-deadline ";
  ns.queue.discard_granularity = 4096;
  ns.size_bytes = 3688ULL * 2 * kGiB;
  b.AddNvmeNamespace(sub, ns);
}

void VirtioVm(TreeBuilder& b) {
  // This repository's CI guest (Firecracker, kernel 6.18): loop0-7 unbound, vda without a udev
  // record (no udevd runs), zram0 not initialised. Created in the guest's diskseq order.
  for (int i = 0; i < 8; ++i) {
    LoopSpec l;
    l.udev = false;
    b.AddLoop(l);
  }
  VirtioBlkSpec v;
  v.pci_path = "pci0000:00/0000:00:02.0";
  v.virtio_index = 1;
  v.serial = "overlayblk";
  v.size_bytes = 536870912ULL * 512;
  v.udev = false;
  b.AddVirtioBlk(v);
  ZramSpec z;
  z.major = 253;
  z.udev = false;
  b.AddZram(z);
}

struct Scenario {
  const char* name;
  const char* description;
  void (*build)(TreeBuilder&);
};

const Scenario kScenarios[] = {
    {"nvme-single", "one PCIe NVMe SSD (Samsung PM9A3), namespace with EUI-64 + NGUID, GPT with "
                    "EFI and ext4 partitions", NvmeSingle},
    {"nvme-multi-ns", "one NVMe controller with 3 namespaces: EUI-64 only, NGUID only (4K LBA), "
                      "UUID+NGUID+EUI-64", NvmeMultiNs},
    {"nvme-multipath", "NVMe/TCP subsystem with two controllers and native multipath: head nvme0n1, "
                       "hidden paths nvme0c0n1 (optimized) and nvme0c1n1 (non-optimized)", NvmeMultipath},
    {"sata", "AHCI with a 4 TB HDD (rotational, 512e) and a SATA SSD with TRIM, both GPT",
     Sata},
    {"sas", "mpt3sas HBA (sas_host class) with a 4Kn SAS HDD and a SAS SSD, NAA in vpd_pg83",
     Sas},
    {"dm-multipath", "SATA boot disk sda + one NetApp LUN seen as sdb/sdc through two HBAs, "
                     "dm-0 mpatha (mpath-<wwid>) and a kpartx partition dm-1", DmMultipath},
    {"md-raid1", "two SATA SSDs, sda1+sdb1 members of md0 (raid1, 1.2), md0p1 and md0p2",
     MdRaid1},
    {"zoned", "host-managed SMR SAS disk (device/type 20) and an NVMe ZNS namespace", Zoned},
    {"virtio-vm", "the CI guest as it is: vda (virtio-blk, no udev record), loop0-7 unbound, "
                  "zram0 uninitialised", VirtioVm},
};

// splitmix64
uint64_t Mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

}  // namespace

std::vector<std::string> ScenarioNames() {
  std::vector<std::string> out;
  for (const auto& s : kScenarios) out.emplace_back(s.name);
  return out;
}

std::string ScenarioDescription(std::string_view name) {
  for (const auto& s : kScenarios)
    if (name == s.name) return s.description;
  return {};
}

bool BuildScenario(std::string_view name, TreeBuilder& builder, std::string* error) {
  for (const auto& s : kScenarios) {
    if (name == s.name) {
      s.build(builder);
      if (!builder.ok() && error) *error = builder.error();
      return builder.ok();
    }
  }
  if (error) *error = fmt::format("unknown scenario '{}'", name);
  return false;
}

void BuildSynthetic(const SyntheticSpec& spec, TreeBuilder& b) {
  // Round-robin NVMe (own PCIe controller and subsystem), SAS (mpt3sas HBAs of 256 targets),
  // SATA (AHCI controllers of 32 ports). Identifiers: base(seed) + i, so they never collide.
  const uint64_t base = Mix(spec.seed);
  std::vector<ScsiHost> sas_hbas;
  int nvme = 0, sas = 0, sata = 0;
  for (int i = 0; i < spec.disks && b.ok(); ++i) {
    Dev disk;
    uint64_t bytes = 0;
    uint64_t id = (base + static_cast<uint64_t>(i)) & 0xfffffffffULL;  // 36 bits
    switch (i % 3) {
      case 0: {
        int k = nvme++;
        NvmeSubsystemSpec ss;
        ss.serial = fmt::format("SYN{:09X}N", id);
        ss.model = "SAMSUNG MZQL21T9HCJR-00A07";
        ss.firmware_rev = "GDC5902Q";
        ss.nqn = fmt::format("nqn.1994-11.com.samsung:nvme:PM9A3:2.5-inch:{}", ss.serial);
        auto sub = b.AddNvmeSubsystem(ss);
        int dom = k / 254, idx = k % 254;
        NvmeControllerSpec c;
        c.pci_path = fmt::format("pci{0:04x}:00/{0:04x}:00:{1:02x}.{2}/{0:04x}:{3:02x}:00.0", dom,
                                 idx / 8, idx % 8, idx + 1);
        b.AddNvmeController(sub, c);
        NvmeNamespaceSpec ns;
        bytes = 3750748848ULL * 512;
        ns.size_bytes = bytes;
        ns.eui64 = fmt::format("002538{:010x}", id);
        ns.nguid = fmt::format("36344830{:012x}002538450001", id);
        disk = b.AddNvmeNamespace(sub, ns);
        break;
      }
      case 1: {
        int k = sas++;
        if (k % 256 == 0) {
          int j = k / 256;
          ScsiHostSpec h;
          h.kind = ScsiHostKind::kSas;
          h.pci_path = fmt::format("pci{0:04x}:00/{0:04x}:00:03.0/{0:04x}:01:00.0", 0x1000 + j);
          h.sas_address = fmt::format("0x500605b0{:08x}", 0x10000 + j * 0x100);
          sas_hbas.push_back(b.AddScsiHost(h));
        }
        bytes = 1953506646ULL * 4096;
        ScsiDiskSpec d = Scsi("SEAGATE", "ST8000NM001A", "E002", fmt::format("ZA{:09X}S", id),
                              fmt::format("5000c50{:09x}", id),
                              fmt::format("0x5000c51{:09x}", id), bytes, QueueSpec::SasHdd());
        disk = b.AddScsiDisk(sas_hbas.back(), d);
        break;
      }
      default: {
        int k = sata++;
        std::string pci = fmt::format("pci{0:04x}:00/{0:04x}:00:17.0", 0x2000 + k / 32);
        bytes = 1875385008ULL * 512;
        disk = b.AddScsiDisk(AhciPort(b, k % 32 + 1, pci.c_str()),
                             Ata("Samsung SSD 870 EVO 1TB", "SVT02B6Q",
                                 fmt::format("S6P{:09X}A", id), fmt::format("5002538{:09x}", id),
                                 bytes, QueueSpec::SataSsd(), 0));
        break;
      }
    }
    if (!disk.valid() || spec.partitions <= 0) continue;
    uint64_t usable = bytes / 512 - 2048 - 34;
    uint64_t each = (usable / spec.partitions / 2048) * 2048;
    for (int p = 0; p < spec.partitions; ++p) {
      PartitionSpec ps;
      ps.size_sectors = each;
      ps.name = fmt::format("part{}", p + 1);
      Dev part = b.AddPartition(disk, ps);
      b.SetFilesystem(part, {"xfs", DeriveUuid(fmt::format("syn:{}:{}:{}", spec.seed, i, p)), "",
                             "", ""});
    }
  }
}

}  // namespace diskinv::testing
