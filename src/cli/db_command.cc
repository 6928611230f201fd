// diskinv db migrate|status: the schema of the inventory database.
#include <cstdio>
#include <cstdlib>

#include <fmt/format.h>

#include "agent/agent_config.h"
#include "cli/cli.h"
#include "store/migrations.h"
#include "store/pg_connection.h"

namespace diskinv {
namespace {

constexpr const char* kDbHelp = R"(Usage: diskinv db migrate|status [--database-url URL]

  migrate  apply the pending schema migrations (built into this binary), each in its own
           transaction; safe to run twice or from several hosts at once (advisory lock)
  status   print the schema version of the database and the pending migrations

Options:
      --database-url URL  postgresql://USER[:PASSWORD]@HOST[:PORT]/DB or a libpq conninfo
                          string; default $DISKINV_DATABASE_URL, else database_url of
                          /etc/diskinv/diskinv.conf, else the libpq defaults (PGHOST, PGPORT,
                          PGDATABASE, PGUSER, ~/.pgpass)
  -h, --help              show this help

Exit status: 0 success; 1 the database is unreachable or a migration failed; 2 usage error.
)";

}  // namespace

std::string ResolveDatabaseUrl(const std::string& flag) {
  if (!flag.empty()) return flag;
  if (const char* env = std::getenv("DISKINV_DATABASE_URL"); env && *env) return env;
  auto c = LoadAgentConfig(kDefaultAgentConfigPath, false);
  return c.ok() ? c->database_url : "";
}

int DbCommand(std::vector<std::string> args) {
  ArgParser p{std::move(args)};
  std::string action, err, url;
  while (!p.Done()) {
    if (p.Flag("help", 'h')) {
      std::fputs(kDbHelp, stdout);
      return kExitOk;
    }
    if (p.Option("database-url", 0, &url, &err)) {
      if (!err.empty()) return UsageError("db", err);
    } else if (action.empty() && (p.Current() == "migrate" || p.Current() == "status")) {
      action = p.args[p.pos++];
    } else {
      return UsageError("db", fmt::format("unknown argument '{}'", p.Current()));
    }
  }
  if (action.empty()) return UsageError("db", "missing action: migrate or status");
  auto conn = PgConnection::Connect(ResolveDatabaseUrl(url));
  if (!conn.ok()) {
    std::fprintf(stderr, "diskinv db %s: %s\n", action.c_str(), conn.status().message().c_str());
    return kExitFailure;
  }
  if (action == "migrate") {
    auto done = Migrate(**conn);
    if (!done.ok()) {
      std::fprintf(stderr, "diskinv db migrate: %s\n", done.status().message().c_str());
      return kExitFailure;
    }
    if (done->empty()) {
      std::printf("schema is up to date at version %d\n", LatestSchemaVersion());
    }
    for (int v : *done) std::printf("applied migration %d\n", v);
    return kExitOk;
  }
  auto st = GetSchemaStatus(**conn);
  if (!st.ok()) {
    std::fprintf(stderr, "diskinv db status: %s\n", st.status().message().c_str());
    return kExitFailure;
  }
  std::printf("database:       %s\nschema version: %d (this diskinv: %d)\n",
              (*conn)->display_url().c_str(), st->current, st->latest);
  if (st->pending.empty()) std::printf("pending:        none\n");
  for (const Migration& m : st->pending) std::printf("pending:        %d %s\n", m.version, m.name.c_str());
  for (const std::string& problem : st->problems) std::printf("problem:        %s\n", problem.c_str());
  return kExitOk;
}

}  // namespace diskinv
