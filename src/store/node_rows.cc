#include "store/node_rows.h"

#include "store/node_index.h"

namespace diskinv {

NodeRows BuildNodeRows(const Inventory& inv, std::string_view node_key, const RowSelector& select) {
  NodeIndex index{std::string(node_key)};
  index.Rebuild(inv);
  NodeRows out;
  out.uid_by_kname.reserve(inv.size());
  for (const BlockDevice& d : inv.devices()) {
    DiskIdentity id = *index.Find(d.kname);
    if (!id.ok()) {
      out.unidentified.push_back(d.kname);
      continue;
    }
    out.uid_by_kname.emplace(d.kname, id.uid);
    if (!select || select(d, id)) out.rows.push_back(MakeDeviceRow(d, id));
  }
  out.edges = index.Edges();
  out.conflicts = index.Conflicts();
  return out;
}

}  // namespace diskinv
