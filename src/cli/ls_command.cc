// diskinv ls: the disks in the inventory database, fleet-wide or for one node.
#include <cstdio>

#include <fmt/format.h>

#include "cli/cli.h"
#include "cli/db_output.h"
#include "store/disk_query.h"

namespace diskinv {
namespace {

constexpr const char* kLsHelp = R"(Usage: diskinv ls [--node NODE] [--transport LIST] [--type LIST] [--state STATE]
                  [--json [--pretty] [--attrs]] [-b] [--database-url URL]

List the disks (whole disks, NVMe namespaces, dm, md, loop, zram: the diskinv.disk table) that
agents wrote to the inventory database, ordered by node and kernel name.

Options:
      --node NODE        only this node: hostname, machine-id or node id
      --transport LIST   only these transports, comma separated: nvme, sas, sata, usb, virtio,
                         iscsi, fc, ... (as lsblk TRAN)
      --type LIST        only these types, comma separated: disk, loop, dm, mpath, lvm, crypt,
                         raid1, zram, rom, zbc, ... (as lsblk TYPE)
      --state STATE      present (default), removed (tombstones) or all
  -J, --json             print a JSON array: every column of diskinv.disk (docs/schema.md)
      --attrs            with --json, include the attrs object
      --pretty           indent the JSON
  -b, --bytes            sizes in bytes in the table
      --database-url URL postgresql://... or a conninfo string; default $DISKINV_DATABASE_URL,
                         else database_url of /etc/diskinv/diskinv.conf, else the libpq defaults
  -h, --help             show this help

Exit status: 0 listed (also when nothing matched); 1 the database is unreachable or the query
failed; 2 usage error.
)";

std::vector<std::string> SplitList(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= s.size()) {
    size_t comma = s.find(',', start);
    std::string item = s.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    if (!item.empty()) out.push_back(item);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

}  // namespace

int LsCommand(std::vector<std::string> args) {
  ArgParser p{std::move(args)};
  DiskFilter filter;
  std::string url_flag, transports, types, err;
  bool json = false, pretty = false, attrs = false, bytes = false;
  while (!p.Done()) {
    if (p.Flag("help", 'h')) {
      std::fputs(kLsHelp, stdout);
      return kExitOk;
    }
    if (p.Flag("json", 'J')) {
      json = true;
    } else if (p.Flag("pretty")) {
      pretty = true;
    } else if (p.Flag("attrs")) {
      attrs = true;
    } else if (p.Flag("bytes", 'b')) {
      bytes = true;
    } else if (p.Option("node", 0, &filter.node, &err) ||
               p.Option("transport", 0, &transports, &err) ||
               p.Option("type", 0, &types, &err) || p.Option("state", 0, &filter.state, &err) ||
               p.Option("database-url", 0, &url_flag, &err)) {
      if (!err.empty()) return UsageError("ls", err);
    } else {
      return UsageError("ls", fmt::format("unknown argument '{}'", p.Current()));
    }
  }
  if (filter.state != "present" && filter.state != "removed" && filter.state != "all") {
    return UsageError("ls", fmt::format("--state must be present, removed or all, not '{}'",
                                        filter.state));
  }
  filter.transports = SplitList(transports);
  filter.types = SplitList(types);
  auto conn = PgConnection::Connect(ResolveDatabaseUrl(url_flag));
  if (!conn.ok()) {
    std::fprintf(stderr, "diskinv ls: %s\n", conn.status().message().c_str());
    return kExitFailure;
  }
  auto r = ListDisks(**conn, filter, attrs);
  if (!r.ok()) {
    std::fprintf(stderr, "diskinv ls: %s\n", r.status().message().c_str());
    return kExitFailure;
  }
  std::string out = json ? ResultToJson(*r, pretty) : ResultToTable(*r, DiskTableColumns(), bytes);
  std::fwrite(out.data(), 1, out.size(), stdout);
  return std::fflush(stdout) == 0 ? kExitOk : kExitFailure;
}

}  // namespace diskinv
