// The uevent parsers over fixtures/uevent: datagrams captured from this kernel and udevd
// (kernel/, udev/), and malformed ones (malformed/{kernel,udev}/<reason>--<what>.bin, made by
// fixtures/uevent/make_malformed.py) that must be rejected with exactly <reason>.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "uevent/uevent.h"

namespace diskinv {
namespace {

namespace fs = std::filesystem;

fs::path FixtureDir() {
  if (const char* src = std::getenv("DISKINV_SOURCE_DIR")) return fs::path(src) / "fixtures/uevent";
  return fs::path(__FILE__).parent_path().parent_path().parent_path() / "fixtures/uevent";
}

std::string ReadFile(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::vector<fs::path> Files(const fs::path& dir) {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.path().extension() == ".bin") out.push_back(e.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

Uevent MustParse(UeventOrigin origin, const std::string& name) {
  std::string dir = origin == UeventOrigin::kKernel ? "kernel" : "udev";
  std::string d = ReadFile(FixtureDir() / dir / name);
  Result<Uevent> ev =
      origin == UeventOrigin::kKernel ? ParseKernelUevent(d) : ParseUdevMonitorMessage(d);
  EXPECT_TRUE(ev.ok()) << name << ": " << ev.status().message();
  return ev.ok() ? *ev : Uevent{};
}

TEST(UeventParser, EveryCapturedDatagramParsesAndFormatsBackByteExact) {
  for (const char* dir : {"kernel", "udev"}) {
    std::vector<fs::path> files = Files(FixtureDir() / dir);
    ASSERT_GE(files.size(), 10u) << dir;
    for (const fs::path& p : files) {
      std::string d = ReadFile(p);
      bool udev = std::string(dir) == "udev";
      UeventReject why = UeventReject::kTruncated;
      Result<Uevent> ev = udev ? ParseUdevMonitorMessage(d, &why) : ParseKernelUevent(d, &why);
      ASSERT_TRUE(ev.ok()) << p << ": " << ev.status().message();
      EXPECT_EQ(why, UeventReject::kNone);
      EXPECT_EQ(ev->origin, udev ? UeventOrigin::kUdev : UeventOrigin::kKernel);
      EXPECT_EQ(udev ? FormatUdevMonitorMessage(*ev) : FormatKernelUevent(*ev), d) << p;
      // Same event, other framing: the udev parser must not accept a kernel datagram etc.
      EXPECT_FALSE((udev ? ParseKernelUevent(d) : ParseUdevMonitorMessage(d)).ok()) << p;
    }
  }
}

TEST(UeventParser, KernelLoopAttach) {
  Uevent ev = MustParse(UeventOrigin::kKernel, "loop-attach-change.bin");
  EXPECT_EQ(ev.action, UeventAction::kChange);
  EXPECT_EQ(ev.devpath, "/devices/virtual/block/loop0");
  EXPECT_EQ(ev.subsystem, "block");
  EXPECT_EQ(ev.devtype, "disk");
  EXPECT_EQ(ev.devname, "loop0");
  EXPECT_EQ(ev.major, 7u);
  EXPECT_EQ(ev.minor, 0u);
  EXPECT_EQ(ev.diskseq, 23u);
  EXPECT_EQ(ev.seqnum, 869u);
  EXPECT_FALSE(ev.synth_uuid);
  std::vector<std::string> keys;
  for (const auto& p : ev.properties) keys.push_back(p.key);
  EXPECT_EQ(keys, (std::vector<std::string>{"ACTION", "DEVPATH", "SUBSYSTEM", "MAJOR", "MINOR",
                                            "DEVNAME", "DEVTYPE", "DISKSEQ", "SEQNUM"}));
}

TEST(UeventParser, KernelSyntheticEventsCarrySynthUuidAndArgs) {
  Uevent plain = MustParse(UeventOrigin::kKernel, "loop-change-synth-default.bin");
  EXPECT_EQ(plain.synth_uuid, "0");
  Uevent tagged = MustParse(UeventOrigin::kKernel, "loop-change-synth-uuid-arg.bin");
  EXPECT_EQ(tagged.synth_uuid, "3f1c9d2e-7b4a-4c1e-9f00-0123456789ab");
  ASSERT_NE(tagged.Find("SYNTH_ARG_DISKINV"), nullptr);
  EXPECT_EQ(*tagged.Find("SYNTH_ARG_DISKINV"), "selftest");
}

TEST(UeventParser, KernelResizeMediaChangeAndHotplug) {
  EXPECT_EQ(*MustParse(UeventOrigin::kKernel, "loop-resize-change.bin").Find("RESIZE"), "1");
  EXPECT_EQ(
      *MustParse(UeventOrigin::kKernel, "loop-detach-media-change.bin").Find("DISK_MEDIA_CHANGE"),
      "1");
  Uevent add = MustParse(UeventOrigin::kKernel, "zram-hot-add.bin");
  EXPECT_EQ(add.action, UeventAction::kAdd);
  EXPECT_EQ(add.devname, "zram1");
  EXPECT_EQ(add.major, 253u);
  Uevent rm = MustParse(UeventOrigin::kKernel, "loop-ctl-remove.bin");
  EXPECT_EQ(rm.action, UeventAction::kRemove);
  EXPECT_EQ(rm.devpath, "/devices/virtual/block/loop12");
  Uevent bdi = MustParse(UeventOrigin::kKernel, "zram-bdi-add.bin");
  EXPECT_EQ(bdi.subsystem, "bdi");
  EXPECT_FALSE(bdi.major);
  EXPECT_TRUE(bdi.devname.empty());
  EXPECT_EQ(bdi.devpath, "/devices/virtual/bdi/253:1");
}

TEST(UeventParser, UdevMessageCarriesUdevProperties) {
  Uevent ev = MustParse(UeventOrigin::kUdev, "loop-change-synth-uuid-arg.bin");
  EXPECT_EQ(ev.origin, UeventOrigin::kUdev);
  EXPECT_EQ(ev.devname, "/dev/loop0");
  EXPECT_EQ(ev.seqnum, 871u);
  EXPECT_EQ(ev.synth_uuid, "3f1c9d2e-7b4a-4c1e-9f00-0123456789ab");
  EXPECT_EQ(ev.properties.front().key, "UDEV_DATABASE_VERSION");
  ASSERT_NE(ev.Find("TAGS"), nullptr);
  EXPECT_EQ(*ev.Find("TAGS"), ":systemd:");
  ASSERT_NE(ev.Find("DEVLINKS"), nullptr);
  EXPECT_EQ(*ev.Find("ID_PART_TABLE_TYPE"), "gpt");
}

TEST(UeventParser, MalformedDatagramsAreRejectedWithTheirReason) {
  size_t n = 0;
  for (const char* dir : {"kernel", "udev"}) {
    for (const fs::path& p : Files(FixtureDir() / "malformed" / dir)) {
      std::string stem = p.stem().string();
      std::string want = stem.substr(0, stem.find("--"));
      std::string d = ReadFile(p);
      UeventReject why = UeventReject::kNone;
      Result<Uevent> ev = std::string(dir) == "kernel" ? ParseKernelUevent(d, &why)
                                                       : ParseUdevMonitorMessage(d, &why);
      EXPECT_FALSE(ev.ok()) << p;
      EXPECT_EQ(ToString(why), want) << p << ": " << ev.status().message();
      EXPECT_NE(ev.status().message().find(want), std::string::npos) << ev.status().message();
      EXPECT_LT(ev.status().message().size(), 400u) << "messages quote bounded input";
      ++n;
    }
  }
  EXPECT_GE(n, 50u);
}

TEST(UeventParser, StraysNewlineLikeSdDevice) {
  const char raw[] =
      "change@/devices/x\0ACTION=change\0DEVPATH=/devices/x\0SUBSYSTEM=block\n\0SEQNUM=5\n";
  std::string d(raw, sizeof raw);  // including the final NUL
  Result<Uevent> ev = ParseKernelUevent(d);
  ASSERT_TRUE(ev.ok()) << ev.status().message();
  EXPECT_EQ(ev->subsystem, "block");
  EXPECT_EQ(ev->seqnum, 5u);
}

TEST(UeventParser, UnknownKeysAndDuplicatesOfUnknownKeysAreKeptInOrder) {
  Result<Uevent> ev = UeventFromProperties(UeventOrigin::kKernel, {{"ACTION", "move"},
                                                                   {"DEVPATH", "/devices/b"},
                                                                   {"Z", "1"},
                                                                   {"DEVPATH_OLD", "/devices/a"},
                                                                   {"SUBSYSTEM", "net"},
                                                                   {"SEQNUM", "9"},
                                                                   {"Z", "2"}});
  ASSERT_TRUE(ev.ok()) << ev.status().message();
  EXPECT_EQ(ev->action, UeventAction::kMove);
  EXPECT_EQ(ev->devpath_old, "/devices/a");
  EXPECT_EQ(*ev->Find("Z"), "1");
  EXPECT_EQ(ev->properties.size(), 7u);
  EXPECT_EQ(ev->properties.back(), (UeventProperty{"Z", "2"}));
}

TEST(UeventParser, LimitsAreExact) {
  auto make = [](size_t extra_props, size_t pad) {
    std::string props("ACTION=add\0DEVPATH=/d\0SUBSYSTEM=s\0SEQNUM=1\0", 43);
    for (size_t i = 0; i < extra_props; ++i) props += "K" + std::to_string(i) + "=" + '\0';
    if (pad) props += "P=" + std::string(pad, 'x') + '\0';
    return std::string("add@/d\0", 7) + props;
  };
  EXPECT_TRUE(ParseKernelUevent(make(kMaxUeventProperties - 4, 0)).ok());
  UeventReject why;
  EXPECT_FALSE(ParseKernelUevent(make(kMaxUeventProperties - 3, 0), &why).ok());
  EXPECT_EQ(why, UeventReject::kTooManyProperties);
  std::string exact = make(0, kMaxUeventDatagram - make(0, 0).size() - 3);
  ASSERT_EQ(exact.size(), kMaxUeventDatagram);
  EXPECT_TRUE(ParseKernelUevent(exact).ok());
  EXPECT_FALSE(ParseKernelUevent(exact + "Q=\0", &why).ok());
  EXPECT_EQ(why, UeventReject::kTooLarge);
}

// The parser finds the end of each value eight bytes at a time: every value length, every
// alignment and every distance to the end of the datagram must still give the exact bytes,
// with non-ASCII and high bytes (0x80, 0xff) that a word-wise zero test could mistake for NUL.
TEST(UeventParser, ValuesOfEveryLengthAndAlignmentAreExact) {
  for (size_t lead = 0; lead < 8; ++lead) {
    for (size_t len = 0; len < 40; ++len) {
      std::string value;
      for (size_t i = 0; i < len; ++i) value.push_back(static_cast<char>("a\x80\xff\x01z"[i % 5]));
      // A property of `lead` key bytes first shifts V's value against the 8-byte words.
      std::string shift = lead ? std::string(lead, 'L') + "=1" + '\0' : std::string();
      std::string body = std::string("ACTION=add\0DEVPATH=/d\0SUBSYSTEM=s\0SEQNUM=1\0", 43) +
                         shift + "V=" + value + '\0';
      Result<Uevent> ev = ParseKernelUevent(std::string("add@/d\0", 7) + body);
      ASSERT_TRUE(ev.ok()) << lead << " " << len << ": " << ev.status().message();
      ASSERT_NE(ev->Find("V"), nullptr);
      EXPECT_EQ(*ev->Find("V"), value) << lead << " " << len;
      // The same value without its terminating NUL is rejected, never read past the end.
      std::string cut = std::string("add@/d\0", 7) + body;
      cut.pop_back();
      UeventReject why;
      EXPECT_FALSE(ParseKernelUevent(cut, &why).ok());
    }
  }
}

// Keys are checked eight bytes at a time too: a byte that cannot be in a key (space, a
// control byte, DEL, a high byte) is found at every position, and every length of good key
// is kept exactly.
TEST(UeventParser, KeysOfEveryLengthAndEveryBadBytePosition) {
  const std::string head =
      std::string("add@/d\0ACTION=add\0DEVPATH=/d\0SUBSYSTEM=s\0SEQNUM=1\0", 50);
  for (size_t len = 1; len < 24; ++len) {
    std::string key;
    for (size_t i = 0; i < len; ++i) key.push_back(static_cast<char>('A' + i % 26));
    Result<Uevent> ev = ParseKernelUevent(head + key + "=v" + '\0');
    ASSERT_TRUE(ev.ok()) << len << ": " << ev.status().message();
    EXPECT_EQ(ev->properties.back(), (UeventProperty{key, "v"})) << len;
    for (size_t at = 0; at < len; ++at) {
      for (char bad : {' ', '\x01', '\x7f', '\x80', '\xfe'}) {
        std::string k = key;
        k[at] = bad;
        UeventReject why = UeventReject::kNone;
        EXPECT_FALSE(ParseKernelUevent(head + k + "=v" + '\0', &why).ok()) << len << " " << at;
        EXPECT_EQ(why, UeventReject::kBadProperty) << len << " " << at << " " << int(bad);
      }
    }
  }
}

TEST(UeventParser, UdevHashesMatchSystemd) {
  // Values read from the headers udevd 252 sent on this machine.
  EXPECT_EQ(UdevStringHash("block"), 0xf0031db7u);
  EXPECT_EQ(UdevStringHash("disk"), 0x7bcbc5eeu);
  EXPECT_EQ(UdevTagBloom("systemd"), 0x0200040010800000u);
}

TEST(UeventRejectCounters, CountsByReason) {
  UeventRejectCounters c;
  c.Add(UeventReject::kBadMagic);
  c.Add(UeventReject::kBadMagic);
  c.Add(UeventReject::kUntrustedSender);
  EXPECT_EQ(c.count(UeventReject::kBadMagic), 2u);
  EXPECT_EQ(c.total(), 3u);
  EXPECT_EQ(c.ToString(), "bad_magic=2 untrusted_sender=1");
}

}  // namespace
}  // namespace diskinv
