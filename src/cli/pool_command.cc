// diskinv pool ...: pools and the policies that claim disks into them (docs/reconcile.md).
#include <cstdio>

#include <fmt/format.h>

#include "cli/cli.h"
#include "cli/command_support.h"
#include "common/json_writer.h"
#include "common/parse.h"
#include "reconcile/spec_store.h"

namespace diskinv {
namespace {

constexpr const char* kPoolHelp = R"(Usage: diskinv pool COMMAND [ARGS] [OPTIONS]

Pools of disks and the policies that fill them. The reconciler (`diskinv reconcile`) claims
every disk that matches a policy, exactly once, and releases it when the disk has been removed
for longer than the pool's grace period. A disk with an identity conflict is never claimed.

Commands:
  create NAME [--max-disks N] [--grace INTERVAL] [--description TEXT]
                            INTERVAL as PostgreSQL reads it: '1 hour', '30 min' (default 1 hour)
  set NAME [--max-disks N|none] [--grace INTERVAL]
  list [--json]             pools, limits and claim counts
  show NAME [--json]        the disks claimed into a pool
  delete NAME [--release]   delete a pool; with claims only when --release
  policy add NAME --pool POOL [SELECTOR] [--priority N] [--max-per-node N]
             [--allow-partitioned] [--allow-holders] [--disabled]
                            disks matching SELECTOR go to POOL; policies are tried by priority
                            (lower first); by default only disks without partitions and without
                            holders (dm, md, ... built on them) match
  policy list [--json]
  policy remove NAME

)";

constexpr const char* kPoolHelpTail = R"(
Options:
      --database-url URL   default $DISKINV_DATABASE_URL, else the libpq defaults
  -h, --help               show this help

Exit status: 0 success; 1 failure (also: name taken, no such pool, pool has claims); 2 usage.
)";

int Fail(const char* what, const Status& s) {
  std::fprintf(stderr, "diskinv pool %s: %s\n", what, s.message().c_str());
  return kExitFailure;
}

}  // namespace

int PoolCommand(std::vector<std::string> args) {
  ArgParser p{std::move(args)};
  std::string url = DefaultDatabaseUrl(), err, v, description, grace, pool, max_disks_text;
  std::vector<std::string> words;
  bool json = false, release = false;
  uint64_t n = 0;
  std::optional<int64_t> max_disks, max_per_node;
  spec_store::PolicyInput pol;
  pol.selector.require_unpartitioned = true;
  pol.selector.require_no_holders = true;
  while (!p.Done()) {
    if (p.Flag("help", 'h')) {
      std::fputs(kPoolHelp, stdout);
      std::fputs(kSelectorHelp, stdout);
      std::fputs(kPoolHelpTail, stdout);
      return kExitOk;
    }
    if (p.Flag("json")) {
      json = true;
    } else if (p.Flag("release")) {
      release = true;
    } else if (p.Flag("allow-partitioned")) {
      pol.selector.require_unpartitioned = false;
    } else if (p.Flag("allow-holders")) {
      pol.selector.require_no_holders = false;
    } else if (p.Flag("disabled")) {
      pol.enabled = false;
    } else if (DatabaseUrlOption(p, &url, &err) || p.Option("description", 0, &description, &err) ||
               p.Option("grace", 0, &grace, &err) || p.Option("pool", 0, &pool, &err) ||
               p.Option("max-disks", 0, &max_disks_text, &err) ||
               SelectorOption(p, &pol.selector, &err)) {
      if (!err.empty()) return UsageError("pool", err);
    } else if (NumberOption(p, "priority", &n, &err)) {
      if (!err.empty()) return UsageError("pool", err);
      pol.priority = static_cast<int>(n);
    } else if (NumberOption(p, "max-per-node", &n, &err)) {
      if (!err.empty()) return UsageError("pool", err);
      max_per_node = static_cast<int64_t>(n);
    } else if (!p.Current().empty() && p.Current()[0] == '-') {
      return UsageError("pool", fmt::format("unknown option '{}'", p.Current()));
    } else {
      words.push_back(p.args[p.pos++]);
    }
  }
  bool clear_max = max_disks_text == "none";
  if (!max_disks_text.empty() && !clear_max) {
    auto m = ParseU64(max_disks_text);
    if (!m.ok()) return UsageError("pool", "--max-disks: " + m.status().message());
    max_disks = static_cast<int64_t>(*m);
  }
  if (words.empty()) return UsageError("pool", "missing command (create, set, list, show, delete, policy)");
  auto need = [&](size_t count, const char* usage) {
    return words.size() == count ? 0 : UsageError("pool", fmt::format("usage: pool {}", usage));
  };
  const std::string& cmd = words[0];
  int bad = 0;
  if (cmd == "create" || cmd == "set" || cmd == "show" || cmd == "delete") {
    bad = need(2, fmt::format("{} NAME", cmd).c_str());
  } else if (cmd == "list") {
    bad = need(1, "list");
  } else if (cmd == "policy") {
    if (words.size() < 2) return UsageError("pool", "usage: pool policy add|list|remove");
    bad = words[1] == "list" ? need(2, "policy list") : need(3, "policy add|remove NAME");
  } else {
    return UsageError("pool", fmt::format("unknown command '{}'", cmd));
  }
  if (bad) return bad;
  auto conn = PgConnection::Connect(url);
  if (!conn.ok()) return Fail(cmd.c_str(), conn.status());
  PgConnection& c = **conn;
  if (cmd == "create") {
    if (clear_max) return UsageError("pool", "create: --max-disks takes a number");
    Status s = spec_store::CreatePool(c, words[1], description, max_disks,
                                      grace.empty() ? "1 hour" : grace);
    if (!s.ok()) return Fail("create", s);
    std::printf("created pool %s\n", words[1].c_str());
    return kExitOk;
  }
  if (cmd == "set") {
    Status s = spec_store::UpdatePool(c, words[1], max_disks, clear_max,
                                      grace.empty() ? std::nullopt : std::optional(grace));
    if (!s.ok()) return Fail("set", s);
    std::printf("updated pool %s\n", words[1].c_str());
    return kExitOk;
  }
  if (cmd == "delete") {
    Status s = spec_store::DeletePool(c, words[1], release);
    if (!s.ok()) return Fail("delete", s);
    std::printf("deleted pool %s\n", words[1].c_str());
    return kExitOk;
  }
  if (cmd == "list") {
    auto pools = spec_store::ListPools(c);
    if (!pools.ok()) return Fail("list", pools.status());
    JsonWriter w(true);
    w.BeginArray();
    if (!json) std::printf("%-20s %-8s %-10s %-12s %s\n", "POOL", "CLAIMS", "MAX", "GRACE", "DESCRIPTION");
    for (const auto& pl : *pools) {
      if (json) {
        w.BeginObject().Key("name").String(pl.name).Key("claims").Int(pl.claims);
        w.Key("max_disks");
        pl.max_disks ? (void)w.Int(*pl.max_disks) : (void)w.Null();
        w.Key("release_grace").String(pl.release_grace).Key("description").String(pl.description);
        w.EndObject();
      } else {
        std::printf("%-20s %-8lld %-10s %-12s %s\n", pl.name.c_str(),
                    static_cast<long long>(pl.claims),
                    pl.max_disks ? std::to_string(*pl.max_disks).c_str() : "-",
                    pl.release_grace.c_str(), pl.description.c_str());
      }
    }
    w.EndArray();
    if (json) std::printf("%s\n", w.str().c_str());
    return kExitOk;
  }
  if (cmd == "show") {
    auto claims = spec_store::ListClaims(c, words[1]);
    if (!claims.ok()) return Fail("show", claims.status());
    JsonWriter w(true);
    w.BeginArray();
    if (!json) std::printf("%-20s %-10s %-9s %-20s %-28s %s\n", "NODE", "KNAME", "STATE", "POLICY", "CLAIMED", "UID");
    for (const auto& cl : *claims) {
      if (json) {
        w.BeginObject().Key("node").String(cl.hostname).Key("kname").String(cl.kname);
        w.Key("uid").String(cl.uid).Key("state").String(cl.state).Key("policy").String(cl.policy);
        w.Key("claimed_at").String(cl.claimed_at).EndObject();
      } else {
        std::printf("%-20s %-10s %-9s %-20s %-28s %s\n", cl.hostname.c_str(), cl.kname.c_str(),
                    cl.state.c_str(), cl.policy.c_str(), cl.claimed_at.c_str(), cl.uid.c_str());
      }
    }
    w.EndArray();
    if (json) std::printf("%s\n", w.str().c_str());
    return kExitOk;
  }
  // policy ...
  const std::string& sub = words[1];
  if (sub == "add") {
    if (pool.empty()) return UsageError("pool", "policy add needs --pool POOL");
    pol.name = words[2];
    pol.pool = pool;
    pol.max_per_node = max_per_node;
    Status s = spec_store::AddPolicy(c, pol);
    if (!s.ok()) return Fail("policy add", s);
    std::printf("added policy %s: %s -> pool %s\n", pol.name.c_str(),
                SelectorText(pol.selector).c_str(), pool.c_str());
    return kExitOk;
  }
  if (sub == "remove") {
    Status s = spec_store::RemovePolicy(c, words[2]);
    if (!s.ok()) return Fail("policy remove", s);
    std::printf("removed policy %s (existing claims stay)\n", words[2].c_str());
    return kExitOk;
  }
  if (sub == "list") {
    auto pols = spec_store::ListPolicies(c);
    if (!pols.ok()) return Fail("policy list", pols.status());
    JsonWriter w(true);
    w.BeginArray();
    if (!json) std::printf("%-20s %-16s %-8s %-8s %-10s %s\n", "POLICY", "POOL", "PRIORITY", "ENABLED", "PER-NODE", "SELECTOR");
    for (const auto& r : *pols) {
      const auto& x = r.policy;
      if (json) {
        w.BeginObject().Key("name").String(x.name).Key("pool").String(x.pool);
        w.Key("priority").Int(x.priority).Key("enabled").Bool(x.enabled);
        w.Key("selector").String(SelectorText(x.selector)).EndObject();
      } else {
        std::printf("%-20s %-16s %-8d %-8s %-10s %s\n", x.name.c_str(), x.pool.c_str(), x.priority,
                    x.enabled ? "yes" : "no",
                    x.max_per_node ? std::to_string(*x.max_per_node).c_str() : "-",
                    SelectorText(x.selector).c_str());
      }
    }
    w.EndArray();
    if (json) std::printf("%s\n", w.str().c_str());
    return kExitOk;
  }
  return UsageError("pool", fmt::format("unknown policy command '{}'", sub));
}

}  // namespace diskinv
