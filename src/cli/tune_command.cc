// diskinv tune ...: queue tuning profiles, their per-disk state, and the node side that applies
// them (docs/reconcile.md).
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <map>

#include <fmt/format.h>

#include "agent/tuning_agent.h"
#include "agent/tuning_sysfs_writer.h"
#include "agent/tuning_validator.h"
#include "cli/cli.h"
#include "cli/command_support.h"
#include "common/json_writer.h"
#include "common/parse.h"
#include "reconcile/queue_attribute.h"
#include "reconcile/spec_store.h"
#include "sysfs/real_sysfs_reader.h"

namespace diskinv {
namespace {

constexpr const char* kTuneHelp = R"(Usage: diskinv tune COMMAND [ARGS] [OPTIONS]

Queue tuning: profiles say which queue attributes disks should have; the reconciler writes the
desired values per disk; the node's agent validates them as the kernel would, writes only
whitelisted attributes, re-reads them and reports what it observed, what it rejected and why,
and drift (a value changed behind its back), which it repairs or only reports per profile.

Commands:
  profile add NAME --set ATTR=VALUE [--set ...] [--pool POOL] [SELECTOR] [--priority N]
              [--drift repair|report] [--disabled]
                            the first enabled matching profile (by priority) applies to a disk;
                            --pool: only disks claimed into POOL
  profile list [--json]
  profile remove NAME
  status [--node HOSTNAME] [--json]
                            per disk: desired, observed, rejected (with reasons), drift, status
  apply [--once] [--sysroot DIR] [--machine-id ID] [--resync-interval SEC] [--page-size BYTES]
                            the node side (what the agent daemon runs): apply this node's desired
                            tuning now (--once) or keep doing it, woken by NOTIFY diskinv_tuning
                            and every --resync-interval (default 300); machine id from
                            DIR/etc/machine-id unless given
  check KNAME --set ATTR=VALUE [--set ...] [--sysroot DIR]
                            validate values against a device without writing anything

)";

constexpr const char* kTuneHelpTail = R"(Tunable attributes (queue/ATTR): scheduler, nr_requests, read_ahead_kb, max_sectors_kb,
discard_max_bytes, rq_affinity, nomerges, add_random, iostats.

Options:
      --database-url URL   default $DISKINV_DATABASE_URL, else the libpq defaults
  -h, --help               show this help

Exit status: 0 success; 1 failure; 2 usage error; 3 (apply --once, check) some values were
rejected or drifted.
)";

std::string ReadMachineId(const std::string& sysroot) {
  std::ifstream in((sysroot == "/" ? std::string() : sysroot) + "/etc/machine-id");
  std::string id;
  std::getline(in, id);
  return std::string(Trim(id));
}

int Fail(const char* what, const Status& s) {
  std::fprintf(stderr, "diskinv tune %s: %s\n", what, s.message().c_str());
  return kExitFailure;
}

}  // namespace

int TuneCommand(std::vector<std::string> args) {
  ArgParser p{std::move(args)};
  std::string url = DefaultDatabaseUrl(), err, v, pool, drift = "repair", node, sysroot = "/",
              machine_id;
  std::vector<std::string> words;
  bool json = false, once = false, disabled = false;
  uint64_t n = 0, priority = 100, resync = 300, page_size = static_cast<uint64_t>(getpagesize());
  std::map<std::string, std::string> settings;
  DiskSelector selector;
  while (!p.Done()) {
    if (p.Flag("help", 'h')) {
      std::fputs(kTuneHelp, stdout);
      std::fputs(kSelectorHelp, stdout);
      std::fputs(kTuneHelpTail, stdout);
      return kExitOk;
    }
    if (p.Flag("json")) {
      json = true;
    } else if (p.Flag("once")) {
      once = true;
    } else if (p.Flag("disabled")) {
      disabled = true;
    } else if (p.Option("set", 0, &v, &err)) {
      if (!err.empty()) return UsageError("tune", err);
      size_t eq = v.find('=');
      if (eq == std::string::npos || eq == 0) {
        return UsageError("tune", fmt::format("--set takes ATTR=VALUE, not '{}'", v));
      }
      settings[v.substr(0, eq)] = v.substr(eq + 1);
    } else if (DatabaseUrlOption(p, &url, &err) || p.Option("pool", 0, &pool, &err) ||
               p.Option("drift", 0, &drift, &err) || p.Option("node", 0, &node, &err) ||
               p.Option("sysroot", 0, &sysroot, &err) ||
               p.Option("machine-id", 0, &machine_id, &err) ||
               NumberOption(p, "priority", &priority, &err) ||
               NumberOption(p, "resync-interval", &resync, &err) ||
               NumberOption(p, "page-size", &page_size, &err) ||
               SelectorOption(p, &selector, &err)) {
      if (!err.empty()) return UsageError("tune", err);
    } else if (!p.Current().empty() && p.Current()[0] == '-') {
      return UsageError("tune", fmt::format("unknown option '{}'", p.Current()));
    } else {
      words.push_back(p.args[p.pos++]);
    }
  }
  (void)n;
  if (words.empty()) return UsageError("tune", "missing command (profile, status, apply, check)");
  const std::string& cmd = words[0];
  if (cmd == "check") {
    if (words.size() != 2 || settings.empty()) {
      return UsageError("tune", "usage: tune check KNAME --set ATTR=VALUE ...");
    }
    auto reader = RealSysfsReader::Open(sysroot);
    if (!reader.ok()) return Fail("check", reader.status());
    auto state = ReadQueueState(**reader, words[1]);
    if (!state.ok()) return Fail("check", state.status());
    bool all_ok = true;
    for (const auto& verdict : ValidateTuning(settings, *state, page_size)) {
      all_ok = all_ok && verdict.ok;
      std::printf("%-18s %-14s %s%s (now %s)\n", verdict.attribute.c_str(), verdict.value.c_str(),
                  verdict.ok ? "ok" : "REJECTED: ", verdict.reason.c_str(),
                  state->Current(verdict.attribute).c_str());
    }
    return all_ok ? kExitOk : kExitPartial;
  }
  if (cmd == "apply") {
    if (words.size() != 1) return UsageError("tune", "usage: tune apply [--once]");
    if (machine_id.empty()) machine_id = ReadMachineId(sysroot);
    if (machine_id.empty()) {
      return Fail("apply", Status::Invalid("no machine id: give --machine-id or provide "
                                           "etc/machine-id under the sysroot"));
    }
    auto reader = RealSysfsReader::Open(sysroot);
    if (!reader.ok()) return Fail("apply", reader.status());
    auto writer = RealTuningSysfsWriter::Open(sysroot);
    if (!writer.ok()) return Fail("apply", writer.status());
    TuningAgentOptions o;
    o.url = url;
    o.machine_id = machine_id;
    o.page_size = page_size;
    o.resync_interval = std::chrono::seconds(resync);
    auto agent = TuningAgent::Create(o, reader->get(), writer->get());
    if (!agent.ok()) return Fail("apply", agent.status());
    TuningPassStats st;
    if (once) {
      auto r = (*agent)->SyncOnce();
      if (!r.ok()) return Fail("apply", r.status());
      st = *r;
    } else if (Status s = (*agent)->Run(StopOnSignals(), &st); !s.ok()) {
      return Fail("apply", s);
    }
    std::printf("%llu disk(s): %llu applied, %llu partial, %llu rejected, %llu drift, %llu "
                "errors; %llu attribute write(s), %llu report(s) updated\n",
                static_cast<unsigned long long>(st.rows), static_cast<unsigned long long>(st.applied),
                static_cast<unsigned long long>(st.partial),
                static_cast<unsigned long long>(st.rejected),
                static_cast<unsigned long long>(st.drift), static_cast<unsigned long long>(st.errors),
                static_cast<unsigned long long>(st.written),
                static_cast<unsigned long long>(st.reported));
    return st.partial + st.rejected + st.drift + st.errors > 0 ? kExitPartial : kExitOk;
  }
  auto conn = PgConnection::Connect(url);
  if (!conn.ok()) return Fail(cmd.c_str(), conn.status());
  PgConnection& c = **conn;
  if (cmd == "status") {
    auto rows = spec_store::ListTuning(c, node);
    if (!rows.ok()) return Fail("status", rows.status());
    JsonWriter w(true);
    w.BeginArray();
    for (const auto& t : *rows) {
      if (json) {
        w.BeginObject().Key("node").String(t.hostname).Key("kname").String(t.kname);
        w.Key("profile").String(t.profile).Key("status").String(t.status);
        w.Key("desired").String(t.desired).Key("observed").String(t.observed);
        w.Key("rejected").String(t.rejected).Key("drift").String(t.drift);
        w.Key("desired_generation").Int(t.desired_generation);
        w.Key("applied_generation");
        t.applied_generation ? (void)w.Int(*t.applied_generation) : (void)w.Null();
        w.EndObject();
      } else {
        std::printf("%s %s profile=%s status=%s gen=%lld/%s\n  desired  %s\n  observed %s\n",
                    t.hostname.c_str(), t.kname.c_str(), t.profile.c_str(), t.status.c_str(),
                    static_cast<long long>(t.desired_generation),
                    t.applied_generation ? std::to_string(*t.applied_generation).c_str() : "-",
                    t.desired.c_str(), t.observed.empty() ? "-" : t.observed.c_str());
        if (!t.rejected.empty() && t.rejected != "{}") std::printf("  rejected %s\n", t.rejected.c_str());
        if (!t.drift.empty()) std::printf("  drift    %s\n", t.drift.c_str());
      }
    }
    w.EndArray();
    if (json) std::printf("%s\n", w.str().c_str());
    return kExitOk;
  }
  if (cmd != "profile" || words.size() < 2) {
    return UsageError("tune", fmt::format("unknown command '{}'", cmd));
  }
  const std::string& sub = words[1];
  if (sub == "add" && words.size() == 3) {
    spec_store::ProfileInput in;
    in.name = words[2];
    if (!pool.empty()) in.pool = pool;
    in.priority = static_cast<int>(priority);
    in.enabled = !disabled;
    in.selector = selector;
    in.settings = settings;
    in.drift_action = drift;
    Status s = spec_store::AddProfile(c, in);
    if (!s.ok()) return s.code() == EINVAL ? UsageError("tune", s.message()) : Fail("profile add", s);
    std::printf("added profile %s: %s%s\n", in.name.c_str(), SelectorText(selector).c_str(),
                pool.empty() ? "" : (" in pool " + pool).c_str());
    return kExitOk;
  }
  if (sub == "remove" && words.size() == 3) {
    Status s = spec_store::RemoveProfile(c, words[2]);
    if (!s.ok()) return Fail("profile remove", s);
    std::printf("removed profile %s\n", words[2].c_str());
    return kExitOk;
  }
  if (sub == "list" && words.size() == 2) {
    auto rows = spec_store::ListProfiles(c);
    if (!rows.ok()) return Fail("profile list", rows.status());
    JsonWriter w(true);
    w.BeginArray();
    for (const auto& r : *rows) {
      const auto& x = r.profile;
      if (json) {
        w.BeginObject().Key("name").String(x.name).Key("priority").Int(x.priority);
        w.Key("enabled").Bool(x.enabled).Key("pool");
        x.pool ? (void)w.String(*x.pool) : (void)w.Null();
        w.Key("selector").String(SelectorText(x.selector)).Key("drift_action").String(x.drift_action);
        w.Key("settings").BeginObject();
        for (const auto& [k, val] : x.settings) w.Key(k).String(val);
        w.EndObject().EndObject();
      } else {
        std::printf("%-20s priority %-4d %s pool=%s drift=%s %s\n  %s\n", x.name.c_str(),
                    x.priority, x.enabled ? "enabled" : "disabled", x.pool.value_or("-").c_str(),
                    x.drift_action.c_str(), SelectorText(x.selector).c_str(),
                    r.settings_json.c_str());
      }
    }
    w.EndArray();
    if (json) std::printf("%s\n", w.str().c_str());
    return kExitOk;
  }
  return UsageError("tune", "usage: tune profile add|list|remove ...");
}

}  // namespace diskinv
