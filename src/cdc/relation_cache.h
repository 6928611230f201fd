// RelationCache: what the stream said about each relation (table) and type, by OID.
//
// pgoutput sends a Relation message before the first change of a relation in a session and again
// whenever its definition changed (ADD/DROP COLUMN, REPLICA IDENTITY, ...), so the cache is
// replaced entry by entry, never patched. Each version is an immutable shared Relation: changes
// decoded before an ALTER keep pointing at the old version, changes after it at the new one.
// A new replication session starts with an empty cache (the server re-sends everything).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "cdc/pgoutput_message.h"

namespace diskinv {

struct Relation {
  struct Column {
    std::string name;
    uint32_t type_oid = 0;
    int32_t typmod = -1;
    bool key = false;  // part of the replica identity
  };
  uint32_t oid = 0;
  std::string nspname;  // "" for pg_catalog
  std::string relname;
  std::string qualified_name;  // "diskinv.disk"
  char replica_identity = 'd';
  std::vector<Column> columns;

  // Index of column `name`, or -1.
  int Find(std::string_view name) const;
};

class RelationCache {
 public:
  // Stores the relation of a Relation message (replacing the previous version).
  std::shared_ptr<const Relation> Update(const PgoutputMessage& relation_message);
  // Records the name of a type from a Type message.
  void UpdateType(const PgoutputMessage& type_message);
  // nullptr when the stream has not described `oid` yet.
  const std::shared_ptr<const Relation>* Find(uint32_t oid) const;
  // "nsp.name" of a non-built-in type seen in a Type message, or "".
  std::string TypeName(uint32_t oid) const;
  void Clear();
  size_t size() const { return relations_.size(); }
  uint64_t updates() const { return updates_; }

 private:
  std::unordered_map<uint32_t, std::shared_ptr<const Relation>> relations_;
  std::unordered_map<uint32_t, std::string> types_;
  uint64_t updates_ = 0;
};

}  // namespace diskinv
