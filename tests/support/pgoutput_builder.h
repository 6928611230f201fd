// Test support for the CDC decoder: builds pgoutput messages byte by byte (the inverse of
// cdc/pgoutput_decoder) and reads the captured streams of fixtures/pgoutput (capture.py).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "cdc/lsn.h"

namespace diskinv::testing {

// One value of a TupleData: kind 'n', 'u', 't' or 'b' and its bytes.
struct TestValue {
  char kind = 't';
  std::string data;
};
TestValue T(std::string s);  // text
TestValue Null();
TestValue Unchanged();

struct TestColumn {
  std::string name;
  uint32_t type_oid = 25;  // text
  bool key = false;
};

std::string PgBegin(Lsn final_lsn, int64_t commit_time, uint32_t xid);
std::string PgCommit(Lsn commit_lsn, Lsn end_lsn, int64_t commit_time);
std::string PgRelation(uint32_t relid, const std::string& nsp, const std::string& rel,
                       const std::vector<TestColumn>& cols, char replident = 'd');
std::string PgInsert(uint32_t relid, const std::vector<TestValue>& values);
// old_kind 0 (no old tuple), 'K' or 'O'.
std::string PgUpdate(uint32_t relid, char old_kind, const std::vector<TestValue>& old_values,
                     const std::vector<TestValue>& new_values);
std::string PgDelete(uint32_t relid, char old_kind, const std::vector<TestValue>& old_values);

// A captured stream: (LSN, payload) in server order, and its START_REPLICATION options.
struct Fixture {
  std::vector<std::pair<Lsn, std::string>> messages;
  std::map<std::string, std::string> options;
  int proto_version() const;
};
// Reads fixtures/pgoutput/<name>.bin and .opts from the source tree.
Fixture ReadPgoutputFixture(const std::string& name);
// The names of all captured fixtures (basic, toast, ...).
std::vector<std::string> PgoutputFixtureNames();

}  // namespace diskinv::testing
