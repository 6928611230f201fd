// diskinv show DISK: one disk's row, history, partitions, stacking and identity conflicts.
#include <cstdio>
#include <set>

#include <fmt/format.h>

#include "cli/cli.h"
#include "cli/db_output.h"
#include "store/disk_query.h"

namespace diskinv {
namespace {

constexpr const char* kShowHelp = R"(Usage: diskinv show DISK [--node NODE] [--json [--pretty]] [--database-url URL]

Show a disk from the inventory database: its identity, every typed column, its history
(first_seen, last_seen, removed_at, generation, cdc_inserted, cdc_updated, the node's last full
scan), its partitions, what is stacked on it and what it is built on, open identity conflicts,
and attrs. Tombstones (removed disks) are shown too, after present disks.

DISK is any of:
  a uid                  wwn:5000c500a1b2c3d4, serial:ATA:Model:SN, loop:MACHINE-ID:/path, ...
  a kernel name          sda (on every node, or with --node), or NODE:sda
  a serial number        as in the serial column
  a WWN                  0x5000c500a1b2c3d4, naa.5000c500a1b2c3d4 or 5000c500a1b2c3d4
  an EUI-64 or NGUID     as in the eui64 / nguid columns

Options:
      --node NODE        only disks of this node (hostname, machine-id or node id)
  -J, --json             print a JSON array, one object per matching disk: {"disk": {...},
                         "partitions": [...], "stack": [...], "conflicts": [...]}
      --pretty           indent the JSON
      --database-url URL default $DISKINV_DATABASE_URL, else database_url of
                         /etc/diskinv/diskinv.conf, else the libpq defaults
  -h, --help             show this help

Exit status: 0 shown; 1 the database is unreachable or a query failed; 2 usage error; 4 no disk
matches DISK.
)";

constexpr int kExitNotFound = 4;

const std::set<std::string_view> kHistory = {
    "first_seen", "last_seen", "removed_at", "generation", "etag", "cdc_inserted",
    "cdc_updated", "node_last_full_scan"};

void PrintText(const PgResult& d, int row, const PgResult& parts, const PgResult& stack,
               const PgResult& conflicts) {
  auto col = [&](const char* name) { return d.Str(row, d.Col(name)); };
  std::printf("%s on %s: %s\n", col("kname").c_str(), col("node").c_str(), col("state").c_str());
  for (int c = 0; c < d.cols(); ++c) {
    auto v = d.Get(row, c);
    std::string_view name = d.name(c);
    if (!v || kHistory.contains(name) || name == "attrs" || name == "state") continue;
    std::printf("  %-24.*s %.*s\n", static_cast<int>(name.size()), name.data(),
                static_cast<int>(v->size()), v->data());
  }
  std::printf("history\n");
  for (const char* name : {"first_seen", "last_seen", "removed_at", "generation", "cdc_inserted",
                           "cdc_updated", "etag", "node_last_full_scan"}) {
    auto v = d.Get(row, d.Col(name));
    std::printf("  %-24s %s\n", name, v ? std::string(*v).c_str() : "-");
  }
  if (parts.rows() > 0) {
    std::printf("partitions\n");
    std::string t = ResultToTable(parts,
                                  {{"KNAME", "kname"}, {"PARTN", "partn", false, true},
                                   {"SIZE", "size_bytes", true}, {"FSTYPE", "fs_type"},
                                   {"NAME", "part_name"}, {"STATE", "state"}, {"UID", "uid"}},
                                  false);
    for (size_t pos = 0; pos < t.size();) {
      size_t nl = t.find('\n', pos);
      std::printf("  %s\n", t.substr(pos, nl - pos).c_str());
      pos = nl + 1;
    }
  }
  if (stack.rows() > 0) {
    std::printf("stack\n");
    for (int i = 0; i < stack.rows(); ++i) {
      std::printf("  %s (%s) -> %s (%s)\n", stack.Str(i, 1).c_str(), stack.Str(i, 0).c_str(),
                  stack.Str(i, 3).c_str(), stack.Str(i, 2).c_str());
    }
  }
  if (conflicts.rows() > 0) {
    std::printf("identity conflicts\n");
    for (int i = 0; i < conflicts.rows(); ++i) {
      std::printf("  %s %s: %s (devices %s, since %s)\n", conflicts.Str(i, 0).c_str(),
                  conflicts.Str(i, 1).c_str(), conflicts.Str(i, 2).c_str(),
                  conflicts.Str(i, 3).c_str(), conflicts.Str(i, 4).c_str());
    }
  }
  if (auto a = d.Get(row, d.Col("attrs"))) {
    std::printf("attrs\n  %.*s\n", static_cast<int>(a->size()), a->data());
  }
}

}  // namespace

int ShowCommand(std::vector<std::string> args) {
  ArgParser p{std::move(args)};
  std::string key, node, url_flag, err;
  bool json = false, pretty = false;
  while (!p.Done()) {
    if (p.Flag("help", 'h')) {
      std::fputs(kShowHelp, stdout);
      return kExitOk;
    }
    if (p.Flag("json", 'J')) {
      json = true;
    } else if (p.Flag("pretty")) {
      pretty = true;
    } else if (p.Option("node", 0, &node, &err) || p.Option("database-url", 0, &url_flag, &err)) {
      if (!err.empty()) return UsageError("show", err);
    } else if (key.empty() && !p.Current().starts_with("-")) {
      key = p.args[p.pos++];
    } else {
      return UsageError("show", fmt::format("unknown argument '{}'", p.Current()));
    }
  }
  if (key.empty()) return UsageError("show", "missing DISK (a uid, kname, serial or WWN)");
  auto conn = PgConnection::Connect(ResolveDatabaseUrl(url_flag));
  auto fail = [](const Status& s) {
    std::fprintf(stderr, "diskinv show: %s\n", s.message().c_str());
    return kExitFailure;
  };
  if (!conn.ok()) return fail(conn.status());
  auto disks = FindDisks(**conn, key, node);
  if (!disks.ok()) return fail(disks.status());
  if (disks->rows() == 0) {
    std::fprintf(stderr, "diskinv show: no disk matches '%s'%s\n", key.c_str(),
                 node.empty() ? "" : fmt::format(" on node '{}'", node).c_str());
    return kExitNotFound;
  }
  JsonWriter w(pretty);
  w.BeginArray();
  for (int i = 0; i < disks->rows(); ++i) {
    std::string uid = disks->Str(i, disks->Col("uid"));
    auto parts = DiskPartitions(**conn, uid);
    if (!parts.ok()) return fail(parts.status());
    auto stack = DiskStack(**conn, uid);
    if (!stack.ok()) return fail(stack.status());
    auto conflicts = DiskConflicts(**conn, disks->Str(i, disks->Col("node_id")),
                                   disks->Str(i, disks->Col("kname")));
    if (!conflicts.ok()) return fail(conflicts.status());
    if (!json) {
      if (i > 0) std::printf("\n");
      PrintText(*disks, i, *parts, *stack, *conflicts);
      continue;
    }
    w.BeginObject().Key("disk");
    WriteRowJson(w, *disks, i);
    for (auto [name, r] : {std::pair{"partitions", &*parts}, {"stack", &*stack},
                           {"conflicts", &*conflicts}}) {
      w.Key(name).BeginArray();
      for (int k = 0; k < r->rows(); ++k) WriteRowJson(w, *r, k);
      w.EndArray();
    }
    w.EndObject();
  }
  w.EndArray();
  if (json) std::printf("%s\n", w.str().c_str());
  if (disks->rows() > 1) std::fprintf(stderr, "diskinv show: %d disks match '%s'\n", disks->rows(), key.c_str());
  return std::fflush(stdout) == 0 ? kExitOk : kExitFailure;
}

}  // namespace diskinv
