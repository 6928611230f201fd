// Rendering of an Inventory: JSON (schema "diskinv.scan", version 1; see docs/scan-json.md)
// and a human table. Both read scalar fields through AllFields(), so -o works the same way.
#pragma once

#include <string>
#include <vector>

#include "common/json_writer.h"
#include "model/fields.h"
#include "model/inventory.h"

namespace diskinv {

inline constexpr int kScanJsonVersion = 1;

struct OutputOptions {
  std::vector<const FieldDef*> columns;  // empty: all fields (JSON) / default columns (table)
  bool bytes = false;                    // table: sizes in bytes instead of 1.8T
  bool pretty = false;                   // JSON: indented
  std::string sysroot = "/";
};

// Writes one device as a JSON object: its scalar fields (all or the selected columns) and,
// when no columns were selected, the nested identity, udev, relations and errors.
void WriteDeviceJson(JsonWriter& w, const BlockDevice& d, const OutputOptions& opt);
std::string InventoryToJson(const Inventory& inv, const OutputOptions& opt);
std::string InventoryToTable(const Inventory& inv, const OutputOptions& opt);
// Aligned text columns separated by one space; rows[0] is the header; right[i]: right-align.
std::string FormatTable(const std::vector<std::vector<std::string>>& rows,
                        const std::vector<bool>& right);

// Parses "NAME,SIZE,WWN" (lsblk column names, case-insensitive; "+COL" adds to the defaults).
Result<std::vector<const FieldDef*>> ParseColumns(std::string_view list);
const std::vector<const FieldDef*>& DefaultTableColumns();

}  // namespace diskinv
