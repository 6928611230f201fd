#include "sysfs/vpd.h"

#include <fmt/format.h>

namespace diskinv {

VpdParse ParseVpdPage83(std::string_view page) {
  VpdParse out;
  if (page.size() < 4) {
    out.status = Status::Invalid(fmt::format("VPD page too short ({} bytes)", page.size()));
    return out;
  }
  auto u8 = [&](size_t i) { return static_cast<unsigned>(static_cast<unsigned char>(page[i])); };
  if (u8(1) != 0x83) {
    out.status = Status::Invalid(fmt::format("not VPD page 0x83 (page code 0x{:02x})", u8(1)));
    return out;
  }
  size_t len = (u8(2) << 8) | u8(3);
  size_t end = 4 + len;
  if (end > page.size()) {
    out.status = Status::Invalid(
        fmt::format("VPD page 0x83 truncated: header says {} bytes, have {}", len, page.size() - 4));
    end = page.size();
  }
  size_t i = 4;
  while (i + 4 <= end) {
    VpdDesignator d;
    d.code_set = static_cast<int>(u8(i) & 0x0F);
    d.association = static_cast<int>((u8(i + 1) >> 4) & 0x03);
    d.type = static_cast<int>(u8(i + 1) & 0x0F);
    size_t dlen = u8(i + 3);
    if (i + 4 + dlen > end) {
      out.status = Status::Invalid(fmt::format("VPD designator at offset {} runs past the page", i));
      break;
    }
    std::string_view v = page.substr(i + 4, dlen);
    if (d.code_set == 2 || d.code_set == 3) {
      while (!v.empty() && (v.back() == '\0' || v.back() == ' ')) v.remove_suffix(1);
      d.value = std::string(v);
    } else {
      d.value.reserve(dlen * 2);
      for (char c : v) d.value += fmt::format("{:02x}", static_cast<unsigned char>(c));
    }
    out.designators.push_back(std::move(d));
    i += 4 + dlen;
  }
  return out;
}

std::string PreferredNaa(const std::vector<VpdDesignator>& ds) {
  const VpdDesignator* best = nullptr;
  for (const auto& d : ds) {
    if (d.type != 3 || d.association != 0 || d.code_set != 1 || d.value.empty()) continue;
    if (!best || d.value.size() > best->value.size()) best = &d;
  }
  return best ? "0x" + best->value : std::string();
}

}  // namespace diskinv
