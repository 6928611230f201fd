// Rendering of inventory-database query results (ls, show, up): JSON objects typed by the
// column's PostgreSQL type (numbers, booleans, jsonb as JSON), and aligned tables.
#pragma once

#include <string>
#include <vector>

#include "common/json_writer.h"
#include "store/pg_connection.h"

namespace diskinv {

// Writes row `row` of `r` as one JSON object keyed by column name.
void WriteRowJson(JsonWriter& w, const PgResult& r, int row);
// All rows as a JSON array.
std::string ResultToJson(const PgResult& r, bool pretty);

struct ResultColumn {
  const char* header;
  const char* column;  // column name in the result
  bool size = false;   // bytes: human-readable (1.8T) unless `bytes`
  bool right = false;
};
std::string ResultToTable(const PgResult& r, const std::vector<ResultColumn>& cols, bool bytes);
// The columns of `diskinv ls` and of the table `diskinv up` prints.
const std::vector<ResultColumn>& DiskTableColumns();

}  // namespace diskinv
