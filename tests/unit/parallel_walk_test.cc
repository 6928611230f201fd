// ParallelWalk: several Walkers, one per thread, must give exactly what one Walker gives: the
// same devices in the same order with the same statistics, on real generated trees (one
// RealSysfsReader per walker) and on in-memory trees with vanishing devices and failures.
#include "sysfs/parallel_walk.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "support/tree_builder.h"
#include "sysfs/fake_sysfs_reader.h"
#include "sysfs/real_sysfs_reader.h"

namespace diskinv {
namespace {

class TempTree {
 public:
  explicit TempTree(int disks) {
    std::error_code ec;
    std::filesystem::path base = std::filesystem::is_directory("/dev/shm", ec)
                                     ? std::filesystem::path("/dev/shm")
                                     : std::filesystem::temp_directory_path();
    std::string t = (base / "diskinv-pwalk.XXXXXX").string();
    if (!mkdtemp(t.data())) return;
    dir_ = t;
    testing::BuilderOptions opt;
    opt.threads = 1;
    testing::TreeBuilder b(opt);
    testing::BuildSynthetic({disks, 2, 7}, b);
    if (b.WriteTo(dir_ + "/tree")) root_ = dir_ + "/tree";
  }
  ~TempTree() {
    std::error_code ec;
    if (!dir_.empty()) std::filesystem::remove_all(dir_, ec);
  }
  const std::string& root() const { return root_; }

 private:
  std::string dir_, root_;
};

struct Walked {
  std::vector<BlockDevice> devices;
  ScanStats stats;
};

Walked WalkOnce(SysfsReader& reader, const WalkOptions& opt = {}) {
  Walked w;
  w.stats = Walker(reader, opt).Walk([&](BlockDevice&& d) { w.devices.push_back(std::move(d)); });
  return w;
}

Walked WalkParallel(const ReaderFactory& f, ParallelWalkOptions p, const WalkOptions& opt = {}) {
  Walked w;
  const auto caller = std::this_thread::get_id();
  auto st = ParallelWalk(f, opt, p, [&](BlockDevice&& d) {
    EXPECT_EQ(std::this_thread::get_id(), caller) << "the sink runs on the calling thread";
    w.devices.push_back(std::move(d));
  });
  EXPECT_TRUE(st.ok()) << st.status().message();
  if (st.ok()) w.stats = std::move(*st);
  return w;
}

void ExpectSameWalk(const Walked& want, const Walked& got, const std::string& what) {
  ASSERT_EQ(got.devices.size(), want.devices.size()) << what;
  for (size_t i = 0; i < want.devices.size(); ++i) {
    EXPECT_EQ(got.devices[i].kname, want.devices[i].kname) << what << " at " << i;
    EXPECT_TRUE(got.devices[i] == want.devices[i]) << what << ": " << want.devices[i].kname;
  }
  EXPECT_EQ(got.stats.devices, want.stats.devices) << what;
  EXPECT_EQ(got.stats.field_errors, want.stats.field_errors) << what;
  EXPECT_EQ(got.stats.vanished, want.stats.vanished) << what;
  EXPECT_EQ(got.stats.walk_errors, want.stats.walk_errors) << what;
  EXPECT_EQ(got.stats.messages, want.stats.messages) << what;
}

TEST(ParallelWalk, AGeneratedTreeGivesWhatOneWalkerGives) {
  // 37 disks: no block size below divides it, so the last block is short.
  TempTree tree(37);
  ASSERT_FALSE(tree.root().empty());
  auto one = RealSysfsReader::Open(tree.root());
  ASSERT_TRUE(one.ok());
  Walked want = WalkOnce(**one);
  ASSERT_EQ(want.devices.size(), 37u * 3);
  ASSERT_EQ(want.stats.field_errors, 0u);
  struct Shape {
    unsigned threads;
    size_t block, window;
  };
  for (Shape s : {Shape{2, 1, 0}, Shape{2, 8, 0}, Shape{3, 3, 0}, Shape{4, 2, 2}, Shape{5, 1, 1},
                  Shape{8, 5, 0}, Shape{64, 1, 0}, Shape{1, 8, 0}}) {
    std::string what = "threads " + std::to_string(s.threads) + ", block " +
                       std::to_string(s.block) + ", window " + std::to_string(s.window);
    ExpectSameWalk(want,
                   WalkParallel(RealSysfsReaders(tree.root()),
                                {.threads = s.threads, .block = s.block, .window = s.window}),
                   what);
  }
}

TEST(ParallelWalk, EveryWalkerReadsOnlyItsShareAndTheyAllRun) {
  TempTree tree(24);
  ASSERT_FALSE(tree.root().empty());
  // Counts the readers opened: one per walker, never more walkers than blocks.
  std::atomic<int> opened = 0;
  ReaderFactory real = RealSysfsReaders(tree.root());
  ReaderFactory counting = [&]() {
    ++opened;
    return real();
  };
  Walked w = WalkParallel(counting, {.threads = 3, .block = 4});
  EXPECT_EQ(opened, 3);
  EXPECT_EQ(w.devices.size(), 24u * 3);
  opened = 0;
  WalkParallel(counting, {.threads = 16, .block = 8});
  EXPECT_EQ(opened, 3) << "24 disks are 3 blocks of 8";
  opened = 0;
  WalkParallel(counting, {.threads = 1, .block = 8});
  EXPECT_EQ(opened, 1);
  opened = 0;
  w = WalkParallel(counting, {.threads = 8, .block = 2, .min_disks_per_thread = 10});
  EXPECT_EQ(opened, 2) << "24 disks, at least 10 per walker";
  EXPECT_EQ(w.devices.size(), 24u * 3);
  opened = 0;
  WalkParallel(counting, {.threads = 8, .block = 2, .min_disks_per_thread = 25});
  EXPECT_EQ(opened, 1);
}

// Counts what its reader reads: which walker walked what. With `meet`, its first read waits
// (5 s at most) until `meet_count` readers have made their first read: each walker thread then
// reads before any of them can take every block (on 2 CPUs, one could be scheduled late).
class CountingReader : public SysfsReader {
 public:
  CountingReader(std::unique_ptr<SysfsReader> r, std::atomic<int>* files,
                 std::atomic<int>* meet = nullptr, int meet_count = 0)
      : r_(std::move(r)), files_(files), meet_(meet), meet_count_(meet_count) {}
  Result<std::string> ReadFile(std::string_view path, size_t max_bytes) override {
    if (files_->fetch_add(1) == 0 && meet_) {
      ++*meet_;
      auto until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
      while (*meet_ < meet_count_ && std::chrono::steady_clock::now() < until) {
        std::this_thread::sleep_for(std::chrono::microseconds(100));
      }
    }
    return r_->ReadFile(path, max_bytes);
  }
  Result<std::string> ReadLink(std::string_view path) override { return r_->ReadLink(path); }
  Result<std::vector<DirEntry>> ListDir(std::string_view path) override {
    return r_->ListDir(path);
  }
  bool Exists(std::string_view path) override { return r_->Exists(path); }
  bool IsDir(std::string_view path) override { return r_->IsDir(path); }
  void DropCaches() override { r_->DropCaches(); }

 private:
  std::unique_ptr<SysfsReader> r_;
  std::atomic<int>* files_;
  std::atomic<int>* meet_;
  int meet_count_;
};

TEST(ParallelWalk, TheOtherThreadsWalkWhileTheSinkIsBusy) {
  TempTree tree(24);
  ASSERT_FALSE(tree.root().empty());
  // Files read by each reader, in the order the readers were opened (the first is the
  // calling thread's).
  std::atomic<int> files[3] = {0, 0, 0};
  std::atomic<int> opened = 0;
  std::atomic<int> walkers_reading = 0;  // the two walker threads meet at their first read
  ReaderFactory real = RealSysfsReaders(tree.root());
  ReaderFactory counting = [&]() -> Result<std::unique_ptr<SysfsReader>> {
    int i = opened++;
    auto r = real();
    if (!r.ok() || i >= 3) return r;
    return std::unique_ptr<SysfsReader>(std::make_unique<CountingReader>(
        std::move(*r), &files[i], i > 0 ? &walkers_reading : nullptr, 2));
  };
  // The sink holds the calling thread for 100 ms at the first device: the walkers, not the
  // calling thread, must walk (nearly) everything meanwhile.
  size_t sunk = 0;
  auto st = ParallelWalk(counting, {}, {.threads = 3, .block = 2}, [&](BlockDevice&&) {
    if (sunk++ == 0) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  });
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(sunk, 24u * 3);
  EXPECT_EQ(opened, 3);
  EXPECT_GT(files[1], 0) << "a walker thread read nothing";
  EXPECT_GT(files[2], 0) << "a walker thread read nothing";
  EXPECT_GT(files[1] + files[2], files[0]) << "the calling thread walked most of the disks";
}

// Two whole disks sda and sdb behind one AHCI host, each with a partition.
FakeSysfsReader TwoSataDisks() {
  FakeSysfsReader fs;
  for (int i = 0; i < 2; ++i) {
    std::string name = i == 0 ? "sda" : "sdb";
    std::string scsi = "pci0000:00/0000:00:1f.2/ata1/host0/target0:0:" + std::to_string(i) +
                       "/0:0:" + std::to_string(i) + ":0";
    std::string dir = "sys/devices/" + scsi + "/block/" + name;
    std::string maj = "8:" + std::to_string(16 * i);
    fs.AddSymlink("sys/block/" + name, "../devices/" + scsi + "/block/" + name);
    fs.AddFile(dir + "/dev", maj + "\n");
    fs.AddFile(dir + "/size", "2048\n");
    fs.AddFile(dir + "/ro", "0\n");
    fs.AddFile(dir + "/removable", "0\n");
    fs.AddFile(dir + "/queue/rotational", "1\n");
    fs.AddSymlink(dir + "/device", "../../../0:0:" + std::to_string(i) + ":0");
    fs.AddFile("sys/devices/" + scsi + "/vendor", "ATA     \n");
    fs.AddFile("sys/devices/" + scsi + "/type", "0\n");
    std::string part = dir + "/" + name + "1";
    fs.AddFile(part + "/dev", "8:" + std::to_string(16 * i + 1) + "\n");
    fs.AddFile(part + "/size", "1024\n");
    fs.AddFile(part + "/partition", "1\n");
    fs.AddFile(part + "/start", "2048\n");
    fs.AddSymlink("sys/class/block/" + name + "1",
                  "../../devices/" + scsi + "/block/" + name + "/" + name + "1");
  }
  return fs;
}

TEST(ParallelWalk, ADiskThatVanishesUnderAnotherWalkerIsCountedOnce) {
  // Each walker has its own reader, as each thread has its own RealSysfsReader: sdb vanishes in
  // whichever reader reads it.
  auto make = []() -> Result<std::unique_ptr<SysfsReader>> {
    auto fs = std::make_unique<FakeSysfsReader>(TwoSataDisks());
    FakeSysfsReader* raw = fs.get();
    raw->SetAccessHook([raw, gone = false](std::string_view path) mutable {
      if (!gone && path.find("/block/sdb/dev") != std::string_view::npos) {
        gone = true;
        raw->Remove("sys/devices/pci0000:00/0000:00:1f.2/ata1/host0/target0:0:1");
        raw->Remove("sys/block/sdb");
      }
    });
    return std::unique_ptr<SysfsReader>(std::move(fs));
  };
  auto single = make();
  ASSERT_TRUE(single.ok());
  Walked want = WalkOnce(**single);
  ASSERT_EQ(want.stats.vanished, 1u);
  ASSERT_EQ(want.devices.size(), 2u);  // sda, sda1
  ExpectSameWalk(want, WalkParallel(make, {.threads = 2, .block = 1}), "2 walkers");
}

TEST(ParallelWalk, AReaderThatCannotBeOpenedFailsBeforeAnythingIsSunk) {
  std::atomic<int> calls = 0;
  ReaderFactory second_fails = [&]() -> Result<std::unique_ptr<SysfsReader>> {
    if (++calls == 2) return Status(EMFILE, "cannot open sysroot /x: Too many open files");
    return std::unique_ptr<SysfsReader>(std::make_unique<FakeSysfsReader>(TwoSataDisks()));
  };
  int sunk = 0;
  auto st =
      ParallelWalk(second_fails, {}, {.threads = 2, .block = 1}, [&](BlockDevice&&) { ++sunk; });
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.status().code(), EMFILE);
  EXPECT_EQ(sunk, 0);
}

TEST(ParallelWalk, AnUnlistableRootIsAWalkErrorAsWithOneWalker) {
  ReaderFactory empty = []() -> Result<std::unique_ptr<SysfsReader>> {
    return std::unique_ptr<SysfsReader>(std::make_unique<FakeSysfsReader>());
  };
  auto st = ParallelWalk(empty, {}, {.threads = 4}, [](BlockDevice&&) { FAIL(); });
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->walk_errors, 1u);
  ASSERT_EQ(st->messages.size(), 1u);
  EXPECT_NE(st->messages[0].find("cannot list block devices"), std::string::npos);
  EXPECT_FALSE(st->complete());
}

TEST(ParallelWalk, ASinkThatThrowsStopsTheWalkersAndTheErrorReachesTheCaller) {
  TempTree tree(40);
  ASSERT_FALSE(tree.root().empty());
  int sunk = 0;
  auto run = [&] {
    // A window of one block: the walkers fill it at once and wait for the sink, which throws.
    (void)ParallelWalk(RealSysfsReaders(tree.root()), {}, {.threads = 4, .block = 2, .window = 2},
                       [&](BlockDevice&&) {
                         if (++sunk == 5) throw std::runtime_error("sink failed");
                       });
  };
  EXPECT_THROW(run(), std::runtime_error);  // and returns: no walker is left waiting
  EXPECT_EQ(sunk, 5);
}

TEST(ParallelWalk, AnExceptionOnAWalkerThreadReachesTheCaller) {
  // Whichever thread reads sdb throws (as on std::bad_alloc); none may be left waiting.
  for (int run = 0; run < 20; ++run) {
    auto make = []() -> Result<std::unique_ptr<SysfsReader>> {
      auto fs = std::make_unique<FakeSysfsReader>(TwoSataDisks());
      fs->SetAccessHook([](std::string_view path) {
        if (path.find("/block/sdb/dev") != std::string_view::npos) {
          throw std::runtime_error("walker failed");
        }
      });
      return std::unique_ptr<SysfsReader>(std::move(fs));
    };
    EXPECT_THROW((void)ParallelWalk(make, {}, {.threads = 2, .block = 1}, [](BlockDevice&&) {}),
                 std::runtime_error);
  }
}

TEST(AvailableCpus, IsTheAffinityMaskCapped) {
  unsigned n = AvailableCpus(1024);
  EXPECT_GE(n, 1u);
  EXPECT_LE(n, std::thread::hardware_concurrency());
  EXPECT_EQ(AvailableCpus(1), 1u);
  EXPECT_EQ(AvailableCpus(0), 1u);
}

}  // namespace
}  // namespace diskinv
