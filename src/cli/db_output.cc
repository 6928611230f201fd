#include "cli/db_output.h"

#include "cli/output.h"
#include "common/parse.h"
#include "model/fields.h"

namespace diskinv {
namespace {

// pg_type OIDs of the column types the inventory tables use.
constexpr Oid kBool = 16, kInt8 = 20, kInt2 = 21, kInt4 = 23, kNumeric = 1700, kJson = 114,
              kJsonb = 3802;

}  // namespace

void WriteRowJson(JsonWriter& w, const PgResult& r, int row) {
  w.BeginObject();
  for (int c = 0; c < r.cols(); ++c) {
    w.Key(r.name(c));
    auto v = r.Get(row, c);
    if (!v) {
      w.Null();
      continue;
    }
    switch (r.type(c)) {
      case kBool:
        w.Bool(*v == "t");
        break;
      case kInt2:
      case kInt4:
      case kInt8:
      case kNumeric:
      case kJson:
      case kJsonb:
        w.Raw(*v);  // PostgreSQL's text form of these is valid JSON
        break;
      default:
        w.String(*v);
    }
  }
  w.EndObject();
}

std::string ResultToJson(const PgResult& r, bool pretty) {
  JsonWriter w(pretty);
  w.BeginArray();
  for (int i = 0; i < r.rows(); ++i) WriteRowJson(w, r, i);
  w.EndArray();
  std::string out = w.Take();
  out += '\n';
  return out;
}

std::string ResultToTable(const PgResult& r, const std::vector<ResultColumn>& cols, bool bytes) {
  std::vector<std::vector<std::string>> rows;
  std::vector<bool> right;
  std::vector<int> index;
  std::vector<std::string> header;
  for (const auto& c : cols) {
    header.emplace_back(c.header);
    right.push_back(c.right || c.size);
    index.push_back(r.Col(c.column));
  }
  rows.push_back(std::move(header));
  for (int i = 0; i < r.rows(); ++i) {
    std::vector<std::string> row;
    for (size_t k = 0; k < cols.size(); ++k) {
      auto v = index[k] < 0 ? std::nullopt : r.Get(i, index[k]);
      std::string cell = v ? std::string(*v) : "";
      if (v && cols[k].size && !bytes) {
        if (auto n = ParseU64(*v); n.ok()) cell = HumanSize(*n);
      }
      if (v && r.type(index[k]) == kBool) cell = std::string(1, *v == "t" ? '1' : '0');
      row.push_back(std::move(cell));
    }
    rows.push_back(std::move(row));
  }
  return FormatTable(rows, right);
}

const std::vector<ResultColumn>& DiskTableColumns() {
  static const std::vector<ResultColumn> kCols = {
      {"NODE", "node"},         {"KNAME", "kname"},   {"TYPE", "type"},
      {"TRAN", "transport"},    {"SIZE", "size_bytes", true},
      {"ROTA", "rotational"},   {"MODEL", "model"},   {"SERIAL", "serial"},
      {"WWN", "wwn"},           {"STATE", "state"},   {"UID", "uid"}};
  return kCols;
}

}  // namespace diskinv
