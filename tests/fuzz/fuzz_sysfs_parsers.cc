// libFuzzer target for the pure sysfs-side parsers: udev db records, VPD page 0x83, scheduler
// lists, uevent files, HCTL names and numbers. The first byte picks the parser, so one corpus
// (fixtures/udev-db, fixtures/vpd) exercises all of them. Run with scripts/fuzz-sysfs.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "common/parse.h"
#include "sysfs/attr_parse.h"
#include "sysfs/udev_db.h"
#include "sysfs/vpd.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 6) {
    case 0: {
      diskinv::UdevDbParseStats st;
      auto r = diskinv::ParseUdevDbRecord(in, &st);
      if (r.properties.size() > diskinv::kUdevDbMaxLines) __builtin_trap();
      // Every parsed key reads back from the packed list: non-empty, without '=', found by Get.
      for (const auto& [k, v] : r.properties) {
        if (k.empty() || k.find('=') != std::string_view::npos || !r.Get(k)) __builtin_trap();
      }
      if (r.links.size() > diskinv::kUdevDbMaxLines) __builtin_trap();
      break;
    }
    case 1: {
      auto v = diskinv::ParseVpdPage83(in);
      for (const auto& d : v.designators) {
        if (d.value.size() > 2 * 255) __builtin_trap();
      }
      (void)diskinv::PreferredNaa(v.designators);
      break;
    }
    case 2:
      (void)diskinv::ParseScheduler(in);
      break;
    case 3:
      (void)diskinv::ParseUeventFile(in);
      break;
    case 4:
      (void)diskinv::ParseHctl(in);
      break;
    default:
      (void)diskinv::ParseU64(in);
      (void)diskinv::ParseDevNum(in);
      (void)diskinv::UnhexMangle(in);
      (void)diskinv::NormalizeWhitespace(in);
      break;
  }
  return 0;
}
