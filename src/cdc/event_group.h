// EventGroup: the changes of one transaction, or of one part of a large transaction, as
// handlers receive them.
//
// A transaction of up to TransactionAssembler's part limits (changes and bytes) is one group
// with last_part == true. A larger one arrives as consecutive parts (part = 0, 1, ...) of the
// same xid, each bounded, the last one carrying the Commit: memory stays bounded whatever the
// transaction's size, and the consumer acknowledges the transaction only after the handler
// finished its last part (so a crash mid-transaction redelivers all of it).
//
// Values are stored once in the group's byte buffer; a Change refers to ranges of it. A Change
// points at the Relation version that was current when it was decoded; the group holds those
// Relations alive. Groups are recycled (EventGroupPool), so steady-state decoding allocates
// nothing. Not thread-safe; handed from the decoding thread to the handler thread whole.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cdc/lsn.h"
#include "cdc/pgoutput_message.h"
#include "cdc/relation_cache.h"

namespace diskinv {

enum class ChangeKind : uint8_t { kInsert, kUpdate, kDelete, kTruncate, kMessage };
const char* ChangeKindName(ChangeKind k);  // "insert", "update", ...

struct Change {
  ChangeKind kind = ChangeKind::kInsert;
  Lsn lsn = 0;                         // WAL position of the change
  const Relation* relation = nullptr;  // Insert/Update/Delete; Truncate: see truncated()
  char old_kind = 0;                   // Update/Delete: 0, 'K' (key) or 'O' (old row, FULL)
  uint8_t flags = 0;                   // Truncate options; Message flags
  uint32_t new_first = 0, old_first = 0;  // into the group's values (or truncated relations)
  uint16_t new_count = 0, old_count = 0;
};

// One stored tuple value.
struct StoredValue {
  TupleKind kind = TupleKind::kNull;
  uint32_t offset = 0, length = 0;
};

class EventGroup;

// Read access to one tuple of a change, by column index or name.
class TupleView {
 public:
  TupleView() = default;
  TupleView(const EventGroup* g, const Relation* rel, const StoredValue* v, size_t n)
      : g_(g), rel_(rel), v_(v), n_(n) {}
  bool empty() const { return n_ == 0; }
  size_t size() const { return n_; }
  TupleKind kind(size_t i) const { return v_[i].kind; }
  bool is_null(size_t i) const { return v_[i].kind == TupleKind::kNull; }
  // An UPDATE left this TOASTed value alone: it was not sent. It is not NULL.
  bool is_unchanged_toast(size_t i) const { return v_[i].kind == TupleKind::kUnchangedToast; }
  std::string_view bytes(size_t i) const;  // text or binary bytes; empty for n/u
  const std::string& column_name(size_t i) const;
  // Index of `column`, or -1 when the relation has no such column.
  int Find(std::string_view column) const { return rel_ ? rel_->Find(column) : -1; }
  // The text of `column`; nullopt when absent, NULL or unchanged-TOAST (check kind() to tell).
  std::optional<std::string_view> Text(std::string_view column) const;

 private:
  const EventGroup* g_ = nullptr;
  const Relation* rel_ = nullptr;
  const StoredValue* v_ = nullptr;
  size_t n_ = 0;
};

class EventGroup {
 public:
  // Transaction facts (from Begin; the commit fields once last_part).
  uint32_t xid = 0;
  Lsn final_lsn = 0;   // Begin: the LSN of the commit record
  Lsn commit_lsn = 0;  // Commit (last part only)
  Lsn end_lsn = 0;     // Commit: end of the commit record = the LSN to acknowledge
  int64_t commit_time = 0;  // µs since 2000-01-01 UTC
  std::string origin;       // Origin message, if any
  uint32_t part = 0;
  bool last_part = true;
  // false for a non-transactional logical message (no Begin/Commit, nothing to acknowledge).
  bool transactional = true;
  // Replayed from the tables (`cdc replay`), not decoded from WAL; LSNs are 0.
  bool replayed = false;

  const std::vector<Change>& changes() const { return changes_; }
  TupleView NewTuple(const Change& c) const;
  TupleView OldTuple(const Change& c) const;
  // Truncate: the truncated relations.
  std::vector<const Relation*> Truncated(const Change& c) const;
  // Message: prefix and content.
  std::string_view MessagePrefix(const Change& c) const;
  std::string_view MessageContent(const Change& c) const;
  std::string_view Bytes(const StoredValue& v) const { return {data_.data() + v.offset, v.length}; }

  // Building (the assembler and replay). Relations passed here are kept alive by the group.
  Change& AddChange(ChangeKind kind, Lsn lsn, const std::shared_ptr<const Relation>& rel);
  void SetNewTuple(Change& c, const std::vector<TupleColumn>& cols);
  void SetOldTuple(Change& c, char old_kind, const std::vector<TupleColumn>& cols);
  void SetTruncated(Change& c, const std::vector<std::shared_ptr<const Relation>>& rels,
                    uint8_t options);
  void SetMessage(Change& c, uint8_t flags, std::string_view prefix, std::string_view content);

  // Approximate heap bytes held (capacity of the buffers): what the part limits bound.
  size_t MemoryBytes() const;
  size_t DataBytes() const { return data_.size(); }
  void Clear();  // keeps capacity

 private:
  void Keep(const std::shared_ptr<const Relation>& rel);
  uint32_t Append(const std::vector<TupleColumn>& cols);

  std::vector<Change> changes_;
  std::vector<StoredValue> values_;
  std::string data_;
  std::vector<std::shared_ptr<const Relation>> relations_;  // kept alive; deduplicated
  std::vector<const Relation*> truncated_;
};

// A free list of groups shared by the decoding and the handler thread. Groups that grew beyond
// `max_keep_bytes` are freed instead of kept, so the pool holds at most max_groups * that.
class EventGroupPool {
 public:
  explicit EventGroupPool(size_t max_groups = 256, size_t max_keep_bytes = 1 << 20)
      : max_groups_(max_groups), max_keep_bytes_(max_keep_bytes) {}
  std::unique_ptr<EventGroup> Acquire();
  void Release(std::unique_ptr<EventGroup> g);

 private:
  std::mutex mu_;
  std::vector<std::unique_ptr<EventGroup>> free_;
  size_t max_groups_, max_keep_bytes_;
};

}  // namespace diskinv
