// The spec tables as people manage them (`diskinv pool ...`, `diskinv tune ...`): pools,
// pool policies, tuning profiles, and read-only views of claims and per-disk tuning. Every
// write is one statement (one transaction); the reconciler notices it through CDC (the spec
// tables are in its publication) and re-evaluates every disk.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "reconcile/disk_selector.h"
#include "store/pg_connection.h"

namespace diskinv::spec_store {

struct PoolRow {
  int64_t id = 0;
  std::string name, description, release_grace;
  std::optional<int64_t> max_disks;
  int64_t claims = 0;
};

struct PolicyInput {
  std::string name, pool;
  int priority = 100;
  bool enabled = true;
  DiskSelector selector;  // require_unpartitioned / require_no_holders included
  std::optional<int64_t> max_per_node;
};

struct PolicyRow {
  PolicyInput policy;
  int64_t id = 0;
};

struct ProfileInput {
  std::string name;
  std::optional<std::string> pool;  // restrict to disks claimed into this pool
  int priority = 100;
  bool enabled = true;
  DiskSelector selector;
  std::map<std::string, std::string> settings;
  std::string drift_action = "repair";
};

struct ProfileRow {
  ProfileInput profile;
  int64_t id = 0;
  std::string settings_json;
};

struct ClaimRow {
  std::string pool, hostname, kname, uid, state, policy, claimed_at;
};

struct TuningRow {
  std::string hostname, kname, profile, status, desired, observed, rejected, drift, observed_at;
  int64_t desired_generation = 0;
  std::optional<int64_t> applied_generation;
};

// EEXIST when the name is taken; EINVAL for bad values (the message says which).
Status CreatePool(PgConnection& c, const std::string& name, const std::string& description,
                  std::optional<int64_t> max_disks, const std::string& release_grace);
// Changes limits of an existing pool (ENOENT when missing).
Status UpdatePool(PgConnection& c, const std::string& name, std::optional<int64_t> max_disks,
                  bool clear_max_disks, std::optional<std::string> release_grace);
Result<std::vector<PoolRow>> ListPools(PgConnection& c);
// EBUSY while disks are claimed, unless `release` (the claims go to the history).
Status DeletePool(PgConnection& c, const std::string& name, bool release);

Status AddPolicy(PgConnection& c, const PolicyInput& p);
Result<std::vector<PolicyRow>> ListPolicies(PgConnection& c);
Status RemovePolicy(PgConnection& c, const std::string& name);

// Validates the settings (queue attribute whitelist and syntax) before writing.
Status AddProfile(PgConnection& c, const ProfileInput& p);
Result<std::vector<ProfileRow>> ListProfiles(PgConnection& c);
Status RemoveProfile(PgConnection& c, const std::string& name);

Result<std::vector<ClaimRow>> ListClaims(PgConnection& c, const std::string& pool = "");
Result<std::vector<TuningRow>> ListTuning(PgConnection& c, const std::string& hostname = "");

}  // namespace diskinv::spec_store
