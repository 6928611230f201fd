#include "cdc/event_group.h"

#include <cassert>

namespace diskinv {

const char* ChangeKindName(ChangeKind k) {
  switch (k) {
    case ChangeKind::kInsert: return "insert";
    case ChangeKind::kUpdate: return "update";
    case ChangeKind::kDelete: return "delete";
    case ChangeKind::kTruncate: return "truncate";
    case ChangeKind::kMessage: return "message";
  }
  return "?";
}

std::string_view TupleView::bytes(size_t i) const { return g_->Bytes(v_[i]); }

const std::string& TupleView::column_name(size_t i) const {
  static const std::string kEmpty;
  return rel_ && i < rel_->columns.size() ? rel_->columns[i].name : kEmpty;
}

std::optional<std::string_view> TupleView::Text(std::string_view column) const {
  int i = Find(column);
  if (i < 0 || static_cast<size_t>(i) >= n_) return std::nullopt;
  const StoredValue& v = v_[i];
  if (v.kind != TupleKind::kText && v.kind != TupleKind::kBinary) return std::nullopt;
  return g_->Bytes(v);
}

TupleView EventGroup::NewTuple(const Change& c) const {
  if (c.new_count == 0) return {};
  return TupleView(this, c.relation, values_.data() + c.new_first, c.new_count);
}

TupleView EventGroup::OldTuple(const Change& c) const {
  if (c.old_count == 0) return {};
  return TupleView(this, c.relation, values_.data() + c.old_first, c.old_count);
}

std::vector<const Relation*> EventGroup::Truncated(const Change& c) const {
  if (c.kind != ChangeKind::kTruncate) return {};
  return {truncated_.begin() + c.new_first, truncated_.begin() + c.new_first + c.new_count};
}

std::string_view EventGroup::MessagePrefix(const Change& c) const {
  return c.kind == ChangeKind::kMessage ? Bytes(values_[c.new_first]) : std::string_view();
}

std::string_view EventGroup::MessageContent(const Change& c) const {
  return c.kind == ChangeKind::kMessage ? Bytes(values_[c.new_first + 1]) : std::string_view();
}

void EventGroup::Keep(const std::shared_ptr<const Relation>& rel) {
  if (!rel) return;
  for (auto it = relations_.rbegin(); it != relations_.rend(); ++it) {
    if (*it == rel) return;
  }
  relations_.push_back(rel);
}

Change& EventGroup::AddChange(ChangeKind kind, Lsn lsn, const std::shared_ptr<const Relation>& rel) {
  Keep(rel);
  Change& c = changes_.emplace_back();
  c.kind = kind;
  c.lsn = lsn;
  c.relation = rel.get();
  return c;
}

uint32_t EventGroup::Append(const std::vector<TupleColumn>& cols) {
  uint32_t first = static_cast<uint32_t>(values_.size());
  for (const TupleColumn& col : cols) {
    StoredValue v{col.kind, static_cast<uint32_t>(data_.size()),
                  static_cast<uint32_t>(col.data.size())};
    data_.append(col.data);
    values_.push_back(v);
  }
  return first;
}

void EventGroup::SetNewTuple(Change& c, const std::vector<TupleColumn>& cols) {
  c.new_first = Append(cols);
  c.new_count = static_cast<uint16_t>(cols.size());
}

void EventGroup::SetOldTuple(Change& c, char old_kind, const std::vector<TupleColumn>& cols) {
  c.old_kind = old_kind;
  c.old_first = Append(cols);
  c.old_count = static_cast<uint16_t>(cols.size());
}

void EventGroup::SetTruncated(Change& c, const std::vector<std::shared_ptr<const Relation>>& rels,
                              uint8_t options) {
  c.flags = options;
  c.new_first = static_cast<uint32_t>(truncated_.size());
  c.new_count = static_cast<uint16_t>(rels.size());
  for (const auto& r : rels) {
    Keep(r);
    truncated_.push_back(r.get());
  }
  if (!rels.empty()) c.relation = rels.front().get();
}

void EventGroup::SetMessage(Change& c, uint8_t flags, std::string_view prefix,
                            std::string_view content) {
  c.flags = flags;
  c.new_first = Append({{TupleKind::kText, prefix}, {TupleKind::kBinary, content}});
  c.new_count = 0;  // not a tuple
}

size_t EventGroup::MemoryBytes() const {
  return sizeof(*this) + data_.capacity() + values_.capacity() * sizeof(StoredValue) +
         changes_.capacity() * sizeof(Change) +
         relations_.capacity() * sizeof(std::shared_ptr<const Relation>) +
         truncated_.capacity() * sizeof(const Relation*);
}

void EventGroup::Clear() {
  xid = 0;
  final_lsn = commit_lsn = end_lsn = 0;
  commit_time = 0;
  origin.clear();
  part = 0;
  last_part = true;
  transactional = true;
  replayed = false;
  changes_.clear();
  values_.clear();
  data_.clear();
  relations_.clear();
  truncated_.clear();
}

std::unique_ptr<EventGroup> EventGroupPool::Acquire() {
  {
    std::lock_guard lock(mu_);
    if (!free_.empty()) {
      auto g = std::move(free_.back());
      free_.pop_back();
      return g;
    }
  }
  return std::make_unique<EventGroup>();
}

void EventGroupPool::Release(std::unique_ptr<EventGroup> g) {
  if (!g || g->MemoryBytes() > max_keep_bytes_) return;  // a big part: give the memory back
  g->Clear();
  std::lock_guard lock(mu_);
  if (free_.size() < max_groups_) free_.push_back(std::move(g));
}

}  // namespace diskinv
