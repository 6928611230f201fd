// Schema migrations: versioned SQL files (src/store/migrations/NNNN_name.sql) compiled into the
// binary, applied in order, each in its own transaction together with its row in
// diskinv.schema_migration. Migrate() holds a session advisory lock, so concurrent runs
// (two agents starting at once) apply each migration exactly once; running it again is a no-op.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "store/pg_connection.h"

namespace diskinv {

struct Migration {
  int version = 0;        // NNNN of the file name
  std::string name;       // file name without version and .sql: "schema"
  std::string_view sql;
  std::string checksum;   // hex FNV-1a 64 of `sql`; recorded, compared by status
};

// The migrations built into this binary, by version. Versions are unique and increasing.
const std::vector<Migration>& EmbeddedMigrations();
int LatestSchemaVersion();

struct SchemaStatus {
  int current = 0;                   // highest applied version; 0 for an empty database
  int latest = 0;                    // LatestSchemaVersion()
  std::vector<Migration> pending;    // embedded but not applied
  std::vector<std::string> problems;  // applied with another checksum, or unknown to us
};

Result<SchemaStatus> GetSchemaStatus(PgConnection& conn);
// Applies what is pending; returns the versions applied by this call (empty when up to date).
Result<std::vector<int>> Migrate(PgConnection& conn);

// 64-bit FNV-1a, and as 16 lowercase hex digits. Used for migration checksums, row etags and
// the store's mirror of rows (row_mirror.h).
uint64_t Fnv1a64(std::string_view data);
std::string Fnv1aHex(std::string_view data);

}  // namespace diskinv
