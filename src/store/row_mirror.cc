#include "store/row_mirror.h"

#include <fmt/format.h>

#include <algorithm>
#include <utility>

#include "store/migrations.h"

namespace diskinv {
namespace {

// The etags the store writes: Fnv1aHex, 16 lowercase hex digits (fmt "{:016x}", so the text
// of the number is the etag again).
bool ParseHex16(std::string_view s, uint64_t& out) {
  if (s.size() != 16) return false;
  uint64_t v = 0;
  for (char c : s) {
    int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
    if (d < 0) return false;
    v = v << 4 | static_cast<uint64_t>(d);
  }
  out = v;
  return true;
}

}  // namespace

RowMirror::RowMirror(int64_t node_id, Hash hash) : node_id_(node_id), hash_(std::move(hash)) {}

uint64_t RowMirror::Key(std::string_view uid) const {
  return (hash_ ? hash_(uid) : Fnv1a64(uid)) & (~uint64_t{0} >> kFlagBits);
}

const RowMirror::Rec* RowMirror::Locate(uint64_t key) const {
  auto end = recs_.begin() + static_cast<ptrdiff_t>(sorted_);
  auto it = std::lower_bound(recs_.begin(), end, key,
                             [](const Rec& r, uint64_t k) { return r.key() < k; });
  if (it != end && it->key() == key) return &*it;
  for (auto t = end; t != recs_.end(); ++t) {
    if (t->key() == key) return &*t;
  }
  return nullptr;
}

bool RowMirror::Encode(const StoredRow& row, Rec& rec) const {
  if (row.node_id != node_id_) return false;
  std::string_view etag = row.etag;
  bool tomb = etag.size() == 17 && etag[0] == 'r';
  if (tomb) etag.remove_prefix(1);
  if (!ParseHex16(etag, rec.etag)) return false;
  rec.id = row.id;
  rec.set_flags((row.present ? kPresent : 0) | (tomb ? kTombstoneEtag : 0));
  return true;
}

StoredRow RowMirror::Decode(const Rec& rec) const {
  return {rec.id, fmt::format("{}{:016x}", rec.flags() & kTombstoneEtag ? "r" : "", rec.etag),
          (rec.flags() & kPresent) != 0, node_id_};
}

std::optional<StoredRow> RowMirror::Find(std::string_view uid) const {
  const Rec* rec = Locate(Key(uid));
  if (rec == nullptr) return std::nullopt;
  if (!(rec->flags() & kSide)) return Decode(*rec);
  auto it = side_.find(std::string(uid));
  if (it == side_.end()) return std::nullopt;
  return it->second;
}

bool RowMirror::Unknown(std::string_view uid) const {
  const Rec* rec = Locate(Key(uid));
  return rec != nullptr && (rec->flags() & kShared) && !side_.contains(std::string(uid));
}

void RowMirror::Set(const std::string& uid, const StoredRow& row) {
  uint64_t key = Key(uid);
  Rec* rec = Locate(key);
  if (rec == nullptr) {
    Rec r{key << kFlagBits, 0, 0};
    if (!Encode(row, r)) {
      r.set_flags(kSide);
      side_[uid] = row;
    }
    if (recs_.size() == recs_.capacity()) recs_.reserve(recs_.size() + recs_.size() / 8 + 64);
    recs_.push_back(r);
    if (recs_.size() - sorted_ >= kTailMerge) Merge();
    return;
  }
  if (rec->flags() & kSide) {
    // Unshared: side_ holds this key's one row; another uid makes the key shared.
    if (!(rec->flags() & kShared) && !side_.contains(uid)) {
      rec->set_flags(kSide | kShared);
      ++shared_;
    }
    if (!(rec->flags() & kShared) && Encode(row, *rec)) {
      side_.erase(uid);  // back to a plain record (a hand-edited row the store rewrote)
      return;
    }
    side_[uid] = row;
    return;
  }
  // One row had this key. The same id is the same row (its uid is `uid`); another id is
  // another uid (a collision) or `uid` inserted again after a delete: which, the mirror cannot
  // tell without the old uid, so the old row is dropped and the key marked shared.
  if (rec->id != row.id) {
    rec->set_flags(kSide | kShared);
    ++shared_;
    side_[uid] = row;
    return;
  }
  if (!Encode(row, *rec)) {
    rec->set_flags(kSide);
    side_[uid] = row;
  }
}

void RowMirror::Merge() {
  auto mid = recs_.begin() + static_cast<ptrdiff_t>(sorted_);
  auto less = [](const Rec& a, const Rec& b) { return a.word < b.word; };
  std::sort(mid, recs_.end(), less);
  std::inplace_merge(recs_.begin(), mid, recs_.end(), less);
  sorted_ = recs_.size();
}

void RowMirror::Compact() {
  Merge();
  if (recs_.capacity() > recs_.size() + recs_.size() / 4 + 64) recs_.shrink_to_fit();
}

size_t RowMirror::bytes() const {
  size_t b = recs_.capacity() * sizeof(Rec);
  for (const auto& [uid, row] : side_) {
    b += sizeof(std::pair<const std::string, StoredRow>) + 2 * sizeof(void*) + uid.capacity() +
         row.etag.capacity();
  }
  return b + side_.bucket_count() * sizeof(void*);
}

}  // namespace diskinv
