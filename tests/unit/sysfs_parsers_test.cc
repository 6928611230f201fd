#include <gtest/gtest.h>

#include "sysfs/attr_parse.h"
#include "sysfs/udev_db.h"
#include "sysfs/vpd.h"

namespace diskinv {
namespace {

TEST(UdevDb, ParsesARealRecord) {
  // As systemd 252 writes run/udev/data/b8:0.
  const char* rec =
      "S:disk/by-id/ata-QEMU_HARDDISK_QM00001\n"
      "S:disk/by-path/pci-0000:00:1f.2-ata-1\n"
      "W:3\nI:1733300000123456\n"
      "E:ID_ATA=1\nE:ID_SERIAL=QEMU_HARDDISK_QM00001\nE:ID_SERIAL_SHORT=QM00001\n"
      "E:ID_MODEL_ENC=QEMU\\x20HARDDISK\\x20\\x20\nE:EMPTY=\nE:WITH=EQUALS=SIGN\n"
      "G:systemd\nQ:systemd\nV:1\n";
  UdevDbParseStats st;
  UdevRecord r = ParseUdevDbRecord(rec, &st);
  EXPECT_TRUE(r.present);
  EXPECT_EQ(r.links.ToVector(), (std::vector<std::string>{"disk/by-id/ata-QEMU_HARDDISK_QM00001",
                                                          "disk/by-path/pci-0000:00:1f.2-ata-1"}));
  EXPECT_EQ(*r.Get("ID_SERIAL_SHORT"), "QM00001");
  EXPECT_EQ(*r.Get("EMPTY"), "");
  EXPECT_EQ(*r.Get("WITH"), "EQUALS=SIGN");
  EXPECT_FALSE(r.Get("NOPE").has_value());
  EXPECT_EQ(r.tags.ToVector(), std::vector<std::string>{"systemd"});
  EXPECT_EQ(r.current_tags.ToVector(), std::vector<std::string>{"systemd"});
  EXPECT_EQ(*r.initialized_usec, 1733300000123456u);
  EXPECT_EQ(st.malformed, 0u);
  EXPECT_EQ(st.unknown, 0u);
}

TEST(UdevDb, CountsMalformedAndUnknownLines) {
  UdevDbParseStats st;
  UdevRecord r = ParseUdevDbRecord("E:NOEQUALS\nE:=v\nnocolon\nZ:future\nI:abc\nE:OK=1", &st);
  EXPECT_EQ(st.malformed, 4u);
  EXPECT_EQ(st.unknown, 1u);
  ASSERT_EQ(r.properties.size(), 1u);
  EXPECT_EQ(*r.Get("OK"), "1");  // last line without '\n' still counts
}

TEST(UdevDb, IsBounded) {
  std::string big;
  for (int i = 0; i < 10000; ++i) big += "E:K" + std::to_string(i) + "=v\n";
  UdevDbParseStats st;
  UdevRecord r = ParseUdevDbRecord(big, &st);
  EXPECT_EQ(r.properties.size(), kUdevDbMaxLines);
}

TEST(Scheduler, PicksTheBracketedOne) {
  auto s = ParseScheduler("mq-deadline kyber [bfq] none\n");
  EXPECT_EQ(*s.selected, "bfq");
  EXPECT_EQ(s.available, (std::vector<std::string>{"mq-deadline", "kyber", "bfq", "none"}));
  EXPECT_FALSE(ParseScheduler("none\n").selected.has_value());
  EXPECT_FALSE(ParseScheduler("").selected.has_value());
}

TEST(UeventFile, KeepsOrderAndSkipsJunk) {
  auto kv = ParseUeventFile("MAJOR=8\nMINOR=0\njunk\n=x\nDEVNAME=sda\nDEVTYPE=disk\n");
  ASSERT_EQ(kv.size(), 4u);
  EXPECT_EQ(kv[2].first, "DEVNAME");
  EXPECT_EQ(kv[2].second, "sda");
}

TEST(Hctl, ParsesLikeLsblk) {
  auto h = ParseHctl("2:0:1:3");
  ASSERT_TRUE(h);
  EXPECT_EQ(h->host, 2u);
  EXPECT_EQ(h->lun, 3u);
  EXPECT_FALSE(ParseHctl("virtio1"));
  EXPECT_FALSE(ParseHctl("2:0:1"));
  EXPECT_FALSE(ParseHctl("target2:0:1"));
}

std::string Page83(std::initializer_list<std::string> descriptors) {
  std::string body;
  for (const auto& d : descriptors) body += d;
  std::string p = {'\0', '\x83', static_cast<char>(body.size() >> 8),
                   static_cast<char>(body.size() & 0xff)};
  return p + body;
}

TEST(Vpd83, DecodesNaaAndAsciiDesignators) {
  // NAA (binary, LU association, type 3), length 8; T10 vendor id (ASCII, type 1).
  std::string naa =
      std::string("\x01\x03\x00\x08", 4) + std::string("\x50\x00\xc5\x00\xa1\xb2\xc3\xd4", 8);
  std::string t10 = std::string("\x02\x01\x00\x0c", 4) + "ATA     QM  ";
  auto r = ParseVpdPage83(Page83({naa, t10}));
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  ASSERT_EQ(r.designators.size(), 2u);
  EXPECT_EQ(r.designators[0].type, 3);
  EXPECT_EQ(r.designators[0].value, "5000c500a1b2c3d4");
  EXPECT_EQ(r.designators[1].value, "ATA     QM");
  EXPECT_EQ(PreferredNaa(r.designators), "0x5000c500a1b2c3d4");
}

TEST(Vpd83, RejectsTruncatedPagesButKeepsWhatCameBefore) {
  std::string naa =
      std::string("\x01\x03\x00\x08", 4) + std::string("\x50\x00\xc5\x00\xa1\xb2\xc3\xd4", 8);
  std::string page = Page83({naa, std::string("\x01\x03\x00\x10\x01\x02", 6)});
  auto r = ParseVpdPage83(page);
  EXPECT_FALSE(r.status.ok());
  EXPECT_EQ(r.designators.size(), 1u);
  EXPECT_FALSE(ParseVpdPage83("\x00\x80\x00").status.ok());
  EXPECT_FALSE(ParseVpdPage83(std::string("\x00\x80\x00\x00", 4)).status.ok());  // page 0x80
}

}  // namespace
}  // namespace diskinv
