// PackedStrings and PackedProperties: compact, immutable-in-practice lists of strings for data
// that is built once and then only read in order (a device's udev properties, links and tags).
//
// A std::vector<std::string> costs 24 bytes plus 32 per entry plus one heap block per entry
// longer than 15 characters; a vector of key/value pairs twice that. The agent holds one udev
// record per block device (30,000 at 10,000 disks), and those vectors were its largest heap
// item. Here a list is one std::string: each entry is its length (LEB128) followed by its bytes,
// so any byte (including NUL and '=') survives and an empty list allocates nothing.
//
// Values, not views: copies are deep, == compares the entries in order. Iteration yields
// std::string_view into the list, valid until the list is modified or destroyed. Lookups and
// size() walk the list (O(entries)); these lists hold tens of entries.
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <iterator>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace diskinv {

// Forward iterator over the entries encoded in a string. Decode(data, pos, value) reads the
// entry at `pos` into `value` and returns where the next one starts, or npos when there is none
// (at the end, or a malformed entry: iteration stops there).
template <typename Value, size_t (*Decode)(std::string_view data, size_t pos, Value& value)>
class PackedIterator {
 public:
  using iterator_category = std::forward_iterator_tag;
  using value_type = Value;
  using difference_type = std::ptrdiff_t;
  using pointer = void;
  using reference = Value;

  PackedIterator() = default;
  PackedIterator(std::string_view data, size_t pos) : data_(data) { Load(pos); }
  Value operator*() const { return value_; }
  PackedIterator& operator++() {
    Load(next_);
    return *this;
  }
  PackedIterator operator++(int) {
    PackedIterator old = *this;
    ++*this;
    return old;
  }
  bool operator==(const PackedIterator& o) const { return pos_ == o.pos_; }

 private:
  void Load(size_t pos) {
    next_ = pos < data_.size() ? Decode(data_, pos, value_) : std::string_view::npos;
    if (next_ == std::string_view::npos) {
      pos = next_ = data_.size();
      value_ = {};
    }
    pos_ = pos;
  }

  std::string_view data_;
  size_t pos_ = 0;   // start of the current entry; data_.size() at the end
  size_t next_ = 0;  // start of the next entry
  Value value_{};
};

class PackedStrings {
 public:
  static size_t Decode(std::string_view data, size_t pos, std::string_view& value);
  using Iterator = PackedIterator<std::string_view, &Decode>;
  using iterator = Iterator;
  using const_iterator = Iterator;
  using value_type = std::string_view;

  PackedStrings() = default;
  PackedStrings(std::initializer_list<std::string_view> items);
  explicit PackedStrings(const std::vector<std::string>& items);

  void push_back(std::string_view s);
  void clear() { data_.clear(); }
  // Reserves room for `bytes` bytes of encoded entries (see EncodedSize).
  void reserve(size_t bytes) { data_.reserve(bytes); }
  void shrink_to_fit() { data_.shrink_to_fit(); }

  Iterator begin() const { return Iterator(data_, 0); }
  Iterator end() const { return Iterator(data_, data_.size()); }
  bool empty() const { return data_.empty(); }
  size_t size() const { return static_cast<size_t>(std::distance(begin(), end())); }  // O(n)
  bool contains(std::string_view s) const;
  std::vector<std::string> ToVector() const;

  // Bytes one entry of `length` bytes takes in the list.
  static size_t EncodedSize(size_t length);

  bool operator==(const PackedStrings&) const = default;

 private:
  std::string data_;
};

// Key/value pairs in insertion order (udev E: lines). Duplicate keys are kept; Get returns the
// first. An entry is a tag, the key's bytes unless the tag names a well-known key, then the
// value as in PackedStrings. Well-known keys (ID_SERIAL, ID_PATH, ... the udev properties of
// block devices, a fixed list) cost one or two bytes: keys were a third of a record's bytes.
class PackedProperties {
 public:
  using Entry = std::pair<std::string_view, std::string_view>;
  static size_t Decode(std::string_view data, size_t pos, Entry& entry);
  using Iterator = PackedIterator<Entry, &Decode>;
  using iterator = Iterator;
  using const_iterator = Iterator;
  using value_type = Entry;

  PackedProperties() = default;
  PackedProperties(std::initializer_list<Entry> items);

  void Add(std::string_view key, std::string_view value);
  void clear() { data_.clear(); }
  void reserve(size_t bytes) { data_.reserve(bytes); }
  void shrink_to_fit() { data_.shrink_to_fit(); }

  // The value of the first entry with `key`, or nullopt.
  std::optional<std::string_view> Get(std::string_view key) const;

  Iterator begin() const { return Iterator(data_, 0); }
  Iterator end() const { return Iterator(data_, data_.size()); }
  bool empty() const { return data_.empty(); }
  size_t size() const { return static_cast<size_t>(std::distance(begin(), end())); }  // O(n)

  bool operator==(const PackedProperties&) const = default;

 private:
  std::string data_;
};

}  // namespace diskinv
