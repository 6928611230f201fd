#include "model/name_table.h"

#include <functional>

namespace diskinv {

size_t NameTable::Slot(std::string_view name) const {
  size_t mask = slots_.size() - 1;
  for (size_t i = std::hash<std::string_view>{}(name)&mask;; i = (i + 1) & mask) {
    if (slots_[i] == kNone || Name(slots_[i]) == name) return i;
  }
}

void NameTable::Grow() {
  slots_.assign(slots_.empty() ? 16 : slots_.size() * 2, kNone);
  for (uint32_t id = 0; id < size(); ++id) slots_[Slot(Name(id))] = id;
}

uint32_t NameTable::Find(std::string_view name) const {
  if (slots_.empty()) return kNone;
  return slots_[Slot(name)];
}

uint32_t NameTable::Intern(std::string_view name) {
  // Load factor at most 1/2: probes stay short.
  if ((size() + 1) * 2 > slots_.size()) Grow();
  size_t s = Slot(name);
  if (slots_[s] != kNone) return slots_[s];
  auto id = static_cast<uint32_t>(size());
  bytes_.append(name);
  offsets_.push_back(static_cast<uint32_t>(bytes_.size()));
  slots_[s] = id;
  return id;
}

size_t NameTable::bytes() const {
  return bytes_.capacity() + offsets_.capacity() * sizeof(uint32_t) +
         slots_.capacity() * sizeof(uint32_t);
}

}  // namespace diskinv
