// RowMirror: the stored rows of one table (disk or partition) that InventoryStore last read or
// wrote for one node, by uid, in 24 bytes a row (30,000 rows: 720 kB; an unordered_map of uid
// strings took 4.5 MB).
//
// A row is kept as a record in one vector sorted by a hash of its uid (the key: 60 bits of
// FNV-1a 64; the uid itself is not kept): id, the etag as a number and flags. The etags the store
// writes are Fnv1aHex (16 lowercase hex digits) and a tombstone's 'r' + one; they are stored as the
// number and a flag and given back as the same text. A row that does not fit (any other etag text:
// a row edited by hand or by another writer; a row of another node) is kept whole, by uid string,
// in a side map, as are the rows of a key that two uids were seen with.
//
// Hash collisions. Two uids with one key are told apart when the mirror sees both: a Set with
// another row id for a key keeps the new row in the side map by uid and drops the old one (its
// uid is not known; shared() counts such keys), and a uid of that key the side map lacks is
// Unknown(): the caller reads it by uid and Sets it (InventoryStore does so for the current
// uids right after a load that met a shared key). A uid never Set whose key is another row's
// gets that row from Find(). That cannot make InventoryStore write a wrong row: every write it
// guards with the row's id, the exact etag text read AND the uid it means (UPDATE/tombstone
// ... WHERE t.id = u.id AND t.etag = u.etag AND t.uid = u.uid), so the guard fails, the store
// re-reads that uid by its string and writes the right row. The one effect left is a skipped
// write (the found etag equals the device's): that needs the device's etag, a 64-bit hash of
// its content, to equal the other row's as well (the content differs: the identifiers the uid
// is made of are columns), a second, independent, collision. Odds of a first one among 30,000
// uids: about n^2 / 2^61 = 4e-10. Tombstones of a full sync
// are found with uid strings (InventoryStore reads the node's rows), not through the mirror.
//
// Set() with a new key appends to an unsorted tail (searched linearly) that is merged in every
// kTailMerge rows and by Compact(), so a load of n rows costs O(n log n + n^2 / kTailMerge)
// moves and an event's new row one merge.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace diskinv {

// A row's state as read or written: what the next write of the row is guarded by.
struct StoredRow {
  int64_t id = 0;
  std::string etag;
  bool present = false;
  int64_t node_id = 0;
  bool operator==(const StoredRow&) const = default;
};

class RowMirror {
 public:
  using Hash = std::function<uint64_t(std::string_view uid)>;
  // `node_id`: the node whose rows these mostly are (others go to the side map). `hash`: the
  // key of a uid (default: FNV-1a 64; tests pass one that collides).
  explicit RowMirror(int64_t node_id = 0, Hash hash = nullptr);

  // The row last Set for `uid`, or, when the mirror never saw `uid`, the row of another uid
  // with the same key (see the file comment); nullopt when it knows none.
  std::optional<StoredRow> Find(std::string_view uid) const;
  // Whether a row of `uid` may exist that the mirror lost track of: its key is shared and
  // `uid` is not among the rows kept by uid. Find() says nullopt for it; read it by uid.
  bool Unknown(std::string_view uid) const;
  // Records the row of `uid` as read or written (replaces the one before).
  void Set(const std::string& uid, const StoredRow& row);
  // Before a load of about `rows` rows: room for them.
  void Reserve(size_t rows) { recs_.reserve(recs_.size() + rows); }
  // Merges the tail in and gives back spare capacity; call when a batch of Set()s is done.
  void Compact();

  size_t size() const { return recs_.size(); }  // keys
  size_t side_rows() const { return side_.size(); }
  size_t shared() const { return shared_; }  // keys two uids were seen with
  size_t bytes() const;                      // heap held, approximately (records and side map)

 private:
  static constexpr int kFlagBits = 4;
  // 24 bytes: the key (the uid hash's low 60 bits) and the flags share a word.
  struct Rec {
    uint64_t word = 0;  // key << kFlagBits | flags
    int64_t id = 0;
    uint64_t etag = 0;
    uint64_t key() const { return word >> kFlagBits; }
    uint8_t flags() const { return static_cast<uint8_t>(word & ((1u << kFlagBits) - 1)); }
    void set_flags(unsigned f) { word = key() << kFlagBits | f; }
  };
  static_assert(sizeof(Rec) == 24);
  enum : uint8_t {
    kPresent = 1,
    kTombstoneEtag = 2,  // the etag is 'r' + the hex digits
    kSide = 4,           // the row(s) of this key are in side_, by uid
    kShared = 8,         // more than one row was seen with this key
  };
  static constexpr size_t kTailMerge = 256;

  uint64_t Key(std::string_view uid) const;
  const Rec* Locate(uint64_t key) const;
  Rec* Locate(uint64_t key) { return const_cast<Rec*>(std::as_const(*this).Locate(key)); }
  bool Encode(const StoredRow& row, Rec& rec) const;  // false: the row needs the side map
  StoredRow Decode(const Rec& rec) const;
  void Merge();

  int64_t node_id_;
  Hash hash_;
  std::vector<Rec> recs_;  // [0, sorted_) sorted by key, then the unsorted tail
  size_t sorted_ = 0;
  std::unordered_map<std::string, StoredRow> side_;
  size_t shared_ = 0;
};

}  // namespace diskinv
