// Rendering of an Inventory: JSON (schema "diskinv.scan", version 1; see docs/scan-json.md)
// and a human table. Both read scalar fields through AllFields(), so -o works the same way.
#pragma once

#include <functional>
#include <string>
#include <string_view>
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
// One field's value as JSON: null, a string, a number or a boolean.
void WriteValue(JsonWriter& w, const FieldValue& v);
std::string InventoryToJson(const Inventory& inv, const OutputOptions& opt);
std::string InventoryToTable(const Inventory& inv, const OutputOptions& opt);
// Aligned text columns separated by one space; rows[0] is the header; right[i]: right-align.
std::string FormatTable(const std::vector<std::vector<std::string>>& rows,
                        const std::vector<bool>& right);

// The scan JSON document, streamed: Add() each device as the walk produces it, then Finish()
// with the walk's statistics (they follow "blockdevices", so nothing has to be kept). Output
// goes to `write` in pieces of about 64 KiB; a false from `write` is sticky and returned.
class ScanJsonWriter {
 public:
  using Write = std::function<bool(std::string_view)>;
  ScanJsonWriter(const OutputOptions& opt, Write write);
  bool Add(const BlockDevice& d);
  bool Finish(const ScanStats& stats);

 private:
  void Begin();
  bool Flush(bool all);

  const OutputOptions& opt_;
  Write write_;
  JsonWriter w_;
  bool begun_ = false;
  bool ok_ = true;
};

// The table, built row by row: only the cells are kept, never the devices.
class ScanTableWriter {
 public:
  explicit ScanTableWriter(const OutputOptions& opt);
  void Add(const BlockDevice& d);
  std::string Finish() const;

 private:
  const OutputOptions& opt_;
  const std::vector<const FieldDef*>& cols_;
  std::vector<std::vector<std::string>> rows_;
};

// Parses "NAME,SIZE,WWN" (lsblk column names, case-insensitive; "+COL" adds to the defaults).
Result<std::vector<const FieldDef*>> ParseColumns(std::string_view list);
const std::vector<const FieldDef*>& DefaultTableColumns();

}  // namespace diskinv
