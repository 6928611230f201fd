// DiskSelector: which disks a pool policy or a tuning profile applies to, and DiskFacts: what
// the controller knows about one disk when it decides. Matching is pure (no I/O) so policies
// are unit-tested without a database; every criterion that is set must hold.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/status.h"

namespace diskinv {

struct DiskSelector {
  std::optional<std::string> node_pattern;   // glob on the node's hostname
  std::optional<std::string> kname_pattern;  // glob on the kernel name
  std::optional<std::string> transport;      // exact
  std::optional<bool> rotational;
  std::optional<int64_t> min_size_bytes, max_size_bytes;
  std::optional<std::string> model_pattern, vendor_pattern;  // globs
  bool require_unpartitioned = false;
  bool require_no_holders = false;
  std::optional<int64_t> pool_id;  // tuning profiles: the disk is claimed into this pool
};

struct DiskFacts {
  int64_t id = 0;
  std::string uid;
  int64_t node_id = 0;
  std::string hostname, kname;
  std::optional<std::string> transport, model, vendor;
  std::optional<bool> rotational;
  std::optional<int64_t> size_bytes;
  bool present = true;
  std::optional<double> removed_seconds;  // how long ago it was removed (tombstone)
  bool identity_conflict = false;
  bool partitioned = false;  // has present partitions
  bool has_holders = false;  // something (dm, md, ...) is built on it or its partitions
  // Current claim.
  std::optional<int64_t> claim_pool_id, claim_policy_id;
  // Current tuning row.
  bool has_tuning = false;
  std::optional<int64_t> tuning_profile_id;
  int64_t tuning_node_id = 0;
  std::string tuning_desired;       // jsonb text (canonical)
  std::string tuning_drift_action;
  std::string tuning_etag;
};

// "" when `d` matches `s`, else the first criterion that fails ("transport is sata, not nvme").
// `claim_pool_id` is the pool the disk is (or is about to be) claimed into.
std::string SelectorMismatch(const DiskSelector& s, const DiskFacts& d,
                             std::optional<int64_t> claim_pool_id);
inline bool SelectorMatches(const DiskSelector& s, const DiskFacts& d,
                            std::optional<int64_t> claim_pool_id) {
  return SelectorMismatch(s, d, claim_pool_id).empty();
}

// "512", "100G", "1.5T", "64MiB" (binary units K M G T P, optional "iB"/"B") -> bytes.
Result<int64_t> ParseSize(std::string_view s);

}  // namespace diskinv
