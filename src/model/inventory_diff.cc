#include "model/inventory_diff.h"

#include <fmt/format.h>

#include <map>

namespace diskinv {
namespace {

std::string Join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ",") + s;
  return out;
}

std::string Join(const PackedStrings& v) {
  std::string out;
  for (std::string_view s : v) {
    if (!out.empty()) out += ',';
    out += s;
  }
  return out;
}

template <typename List>
void DiffList(const char* key, const List& a, const List& b, std::vector<FieldChange>& out) {
  if (a != b) out.push_back({key, Join(a), Join(b)});
}

}  // namespace

std::string FieldValueToString(const FieldValue& v) {
  struct V {
    std::string operator()(std::monostate) const { return "null"; }
    std::string operator()(const std::string& s) const { return fmt::format("\"{}\"", s); }
    std::string operator()(uint64_t u) const { return std::to_string(u); }
    std::string operator()(int64_t i) const { return std::to_string(i); }
    std::string operator()(bool b) const { return b ? "true" : "false"; }
  };
  return std::visit(V{}, v);
}

std::vector<FieldChange> DiffDevice(const BlockDevice& a, const BlockDevice& b) {
  std::vector<FieldChange> out;
  for (const auto& f : AllFields()) {
    FieldValue va = f.get(a), vb = f.get(b);
    if (va != vb) out.push_back({f.key, std::move(va), std::move(vb)});
  }
  DiffList("schedulers", a.queue->schedulers, b.queue->schedulers, out);
  DiffList("partitions", a.partitions, b.partitions, out);
  DiffList("holders", a.holders, b.holders, out);
  DiffList("slaves", a.slaves, b.slaves, out);
  if (a.scsi != b.scsi)
    out.push_back({"scsi", a.scsi ? "present" : "null", b.scsi ? "present" : "null"});
  if (a.nvme != b.nvme) {
    out.push_back({"nvme", a.nvme ? "present" : "null", b.nvme ? "present" : "null"});
  }
  // udev properties by key: added, removed, changed.
  // (The first of duplicate keys counts, as in UdevRecord::Get.)
  using Map = std::map<std::string_view, std::string_view>;
  Map pa, pb;
  for (const auto& [k, v] : a.udev.properties) pa.emplace(k, v);
  for (const auto& [k, v] : b.udev.properties) pb.emplace(k, v);
  auto field = [](std::string_view k) { return "udev.properties." + std::string(k); };
  for (const auto& [k, v] : pa) {
    auto it = pb.find(k);
    if (it == pb.end()) {
      out.push_back({field(k), std::string(v), std::monostate{}});
    } else if (it->second != v) {
      out.push_back({field(k), std::string(v), std::string(it->second)});
    }
  }
  for (const auto& [k, v] : pb) {
    if (!pa.count(k)) out.push_back({field(k), std::monostate{}, std::string(v)});
  }
  DiffList("udev.links", a.udev.links, b.udev.links, out);
  DiffList("udev.tags", a.udev.tags, b.udev.tags, out);
  if (a.errors != b.errors) {
    out.push_back(
        {"errors", static_cast<uint64_t>(a.errors.size()), static_cast<uint64_t>(b.errors.size())});
  }
  return out;
}

InventoryDiff DiffInventories(const Inventory& before, const Inventory& after) {
  InventoryDiff d;
  for (const auto& dev : before.devices()) {
    if (!after.FindByName(dev.kname)) d.removed.push_back(dev.kname);
  }
  for (const auto& dev : after.devices()) {
    const BlockDevice* old = before.FindByName(dev.kname);
    if (!old) {
      d.added.push_back(dev.kname);
      continue;
    }
    if (*old == dev) continue;
    auto changes = DiffDevice(*old, dev);
    if (!changes.empty()) d.changed.push_back({dev.kname, std::move(changes)});
  }
  return d;
}

}  // namespace diskinv
