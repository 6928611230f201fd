#include "cdc/relation_cache.h"

namespace diskinv {

int Relation::Find(std::string_view name) const {
  for (size_t i = 0; i < columns.size(); ++i) {
    if (columns[i].name == name) return static_cast<int>(i);
  }
  return -1;
}

std::shared_ptr<const Relation> RelationCache::Update(const PgoutputMessage& m) {
  auto r = std::make_shared<Relation>();
  r->oid = m.relid;
  r->nspname = m.nspname;
  r->relname = m.relname;
  r->qualified_name = (m.nspname.empty() ? "pg_catalog" : std::string(m.nspname)) + "." +
                      std::string(m.relname);
  r->replica_identity = m.replica_identity;
  r->columns.reserve(m.attributes.size());
  for (const auto& a : m.attributes) {
    r->columns.push_back({std::string(a.name), a.type_oid, a.typmod, a.key});
  }
  ++updates_;
  std::shared_ptr<const Relation> c = std::move(r);
  relations_[m.relid] = c;
  return c;
}

void RelationCache::UpdateType(const PgoutputMessage& m) {
  types_[m.type_oid] = (m.nspname.empty() ? std::string() : std::string(m.nspname) + ".") +
                       std::string(m.relname);
}

const std::shared_ptr<const Relation>* RelationCache::Find(uint32_t oid) const {
  auto it = relations_.find(oid);
  return it == relations_.end() ? nullptr : &it->second;
}

std::string RelationCache::TypeName(uint32_t oid) const {
  auto it = types_.find(oid);
  return it == types_.end() ? std::string() : it->second;
}

void RelationCache::Clear() {
  relations_.clear();
  types_.clear();
}

}  // namespace diskinv
