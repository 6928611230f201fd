// Parser for SCSI VPD page 0x83 (Device Identification), as exposed raw in device/vpd_pg83.
// Layout (SPC-4 7.8.6): 4-byte page header (qualifier/type, page code 0x83, 16-bit page length),
// then designation descriptors: byte0 protocol id|code set, byte1 PIV|association|type,
// byte3 length, then the designator. Pure and bounded: a descriptor that runs past the page is
// an error, reported, and the descriptors before it are kept.
#pragma once

#include <string_view>
#include <vector>

#include "common/status.h"
#include "model/block_device.h"

namespace diskinv {

struct VpdParse {
  std::vector<VpdDesignator> designators;
  Status status;  // non-OK when the page was truncated or not page 0x83
};
VpdParse ParseVpdPage83(std::string_view page);

// The designator udev would use for ID_WWN from page 0x83 (NAA, logical-unit association,
// highest NAA type first), as "0x" + hex; empty when none.
std::string PreferredNaa(const std::vector<VpdDesignator>& d);

}  // namespace diskinv
