#include "model/packed_strings.h"

namespace diskinv {

void PackedStrings::Iterator::Load(size_t pos) {
  // Entries are written only by push_back, so the encoding is well formed; the bounds checks
  // keep a corrupted list from reading outside it.
  size_t length = 0;
  size_t p = pos;
  for (int shift = 0; p < data_.size() && shift < 64; shift += 7) {
    auto byte = static_cast<unsigned char>(data_[p++]);
    length |= static_cast<size_t>(byte & 0x7f) << shift;
    if ((byte & 0x80) == 0) break;
  }
  if (pos >= data_.size() || length > data_.size() - p) {
    pos_ = next_ = data_.size();
    value_ = {};
    return;
  }
  pos_ = pos;
  value_ = data_.substr(p, length);
  next_ = p + length;
}

PackedStrings::PackedStrings(std::initializer_list<std::string_view> items) {
  for (std::string_view s : items) push_back(s);
}

PackedStrings::PackedStrings(const std::vector<std::string>& items) {
  for (const std::string& s : items) push_back(s);
}

size_t PackedStrings::EncodedSize(size_t length) {
  size_t n = 1;
  for (size_t v = length; v >= 0x80; v >>= 7) ++n;
  return n + length;
}

void PackedStrings::push_back(std::string_view s) {
  for (size_t v = s.size();; v >>= 7) {
    if (v < 0x80) {
      data_.push_back(static_cast<char>(v));
      break;
    }
    data_.push_back(static_cast<char>((v & 0x7f) | 0x80));
  }
  data_.append(s);
}

size_t PackedStrings::size() const {
  size_t n = 0;
  for (auto it = begin(); it != end(); ++it) ++n;
  return n;
}

bool PackedStrings::contains(std::string_view s) const {
  for (std::string_view e : *this) {
    if (e == s) return true;
  }
  return false;
}

std::vector<std::string> PackedStrings::ToVector() const {
  std::vector<std::string> out;
  for (std::string_view e : *this) out.emplace_back(e);
  return out;
}

PackedProperties::PackedProperties(std::initializer_list<Entry> items) {
  for (const auto& [k, v] : items) Add(k, v);
}

std::optional<std::string_view> PackedProperties::Get(std::string_view key) const {
  for (auto it = kv_.begin(); it != kv_.end(); ++it) {
    bool match = *it == key;
    ++it;
    if (it == kv_.end()) break;
    if (match) return *it;
  }
  return std::nullopt;
}

}  // namespace diskinv
