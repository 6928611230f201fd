// `diskinv monitor` as a user runs it: the real binary against real loop and zram events (and a
// real udevd for --udev), its whole output compared with what the test saw on its own sockets.
#include <fcntl.h>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "cli/output.h"
#include "common/json_writer.h"
#include "integration/uevent_test_support.h"
#include "support/loop_device.h"
#include "support/lsblk_compare.h"
#include "support/udevd.h"
#include "sysfs/real_sysfs_reader.h"
#include "sysfs/walker.h"
#include "uevent/netlink_socket.h"
#include "uevent/udev_monitor.h"

extern char** environ;

namespace diskinv {
namespace {

using Clock = std::chrono::steady_clock;
using Json = nlohmann::ordered_json;
using std::chrono::milliseconds;
using testing::LoopDevice;
using testing::ReadSys;
using testing::WriteSys;

// A running `diskinv monitor ...` with its stdout and stderr on pipes, read by a thread (a
// monitor blocked on a full pipe would stop reading its socket).
class Monitor {
 public:
  static std::unique_ptr<Monitor> Start(std::vector<std::string> args,
                                        std::vector<std::string> prefix = {}) {
    auto m = std::unique_ptr<Monitor>(new Monitor());
    int out[2], err[2];
    if (pipe2(out, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0) return nullptr;
    std::vector<std::string> argv = prefix;
    argv.push_back(testing::DiskinvBinary());
    argv.push_back("monitor");
    for (auto& a : args) argv.push_back(std::move(a));
    std::vector<char*> cargv;
    for (auto& a : argv) cargv.push_back(a.data());
    cargv.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    posix_spawn_file_actions_adddup2(&fa, err[1], 2);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addclosefrom_np(&fa, 3);  // nothing inherited but stdio
    int r = posix_spawnp(&m->pid_, cargv[0], &fa, nullptr, cargv.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    close(out[1]);
    close(err[1]);
    if (r != 0) {
      close(out[0]);
      close(err[0]);
      m->pid_ = 0;
      return nullptr;
    }
    m->reader_ = std::thread([m = m.get(), o = out[0], e = err[0]] { m->Read(o, e); });
    return m;
  }
  ~Monitor() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    if (reader_.joinable()) reader_.join();
  }

  // Waits until a line not yet scanned satisfies `want` (true) or the timeout (false).
  bool WaitForLine(const std::function<bool(const std::string&)>& want,
                   milliseconds timeout = milliseconds(5000)) {
    std::unique_lock lock(mu_);
    auto deadline = Clock::now() + timeout;
    for (;;) {
      for (; scanned_ < lines_.size(); ++scanned_) {
        if (want(lines_[scanned_])) {
          ++scanned_;
          return true;
        }
      }
      if (eof_ || cv_.wait_until(lock, deadline) == std::cv_status::timeout) return false;
    }
  }

  // Sends `sig` (0: none), waits for the exit and the end of the output; returns the exit
  // status (-1: killed by a signal).
  int Stop(int sig = SIGTERM) {
    if (sig) kill(pid_, sig);
    int st = 0;
    waitpid(pid_, &st, 0);
    pid_ = 0;
    reader_.join();
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  }

  std::vector<std::string> lines() const {
    std::lock_guard lock(mu_);
    return lines_;
  }
  std::string out() const {
    std::lock_guard lock(mu_);
    std::string s;
    for (const auto& l : lines_) s += l + "\n";
    return s + partial_;
  }
  std::string err() const {
    std::lock_guard lock(mu_);
    return err_;
  }
  pid_t pid() const { return pid_; }

 private:
  Monitor() = default;
  void Read(int out_fd, int err_fd) {
    pollfd p[2] = {{out_fd, POLLIN, 0}, {err_fd, POLLIN, 0}};
    char buf[65536];
    while (p[0].fd >= 0 || p[1].fd >= 0) {
      if (poll(p, 2, -1) < 0) break;
      for (int i = 0; i < 2; ++i) {
        if (p[i].fd < 0 || !(p[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
        ssize_t n = read(p[i].fd, buf, sizeof buf);
        std::lock_guard lock(mu_);
        if (n <= 0) {
          close(p[i].fd);
          p[i].fd = -1;
        } else if (i == 1) {
          err_.append(buf, n);
        } else {
          partial_.append(buf, n);
          size_t nl;
          while ((nl = partial_.find('\n')) != std::string::npos) {
            lines_.push_back(partial_.substr(0, nl));
            partial_.erase(0, nl + 1);
          }
        }
      }
      cv_.notify_all();
    }
    std::lock_guard lock(mu_);
    eof_ = true;
    cv_.notify_all();
  }

  pid_t pid_ = 0;
  std::thread reader_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::string> lines_;
  size_t scanned_ = 0;
  std::string partial_, err_;
  bool eof_ = false;
};

// Runs `diskinv ARGS` to the end; returns {exit status, stdout, stderr}.
struct Ran {
  int status;
  std::string out, err;
};
Ran RunMonitor(std::vector<std::string> args, std::vector<std::string> prefix = {}) {
  std::unique_ptr<Monitor> m = Monitor::Start(std::move(args), std::move(prefix));
  if (!m) return {-1, "", "spawn failed"};
  int st = m->Stop(0);
  return {st, m->out(), m->err()};
}

// Everything the reference socket has now, waiting until `want` events of `devpath` arrived
// and then `quiet` longer.
std::vector<Uevent> Gather(UeventSource& src, const std::function<bool(const Uevent&)>& keep,
                           size_t want, milliseconds quiet = milliseconds(200)) {
  std::vector<Uevent> got;
  auto deadline = Clock::now() + milliseconds(5000);
  bool reached = false;
  while (Clock::now() < deadline) {
    pollfd p{src.fd(), POLLIN, 0};
    poll(&p, 1, 20);
    Result<std::vector<SourceEvent>> r = src.Receive();
    if (!r.ok()) break;
    for (SourceEvent& e : *r) {
      if (auto* u = std::get_if<Uevent>(&e); u && keep(*u)) got.push_back(std::move(*u));
    }
    if (!reached && got.size() >= want) {
      reached = true;
      deadline = Clock::now() + quiet;
    }
  }
  return got;
}

bool UdevdRuns() {
  return testing::RunProgram({"udevadm", "control", "--ping", "--timeout=1"}).ok();
}

// The text block `diskinv monitor` prints for one event: written out here independently.
std::string TextEvent(const std::string& source, const Uevent& e) {
  std::string s =
      fmt::format("{} {} {} subsystem={}", source, ToString(e.action), e.devpath, e.subsystem);
  if (!e.devtype.empty()) s += " devtype=" + e.devtype;
  if (!e.devname.empty()) s += " devname=" + e.devname;
  if (e.major) s += fmt::format(" dev={}:{}", *e.major, *e.minor);
  if (e.diskseq) s += fmt::format(" diskseq={}", *e.diskseq);
  s += fmt::format(" seqnum={}\n", e.seqnum);
  for (const UeventProperty& p : e.properties) s += fmt::format("  {}={}\n", p.key, p.value);
  return s;
}

Json JsonEvent(const std::string& source, const Uevent& e) {
  auto opt_str = [](const std::string& v) { return v.empty() ? Json(nullptr) : Json(v); };
  auto opt_num = [](const auto& v) { return v ? Json(*v) : Json(nullptr); };
  Json props = Json::object();
  for (const UeventProperty& p : e.properties) props[p.key] = p.value;
  return Json{{"type", "event"},
              {"source", source},
              {"action", std::string(ToString(e.action))},
              {"devpath", e.devpath},
              {"devpath_old", opt_str(e.devpath_old)},
              {"subsystem", e.subsystem},
              {"devtype", opt_str(e.devtype)},
              {"devname", opt_str(e.devname)},
              {"major", opt_num(e.major)},
              {"minor", opt_num(e.minor)},
              {"diskseq", opt_num(e.diskseq)},
              {"seqnum", e.seqnum},
              {"synth_uuid", e.synth_uuid ? Json(*e.synth_uuid) : Json(nullptr)},
              {"properties", props}};
}

// libudev builds TAGS and CURRENT_TAGS from a hash set, in an order that differs per process.
Json SortTags(Json event) {
  for (const char* key : {"TAGS", "CURRENT_TAGS"}) {
    if (!event["properties"].contains(key)) continue;
    std::string v = event["properties"][key];
    std::vector<std::string> tags;
    std::stringstream ss(v);
    for (std::string t; std::getline(ss, t, ':');) {
      if (!t.empty()) tags.push_back(t);
    }
    std::sort(tags.begin(), tags.end());
    event["properties"][key] = fmt::format(":{}:", fmt::join(tags, ":"));
  }
  return event;
}

// The device as the walker sees it now, in the JSON of `diskinv scan --json`.
Json ProbeJson(const std::string& kname, bool udev_db) {
  auto reader = RealSysfsReader::Open("/");
  EXPECT_TRUE(reader.ok());
  Walker w(**reader, {.all = false, .udev = udev_db});
  Result<BlockDevice> d = w.Probe(kname);
  EXPECT_TRUE(d.ok()) << kname << ": " << d.status().message();
  if (!d.ok()) return nullptr;
  JsonWriter jw;
  WriteDeviceJson(jw, *d, {});
  return Json::parse(jw.str());
}

Json Inventory(uint64_t seqnum, size_t devices, Json added, Json removed, Json changed) {
  return Json{{"type", "inventory"}, {"source", "kernel"}, {"seqnum", seqnum},
              {"resync", nullptr},   {"devices", devices}, {"added", added},
              {"removed", removed},  {"changed", changed}};
}

class MonitorCommand : public ::testing::Test {
 protected:
  void SetUp() override {
    DISKINV_REQUIRE_FACILITY(geteuid() == 0, "needs root (uevent files, loop ioctls, zram)");
    DISKINV_REQUIRE_FACILITY(access("/dev/loop-control", F_OK) == 0, "no /dev/loop-control");
    DISKINV_REQUIRE_FACILITY(access("/sys/class/zram-control/hot_add", F_OK) == 0,
                             "no zram-control (modprobe zram)");
  }
};

TEST_F(MonitorCommand, TextShowsEveryLoopAndZramEventExactlyAndStopsOnSigint) {
  Result<std::unique_ptr<NetlinkSocket>> ref = NetlinkSocket::Open();  // every subsystem
  ASSERT_TRUE(ref.ok());
  std::unique_ptr<Monitor> mon = Monitor::Start({});
  ASSERT_TRUE(mon);
  ASSERT_TRUE(mon->WaitForLine([](const std::string& l) { return l == "listening: kernel"; }))
      << mon->out() << mon->err();
  Gather(
      **ref, [](const Uevent&) { return true; }, 0, milliseconds(50));  // before: not ours

  Result<LoopDevice> loop = LoopDevice::Attach(4 << 20);
  ASSERT_TRUE(loop.ok()) << loop.status().message();
  ASSERT_TRUE(loop->Resize(8 << 20).ok());
  const std::string uuid = "3f0e5a4c-1b2d-4e6f-8a9b-0c1d2e3f4a5b";
  ASSERT_TRUE(
      WriteSys("/sys/block/" + loop->name() + "/uevent", "change " + uuid + " DISKINV=selftest"));
  ASSERT_TRUE(loop->Detach().ok());
  std::string zram = ReadSys("/sys/class/zram-control/hot_add");
  ASSERT_TRUE(WriteSys("/sys/class/zram-control/hot_remove", zram));
  std::vector<Uevent> all = Gather(
      **ref, [](const Uevent&) { return true; }, 0, milliseconds(300));
  std::vector<Uevent> block;
  for (const Uevent& e : all) {
    if (e.subsystem == "block") block.push_back(e);
  }
  // attach, resize, synthetic change, detach (2), zram add and remove: at least these.
  ASSERT_GE(block.size(), 7u);
  ASSERT_TRUE(mon->WaitForLine([&](const std::string& l) {
    return l.find(fmt::format(" seqnum={}", block.back().seqnum)) != std::string::npos;
  })) << mon->out();
  ASSERT_EQ(mon->Stop(SIGINT), 0) << mon->err();

  std::string want = "listening: kernel\n";
  for (const Uevent& e : block) want += TextEvent("kernel", e);
  want += fmt::format(
      "stats: kernel: datagrams={} accepted={} filtered={} rejected=0 overflows=0 "
      "seqnum_gaps=0 tail_losses=0 lost=0 resyncs=0\n",
      all.size(), block.size(), all.size() - block.size());
  EXPECT_EQ(mon->out(), want);
  EXPECT_EQ(mon->err(), "");
  // The synthetic change carries our uuid and tag, parsed.
  EXPECT_NE(mon->out().find("  SYNTH_UUID=" + uuid + "\n  SYNTH_ARG_DISKINV=selftest\n"),
            std::string::npos);
}

TEST_F(MonitorCommand, JsonInventoryShowsWhatEachEventChanged) {
  // With a udevd running, the udev database changes behind our back while it works through
  // each event; the inventory comparison is exact only without it.
  bool udev_db = !UdevdRuns();
  Result<std::unique_ptr<NetlinkSocket>> ref = NetlinkSocket::Open({.subsystems = {"block"}});
  ASSERT_TRUE(ref.ok());
  std::vector<std::string> args = {"--json", "--inventory"};
  if (!udev_db) args.push_back("--no-udev");
  std::unique_ptr<Monitor> mon = Monitor::Start(args);
  ASSERT_TRUE(mon);
  ASSERT_TRUE(mon->WaitForLine([](const std::string& l) { return l.find("listening") != l.npos; }))
      << mon->out() << mon->err();
  Json listening = Json::parse(mon->lines()[0]);
  ASSERT_EQ(listening["sources"], Json::array({"kernel"}));
  size_t devices = listening["inventory_devices"];
  Gather(
      **ref, [](const Uevent&) { return true; }, 0, milliseconds(50));

  // Each step, then what the monitor must print for it: the event and the inventory change.
  std::vector<Json> want = {listening};
  size_t step_start = 1;
  auto step = [&](size_t events, const std::string& devpath,
                  const std::vector<std::function<Json(uint64_t)>>& changes) {
    std::vector<Uevent> got = Gather(
        **ref, [&](const Uevent& e) { return e.devpath == devpath; }, events);
    ASSERT_EQ(got.size(), events);
    for (size_t i = 0; i < events; ++i) {
      want.push_back(JsonEvent("kernel", got[i]));
      want.push_back(changes[i](got[i].seqnum));
    }
    ASSERT_TRUE(mon->WaitForLine([&](const std::string& l) {
      return l.find(fmt::format("\"type\":\"inventory\",\"source\":\"kernel\",\"seqnum\":{},",
                                got.back().seqnum)) != std::string::npos;
    })) << mon->out();
    std::vector<std::string> lines = mon->lines();
    ASSERT_EQ(lines.size(), want.size()) << mon->out();
    for (size_t i = step_start; i < lines.size(); ++i) {
      EXPECT_EQ(Json::parse(lines[i]), want[i]) << "line " << i;
    }
    step_start = lines.size();
  };

  Result<LoopDevice> loop = LoopDevice::Attach(4 << 20);
  ASSERT_TRUE(loop.ok()) << loop.status().message();
  const std::string name = loop->name();
  Json dev = ProbeJson(name, udev_db);
  step(1, loop->devpath(), {[&](uint64_t s) {
         return Inventory(s, ++devices, Json::array({dev}), Json::array(), Json::array());
       }});
  EXPECT_EQ(dev["size"], 4 << 20);
  ASSERT_TRUE(loop->Resize(8 << 20).ok());
  step(1, loop->devpath(), {[&](uint64_t s) {
         Json size = {{"field", "size"}, {"before", 4 << 20}, {"after", 8 << 20}};
         return Inventory(s, devices, Json::array(), Json::array(),
                          Json::array({{{"kname", name}, {"fields", Json::array({size})}}}));
       }});
  // A synthetic change with our uuid: the device did not change.
  ASSERT_TRUE(WriteSys("/sys/block/" + name + "/uevent",
                       "change 5e0d9a3c-7f1b-4c2d-9e8f-0a1b2c3d4e5f DISKINV=selftest"));
  step(1, loop->devpath(), {[&](uint64_t s) {
         return Inventory(s, devices, Json::array(), Json::array(), Json::array());
       }});
  EXPECT_EQ(Json::parse(mon->lines()[mon->lines().size() - 2])["synth_uuid"],
            "5e0d9a3c-7f1b-4c2d-9e8f-0a1b2c3d4e5f");
  // Detach: a change (the loop device is empty now: no longer listed), then the media change.
  ASSERT_TRUE(loop->Detach().ok());
  step(2, loop->devpath(),
       {[&](uint64_t s) {
          return Inventory(s, --devices, Json::array(), Json::array({name}), Json::array());
        },
        [&](uint64_t s) {
          return Inventory(s, devices, Json::array(), Json::array(), Json::array());
        }});
  std::string zram = "zram" + ReadSys("/sys/class/zram-control/hot_add");
  Json zdev = ProbeJson(zram, udev_db);
  step(1, "/devices/virtual/block/" + zram, {[&](uint64_t s) {
         return Inventory(s, ++devices, Json::array({zdev}), Json::array(), Json::array());
       }});
  ASSERT_TRUE(WriteSys("/sys/class/zram-control/hot_remove", zram.substr(4)));
  step(1, "/devices/virtual/block/" + zram, {[&](uint64_t s) {
         return Inventory(s, --devices, Json::array(), Json::array({zram}), Json::array());
       }});

  ASSERT_EQ(mon->Stop(SIGTERM), 0) << mon->err();
  ASSERT_EQ(mon->lines().size(), want.size() + 1) << mon->out();
  Json stats = Json::parse(mon->lines().back());
  EXPECT_EQ(stats["type"], "stats");
  EXPECT_EQ(stats["sources"]["kernel"]["accepted"], 7);
  EXPECT_EQ(stats["sources"]["kernel"]["resyncs"], 0);
  EXPECT_EQ(stats["inventory"], (Json{{"devices", devices},
                                      {"events", 7},
                                      {"probes", 6},
                                      {"full_walks", 1},
                                      {"unchanged", 2}}));
}

TEST_F(MonitorCommand, UdevSourceShowsEventsAfterUdevWithItsProperties) {
  Result<std::unique_ptr<testing::Udevd>> udevd = testing::Udevd::Ensure();
  DISKINV_REQUIRE_FACILITY(udevd.ok(), "no udevd: " + udevd.status().message());
  Result<std::unique_ptr<UdevMonitor>> ref = UdevMonitor::Open();
  ASSERT_TRUE(ref.ok());
  std::unique_ptr<Monitor> mon = Monitor::Start({"--udev", "--json", "--count", "3"});
  ASSERT_TRUE(mon);
  ASSERT_TRUE(mon->WaitForLine([](const std::string& l) { return l.find("listening") != l.npos; }))
      << mon->err();
  Gather(
      **ref, [](const Uevent&) { return true; }, 0, milliseconds(50));
  Result<LoopDevice> loop = LoopDevice::Attach(1 << 20);
  ASSERT_TRUE(loop.ok());
  ASSERT_TRUE(loop->Detach().ok());
  std::vector<Uevent> got = Gather(
      **ref, [&](const Uevent& e) { return e.devpath == loop->devpath(); }, 3);
  ASSERT_EQ(mon->Stop(0), 0) << mon->err();  // --count 3: exits by itself
  ASSERT_EQ(got.size(), 3u);
  ASSERT_EQ(mon->lines().size(), 5u) << mon->out();
  EXPECT_EQ(Json::parse(mon->lines()[0]),
            (Json{{"type", "listening"}, {"sources", Json::array({"udev"})}}));
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(SortTags(Json::parse(mon->lines()[i + 1])), SortTags(JsonEvent("udev", got[i])));
  }
  Json first = Json::parse(mon->lines()[1]);
  EXPECT_EQ(first["devname"], "/dev/" + loop->name());
  EXPECT_TRUE(first["properties"].contains("USEC_INITIALIZED"));
  EXPECT_EQ(Json::parse(mon->lines()[4])["sources"]["udev"]["accepted"], 3);
  EXPECT_TRUE((*udevd)->Settle().ok());
}

TEST_F(MonitorCommand, SelftestRoundTripAndItsErrors) {
  Result<LoopDevice> loop = LoopDevice::Attach(1 << 20);
  ASSERT_TRUE(loop.ok());
  Ran ok = RunMonitor({"--selftest", "--device", loop->name()});
  ASSERT_EQ(ok.status, 0) << ok.err;
  // Last line: "selftest passed: loopN SYNTH_UUID=<36> round trip: kernel <digits> us".
  std::string pass = ok.out.substr(ok.out.rfind('\n', ok.out.size() - 2) + 1);
  const std::string head = fmt::format("selftest passed: {} SYNTH_UUID=", loop->name());
  ASSERT_EQ(pass.rfind(head, 0), 0u) << ok.out;
  std::string uuid = pass.substr(head.size(), 36);
  std::string trip = pass.substr(head.size() + 36);
  ASSERT_EQ(trip.rfind(" round trip: kernel ", 0), 0u) << pass;
  ASSERT_GE(trip.size(), 25u);
  EXPECT_EQ(trip.substr(trip.size() - 4), " us\n") << pass;
  std::string digits = trip.substr(20, trip.size() - 24);
  EXPECT_TRUE(!digits.empty() && std::all_of(digits.begin(), digits.end(), ::isdigit)) << pass;
  // The event itself was printed on the way, parsed.
  EXPECT_NE(ok.out.find(fmt::format("  SYNTH_UUID={}\n  SYNTH_ARG_DISKINV=selftest\n", uuid)),
            std::string::npos)
      << ok.out;

  Ran json = RunMonitor({"--selftest", "--json", "--device", loop->name()});
  ASSERT_EQ(json.status, 0) << json.err;
  std::string last = json.out.substr(json.out.rfind('\n', json.out.size() - 2) + 1);
  Json r = Json::parse(last);
  EXPECT_EQ(r["type"], "selftest");
  EXPECT_EQ(r["device"], loop->name());
  EXPECT_TRUE(r["round_trip_us"]["kernel"].is_number_unsigned());

  Ran missing = RunMonitor({"--selftest", "--device", "nosuchdisk"});
  EXPECT_EQ(missing.status, 1);
  EXPECT_EQ(missing.err,
            "diskinv monitor: self-check: no block device \"nosuchdisk\" "
            "(/sys/class/block/nosuchdisk/uevent): No such file or directory\n");
  // Not root: the kernel socket works, the write into the uevent file does not.
  Ran nobody = RunMonitor({"--selftest", "--device", loop->name()},
                          {"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"});
  EXPECT_EQ(nobody.status, 1) << nobody.out;
  EXPECT_NE(nobody.err.find(fmt::format("diskinv monitor: self-check: cannot open "
                                        "/sys/class/block/{}/uevent for writing (needs root): "
                                        "Permission denied\n",
                                        loop->name())),
            std::string::npos)
      << nobody.err;
}

TEST_F(MonitorCommand, OverflowIsPrintedAsResyncAndTheWalkCatchesUp) {
  bool udev_db = !UdevdRuns();
  Result<LoopDevice> loop = LoopDevice::Attach(1 << 20);
  ASSERT_TRUE(loop.ok());
  std::vector<std::string> args = {"--json", "--inventory", "--receive-buffer", "4096"};
  if (!udev_db) args.push_back("--no-udev");
  std::unique_ptr<Monitor> mon = Monitor::Start(args);
  ASSERT_TRUE(mon);
  ASSERT_TRUE(mon->WaitForLine([](const std::string& l) { return l.find("listening") != l.npos; }))
      << mon->err();
  Result<std::unique_ptr<NetlinkSocket>> ref = NetlinkSocket::Open({.subsystems = {"block"}});
  ASSERT_TRUE(ref.ok());
  // A burst while the monitor is stopped (SIGSTOP), ending with a real change: the 8 KiB queue
  // holds a handful of events, the rest is dropped, the resize at the tail with it.
  ASSERT_EQ(kill(mon->pid(), SIGSTOP), 0);
  const std::string uevent = "/sys/block/" + loop->name() + "/uevent";
  for (int i = 0; i < 300; ++i) ASSERT_TRUE(WriteSys(uevent, "change"));
  ASSERT_TRUE(loop->Resize(2 << 20).ok());
  std::vector<Uevent> sent = Gather(
      **ref, [&](const Uevent& e) { return e.devpath == loop->devpath(); }, 301);
  ASSERT_EQ(sent.size(), 301u);
  ASSERT_EQ(kill(mon->pid(), SIGCONT), 0);
  // The monitor drains, resyncs (a walk) and goes quiet.
  ASSERT_TRUE(mon->WaitForLine([](const std::string& l) {
    return l.find("\"type\":\"inventory\"") != l.npos && l.find("\"resync\":\"") != l.npos;
  })) << mon->out();
  std::this_thread::sleep_for(milliseconds(300));
  ASSERT_EQ(mon->Stop(SIGTERM), 0) << mon->err();
  std::vector<Json> lines;
  for (const std::string& l : mon->lines()) lines.push_back(Json::parse(l));
  ASSERT_GE(lines.size(), 2u);
  Json stats = lines.back();
  size_t events = 0, resyncs = 0, walks = 0;
  bool size_seen = false;
  for (const Json& j : lines) {
    if (j["type"] == "event") ++events;
    if (j["type"] == "resync") {
      ++resyncs;
      EXPECT_TRUE(j["reason"] == "overflow" || j["reason"] == "tail_loss") << j;
    }
    if (j["type"] == "inventory" && !j["resync"].is_null()) ++walks;
    if (j["type"] == "inventory") {
      for (const Json& c : j["changed"]) {
        for (const Json& f : c["fields"]) {
          if (c["kname"] == loop->name() && f["field"] == "size" && f["after"] == 2 << 20) {
            size_seen = true;
          }
        }
      }
    }
  }
  EXPECT_LT(events, 301u) << "the small buffer was expected to overflow";
  EXPECT_GE(resyncs, 1u);
  EXPECT_EQ(walks, resyncs);
  EXPECT_TRUE(size_seen) << "the resize reached the inventory (by its event or a walk)";
  const Json& k = stats["sources"]["kernel"];
  EXPECT_EQ(k["resyncs"], resyncs);
  EXPECT_EQ(k["accepted"], events);
  EXPECT_EQ(k["lost"].get<uint64_t>() + events, 301u) << k;
  EXPECT_EQ(stats["inventory"]["full_walks"], walks + 1);
  std::printf("[ info ] burst of 301 into a 4 KiB buffer: %zu printed, %zu resyncs, lost %lu\n",
              events, resyncs, k["lost"].get<uint64_t>());
}

TEST_F(MonitorCommand, HelpUsageAndSocketErrors) {
  Ran help = RunMonitor({"--help"});
  EXPECT_EQ(help.status, 0);
  EXPECT_EQ(help.out.rfind("Usage: diskinv monitor [--kernel|--udev|--both] [--json] "
                           "[--inventory] [--selftest]",
                           0),
            0u);
  EXPECT_NE(help.out.find("Exit status:"), std::string::npos);
  struct Bad {
    std::vector<std::string> args;
    std::string message;
  };
  for (const Bad& b : std::vector<Bad>{
           {{"--kernel", "--udev"}, "--kernel, --udev and --both exclude each other"},
           {{"--count", "0"}, "--count wants a positive number"},
           {{"--receive-buffer", "10"},
            "--receive-buffer: --receive-buffer 10 is out of range "
            "(4096..1073741824)"},
           {{"--selftest", "--inventory"},
            "--selftest cannot be combined with --inventory or --count"},
           {{"--tag", "diskinv"}, "--tag filters the udev source: add --udev or --both"},
           {{"--frobnicate"}, "unknown argument '--frobnicate'"}}) {
    Ran r = RunMonitor(b.args);
    EXPECT_EQ(r.status, 2) << b.message;
    EXPECT_EQ(r.err, "diskinv monitor: " + b.message +
                         "\nTry 'diskinv monitor --help' for more information.\n");
  }
  // No file descriptor left for the socket: a clear error, exit 1.
  Ran nofd = RunMonitor({}, {"prlimit", "--nofile=4", "--"});
  EXPECT_EQ(nofd.status, 1) << nofd.out;
  EXPECT_EQ(nofd.err,
            "diskinv monitor: cannot listen to kernel uevents: socket(AF_NETLINK, "
            "NETLINK_KOBJECT_UEVENT): Too many open files\n");
}

}  // namespace
}  // namespace diskinv
