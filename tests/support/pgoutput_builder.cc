#include "support/pgoutput_builder.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "support/lsblk_compare.h"

namespace diskinv::testing {
namespace {

void U8(std::string& o, uint8_t v) { o.push_back(static_cast<char>(v)); }
void U16(std::string& o, uint16_t v) {
  U8(o, v >> 8);
  U8(o, v & 0xff);
}
void U32(std::string& o, uint32_t v) {
  U16(o, v >> 16);
  U16(o, v & 0xffff);
}
void U64(std::string& o, uint64_t v) {
  U32(o, static_cast<uint32_t>(v >> 32));
  U32(o, static_cast<uint32_t>(v));
}
void Str(std::string& o, const std::string& s) {
  o += s;
  o.push_back('\0');
}
void Tuple(std::string& o, const std::vector<TestValue>& vals) {
  U16(o, static_cast<uint16_t>(vals.size()));
  for (const auto& v : vals) {
    U8(o, static_cast<uint8_t>(v.kind));
    if (v.kind == 't' || v.kind == 'b') {
      U32(o, static_cast<uint32_t>(v.data.size()));
      o += v.data;
    }
  }
}

}  // namespace

TestValue T(std::string s) { return {'t', std::move(s)}; }
TestValue Null() { return {'n', ""}; }
TestValue Unchanged() { return {'u', ""}; }

std::string PgBegin(Lsn final_lsn, int64_t commit_time, uint32_t xid) {
  std::string o = "B";
  U64(o, final_lsn);
  U64(o, static_cast<uint64_t>(commit_time));
  U32(o, xid);
  return o;
}

std::string PgCommit(Lsn commit_lsn, Lsn end_lsn, int64_t commit_time) {
  std::string o = "C";
  U8(o, 0);
  U64(o, commit_lsn);
  U64(o, end_lsn);
  U64(o, static_cast<uint64_t>(commit_time));
  return o;
}

std::string PgRelation(uint32_t relid, const std::string& nsp, const std::string& rel,
                       const std::vector<TestColumn>& cols, char replident) {
  std::string o = "R";
  U32(o, relid);
  Str(o, nsp);
  Str(o, rel);
  U8(o, static_cast<uint8_t>(replident));
  U16(o, static_cast<uint16_t>(cols.size()));
  for (const auto& c : cols) {
    U8(o, c.key ? 1 : 0);
    Str(o, c.name);
    U32(o, c.type_oid);
    U32(o, 0xffffffffu);
  }
  return o;
}

std::string PgInsert(uint32_t relid, const std::vector<TestValue>& values) {
  std::string o = "I";
  U32(o, relid);
  U8(o, 'N');
  Tuple(o, values);
  return o;
}

std::string PgUpdate(uint32_t relid, char old_kind, const std::vector<TestValue>& old_values,
                     const std::vector<TestValue>& new_values) {
  std::string o = "U";
  U32(o, relid);
  if (old_kind != 0) {
    U8(o, static_cast<uint8_t>(old_kind));
    Tuple(o, old_values);
  }
  U8(o, 'N');
  Tuple(o, new_values);
  return o;
}

std::string PgDelete(uint32_t relid, char old_kind, const std::vector<TestValue>& old_values) {
  std::string o = "D";
  U32(o, relid);
  U8(o, static_cast<uint8_t>(old_kind));
  Tuple(o, old_values);
  return o;
}

int Fixture::proto_version() const {
  auto it = options.find("proto_version");
  return it == options.end() ? 1 : std::stoi(it->second);
}

Fixture ReadPgoutputFixture(const std::string& name) {
  Fixture f;
  std::string base = SourceDir() + "/fixtures/pgoutput/" + name;
  std::ifstream in(base + ".bin", std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string d = ss.str();
  size_t i = 0;
  while (i + 12 <= d.size()) {
    uint64_t lsn = 0;
    uint32_t n = 0;
    for (int k = 0; k < 8; ++k) lsn = (lsn << 8) | static_cast<uint8_t>(d[i + k]);
    for (int k = 8; k < 12; ++k) n = (n << 8) | static_cast<uint8_t>(d[i + k]);
    i += 12;
    if (i + n > d.size()) break;
    f.messages.emplace_back(lsn, d.substr(i, n));
    i += n;
  }
  std::ifstream opts(base + ".opts");
  for (std::string line; std::getline(opts, line);) {
    size_t eq = line.find('=');
    if (eq != std::string::npos) f.options[line.substr(0, eq)] = line.substr(eq + 1);
  }
  return f;
}

std::vector<std::string> PgoutputFixtureNames() {
  std::vector<std::string> out;
  for (const auto& e : std::filesystem::directory_iterator(SourceDir() + "/fixtures/pgoutput")) {
    if (e.path().extension() == ".bin") out.push_back(e.path().stem());
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace diskinv::testing
