#include "cli/output.h"

#include <fmt/format.h>

#include <algorithm>

namespace diskinv {
void WriteValue(JsonWriter& w, const FieldValue& v) {
  struct V {
    JsonWriter& w;
    void operator()(std::monostate) const { w.Null(); }
    void operator()(const std::string& s) const { w.String(s); }
    void operator()(uint64_t u) const { w.Uint(u); }
    void operator()(int64_t i) const { w.Int(i); }
    void operator()(bool b) const { w.Bool(b); }
  };
  std::visit(V{w}, v);
}

namespace {

template <typename T>
void OptKey(JsonWriter& w, const char* key, const std::optional<T>& v) {
  w.Key(key);
  if (!v) {
    w.Null();
  } else if constexpr (std::is_same_v<T, std::string>) {
    w.String(*v);
  } else if constexpr (std::is_same_v<T, uint64_t>) {
    w.Uint(*v);
  } else {
    w.Int(*v);
  }
}

template <typename List>  // std::vector<std::string> or PackedStrings
void StringArray(JsonWriter& w, const char* key, const List& v) {
  w.Key(key).BeginArray();
  for (const auto& s : v) w.String(s);
  w.EndArray();
}

void WriteNested(JsonWriter& w, const BlockDevice& d) {
  StringArray(w, "schedulers", d.queue->schedulers);
  StringArray(w, "partitions", d.partitions);
  StringArray(w, "holders", d.holders);
  StringArray(w, "slaves", d.slaves);
  w.Key("scsi");
  if (d.scsi) {
    const ScsiIdentity& s = *d.scsi;
    w.BeginObject();
    w.Key("hctl").String(s.hctl);
    OptKey(w, "vendor", s.vendor);
    OptKey(w, "model", s.model);
    OptKey(w, "rev", s.rev);
    OptKey(w, "wwid", s.wwid);
    OptKey(w, "state", s.state);
    OptKey(w, "sas_address", s.sas_address);
    OptKey(w, "device_type", s.device_type);
    w.Key("vpd83").BeginArray();
    for (const auto& v : s.vpd83) {
      w.BeginObject();
      w.Key("type").Int(v.type).Key("association").Int(v.association);
      w.Key("code_set").Int(v.code_set).Key("value").String(v.value);
      w.EndObject();
    }
    w.EndArray();
    w.EndObject();
  } else {
    w.Null();
  }
  w.Key("nvme");
  if (d.nvme) {
    const NvmeIdentity& n = *d.nvme;
    w.BeginObject();
    OptKey(w, "eui64", n.eui64);
    OptKey(w, "nguid", n.nguid);
    OptKey(w, "uuid", n.uuid);
    OptKey(w, "wwid", n.wwid);
    OptKey(w, "nsid", n.nsid);
    w.Key("controller").String(n.controller);
    w.Key("subsystem").String(n.subsystem);
    OptKey(w, "subsysnqn", n.subsysnqn);
    OptKey(w, "serial", n.serial);
    OptKey(w, "model", n.model);
    OptKey(w, "firmware_rev", n.firmware_rev);
    OptKey(w, "transport", n.transport);
    OptKey(w, "address", n.address);
    OptKey(w, "cntlid", n.cntlid);
    OptKey(w, "state", n.state);
    StringArray(w, "controllers", n.controllers);
    StringArray(w, "paths", n.paths);
    w.EndObject();
  } else {
    w.Null();
  }
  w.Key("udev");
  if (d.udev.present) {
    w.BeginObject();
    w.Key("properties").BeginObject();
    for (const auto& [k, v] : d.udev.properties) w.Key(k).String(v);
    w.EndObject();
    StringArray(w, "links", d.udev.links);
    StringArray(w, "tags", d.udev.tags);
    OptKey(w, "initialized_usec", d.udev.initialized_usec);
    w.EndObject();
  } else {
    w.Null();
  }
  w.Key("disagreements").BeginObject();
  for (const auto& [field, n] : d.disagreements) {
    w.Key(field).BeginObject();
    w.Key("used")
        .String(n.used)
        .Key("udev")
        .String(n.udev_value)
        .Key("sysfs")
        .String(n.sysfs_value);
    w.EndObject();
  }
  w.EndObject();
  w.Key("errors").BeginArray();
  for (const auto& e : d.errors) {
    w.BeginObject();
    w.Key("field").String(e.field).Key("path").String(e.path);
    w.Key("error").String(e.message).Key("errno").Int(e.code);
    w.EndObject();
  }
  w.EndArray();
}

}  // namespace

void WriteDeviceJson(JsonWriter& w, const BlockDevice& d, const OutputOptions& opt) {
  w.BeginObject();
  if (opt.columns.empty()) {
    for (const auto& f : AllFields()) {
      w.Key(f.key);
      WriteValue(w, f.get(d));
    }
    WriteNested(w, d);
  } else {
    for (const FieldDef* f : opt.columns) {
      w.Key(f->key);
      WriteValue(w, f->get(d));
    }
  }
  w.EndObject();
}

ScanJsonWriter::ScanJsonWriter(const OutputOptions& opt, Write write)
    : opt_(opt), write_(std::move(write)), w_(opt.pretty) {}

void ScanJsonWriter::Begin() {
  begun_ = true;
  w_.BeginObject();
  w_.Key("schema").String("diskinv.scan").Key("version").Int(kScanJsonVersion);
  w_.Key("sysroot").String(opt_.sysroot);
  w_.Key("blockdevices").BeginArray();
}

bool ScanJsonWriter::Flush(bool all) {
  constexpr size_t kChunk = 64 * 1024;
  if (ok_ && (all || w_.str().size() >= kChunk)) {
    ok_ = write_(w_.str());
    w_.Clear();
  }
  return ok_;
}

bool ScanJsonWriter::Add(const BlockDevice& d) {
  if (!begun_) Begin();
  WriteDeviceJson(w_, d, opt_);
  return Flush(false);
}

bool ScanJsonWriter::Finish(const ScanStats& st) {
  if (!begun_) Begin();
  w_.EndArray();
  w_.Key("complete").Bool(st.complete());
  w_.Key("devices").Uint(st.devices);
  w_.Key("field_errors").Uint(st.field_errors);
  w_.Key("vanished").Uint(st.vanished);
  StringArray(w_, "messages", st.messages);
  w_.EndObject();
  Flush(true);
  return ok_ && write_("\n");
}

std::string InventoryToJson(const Inventory& inv, const OutputOptions& opt) {
  std::string out;
  ScanJsonWriter w(opt, [&](std::string_view s) {
    out.append(s);
    return true;
  });
  for (const auto& d : inv.devices()) w.Add(d);
  ScanStats st = inv.stats();
  st.devices = inv.size();
  w.Finish(st);
  return out;
}

const std::vector<const FieldDef*>& DefaultTableColumns() {
  static const std::vector<const FieldDef*> kCols = [] {
    std::vector<const FieldDef*> v;
    for (const char* c :
         {"NAME", "MAJ:MIN", "TYPE", "SIZE", "TRAN", "ROTA", "MODEL", "SERIAL", "WWN"}) {
      v.push_back(FindField(c));
    }
    return v;
  }();
  return kCols;
}

Result<std::vector<const FieldDef*>> ParseColumns(std::string_view list) {
  std::vector<const FieldDef*> out;
  if (!list.empty() && list.front() == '+') {
    out = DefaultTableColumns();
    list.remove_prefix(1);
  }
  size_t i = 0;
  while (i <= list.size()) {
    size_t j = list.find(',', i);
    if (j == std::string_view::npos) j = list.size();
    std::string_view name = list.substr(i, j - i);
    i = j + 1;
    if (name.empty()) continue;
    const FieldDef* f = FindField(name);
    if (!f) {
      std::string known;
      for (const auto& d : AllFields())
        known += fmt::format("{}{}", known.empty() ? "" : ",", d.column);
      return Status::Invalid(fmt::format("unknown column '{}' (known: {})", name, known));
    }
    out.push_back(f);
  }
  if (out.empty()) return Status::Invalid("no columns given to -o");
  return out;
}

ScanTableWriter::ScanTableWriter(const OutputOptions& opt)
    : opt_(opt), cols_(opt.columns.empty() ? DefaultTableColumns() : opt.columns) {
  std::vector<std::string> header;
  for (const auto* c : cols_) header.emplace_back(c->column);
  rows_.push_back(std::move(header));
}

void ScanTableWriter::Add(const BlockDevice& d) {
  std::vector<std::string> row;
  row.reserve(cols_.size());
  for (const auto* c : cols_) {
    std::string cell = FieldToText(c->get(d), c->size_like, opt_.bytes);
    if (c == cols_.front() && d.is_partition) cell = "`-" + cell;
    row.push_back(std::move(cell));
  }
  rows_.push_back(std::move(row));
}

std::string ScanTableWriter::Finish() const {
  std::vector<bool> right;
  for (const auto* c : cols_) right.push_back(c->align == FieldAlign::kRight);
  return FormatTable(rows_, right);
}

std::string FormatTable(const std::vector<std::vector<std::string>>& rows,
                        const std::vector<bool>& right) {
  std::vector<size_t> width(right.size(), 0);
  for (const auto& r : rows) {
    for (size_t i = 0; i < r.size() && i < width.size(); ++i) {
      width[i] = std::max(width[i], r[i].size());
    }
  }
  std::string out;
  for (const auto& r : rows) {
    std::string line;
    for (size_t i = 0; i < r.size() && i < width.size(); ++i) {
      bool last = i + 1 == r.size();
      if (right[i]) {
        line += fmt::format("{:>{}}", r[i], width[i]);
      } else {
        line += last ? r[i] : fmt::format("{:<{}}", r[i], width[i]);
      }
      if (!last) line += ' ';
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line;
    out += '\n';
  }
  return out;
}

std::string InventoryToTable(const Inventory& inv, const OutputOptions& opt) {
  ScanTableWriter t(opt);
  for (const auto& d : inv.devices()) t.Add(d);
  return t.Finish();
}

}  // namespace diskinv
