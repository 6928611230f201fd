#include "cdc/replay.h"

#include <algorithm>

#include <fmt/format.h>

#include "cdc/event_group.h"
#include "common/logging.h"

namespace diskinv {

const std::vector<std::string>& ReplayableTables() {
  static const std::vector<std::string> t = {"disk", "partition", "node", "pool", "pool_policy",
                                             "tuning_profile"};
  return t;
}

Result<ReplayResult> Replay(PgConnection& read, const ReplayRequest& req, ChangeHandler& handler,
                            PgConnection* txn) {
  const auto& tables = ReplayableTables();
  if (std::find(tables.begin(), tables.end(), req.table) == tables.end()) {
    return Status::Invalid(fmt::format("cannot replay table '{}': choose one of {}", req.table,
                                       fmt::join(tables, ", ")));
  }
  ReplayResult res;
  std::string col = req.update ? "cdc_updated" : "cdc_inserted";
  std::vector<std::string> where = {col + " IS NOT NULL"};
  PgParams params;
  auto param = [&](std::string v) {
    params.push_back(std::move(v));
    return fmt::format("${}", params.size());
  };
  if (req.id) where.push_back(fmt::format("id = {}::bigint", param(std::to_string(*req.id))));
  if (req.from_id) where.push_back(fmt::format("id >= {}::bigint", param(std::to_string(*req.from_id))));
  if (req.to_id) where.push_back(fmt::format("id <= {}::bigint", param(std::to_string(*req.to_id))));
  if (req.since) {
    auto tct = read.Exec("SELECT current_setting('track_commit_timestamp')");
    if (!tct.ok()) return tct.status();
    res.commit_timestamps = tct->Str(0, 0) == "on";
    std::string since = param(*req.since);
    std::string margin = param(fmt::format("{} seconds", req.margin.count()));
    std::string window = fmt::format("{} >= {}::timestamptz - {}::interval", col, since, margin);
    if (res.commit_timestamps) {
      window = fmt::format("({} OR pg_xact_commit_timestamp(xmin) >= {}::timestamptz)", window,
                           since);
    }
    where.push_back(window);
  }
  // Keyset pagination by id: the last parameter is the id to continue after.
  params.push_back("0");
  std::string after = fmt::format("${}", params.size());
  std::string sql = fmt::format(
      "SELECT * FROM diskinv.{} WHERE {} AND id > {}::bigint ORDER BY id LIMIT {}", req.table,
      fmt::join(where, " AND "), after, std::max<size_t>(req.batch_rows, 1));
  // A Relation for the replayed rows, built from the result's columns on the first batch.
  std::shared_ptr<Relation> rel;
  EventGroupPool pool;
  std::vector<TupleColumn> cols;
  while (true) {
    auto r = read.Exec(sql, params);
    if (!r.ok()) return r.status();
    if (r->rows() == 0) break;
    auto group = pool.Acquire();
    group->replayed = true;
    group->transactional = true;
    group->last_part = true;
    if (!rel) {
      rel = std::make_shared<Relation>();
      rel->nspname = "diskinv";
      rel->relname = req.table;
      rel->qualified_name = "diskinv." + req.table;
      for (int c = 0; c < r->columns(); ++c) {
        rel->columns.push_back({r->ColumnName(c), r->ColumnType(c), -1, r->ColumnName(c) == "id"});
      }
    }
    std::shared_ptr<const Relation> crel = rel;
    int id_col = rel->Find("id");
    for (int i = 0; i < r->rows(); ++i) {
      cols.clear();
      for (int c = 0; c < r->columns(); ++c) {
        auto v = r->Get(i, c);
        cols.push_back(v ? TupleColumn{TupleKind::kText, *v} : TupleColumn{TupleKind::kNull, {}});
      }
      Change& ch = group->AddChange(req.update ? ChangeKind::kUpdate : ChangeKind::kInsert, 0, crel);
      group->SetNewTuple(ch, cols);
    }
    int64_t first = r->Int(0, id_col), last = r->Int(r->rows() - 1, id_col);
    if (res.rows == 0) res.first_id = first;
    res.last_id = last;
    res.rows += static_cast<uint64_t>(r->rows());
    ++res.batches;
    params.back() = std::to_string(last);
    if (req.dry_run) continue;
    const EventGroup* ptr = group.get();
    std::span<const EventGroup* const> span(&ptr, 1);
    if (txn != nullptr) {
      if (auto b = txn->Exec("BEGIN"); !b.ok()) return b.status();
      Status st = handler.Handle(span, txn);
      if (!st.ok()) {
        (void)txn->Exec("ROLLBACK");
        return Status(st.code(), fmt::format("replay of {} ids {}..{}: {}", req.table, first, last,
                                             st.message()));
      }
      if (auto c = txn->Exec("COMMIT"); !c.ok()) return c.status();
    } else if (Status st = handler.Handle(span, nullptr); !st.ok()) {
      return st;
    }
    Logger("cdc")->debug("replayed {} {} rows, ids {}..{}", r->rows(), req.table, first, last);
    pool.Release(std::move(group));
  }
  return res;
}

}  // namespace diskinv
