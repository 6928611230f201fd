// The QEMU lab's expectation checker (tests/lab/expectations.h): each kind of line passes on the
// right value and fails, naming the device and both values, on a wrong one.
#include "lab/expectations.h"

#include <gtest/gtest.h>

namespace diskinv::lab {
namespace {

json Scan() {
  return json::parse(R"({"blockdevices": [
    {"kname": "nvme0n1", "type": "disk", "serial": "LAB1", "size": 4096,
     "nvme": {"nsid": 1, "paths": ["nvme0c0n1", "nvme0c1n1"], "uuid": null}},
    {"kname": "sda", "type": "disk", "serial": "LAB2", "wwn": "0x5000c50015ea71ac",
     "vendor": "ATA     ", "rota": true},
    {"kname": "sda1", "type": "part", "pkname": "sda"}]})");
}

TEST(LabExpectations, MatchingLinesPass) {
  std::vector<std::string> events = {"add nvme0n1", "change sda"};
  auto fails = CheckExpectations(Scan(), R"(
# comment
count type=disk 2
nvme0n1 serial LAB1
nvme0n1 size 4096
nvme.nsid=1 nvme.paths.1 nvme0c1n1
nvme.nsid=1 nvme.uuid null
nvme.nsid=1 nvme.eui64 <missing>
serial=LAB2 wwn 0x5000c50015ea71ac
serial=LAB2 vendor ~ATA
serial=LAB2 rota true
absent serial=LAB3
knames sda1 sda nvme0n1
event add nvme0n1
events 2
)",
                                 &events);
  EXPECT_TRUE(fails.empty()) << ::testing::PrintToString(fails);
}

TEST(LabExpectations, EachWrongLineFails) {
  std::vector<std::string> events = {"add nvme0n1"};
  const char* wrong[] = {
      "count type=disk 3",
      "nvme0n1 serial LAB9",
      "nvme0n1 size 4097",
      "nvme.nsid=1 nvme.paths.2 nvme0c2n1",
      "serial=LAB2 wwn 0x5000c50015ea71ad",
      "serial=LAB2 vendor ATA",
      "serial=LAB2 rota false",
      "type=disk serial LAB1",  // the selector matches two devices
      "absent serial=LAB1",
      "knames sda nvme0n1",
      "event remove nvme0n1",
      "events 2",
  };
  for (const char* line : wrong) {
    auto fails = CheckExpectations(Scan(), line, &events);
    EXPECT_EQ(fails.size(), 1u) << line;
  }
  auto fails = CheckExpectations(Scan(), "serial=LAB2 wwn 0x1");
  ASSERT_EQ(fails.size(), 1u);
  EXPECT_EQ(fails[0], "sda: wwn: diskinv \"0x5000c50015ea71ac\", configured 0x1");
  // Event lines need the step's event log.
  EXPECT_EQ(CheckExpectations(Scan(), "event add sda").size(), 1u);
}

}  // namespace
}  // namespace diskinv::lab
