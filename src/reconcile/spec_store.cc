#include "reconcile/spec_store.h"

#include <cerrno>

#include <fmt/format.h>

#include "common/json_writer.h"
#include "reconcile/queue_attribute.h"

namespace diskinv::spec_store {
namespace {

using Value = std::optional<std::string>;

Value S(const std::optional<std::string>& v) { return v; }
Value I(const std::optional<int64_t>& v) { return v ? Value(std::to_string(*v)) : Value(); }
Value B(const std::optional<bool>& v) { return v ? Value(*v ? "t" : "f") : Value(); }

Status Translate(const Status& s, const std::string& what) {
  if (s.ok()) return s;
  const std::string& m = s.message();
  if (m.find("23505") != std::string::npos) return Status(EEXIST, what + " exists already");
  if (m.find("23514") != std::string::npos || m.find("22007") != std::string::npos ||
      m.find("22P02") != std::string::npos || m.find("22023") != std::string::npos) {
    return Status(EINVAL, fmt::format("{}: invalid value ({})", what, m));
  }
  return s;
}

std::optional<std::string> Opt(const PgResult& r, int row, int col) {
  auto v = r.Get(row, col);
  return v ? std::optional<std::string>(std::string(*v)) : std::nullopt;
}

DiskSelector ReadSelector(const PgResult& r, int i, int at) {
  DiskSelector s;
  s.node_pattern = Opt(r, i, at);
  s.kname_pattern = Opt(r, i, at + 1);
  s.transport = Opt(r, i, at + 2);
  if (auto v = r.Get(i, at + 3)) s.rotational = *v == "t";
  if (r.Get(i, at + 4)) s.min_size_bytes = r.Int(i, at + 4);
  if (r.Get(i, at + 5)) s.max_size_bytes = r.Int(i, at + 5);
  s.model_pattern = Opt(r, i, at + 6);
  s.vendor_pattern = Opt(r, i, at + 7);
  return s;
}

constexpr const char* kSelectorCols =
    "node_pattern, kname_pattern, transport, rotational, min_size_bytes, max_size_bytes, "
    "model_pattern, vendor_pattern";

}  // namespace

Status CreatePool(PgConnection& c, const std::string& name, const std::string& description,
                  std::optional<int64_t> max_disks, const std::string& release_grace) {
  if (name.empty()) return Status::Invalid("a pool needs a name");
  return Translate(c.Exec("INSERT INTO diskinv.pool (name, description, max_disks, release_grace) "
                          "VALUES ($1, $2, $3, $4::interval)",
                          {name, description, I(max_disks), release_grace})
                       .status(),
                   fmt::format("pool '{}'", name));
}

Status UpdatePool(PgConnection& c, const std::string& name, std::optional<int64_t> max_disks,
                  bool clear_max_disks, std::optional<std::string> release_grace) {
  auto r = c.Exec("UPDATE diskinv.pool SET max_disks = CASE WHEN $4 THEN NULL ELSE "
                  "coalesce($2::integer, max_disks) END, release_grace = coalesce($3::interval, "
                  "release_grace) WHERE name = $1 RETURNING id",
                  {name, I(max_disks), release_grace, clear_max_disks ? "t" : "f"});
  if (!r.ok()) return Translate(r.status(), fmt::format("pool '{}'", name));
  if (r->rows() == 0) return Status(ENOENT, fmt::format("no pool '{}'", name));
  return Status::Ok();
}

Result<std::vector<PoolRow>> ListPools(PgConnection& c) {
  auto r = c.Exec("SELECT p.id, p.name, p.description, p.max_disks, p.release_grace::text, "
                  "(SELECT count(*) FROM diskinv.disk_claim c WHERE c.pool_id = p.id) FROM "
                  "diskinv.pool p ORDER BY p.name");
  if (!r.ok()) return r.status();
  std::vector<PoolRow> out;
  for (int i = 0; i < r->rows(); ++i) {
    PoolRow p;
    p.id = r->Int(i, 0);
    p.name = r->Str(i, 1);
    p.description = r->Str(i, 2);
    if (r->Get(i, 3)) p.max_disks = r->Int(i, 3);
    p.release_grace = r->Str(i, 4);
    p.claims = r->Int(i, 5);
    out.push_back(std::move(p));
  }
  return out;
}

Status DeletePool(PgConnection& c, const std::string& name, bool release) {
  if (auto b = c.Exec("BEGIN"); !b.ok()) return b.status();
  auto fail = [&](Status s) {
    (void)c.Exec("ROLLBACK");
    return s;
  };
  auto p = c.Exec("SELECT id FROM diskinv.pool WHERE name = $1 FOR UPDATE", {name});
  if (!p.ok()) return fail(p.status());
  if (p->rows() == 0) return fail(Status(ENOENT, fmt::format("no pool '{}'", name)));
  std::string id = p->Str(0, 0);
  auto n = c.Exec("SELECT count(*) FROM diskinv.disk_claim WHERE pool_id = $1", {id});
  if (!n.ok()) return fail(n.status());
  if (n->Int(0, 0) > 0 && !release) {
    return fail(Status(EBUSY, fmt::format("pool '{}' has {} claimed disk(s): use --release to "
                                          "release them", name, n->Int(0, 0))));
  }
  auto rel = c.Exec(
      "WITH gone AS (DELETE FROM diskinv.disk_claim WHERE pool_id = $1 RETURNING *) INSERT INTO "
      "diskinv.disk_claim_history (disk_id, disk_uid, node_id, pool_id, pool_name, policy_id, "
      "claimed_at, reason) SELECT disk_id, disk_uid, node_id, pool_id, $2, policy_id, claimed_at, "
      "'pool deleted' FROM gone",
      {id, name});
  if (!rel.ok()) return fail(rel.status());
  auto d = c.Exec("DELETE FROM diskinv.pool WHERE id = $1", {id});
  if (!d.ok()) return fail(d.status());
  return c.Exec("COMMIT").status();
}

Status AddPolicy(PgConnection& c, const PolicyInput& p) {
  if (p.name.empty()) return Status::Invalid("a policy needs a name");
  const DiskSelector& s = p.selector;
  auto r = c.Exec(
      fmt::format("INSERT INTO diskinv.pool_policy (name, pool_id, priority, enabled, "
                  "require_unpartitioned, require_no_holders, max_per_node, {}) SELECT $1, id, $3, "
                  "$4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15 FROM diskinv.pool WHERE "
                  "name = $2 RETURNING id",
                  kSelectorCols),
      {p.name, p.pool, std::to_string(p.priority), p.enabled ? "t" : "f",
       s.require_unpartitioned ? "t" : "f", s.require_no_holders ? "t" : "f", I(p.max_per_node),
       S(s.node_pattern), S(s.kname_pattern), S(s.transport), B(s.rotational), I(s.min_size_bytes),
       I(s.max_size_bytes), S(s.model_pattern), S(s.vendor_pattern)});
  if (!r.ok()) return Translate(r.status(), fmt::format("policy '{}'", p.name));
  if (r->rows() == 0) return Status(ENOENT, fmt::format("no pool '{}'", p.pool));
  return Status::Ok();
}

Result<std::vector<PolicyRow>> ListPolicies(PgConnection& c) {
  auto r = c.Exec(fmt::format("SELECT pp.id, pp.name, p.name, pp.priority, pp.enabled, "
                              "pp.require_unpartitioned, pp.require_no_holders, pp.max_per_node, "
                              "{} FROM diskinv.pool_policy pp JOIN diskinv.pool p ON p.id = "
                              "pp.pool_id ORDER BY pp.priority, pp.id",
                              "pp.node_pattern, pp.kname_pattern, pp.transport, pp.rotational, "
                              "pp.min_size_bytes, pp.max_size_bytes, pp.model_pattern, "
                              "pp.vendor_pattern"));
  if (!r.ok()) return r.status();
  std::vector<PolicyRow> out;
  for (int i = 0; i < r->rows(); ++i) {
    PolicyRow row;
    row.id = r->Int(i, 0);
    row.policy.name = r->Str(i, 1);
    row.policy.pool = r->Str(i, 2);
    row.policy.priority = static_cast<int>(r->Int(i, 3));
    row.policy.enabled = r->Str(i, 4) == "t";
    row.policy.selector = ReadSelector(*r, i, 8);
    row.policy.selector.require_unpartitioned = r->Str(i, 5) == "t";
    row.policy.selector.require_no_holders = r->Str(i, 6) == "t";
    if (r->Get(i, 7)) row.policy.max_per_node = r->Int(i, 7);
    out.push_back(std::move(row));
  }
  return out;
}

Status RemovePolicy(PgConnection& c, const std::string& name) {
  auto r = c.Exec("DELETE FROM diskinv.pool_policy WHERE name = $1", {name});
  if (!r.ok()) return r.status();
  if (r->affected() == 0) return Status(ENOENT, fmt::format("no policy '{}'", name));
  return Status::Ok();
}

Status AddProfile(PgConnection& c, const ProfileInput& p) {
  if (p.name.empty()) return Status::Invalid("a profile needs a name");
  if (p.settings.empty()) return Status::Invalid("a profile needs at least one --set ATTR=VALUE");
  if (p.drift_action != "repair" && p.drift_action != "report") {
    return Status::Invalid(fmt::format("drift action must be repair or report, not '{}'",
                                       p.drift_action));
  }
  JsonWriter w;
  w.BeginObject();
  for (const auto& [k, v] : p.settings) {
    if (Status s = CheckTuningSetting(k, v); !s.ok()) return s;
    w.Key(k).String(v);
  }
  w.EndObject();
  const DiskSelector& s = p.selector;
  std::optional<std::string> pool_id;
  if (p.pool) {
    auto r = c.Exec("SELECT id FROM diskinv.pool WHERE name = $1", {*p.pool});
    if (!r.ok()) return r.status();
    if (r->rows() == 0) return Status(ENOENT, fmt::format("no pool '{}'", *p.pool));
    pool_id = r->Str(0, 0);
  }
  return Translate(
      c.Exec(fmt::format("INSERT INTO diskinv.tuning_profile (name, priority, enabled, pool_id, "
                         "settings, drift_action, {}) VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7, "
                         "$8, $9, $10, $11, $12, $13, $14)",
                         kSelectorCols),
             {p.name, std::to_string(p.priority), p.enabled ? "t" : "f", pool_id, w.Take(),
              p.drift_action, S(s.node_pattern), S(s.kname_pattern), S(s.transport),
              B(s.rotational), I(s.min_size_bytes), I(s.max_size_bytes), S(s.model_pattern),
              S(s.vendor_pattern)})
          .status(),
      fmt::format("profile '{}'", p.name));
}

Result<std::vector<ProfileRow>> ListProfiles(PgConnection& c) {
  auto r = c.Exec(fmt::format("SELECT t.id, t.name, p.name, t.priority, t.enabled, "
                              "t.settings::text, t.drift_action, {} FROM diskinv.tuning_profile t "
                              "LEFT JOIN diskinv.pool p ON p.id = t.pool_id ORDER BY t.priority, "
                              "t.id",
                              "t.node_pattern, t.kname_pattern, t.transport, t.rotational, "
                              "t.min_size_bytes, t.max_size_bytes, t.model_pattern, "
                              "t.vendor_pattern"));
  if (!r.ok()) return r.status();
  auto kv = c.Exec("SELECT t.id, e.key, e.value FROM diskinv.tuning_profile t, "
                   "jsonb_each_text(t.settings) e");
  if (!kv.ok()) return kv.status();
  std::vector<ProfileRow> out;
  for (int i = 0; i < r->rows(); ++i) {
    ProfileRow row;
    row.id = r->Int(i, 0);
    row.profile.name = r->Str(i, 1);
    row.profile.pool = Opt(*r, i, 2);
    row.profile.priority = static_cast<int>(r->Int(i, 3));
    row.profile.enabled = r->Str(i, 4) == "t";
    row.settings_json = r->Str(i, 5);
    row.profile.drift_action = r->Str(i, 6);
    row.profile.selector = ReadSelector(*r, i, 7);
    for (int k = 0; k < kv->rows(); ++k) {
      if (kv->Int(k, 0) == row.id) row.profile.settings[kv->Str(k, 1)] = kv->Str(k, 2);
    }
    out.push_back(std::move(row));
  }
  return out;
}

Status RemoveProfile(PgConnection& c, const std::string& name) {
  auto r = c.Exec("DELETE FROM diskinv.tuning_profile WHERE name = $1", {name});
  if (!r.ok()) return r.status();
  if (r->affected() == 0) return Status(ENOENT, fmt::format("no profile '{}'", name));
  return Status::Ok();
}

Result<std::vector<ClaimRow>> ListClaims(PgConnection& c, const std::string& pool) {
  auto r = c.Exec("SELECT pool, hostname, kname, uid, state, coalesce(policy, ''), "
                  "claimed_at::text FROM diskinv.claims_v WHERE $1 = '' OR pool = $1 ORDER BY "
                  "pool, hostname, kname",
                  {pool});
  if (!r.ok()) return r.status();
  std::vector<ClaimRow> out;
  for (int i = 0; i < r->rows(); ++i) {
    out.push_back({r->Str(i, 0), r->Str(i, 1), r->Str(i, 2), r->Str(i, 3), r->Str(i, 4),
                   r->Str(i, 5), r->Str(i, 6)});
  }
  return out;
}

Result<std::vector<TuningRow>> ListTuning(PgConnection& c, const std::string& hostname) {
  auto r = c.Exec("SELECT hostname, kname, coalesce(profile, ''), status, desired::text, "
                  "coalesce(observed::text, ''), coalesce(rejected::text, ''), coalesce(drift::text, "
                  "''), coalesce(observed_at::text, ''), desired_generation, applied_generation "
                  "FROM diskinv.tuning_v WHERE $1 = '' OR hostname = $1 ORDER BY hostname, kname",
                  {hostname});
  if (!r.ok()) return r.status();
  std::vector<TuningRow> out;
  for (int i = 0; i < r->rows(); ++i) {
    TuningRow t;
    t.hostname = r->Str(i, 0);
    t.kname = r->Str(i, 1);
    t.profile = r->Str(i, 2);
    t.status = r->Str(i, 3);
    t.desired = r->Str(i, 4);
    t.observed = r->Str(i, 5);
    t.rejected = r->Str(i, 6);
    t.drift = r->Str(i, 7);
    t.observed_at = r->Str(i, 8);
    t.desired_generation = r->Int(i, 9);
    if (r->Get(i, 10)) t.applied_generation = r->Int(i, 10);
    out.push_back(std::move(t));
  }
  return out;
}

}  // namespace diskinv::spec_store
