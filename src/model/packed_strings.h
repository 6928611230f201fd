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

class PackedStrings {
 public:
  class Iterator {
   public:
    using iterator_category = std::forward_iterator_tag;
    using value_type = std::string_view;
    using difference_type = std::ptrdiff_t;
    using pointer = void;
    using reference = std::string_view;

    Iterator() = default;
    std::string_view operator*() const { return value_; }
    Iterator& operator++() {
      Load(next_);
      return *this;
    }
    Iterator operator++(int) {
      Iterator old = *this;
      ++*this;
      return old;
    }
    bool operator==(const Iterator& o) const { return pos_ == o.pos_; }

   private:
    friend class PackedStrings;
    Iterator(std::string_view data, size_t pos) : data_(data) { Load(pos); }
    void Load(size_t pos);

    std::string_view data_;
    size_t pos_ = 0;   // start of the current entry's length; data_.size() at the end
    size_t next_ = 0;  // start of the next entry
    std::string_view value_;
  };
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
  size_t size() const;  // O(entries)
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
  class Iterator {
   public:
    using iterator_category = std::forward_iterator_tag;
    using value_type = Entry;
    using difference_type = std::ptrdiff_t;
    using pointer = void;
    using reference = Entry;

    Iterator() = default;
    Entry operator*() const { return entry_; }
    Iterator& operator++() {
      Load(next_);
      return *this;
    }
    Iterator operator++(int) {
      Iterator old = *this;
      ++*this;
      return old;
    }
    bool operator==(const Iterator& o) const { return pos_ == o.pos_; }

   private:
    friend class PackedProperties;
    Iterator(std::string_view data, size_t pos) : data_(data) { Load(pos); }
    void Load(size_t pos);

    std::string_view data_;
    size_t pos_ = 0;
    size_t next_ = 0;
    Entry entry_;
  };
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
  size_t size() const;  // O(entries)

  bool operator==(const PackedProperties&) const = default;

 private:
  std::string data_;
};

}  // namespace diskinv
