#include "store/inventory_store.h"

#include <fmt/format.h>
#include <malloc.h>

#include <algorithm>
#include <deque>
#include <map>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include "common/logging.h"
#include "store/device_row.h"
#include "store/migrations.h"
#include "store/node_index.h"
#include "store/node_rows.h"
#include "store/row_mirror.h"

namespace diskinv {

WriteStats& WriteStats::operator+=(const WriteStats& o) {
  inserted += o.inserted;
  updated += o.updated;
  revived += o.revived;
  moved += o.moved;
  tombstoned += o.tombstoned;
  skipped += o.skipped;
  retries += o.retries;
  edges_added += o.edges_added;
  edges_removed += o.edges_removed;
  conflicts_opened += o.conflicts_opened;
  conflicts_resolved += o.conflicts_resolved;
  transactions += o.transactions;
  unidentified += o.unidentified;
  held_elsewhere += o.held_elsewhere;
  full = full || o.full;
  return *this;
}

std::string WriteStats::Summary() const {
  std::vector<std::string> parts;
  auto add = [&](uint64_t n, std::string_view what) {
    if (n > 0) parts.push_back(fmt::format("{} {}", n, what));
  };
  add(inserted, "inserted");
  add(updated, "updated");
  add(revived, "revived");
  add(moved, "moved in");
  add(tombstoned, "tombstoned");
  add(edges_added, "edges added");
  add(edges_removed, "edges removed");
  add(conflicts_opened, "conflicts opened");
  add(conflicts_resolved, "conflicts resolved");
  if (parts.empty()) parts.push_back("no writes");
  add(skipped, "unchanged");
  add(unidentified, "without identifier");
  add(held_elsewhere, "present on another node (not written)");
  add(retries, "etag retries");
  return fmt::format("{}; {} transactions", fmt::join(parts, ", "), transactions);
}

namespace {

using Clock = std::chrono::steady_clock;

constexpr RowTable kTables[] = {RowTable::kDisk, RowTable::kPartition};
const char* Prefix(RowTable t) { return t == RowTable::kDisk ? "disk" : "partition"; }
std::string Quoted(const char* col) { return fmt::format("\"{}\"", col); }

// At most this many uids go in one `uid = ANY($1)`: libpq keeps its output buffer at the size of
// the largest message sent (all 30,000 uids of a node: 1 MB for the agent's lifetime).
constexpr size_t kUidsPerSelect = 1000;

bool Equal(const std::string& etag, const StoredRow& s, int64_t node_id) {
  return s.present && s.node_id == node_id && s.etag == etag;
}

// Multi-row INSERT: every column is a text[] parameter, unnested in parallel and cast. Rows
// whose uid exists already (a concurrent writer) are not returned and go through the update.
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
      "u({}) ON CONFLICT (uid) DO NOTHING RETURNING uid, id, etag",
      TableName(t), fmt::join(names, ", "), fmt::join(casts, ", "), fmt::join(arrays, ", "),
      fmt::join(names, ", "));
}

// Multi-row guarded UPDATE: $1 node, $2 ids, $3 uids, $4 etags read, $5 new etags, $6..
// values. The uid is part of the guard: the mirror keys rows by a hash of it (row_mirror.h).
std::string UpdateSql(RowTable t) {
  const auto& cols = TableColumns(t);
  std::vector<std::string> sets,
      names = {"id", "uid", "old_etag", "etag"},
      arrays = {"$2::bigint[]", "$3::text[]", "$4::text[]", "$5::text[]"};
  for (size_t i = 0; i < cols.size(); ++i) {
    sets.push_back(fmt::format("{0} = u.{0}::{1}", Quoted(cols[i].name), cols[i].type));
    names.push_back(Quoted(cols[i].name));
    arrays.push_back(fmt::format("${}::text[]", i + 6));
  }
  return fmt::format(
      "UPDATE {} AS t SET node_id = $1::bigint, etag = u.etag, state = 'present', removed_at = "
      "NULL, last_seen = now(), {} FROM unnest({}) AS u({}) WHERE t.id = u.id AND t.uid = u.uid "
      "AND t.etag = u.old_etag RETURNING t.uid, t.id, t.etag",
      TableName(t), fmt::join(sets, ", "), fmt::join(arrays, ", "), fmt::join(names, ", "));
}

// The tombstone gets its own etag ('r' + the one it replaces) so that a revival with the
// device's unchanged content is still a change of etag.
std::string TombstoneSql(RowTable t) {
  return fmt::format(
      "UPDATE {} AS t SET state = 'removed', removed_at = now(), etag = 'r' || t.etag FROM "
      "unnest($1::bigint[], $2::text[], $3::text[]) AS u(id, uid, etag) WHERE t.id = u.id AND "
      "t.uid = u.uid AND t.etag = u.etag AND t.state = 'present' RETURNING t.uid, t.id, t.etag",
      TableName(t));
}

std::string SelectSql(RowTable t, bool node) {
  return fmt::format("SELECT uid, id, etag, state, node_id FROM {} WHERE {}", TableName(t),
                     node ? "node_id = $1" : "uid = ANY($1::text[])");
}

StoredRow RowAt(const PgResult& r, int i) {
  return {r.Int(i, 1), r.Str(i, 2), r.Str(i, 3) == "present", r.Int(i, 4)};
}

void ReadRows(const PgResult& r, std::unordered_map<std::string, StoredRow>& out) {
  for (int i = 0; i < r.rows(); ++i) out[r.Str(i, 0)] = RowAt(r, i);
}

}  // namespace

// What this store last wrote (or read) for one node. Valid only between successful Syncs.
struct InventoryStore::Mirror {
  bool valid = false;
  int64_t node_id = 0;
  RowMirror rows[2];           // disk, partition
  NodeIndex index;             // identities, edges and conflicts of the inventory last written
  std::set<HolderEdge> edges;  // present edges of the node
  std::map<ConflictKey, ConflictRow> conflicts;  // open conflicts of the node

  RowMirror& Rows(RowTable t) { return rows[t == RowTable::kDisk ? 0 : 1]; }
  std::optional<StoredRow> Find(RowTable t, const std::string& uid) { return Rows(t).Find(uid); }
};

// The writes of one Sync call.
struct InventoryStore::Writer {
  enum class Kind { kTombstone, kUpdate, kInsert };
  struct Op {
    Kind kind;
    RowTable table;
    const DeviceRow* row;  // nullptr for tombstones
    std::string uid;
    StoredRow stored;  // update/tombstone: the state the write is guarded by
  };
  // Mirror changes of one transaction, applied after its COMMIT.
  struct Pending {
    std::vector<std::tuple<RowTable, std::string, StoredRow>> rows;
  };

  PgConnection& c;
  const StoreOptions& opt;
  Mirror& m;
  const NodeRef& node;
  WriteStats& st;
  uint64_t txn_writes = 0;

  std::string NodeId() const { return std::to_string(node.id); }

  // The rows of `uids` wherever they are, kUidsPerSelect uids a statement.
  Result<std::unordered_map<std::string, StoredRow>> Read(RowTable t, const PgParams& uids) {
    std::unordered_map<std::string, StoredRow> out;
    for (size_t i = 0; i < uids.size(); i += kUidsPerSelect) {
      PgParams chunk(
          uids.begin() + static_cast<ptrdiff_t>(i),
          uids.begin() + static_cast<ptrdiff_t>(std::min(uids.size(), i + kUidsPerSelect)));
      auto r = c.ExecPrepared(fmt::format("{}_select_uids", Prefix(t)), SelectSql(t, false),
                              {PgArray(chunk)});
      if (!r.ok()) return r.status();
      ReadRows(*r, out);
    }
    return out;
  }

  void Count(const StoredRow& before) {
    ++txn_writes;
    if (before.node_id != node.id) {
      ++st.moved;
    } else if (!before.present) {
      ++st.revived;
    } else {
      ++st.updated;
    }
  }

  Status Insert(RowTable t, const std::vector<const DeviceRow*>& rows, Pending& p, int depth) {
    if (rows.empty()) return Status::Ok();
    const size_t ncols = TableColumns(t).size();
    std::vector<PgParams> columns(ncols + 2);
    for (const DeviceRow* row : rows) {
      columns[0].push_back(row->uid);
      columns[1].push_back(StoredEtag(*row, node.id));
      for (size_t k = 0; k < ncols; ++k) columns[k + 2].push_back(row->values[k]);
    }
    PgParams params = {NodeId()};
    for (const auto& col : columns) params.push_back(PgArray(col));
    auto r = c.ExecPrepared(fmt::format("{}_insert", Prefix(t)), InsertSql(t), params);
    if (!r.ok()) return r.status();
    std::set<std::string> done;
    for (int i = 0; i < r->rows(); ++i) {
      done.insert(r->Str(i, 0));
      p.rows.emplace_back(t, r->Str(i, 0), StoredRow{r->Int(i, 1), r->Str(i, 2), true, node.id});
    }
    st.inserted += done.size();
    txn_writes += done.size();
    PgParams raced;
    for (const DeviceRow* row : rows) {
      if (!done.contains(row->uid)) raced.push_back(row->uid);
    }
    if (raced.empty()) return Status::Ok();
    // Inserted by another writer meanwhile (a disk moving in while its old node still writes).
    st.retries += raced.size();
    auto now = Read(t, raced);
    if (!now.ok()) return now.status();
    std::vector<std::pair<const DeviceRow*, StoredRow>> again;
    PgParams unseen;
    for (const DeviceRow* row : rows) {
      if (done.contains(row->uid)) continue;
      auto it = now->find(row->uid);
      if (it == now->end()) {
        unseen.push_back(row->uid);
      } else {
        again.emplace_back(row, it->second);
      }
    }
    if (Status s = HeldElsewhere(t, unseen); !s.ok()) return s;
    return Update(t, std::move(again), p, depth + 1);
  }

  // Rows the INSERT found taken but this session cannot read: under row-level security
  // (migration 0003) they are present on another node: a disk that moved in before its old node
  // tombstoned it, or one identifier on two nodes. The policies forbid writing them, so they are
  // left alone (counted, not an error: the rest of the Sync is written) until the old node
  // tombstones the row; the next full Sync then adopts it. diskinv.disk_locations() (SECURITY
  // DEFINER) tells them from rows deleted meanwhile, which are an error to retry.
  Status HeldElsewhere(RowTable t, const PgParams& uids) {
    if (uids.empty()) return Status::Ok();
    auto r = c.ExecPrepared("disk_locations",
                            "SELECT uid, node_id FROM diskinv.disk_locations($1::text[]) WHERE "
                            "tbl = $2 AND state = 'present'",
                            {PgArray(uids), t == RowTable::kDisk ? "disk" : "partition"});
    if (!r.ok()) return r.status();
    std::map<std::string, int64_t> where;
    for (int i = 0; i < r->rows(); ++i) where[r->Str(i, 0)] = r->Int(i, 1);
    for (const auto& uid : uids) {
      auto it = where.find(*uid);
      if (it == where.end() || it->second == node.id) {
        return Status(EAGAIN, fmt::format("{} {}: conflicting insert but no row", Prefix(t), *uid));
      }
      ++st.held_elsewhere;
      Logger("store")->debug(
          "{} {}: present on node {}, not written by node {} until it is "
          "tombstoned there",
          Prefix(t), *uid, it->second, node.id);
    }
    return Status::Ok();
  }

  // Guarded multi-row UPDATE; rows whose etag moved are re-read and retried.
  Status Update(RowTable t, std::vector<std::pair<const DeviceRow*, StoredRow>> items, Pending& p,
                int depth = 0) {
    const size_t ncols = TableColumns(t).size();
    for (int attempt = 0; !items.empty(); ++attempt) {
      if (attempt > opt.max_retries || depth > opt.max_retries) {
        return Status(EAGAIN, fmt::format("{} {}: gave up after {} lost etag races", Prefix(t),
                                          items[0].first->uid, attempt));
      }
      std::vector<PgParams> columns(ncols + 4);
      for (const auto& [row, s] : items) {
        if (opt.before_update) opt.before_update(row->uid);
        columns[0].push_back(std::to_string(s.id));
        columns[1].push_back(row->uid);
        columns[2].push_back(s.etag);
        columns[3].push_back(StoredEtag(*row, node.id));
        for (size_t k = 0; k < ncols; ++k) columns[k + 4].push_back(row->values[k]);
      }
      PgParams params = {NodeId()};
      for (const auto& col : columns) params.push_back(PgArray(col));
      auto r = c.ExecPrepared(fmt::format("{}_update", Prefix(t)), UpdateSql(t), params);
      if (!r.ok()) return r.status();
      std::set<std::string> done;
      for (int i = 0; i < r->rows(); ++i) {
        done.insert(r->Str(i, 0));
        p.rows.emplace_back(t, r->Str(i, 0), StoredRow{r->Int(i, 1), r->Str(i, 2), true, node.id});
      }
      PgParams raced;
      std::vector<std::pair<const DeviceRow*, StoredRow>> lost;
      for (auto& item : items) {
        if (done.contains(item.first->uid)) {
          Count(item.second);
        } else {
          raced.push_back(item.first->uid);
          lost.push_back(std::move(item));
        }
      }
      if (lost.empty()) return Status::Ok();
      st.retries += lost.size();
      Logger("store")->debug("{}: {} rows changed under us (etag), re-reading", Prefix(t),
                             lost.size());
      auto now = Read(t, raced);
      if (!now.ok()) return now.status();
      items.clear();
      std::vector<const DeviceRow*> vanished;
      for (auto& [row, old] : lost) {
        auto it = now->find(row->uid);
        if (it == now->end()) {
          vanished.push_back(row);  // deleted by hand meanwhile: insert it again
        } else if (Equal(StoredEtag(*row, node.id), it->second, node.id)) {
          ++st.skipped;  // someone wrote exactly what we wanted
          p.rows.emplace_back(t, row->uid, it->second);
        } else {
          items.emplace_back(row, it->second);
        }
      }
      if (Status s = Insert(t, vanished, p, depth + 1); !s.ok()) return s;
    }
    return Status::Ok();
  }

  Status Tombstone(RowTable t, std::vector<std::pair<std::string, StoredRow>> items, Pending& p) {
    for (int attempt = 0; !items.empty(); ++attempt) {
      if (attempt > opt.max_retries) {
        return Status(EAGAIN, fmt::format("{} {}: gave up tombstoning after {} lost etag races",
                                          Prefix(t), items[0].first, attempt));
      }
      PgParams ids, uids, etags;
      for (const auto& [uid, s] : items) {
        ids.push_back(std::to_string(s.id));
        uids.push_back(uid);
        etags.push_back(s.etag);
      }
      auto r = c.ExecPrepared(fmt::format("{}_tombstone", Prefix(t)), TombstoneSql(t),
                              {PgArray(ids), PgArray(uids), PgArray(etags)});
      if (!r.ok()) return r.status();
      std::set<std::string> done;
      for (int i = 0; i < r->rows(); ++i) {
        done.insert(r->Str(i, 0));
        p.rows.emplace_back(t, r->Str(i, 0), StoredRow{r->Int(i, 1), r->Str(i, 2), false, node.id});
      }
      st.tombstoned += done.size();
      txn_writes += done.size();
      PgParams raced;
      for (const auto& item : items) {
        if (!done.contains(item.first)) raced.push_back(item.first);
      }
      if (raced.empty()) return Status::Ok();
      st.retries += raced.size();
      auto now = Read(t, raced);
      if (!now.ok()) return now.status();
      items.clear();
      for (const auto& v : raced) {
        auto it = now->find(*v);
        if (it == now->end()) continue;
        p.rows.emplace_back(t, *v, it->second);
        // Gone, or moved to another node meanwhile: nothing to tombstone here.
        if (it->second.present && it->second.node_id == node.id) items.emplace_back(*v, it->second);
      }
    }
    return Status::Ok();
  }

  Status Edges(const std::vector<HolderEdge>& add, const std::vector<HolderEdge>& remove) {
    auto arrays = [](const std::vector<HolderEdge>& edges) {
      PgParams parents, children;
      for (const auto& e : edges) {
        parents.push_back(e.parent_uid);
        children.push_back(e.child_uid);
      }
      return std::pair(PgArray(parents), PgArray(children));
    };
    if (!add.empty()) {
      auto [p, ch] = arrays(add);
      auto r = c.ExecPrepared(
          "holder_upsert",
          "INSERT INTO diskinv.holder (node_id, parent_uid, child_uid) SELECT $1::bigint, p, c "
          "FROM unnest($2::text[], $3::text[]) AS u(p, c) ON CONFLICT (parent_uid, child_uid) DO "
          "UPDATE SET node_id = EXCLUDED.node_id, state = 'present', removed_at = NULL, "
          "last_seen = now() WHERE holder.state <> 'present' OR holder.node_id <> "
          "EXCLUDED.node_id",
          {NodeId(), p, ch});
      if (!r.ok()) return r.status();
      st.edges_added += r->affected();
      txn_writes += r->affected();
    }
    if (!remove.empty()) {
      auto [p, ch] = arrays(remove);
      auto r = c.ExecPrepared(
          "holder_tombstone",
          "UPDATE diskinv.holder SET state = 'removed', removed_at = now() WHERE node_id = $1 AND "
          "state = 'present' AND (parent_uid, child_uid) IN (SELECT p, c FROM unnest($2::text[], "
          "$3::text[]) AS u(p, c))",
          {NodeId(), p, ch});
      if (!r.ok()) return r.status();
      st.edges_removed += r->affected();
      txn_writes += r->affected();
    }
    return Status::Ok();
  }

  Status Conflicts(const std::vector<std::pair<ConflictKey, ConflictRow>>& open,
                   const std::vector<ConflictKey>& resolve) {
    for (const auto& [key, row] : open) {
      auto r = c.ExecPrepared(
          "conflict_upsert",
          "INSERT INTO diskinv.identity_conflict (node_id, kind, identifier, reason, devices) "
          "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (node_id, kind, identifier) DO UPDATE SET "
          "reason = EXCLUDED.reason, devices = EXCLUDED.devices, resolved_at = NULL, "
          "first_seen = CASE WHEN identity_conflict.resolved_at IS NULL THEN "
          "identity_conflict.first_seen ELSE now() END",
          {NodeId(), key.kind, key.identifier, row.reason, row.devices});
      if (!r.ok()) return r.status();
      ++st.conflicts_opened;
      ++txn_writes;
    }
    for (const ConflictKey& key : resolve) {
      auto r = c.ExecPrepared("conflict_resolve",
                              "UPDATE diskinv.identity_conflict SET resolved_at = now() WHERE "
                              "node_id = $1 AND kind = $2 AND identifier = $3 AND resolved_at "
                              "IS NULL",
                              {NodeId(), key.kind, key.identifier});
      if (!r.ok()) return r.status();
      ++st.conflicts_resolved;
      ++txn_writes;
    }
    return Status::Ok();
  }

  // Runs `ops` (and, when given, the edge and conflict changes) as one transaction.
  Status Transaction(const std::vector<Op>& ops, size_t begin, size_t end,
                     const std::function<Status()>& extra, Pending& p) {
    auto t0 = Clock::now();
    txn_writes = 0;
    if (auto r = c.Exec("BEGIN"); !r.ok()) return r.status();
    Status s = [&]() -> Status {
      for (Kind kind : {Kind::kTombstone, Kind::kUpdate, Kind::kInsert}) {
        for (RowTable t : kTables) {
          std::vector<std::pair<std::string, StoredRow>> tomb;
          std::vector<std::pair<const DeviceRow*, StoredRow>> upd;
          std::vector<const DeviceRow*> ins;
          for (size_t i = begin; i < end; ++i) {
            const Op& op = ops[i];
            if (op.kind != kind || op.table != t) continue;
            if (kind == Kind::kTombstone) tomb.emplace_back(op.uid, op.stored);
            if (kind == Kind::kUpdate) upd.emplace_back(op.row, op.stored);
            if (kind == Kind::kInsert) ins.push_back(op.row);
          }
          Status w = kind == Kind::kTombstone ? Tombstone(t, std::move(tomb), p)
                     : kind == Kind::kUpdate  ? Update(t, std::move(upd), p)
                                              : Insert(t, ins, p, 0);
          if (!w.ok()) return w;
        }
      }
      return extra ? extra() : Status::Ok();
    }();
    if (s.ok()) {
      if (auto r = c.Exec("COMMIT"); !r.ok()) s = r.status();
    }
    if (!s.ok()) {
      if (c.connected()) (void)c.Exec("ROLLBACK");
      return s;
    }
    ++st.transactions;
    if (opt.on_commit) opt.on_commit(Clock::now() - t0, txn_writes);
    return Status::Ok();
  }

  // Full mode: the node's rows, and the rows of the current uids (the index's) wherever they
  // are (moved in from another node). Rows of the node that are present and not current are
  // added to `tombstones` (found by uid string, not by the mirror's hashes).
  Status Load(std::vector<Op>& tombstones) {
    m.edges.clear();
    m.conflicts.clear();
    m.node_id = node.id;
    for (RowTable t : kTables) {
      // The uids of the devices of this table (one table at a time: 20,000 partition uids
      // are 1 MB); those without a row on this node are left in `want` below.
      std::unordered_set<std::string> want;
      m.index.ForEach([&](const std::string&, const DiskIdentity& id) {
        if (id.ok() && (id.source == IdentitySource::kPartition) == (t == RowTable::kPartition)) {
          want.insert(id.uid);
        }
      });
      RowMirror& rows = m.Rows(t);
      rows = RowMirror(node.id, opt.uid_hash);
      // The node's rows as they arrive (single-row mode): all 30,000 of a big node in one
      // PGresult were 3.3 MB on top of the agent's steady state, the peak of its RSS.
      rows.Reserve(want.size());
      Status st =
          c.ExecPreparedEach(fmt::format("{}_select_node", Prefix(t)), SelectSql(t, true),
                             {NodeId()}, [&](const PgResult& r) {
                               for (int i = 0; i < r.rows(); ++i) {
                                 std::string uid = r.Str(i, 0);
                                 StoredRow s = RowAt(r, i);
                                 if (want.erase(uid) == 0 && s.present && s.node_id == node.id) {
                                   tombstones.push_back({Kind::kTombstone, t, nullptr, uid, s});
                                 }
                                 rows.Set(uid, s);
                               }
                             });
      if (!st.ok()) return st;
      // The current uids without a row on this node: new, or on another node.
      PgParams elsewhere(want.begin(), want.end());
      want = {};
      auto moved = Read(t, elsewhere);
      if (!moved.ok()) return moved.status();
      elsewhere = {};
      for (const auto& [uid, s] : *moved) rows.Set(uid, s);
      // A key two of these uids share (a hash collision) made the mirror drop the row it had
      // first (row_mirror.h): the current uids it lost are read again by uid. Rare: the
      // devices are listed again only then.
      if (rows.shared() > 0) {
        PgParams lost;
        m.index.ForEach([&](const std::string&, const DiskIdentity& id) {
          bool part = id.source == IdentitySource::kPartition;
          if (id.ok() && part == (t == RowTable::kPartition) && rows.Unknown(id.uid)) {
            lost.push_back(id.uid);
          }
        });
        auto again = Read(t, lost);
        if (!again.ok()) return again.status();
        for (const auto& [uid, s] : *again) rows.Set(uid, s);
      }
      rows.Compact();
    }
    auto e = c.ExecPrepared("holder_select",
                            "SELECT parent_uid, child_uid FROM diskinv.holder WHERE node_id = $1 "
                            "AND state = 'present'",
                            {NodeId()});
    if (!e.ok()) return e.status();
    for (int i = 0; i < e->rows(); ++i) m.edges.insert({e->Str(i, 0), e->Str(i, 1)});
    auto k = c.ExecPrepared("conflict_select",
                            "SELECT kind, identifier, reason, devices FROM "
                            "diskinv.identity_conflict WHERE node_id = $1 AND resolved_at IS NULL",
                            {NodeId()});
    if (!k.ok()) return k.status();
    for (int i = 0; i < k->rows(); ++i) {
      m.conflicts[{k->Str(i, 0), k->Str(i, 1)}] = {k->Str(i, 2), k->Str(i, 3)};
    }
    return Status::Ok();
  }

  // Partial mode: rows of selected devices the mirror has never seen (new, or moved in).
  Status LoadUnknown(const std::vector<DeviceRow>& want) {
    for (RowTable t : kTables) {
      PgParams uids;
      for (const DeviceRow& row : want) {
        if (row.table == t && !m.Find(t, row.uid)) uids.push_back(row.uid);
      }
      auto r = Read(t, uids);
      if (!r.ok()) return r.status();
      for (const auto& [uid, s] : *r) m.Rows(t).Set(uid, s);
      m.Rows(t).Compact();
    }
    return Status::Ok();
  }

  Status TombstoneIfMine(std::vector<Op>& ops, const std::string& uid) {
    for (RowTable t : kTables) {
      if (m.Rows(t).Unknown(uid)) {  // its key is shared (row_mirror.h): read it
        auto r = Read(t, {uid});
        if (!r.ok()) return r.status();
        for (const auto& [u, s] : *r) m.Rows(t).Set(u, s);
      }
      std::optional<StoredRow> s = m.Find(t, uid);
      if (s && s->present && s->node_id == node.id) {
        ops.push_back({Kind::kTombstone, t, nullptr, uid, *s});
      }
    }
    return Status::Ok();
  }
};

InventoryStore::InventoryStore(std::unique_ptr<PgConnection> c, StoreOptions o)
    : conn_(std::move(c)), opt_(std::move(o)), mirror_(std::make_unique<Mirror>()) {}

InventoryStore::~InventoryStore() = default;

bool InventoryStore::has_mirror() const { return mirror_->valid; }

void InventoryStore::DropMirror() { mirror_ = std::make_unique<Mirror>(); }

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

Status InventoryStore::Prepare() {
  if (!conn_->connected()) {
    mirror_->valid = false;  // the server may have restarted from anything: read again
    session_ready_ = false;
  }
  if (Status s = conn_->EnsureConnected(); !s.ok()) return s;
  if (!session_ready_) {
    if (opt_.statement_timeout.count() > 0) {
      auto r =
          conn_->Exec(fmt::format("SET statement_timeout = {}", opt_.statement_timeout.count()));
      if (!r.ok()) return r.status();
    }
    session_ready_ = true;
  }
  return Status::Ok();
}

Result<NodeRef> InventoryStore::RegisterNode(const NodeInfo& info) {
  if (info.machine_id.empty()) return Status::Invalid("RegisterNode: empty machine_id");
  if (Status s = Prepare(); !s.ok()) return s;
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

Status InventoryStore::RecordFullScan(const NodeRef& node, const FullScanRecord& scan) {
  if (Status s = Prepare(); !s.ok()) return s;
  double at = std::chrono::duration<double>(scan.at.time_since_epoch()).count();
  auto r = conn_->ExecPrepared(
      "node_scan",
      "UPDATE diskinv.node SET last_full_scan = to_timestamp($2::double precision), last_seen = "
      "now(), missed_events = missed_events + $3, resyncs = resyncs + $4 WHERE id = $1",
      {std::to_string(node.id), fmt::format("{:.6f}", at), std::to_string(scan.missed_events),
       std::to_string(scan.resyncs)});
  return r.status();
}

Result<WriteStats> InventoryStore::Sync(const NodeRef& node, const DeviceSource& src,
                                        const std::vector<std::string>* touched,
                                        NodeIndex* walked) {
  if (Status s = Prepare(); !s.ok()) return s;
  WriteStats st;
  Mirror& m = *mirror_;
  Writer w{*conn_, opt_, m, node, st};
  st.full = touched == nullptr || !m.valid || m.node_id != node.id;
  m.valid = false;  // until this call succeeds
  using Kind = Writer::Kind;
  // Row writes go out in transactions of batch_rows as they are found, so that a full sync
  // holds one batch of rows, not the node's (the initial load of 30,000 rows: 1,000).
  const size_t chunk = std::max<size_t>(opt_.batch_rows, 1);
  std::vector<Writer::Op> ops;
  std::deque<DeviceRow> batch;  // the rows `ops` point to
  std::vector<HolderEdge> edges_add, edges_remove;
  std::vector<std::pair<ConflictKey, ConflictRow>> open;
  std::vector<ConflictKey> resolve;
  uint64_t written = 0;  // row writes of earlier transactions
  auto flush = [&](bool last) -> Status {
    if (written > 0 && opt_.between_transactions && !opt_.between_transactions()) {
      return Status(
          EINTR, fmt::format("sync of node {} interrupted after {} row writes", node.id, written));
    }
    Writer::Pending p;
    Status s = w.Transaction(ops, 0, ops.size(),
                             last ? std::function<Status()>([&] {
                               if (Status e = w.Edges(edges_add, edges_remove); !e.ok()) return e;
                               return w.Conflicts(open, resolve);
                             })
                                  : std::function<Status()>(),
                             p);
    if (!s.ok()) return s;
    for (const auto& [t, uid, row] : p.rows) m.Rows(t).Set(uid, row);
    for (RowMirror& rows : m.rows) rows.Compact();
    written += ops.size();
    ops.clear();
    batch.clear();
    return Status::Ok();
  };
  auto room = [&]() -> Status { return ops.size() < chunk ? Status::Ok() : flush(false); };
  // Writes `row` unless the mirror holds it already.
  auto consider = [&](DeviceRow row) -> Status {
    std::optional<StoredRow> s = m.Find(row.table, row.uid);
    if (s && Equal(StoredEtag(row, node.id), *s, node.id)) {
      ++st.skipped;
      return Status::Ok();
    }
    if (Status f = room(); !f.ok()) return f;
    batch.push_back(std::move(row));
    const DeviceRow& r = batch.back();
    ops.push_back({s ? Kind::kUpdate : Kind::kInsert, r.table, &r, r.uid, s ? *s : StoredRow{}});
    return Status::Ok();
  };
  if (st.full) {
    if (walked != nullptr && walked->node_key() == node.machine_id) {
      m.index = std::move(*walked);
    } else {
      m.index = NodeIndex(node.machine_id);
      m.index.Rebuild(src);
    }
    std::vector<Writer::Op> tombstones;
    if (Status s = w.Load(tombstones); !s.ok()) return s;
    std::set<HolderEdge> edges = m.index.Edges();
    std::set_difference(edges.begin(), edges.end(), m.edges.begin(), m.edges.end(),
                        std::back_inserter(edges_add));
    std::set_difference(m.edges.begin(), m.edges.end(), edges.begin(), edges.end(),
                        std::back_inserter(edges_remove));
    std::map<ConflictKey, ConflictRow> conflicts = m.index.Conflicts();
    for (const auto& [key, row] : conflicts) {
      auto it = m.conflicts.find(key);
      if (it == m.conflicts.end() || !(it->second == row)) open.emplace_back(key, row);
    }
    for (const auto& [key, row] : m.conflicts) {
      if (!conflicts.contains(key)) resolve.push_back(key);
    }
    for (auto& op : tombstones) {
      if (Status s = room(); !s.ok()) return s;
      ops.push_back(std::move(op));
    }
    // A row whose stored etag is the one the index computed is unchanged: no need for the
    // device. The others are read again: one at a time (src.Find) when they are few, else in
    // one pass over the source (for the agent's, a walk: cheaper than probing most devices of
    // a node one by one, and the initial load needs every device).
    std::set<std::string, std::less<>> need;
    m.index.ForEach([&](const std::string& kname, const DiskIdentity& id) {
      if (!id.ok()) return;
      RowTable t = id.source == IdentitySource::kPartition ? RowTable::kPartition : RowTable::kDisk;
      std::optional<StoredRow> s = m.Find(t, id.uid);
      std::string etag = m.index.RowEtag(kname);
      if (s && !etag.empty() && Equal(StoredEtag(etag, node.id), *s, node.id)) {
        ++st.skipped;
      } else {
        need.insert(kname);
      }
    });
    Status failed;
    auto write = [&](const BlockDevice& d) {
      if (failed.ok()) failed = consider(MakeDeviceRow(d, *m.index.Find(d.kname)));
    };
    if (need.size() * 8 > m.index.size()) {
      src.ForEach([&](const BlockDevice& d) {
        if (need.contains(d.kname)) write(d);
      });
    } else {
      for (const std::string& kname : need) {
        // A device gone since is not written: its removal is the next change.
        if (const BlockDevice* d = src.Find(kname)) write(*d);
        src.Release();
      }
    }
    if (!failed.ok()) return failed;
  } else {
    // The devices the event touched and those the index re-identified with them (a duplicate
    // appeared or went away, a whole disk's uid changed under its partitions): O(touched).
    IndexChange change = m.index.Update(src, *touched);
    std::vector<DeviceRow> want;
    for (const auto& [kname, before] : change.knames) {
      const BlockDevice* d = src.Find(kname);
      std::optional<DiskIdentity> id = m.index.Find(kname);
      if (d != nullptr && id && id->ok()) want.push_back(MakeDeviceRow(*d, *id));
    }
    if (Status s = w.LoadUnknown(want); !s.ok()) return s;
    std::set<std::string> selected_uids;
    for (const DeviceRow& row : want) selected_uids.insert(row.uid);
    // A uid last written for one of these knames that no device holds now: tombstone.
    for (const auto& [kname, before] : change.knames) {
      if (before.empty() || selected_uids.contains(before)) continue;
      std::optional<DiskIdentity> now = m.index.Find(kname);
      if (now && now->uid == before) continue;
      if (Status s = w.TombstoneIfMine(ops, before); !s.ok()) return s;
    }
    for (const HolderEdge& e : change.edges) {
      bool wanted = m.index.HasEdge(e), stored = m.edges.contains(e);
      if (wanted && !stored) edges_add.push_back(e);
      if (!wanted && stored) edges_remove.push_back(e);
    }
    for (const ConflictKey& key : change.conflicts) {
      std::optional<ConflictRow> row = m.index.Conflict(key);
      auto it = m.conflicts.find(key);
      if (row && (it == m.conflicts.end() || !(it->second == *row))) open.emplace_back(key, *row);
      if (!row && it != m.conflicts.end()) resolve.push_back(key);
    }
    for (DeviceRow& row : want) {
      if (Status s = consider(std::move(row)); !s.ok()) return s;
    }
  }
  st.unidentified = m.index.unidentified();
  bool side = !edges_add.empty() || !edges_remove.empty() || !open.empty() || !resolve.empty();
  if (!ops.empty() || side) {
    if (Status s = flush(true); !s.ok()) return s;
    for (const auto& e : edges_add) m.edges.insert(e);
    for (const auto& e : edges_remove) m.edges.erase(e);
    for (const auto& [key, row] : open) m.conflicts[key] = row;
    for (const auto& key : resolve) m.conflicts.erase(key);
  }
  m.node_id = node.id;
  m.valid = true;
  // A full sync frees megabytes of rows and results in small pieces; give the pages back
  // rather than keep the load's high-water mark as the agent's resident size.
  if (st.full) malloc_trim(0);
  Logger("store")->debug("node {} {} sync: {}", node.id, st.full ? "full" : "event", st.Summary());
  return st;
}

}  // namespace diskinv
