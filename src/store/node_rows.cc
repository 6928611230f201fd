#include "store/node_rows.h"

#include <fmt/format.h>

#include "model/disk_identity.h"

namespace diskinv {
namespace {

void AddDevice(std::map<ConflictKey, std::set<std::string>>& devices, ConflictKey key,
               const std::string& kname) {
  devices[std::move(key)].insert(kname);
}

}  // namespace

NodeRows BuildNodeRows(const Inventory& inv, std::string_view node_key, const RowSelector& select) {
  NodeRows out;
  const std::vector<DiskIdentity> ids = IdentifyInventory(inv, node_key);
  const auto& devs = inv.devices();
  std::map<ConflictKey, std::set<std::string>> conflict_devices;
  std::map<ConflictKey, std::string> reasons;
  out.uid_by_kname.reserve(devs.size());
  for (size_t i = 0; i < devs.size(); ++i) {
    const BlockDevice& d = devs[i];
    const DiskIdentity& id = ids[i];
    for (const RejectedIdentifier& rej : id.rejected) {
      ConflictKey key{"bogus", fmt::format("{}:{}", rej.kind, rej.value)};
      reasons[key] = rej.reason;
      AddDevice(conflict_devices, std::move(key), d.kname);
    }
    if (!id.ok()) {
      out.unidentified.push_back(d.kname);
      continue;
    }
    out.uid_by_kname.emplace(d.kname, id.uid);
    if (!id.conflict.empty()) {
      ConflictKey key{"duplicate", fmt::format("{}:{}", IdentitySourceName(id.source),
                                               id.identifier)};
      reasons[key] = id.conflict;
      AddDevice(conflict_devices, std::move(key), d.kname);
    }
    for (const std::string& lower : d.slaves) {
      const BlockDevice* p = inv.FindByName(lower);
      if (p == nullptr) continue;
      const DiskIdentity& pid = ids[static_cast<size_t>(p - devs.data())];
      if (pid.ok()) out.edges.insert({pid.uid, id.uid});
    }
    if (!select || select(d, id)) out.rows.push_back(MakeDeviceRow(d, id));
  }
  for (auto& [key, names] : conflict_devices) {
    out.conflicts[key] = {reasons[key], fmt::format("{}", fmt::join(names, ","))};
  }
  return out;
}

}  // namespace diskinv
