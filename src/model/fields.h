// The scalar columns of a BlockDevice, by lsblk's column names, in one table.
//
// `diskinv scan -o`, the table printer, the JSON writer and the inventory diff all read fields
// through this table, so a column is defined once. `lsblk` marks the columns that lsblk 2.38
// also reports (same JSON key, same meaning); tests compare exactly those.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "model/block_device.h"

namespace diskinv {

// std::monostate is "no value" (JSON null).
using FieldValue = std::variant<std::monostate, std::string, uint64_t, int64_t, bool>;

enum class FieldAlign { kLeft, kRight };

struct FieldDef {
  const char* column;  // lsblk-style column name: "LOG-SEC"
  const char* key;     // JSON key: "log-sec"
  const char* help;    // one line for --help / docs
  bool lsblk;          // lsblk 2.38 reports it too
  bool size_like;      // a byte count: human-readable in tables unless --bytes
  FieldAlign align;
  FieldValue (*get)(const BlockDevice&);
};

// Every scalar field, in JSON output order.
const std::vector<FieldDef>& AllFields();
// Case-insensitive lookup by column name ("log-sec" or "LOG-SEC"); nullptr if unknown.
const FieldDef* FindField(std::string_view column);

// "1.8T", "512M", "0B": lsblk's SIZE_SUFFIX_1LETTER style (binary units, one decimal).
std::string HumanSize(uint64_t bytes);
// Renders a value for a table cell: "" for none, 1/0 for booleans.
std::string FieldToText(const FieldValue& v, bool size_like, bool bytes);

}  // namespace diskinv
