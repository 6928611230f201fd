#include "store/inventory_store.h"

#include <algorithm>
#include <map>
#include <set>
#include <unordered_map>

#include <fmt/format.h>

#include "common/logging.h"
#include "model/disk_identity.h"
#include "store/device_row.h"
#include "store/migrations.h"

namespace diskinv {

WriteStats& WriteStats::operator+=(const WriteStats& o) {
  inserted += o.inserted;
  updated += o.updated;
  revived += o.revived;
  tombstoned += o.tombstoned;
  skipped += o.skipped;
  retries += o.retries;
  edges_added += o.edges_added;
  edges_removed += o.edges_removed;
  conflicts_opened += o.conflicts_opened;
  conflicts_resolved += o.conflicts_resolved;
  transactions += o.transactions;
  return *this;
}

namespace {

struct StoredRow {
  int64_t id = 0;
  std::string etag;
  bool present = false;
  int64_t node_id = 0;
};

const char* Prefix(RowTable t) { return t == RowTable::kDisk ? "disk" : "partition"; }

std::string Quoted(const char* col) { return fmt::format("\"{}\"", col); }

// Multi-row insert of N rows as one statement: every column is a text[] parameter, unnested in
// parallel and cast to its type. Rows whose uid exists already (a concurrent writer) are not
// returned and go through the guarded update path.
std::string InsertSql(RowTable t) {
  const auto& cols = TableColumns(t);
  std::vector<std::string> names = {"uid", "etag"}, casts = {"u.uid", "u.etag"},
                           arrays = {"$2::text[]", "$3::text[]"};
  for (size_t i = 0; i < cols.size(); ++i) {
    names.push_back(Quoted(cols[i].name));
    casts.push_back(fmt::format("u.{}::{}", Quoted(cols[i].name), cols[i].type));
    arrays.push_back(fmt::format("${}::text[]", i + 4));
  }
  return fmt::format(
      "INSERT INTO {} (node_id, last_seen, {}) SELECT $1::bigint, now(), {} FROM unnest({}) AS "
      "u({}) ON CONFLICT (uid) DO NOTHING RETURNING uid",
      TableName(t), fmt::join(names, ", "), fmt::join(casts, ", "), fmt::join(arrays, ", "),
      fmt::join(names, ", "));
}

// $1 id, $2 node, $3 new etag, $4 etag read, $5.. values.
std::string UpdateSql(RowTable t) {
  const auto& cols = TableColumns(t);
  std::vector<std::string> sets;
  for (size_t i = 0; i < cols.size(); ++i) {
    sets.push_back(fmt::format("{} = ${}::{}", Quoted(cols[i].name), i + 5, cols[i].type));
  }
  return fmt::format(
      "UPDATE {} SET node_id = $2, etag = $3, state = 'present', removed_at = NULL, last_seen = "
      "now(), {} WHERE id = $1 AND etag = $4",
      TableName(t), fmt::join(sets, ", "));
}

std::string SelectSql(RowTable t, bool one) {
  return fmt::format("SELECT uid, id, etag, state, node_id FROM {} WHERE {}", TableName(t),
                     one ? "uid = $1" : "node_id = $1 OR uid = ANY($2::text[])");
}

// The tombstone gets its own etag ('r' + the one it replaces) so that a revival with the
// device's unchanged content is still a change of etag.
std::string TombstoneSql(RowTable t) {
  return fmt::format(
      "UPDATE {} SET state = 'removed', removed_at = now(), etag = 'r' || etag WHERE id = $1 AND "
      "etag = $2 AND state = 'present'",
      TableName(t));
}

void ReadRows(const PgResult& r, std::unordered_map<std::string, StoredRow>& out) {
  for (int i = 0; i < r.rows(); ++i) {
    out[r.Str(i, 0)] = {r.Int(i, 1), r.Str(i, 2), r.Str(i, 3) == "present", r.Int(i, 4)};
  }
}

}  // namespace

// The diff-and-write machinery, per table; holds references only for one call.
struct InventoryStore::Impl {
  PgConnection& c;
  const StoreOptions& opt;
  const NodeRef& node;
  WriteStats& st;

  std::string NodeId() const { return std::to_string(node.id); }

  bool Equal(const DeviceRow& row, const StoredRow& s) const {
    return s.present && s.etag == row.etag && s.node_id == node.id;
  }

  Result<std::optional<StoredRow>> ReadOne(RowTable t, const std::string& uid) {
    auto r = c.ExecPrepared(fmt::format("{}_select_one", Prefix(t)), SelectSql(t, true), {uid});
    if (!r.ok()) return r.status();
    std::unordered_map<std::string, StoredRow> m;
    ReadRows(*r, m);
    if (m.empty()) return std::optional<StoredRow>();
    return std::optional<StoredRow>(m.begin()->second);
  }

  // Inserts `rows` (all new) in chunks; one statement, one transaction per chunk.
  Status Insert(RowTable t, const std::vector<const DeviceRow*>& rows) {
    size_t chunk = rows.size() < opt.batch_threshold ? 1 : std::max<size_t>(opt.batch_rows, 1);
    const size_t ncols = TableColumns(t).size();
    for (size_t begin = 0; begin < rows.size(); begin += chunk) {
      size_t end = std::min(rows.size(), begin + chunk);
      std::vector<PgParams> columns(ncols + 2);
      for (size_t i = begin; i < end; ++i) {
        columns[0].push_back(rows[i]->uid);
        columns[1].push_back(rows[i]->etag);
        for (size_t k = 0; k < ncols; ++k) columns[k + 2].push_back(rows[i]->values[k]);
      }
      PgParams params = {NodeId()};
      for (const auto& col : columns) params.push_back(PgArray(col));
      auto r = c.ExecPrepared(fmt::format("{}_insert", Prefix(t)), InsertSql(t), params);
      if (!r.ok()) return r.status();
      ++st.transactions;
      std::set<std::string> done;
      for (int i = 0; i < r->rows(); ++i) done.insert(r->Str(i, 0));
      st.inserted += done.size();
      for (size_t i = begin; i < end; ++i) {
        if (done.contains(rows[i]->uid)) continue;
        ++st.retries;  // inserted by someone else meanwhile: update theirs
        auto s = ReadOne(t, rows[i]->uid);
        if (!s.ok()) return s.status();
        if (!*s) return Status(EAGAIN, fmt::format("row {} vanished during insert", rows[i]->uid));
        if (Status w = Write(t, *rows[i], **s); !w.ok()) return w;
      }
    }
    return Status::Ok();
  }

  // Guarded UPDATE of an existing row; re-reads and retries when the etag moved.
  Status Write(RowTable t, const DeviceRow& row, StoredRow s) {
    std::string sql = UpdateSql(t);
    for (int attempt = 0;; ++attempt) {
      if (Equal(row, s)) {
        ++st.skipped;
        return Status::Ok();
      }
      if (opt.before_update) opt.before_update(row.uid);
      PgParams p = {std::to_string(s.id), NodeId(), row.etag, s.etag};
      p.insert(p.end(), row.values.begin(), row.values.end());
      auto r = c.ExecPrepared(fmt::format("{}_update", Prefix(t)), sql, p);
      if (!r.ok()) return r.status();
      if (r->affected() == 1) {
        ++st.transactions;
        ++(s.present ? st.updated : st.revived);
        return Status::Ok();
      }
      if (attempt >= opt.max_retries) {
        return Status(EAGAIN, fmt::format("{} {}: gave up after {} lost etag races", Prefix(t),
                                          row.uid, attempt + 1));
      }
      ++st.retries;
      Logger("store")->debug("{} {}: etag {} changed under us, re-reading", Prefix(t), row.uid,
                             s.etag);
      auto again = ReadOne(t, row.uid);
      if (!again.ok()) return again.status();
      if (!*again) return Insert(t, {&row});
      s = **again;
    }
  }

  Status TombstoneRow(RowTable t, const std::string& uid, StoredRow s) {
    for (int attempt = 0;; ++attempt) {
      if (!s.present || s.node_id != node.id) return Status::Ok();  // gone or moved away
      auto r = c.ExecPrepared(fmt::format("{}_tombstone", Prefix(t)), TombstoneSql(t),
                              {std::to_string(s.id), s.etag});
      if (!r.ok()) return r.status();
      if (r->affected() == 1) {
        ++st.transactions;
        ++st.tombstoned;
        return Status::Ok();
      }
      if (attempt >= opt.max_retries) {
        return Status(EAGAIN, fmt::format("{} {}: gave up tombstoning after {} lost etag races",
                                          Prefix(t), uid, attempt + 1));
      }
      ++st.retries;
      auto again = ReadOne(t, uid);
      if (!again.ok()) return again.status();
      if (!*again) return Status::Ok();
      s = **again;
    }
  }

  // Writes `rows` (all of table t) where they differ; with `tombstone_missing`, present rows
  // of the node that are not in `rows` become tombstones.
  Status Sync(RowTable t, const std::vector<DeviceRow>& rows, bool tombstone_missing) {
    PgParams uids;
    for (const auto& r : rows) uids.push_back(r.uid);
    std::unordered_map<std::string, StoredRow> stored;
    if (tombstone_missing) {
      auto r = c.ExecPrepared(fmt::format("{}_select", Prefix(t)), SelectSql(t, false),
                              {NodeId(), PgArray(uids)});
      if (!r.ok()) return r.status();
      ReadRows(*r, stored);
    } else {
      for (const auto& row : rows) {
        auto s = ReadOne(t, row.uid);
        if (!s.ok()) return s.status();
        if (*s) stored[row.uid] = **s;
      }
    }
    std::vector<const DeviceRow*> fresh;
    std::set<std::string> wanted;
    for (const DeviceRow& row : rows) {
      wanted.insert(row.uid);
      auto it = stored.find(row.uid);
      if (it == stored.end()) {
        fresh.push_back(&row);
      } else if (Status w = Write(t, row, it->second); !w.ok()) {
        return w;
      }
    }
    if (Status s = Insert(t, fresh); !s.ok()) return s;
    if (!tombstone_missing) return Status::Ok();
    for (const auto& [uid, s] : stored) {
      if (wanted.contains(uid) || !s.present || s.node_id != node.id) continue;
      if (Status w = TombstoneRow(t, uid, s); !w.ok()) return w;
    }
    return Status::Ok();
  }

  Status SyncHolders(const std::set<std::pair<std::string, std::string>>& want) {
    auto r = c.ExecPrepared("holder_select", "SELECT parent_uid, child_uid FROM diskinv.holder "
                            "WHERE node_id = $1", {NodeId()});
    if (!r.ok()) return r.status();
    std::set<std::pair<std::string, std::string>> have;
    for (int i = 0; i < r->rows(); ++i) have.emplace(r->Str(i, 0), r->Str(i, 1));
    PgParams add_p, add_c, del_p, del_c;
    for (const auto& e : want) {
      if (!have.contains(e)) add_p.push_back(e.first), add_c.push_back(e.second);
    }
    for (const auto& e : have) {
      if (!want.contains(e)) del_p.push_back(e.first), del_c.push_back(e.second);
    }
    if (!add_p.empty()) {
      auto a = c.ExecPrepared(
          "holder_insert",
          "INSERT INTO diskinv.holder (node_id, parent_uid, child_uid) SELECT $1::bigint, p, c "
          "FROM unnest($2::text[], $3::text[]) AS u(p, c) ON CONFLICT (parent_uid, child_uid) "
          "DO UPDATE SET node_id = EXCLUDED.node_id",
          {NodeId(), PgArray(add_p), PgArray(add_c)});
      if (!a.ok()) return a.status();
      st.edges_added += add_p.size();
      ++st.transactions;
    }
    if (!del_p.empty()) {
      auto d = c.ExecPrepared(
          "holder_delete",
          "DELETE FROM diskinv.holder WHERE node_id = $1 AND (parent_uid, child_uid) IN (SELECT "
          "p, c FROM unnest($2::text[], $3::text[]) AS u(p, c))",
          {NodeId(), PgArray(del_p), PgArray(del_c)});
      if (!d.ok()) return d.status();
      st.edges_removed += d->affected();
      ++st.transactions;
    }
    return Status::Ok();
  }

  struct Conflict {
    std::string reason;
    std::set<std::string> devices;
  };
  using ConflictKey = std::pair<std::string, std::string>;  // kind, identifier

  Status SyncConflicts(const std::map<ConflictKey, Conflict>& want) {
    auto r = c.ExecPrepared("conflict_select",
                            "SELECT kind, identifier, reason, devices FROM "
                            "diskinv.identity_conflict WHERE node_id = $1 AND resolved_at IS NULL",
                            {NodeId()});
    if (!r.ok()) return r.status();
    std::map<ConflictKey, std::pair<std::string, std::string>> have;
    for (int i = 0; i < r->rows(); ++i) {
      have[{r->Str(i, 0), r->Str(i, 1)}] = {r->Str(i, 2), r->Str(i, 3)};
    }
    for (const auto& [key, cf] : want) {
      std::string devices = fmt::format("{}", fmt::join(cf.devices, ","));
      auto it = have.find(key);
      if (it != have.end() && it->second == std::pair(cf.reason, devices)) continue;
      auto u = c.ExecPrepared(
          "conflict_upsert",
          "INSERT INTO diskinv.identity_conflict (node_id, kind, identifier, reason, devices) "
          "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (node_id, kind, identifier) DO UPDATE SET "
          "reason = EXCLUDED.reason, devices = EXCLUDED.devices, resolved_at = NULL, "
          "first_seen = CASE WHEN identity_conflict.resolved_at IS NULL THEN "
          "identity_conflict.first_seen ELSE now() END",
          {NodeId(), key.first, key.second, cf.reason, devices});
      if (!u.ok()) return u.status();
      ++st.conflicts_opened;
      ++st.transactions;
    }
    for (const auto& [key, v] : have) {
      if (want.contains(key)) continue;
      auto u = c.ExecPrepared("conflict_resolve",
                              "UPDATE diskinv.identity_conflict SET resolved_at = now() WHERE "
                              "node_id = $1 AND kind = $2 AND identifier = $3 AND resolved_at "
                              "IS NULL",
                              {NodeId(), key.first, key.second});
      if (!u.ok()) return u.status();
      ++st.conflicts_resolved;
      ++st.transactions;
    }
    return Status::Ok();
  }
};

Result<std::unique_ptr<InventoryStore>> InventoryStore::Connect(const std::string& url,
                                                                StoreOptions options) {
  auto c = PgConnection::Connect(url);
  if (!c.ok()) return c.status();
  auto s = GetSchemaStatus(**c);
  if (!s.ok()) return s.status();
  if (s->current < s->latest) {
    return Status(EINVAL, fmt::format("database {} has schema version {}, this diskinv needs {}: "
                                      "run `diskinv db migrate`",
                                      (*c)->display_url(), s->current, s->latest));
  }
  for (const auto& p : s->problems) Logger("store")->warn("{}", p);
  return std::unique_ptr<InventoryStore>(new InventoryStore(std::move(*c), std::move(options)));
}

Result<NodeRef> InventoryStore::RegisterNode(const NodeInfo& info) {
  if (info.machine_id.empty()) return Status::Invalid("RegisterNode: empty machine_id");
  if (Status s = conn_->EnsureConnected(); !s.ok()) return s;
  // The WHERE makes a registration with unchanged values no write at all.
  auto r = conn_->ExecPrepared(
      "node_register",
      "INSERT INTO diskinv.node (machine_id, hostname, boot_id, agent_version) VALUES ($1, $2, "
      "$3, $4) ON CONFLICT (machine_id) DO UPDATE SET hostname = EXCLUDED.hostname, boot_id = "
      "EXCLUDED.boot_id, agent_version = EXCLUDED.agent_version, last_seen = now() WHERE "
      "(node.hostname, node.boot_id, node.agent_version) IS DISTINCT FROM (EXCLUDED.hostname, "
      "EXCLUDED.boot_id, EXCLUDED.agent_version) RETURNING id",
      {info.machine_id, info.hostname, info.boot_id, info.agent_version});
  if (!r.ok()) return r.status();
  NodeRef ref{0, info.machine_id};
  if (r->rows() == 1) {
    ref.id = r->Int(0, 0);
    return ref;
  }
  auto q = conn_->ExecPrepared("node_lookup", "SELECT id FROM diskinv.node WHERE machine_id = $1",
                               {info.machine_id});
  if (!q.ok()) return q.status();
  if (q->rows() != 1) return Status(EAGAIN, "node " + info.machine_id + " vanished");
  ref.id = q->Int(0, 0);
  return ref;
}

Status InventoryStore::RecordFullScan(const NodeRef& node, uint64_t missed_events, bool resync) {
  if (Status s = conn_->EnsureConnected(); !s.ok()) return s;
  auto r = conn_->ExecPrepared(
      "node_scan",
      "UPDATE diskinv.node SET last_full_scan = now(), last_seen = now(), missed_events = "
      "missed_events + $2, resyncs = resyncs + $3 WHERE id = $1",
      {std::to_string(node.id), std::to_string(missed_events), resync ? "1" : "0"});
  return r.status();
}

Result<WriteStats> InventoryStore::ApplyInventory(const NodeRef& node, const Inventory& inv) {
  if (Status s = conn_->EnsureConnected(); !s.ok()) return s;
  WriteStats st;
  Impl impl{*conn_, opt_, node, st};
  std::vector<DiskIdentity> ids = IdentifyInventory(inv, node.machine_id);
  const auto& devs = inv.devices();
  std::vector<DeviceRow> disks, parts;
  std::map<Impl::ConflictKey, Impl::Conflict> conflicts;
  std::set<std::pair<std::string, std::string>> edges;
  for (size_t i = 0; i < devs.size(); ++i) {
    const DiskIdentity& id = ids[i];
    for (const auto& rej : id.rejected) {
      auto& cf = conflicts[{"bogus", fmt::format("{}:{}", rej.kind, rej.value)}];
      cf.reason = rej.reason;
      cf.devices.insert(devs[i].kname);
    }
    if (!id.ok()) {
      Logger("store")->warn("{}: no usable identifier, not stored", devs[i].kname);
      continue;
    }
    if (!id.conflict.empty()) {
      auto& cf = conflicts[{"duplicate", fmt::format("{}:{}", IdentitySourceName(id.source),
                                                     id.identifier)}];
      cf.reason = id.conflict;
      cf.devices.insert(devs[i].kname);
    }
    for (const std::string& lower : devs[i].slaves) {
      const BlockDevice* p = inv.FindByName(lower);
      if (p == nullptr) continue;
      const DiskIdentity& pid = ids[static_cast<size_t>(p - devs.data())];
      if (pid.ok()) edges.emplace(pid.uid, id.uid);
    }
    DeviceRow row = MakeDeviceRow(devs[i], id);
    (row.table == RowTable::kDisk ? disks : parts).push_back(std::move(row));
  }
  for (auto [t, rows] : {std::pair{RowTable::kDisk, &disks}, {RowTable::kPartition, &parts}}) {
    if (Status s = impl.Sync(t, *rows, true); !s.ok()) return s;
  }
  if (Status s = impl.SyncHolders(edges); !s.ok()) return s;
  if (Status s = impl.SyncConflicts(conflicts); !s.ok()) return s;
  Logger("store")->debug(
      "node {}: {} inserted, {} updated, {} revived, {} tombstoned, {} unchanged, {} retries",
      node.id, st.inserted, st.updated, st.revived, st.tombstoned, st.skipped, st.retries);
  return st;
}

Result<WriteStats> InventoryStore::UpsertDevice(const NodeRef& node, const Inventory& inv,
                                                std::string_view kname) {
  if (Status s = conn_->EnsureConnected(); !s.ok()) return s;
  const BlockDevice* dev = inv.FindByName(kname);
  if (dev == nullptr) return Status(ENOENT, fmt::format("{}: not in the inventory", kname));
  WriteStats st;
  Impl impl{*conn_, opt_, node, st};
  std::vector<DiskIdentity> ids = IdentifyInventory(inv, node.machine_id);
  std::vector<DeviceRow> disks, parts;
  const auto& devs = inv.devices();
  for (size_t i = 0; i < devs.size(); ++i) {
    bool mine = devs[i].kname == kname || (!dev->is_partition && devs[i].is_partition &&
                                            devs[i].pkname == kname);
    if (!mine || !ids[i].ok()) continue;
    DeviceRow row = MakeDeviceRow(devs[i], ids[i]);
    (row.table == RowTable::kDisk ? disks : parts).push_back(std::move(row));
  }
  if (Status s = impl.Sync(RowTable::kDisk, disks, false); !s.ok()) return s;
  if (Status s = impl.Sync(RowTable::kPartition, parts, false); !s.ok()) return s;
  return st;
}

Result<WriteStats> InventoryStore::Tombstone(const NodeRef& node, std::string_view uid) {
  if (Status s = conn_->EnsureConnected(); !s.ok()) return s;
  WriteStats st;
  Impl impl{*conn_, opt_, node, st};
  for (RowTable t : {RowTable::kDisk, RowTable::kPartition}) {
    auto s = impl.ReadOne(t, std::string(uid));
    if (!s.ok()) return s.status();
    if (*s) {
      if (Status w = impl.TombstoneRow(t, std::string(uid), **s); !w.ok()) return w;
    }
  }
  return st;
}

}  // namespace diskinv
