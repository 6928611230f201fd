// Box<T>: an optional T kept on the heap. A value type with std::optional's interface
// (has_value, bool, *, ->, emplace, reset, ==, assignment from T or nullopt) and deep copies.
//
// For large members that most owners leave empty: std::optional<T> stores a T inline whether
// or not it holds one; a Box costs one pointer when empty. BlockDevice boxes its SCSI and NVMe
// identities (about 950 bytes together), which partitions, loop, dm and md devices never have.
#pragma once

#include <memory>
#include <optional>
#include <utility>

namespace diskinv {

template <typename T>
class Box {
 public:
  Box() = default;
  Box(std::nullopt_t) {}  // NOLINT(google-explicit-constructor): like std::optional
  Box(T value) : p_(std::make_unique<T>(std::move(value))) {}  // NOLINT
  Box(const Box& o) : p_(o.p_ ? std::make_unique<T>(*o.p_) : nullptr) {}
  Box(Box&&) noexcept = default;
  Box& operator=(const Box& o) {
    if (this != &o) p_ = o.p_ ? std::make_unique<T>(*o.p_) : nullptr;
    return *this;
  }
  Box& operator=(Box&&) noexcept = default;
  Box& operator=(std::nullopt_t) {
    p_.reset();
    return *this;
  }

  bool has_value() const { return p_ != nullptr; }
  explicit operator bool() const { return has_value(); }
  // Precondition for *, -> and value(): has_value().
  T& operator*() { return *p_; }
  const T& operator*() const { return *p_; }
  T* operator->() { return p_.get(); }
  const T* operator->() const { return p_.get(); }

  template <typename... Args>
  T& emplace(Args&&... args) {
    p_ = std::make_unique<T>(std::forward<Args>(args)...);
    return *p_;
  }
  void reset() { p_.reset(); }

  // Equal when both are empty or both hold equal values (as std::optional).
  friend bool operator==(const Box& a, const Box& b) {
    if (a.has_value() != b.has_value()) return false;
    return !a.has_value() || *a == *b;
  }

 private:
  std::unique_ptr<T> p_;
};

}  // namespace diskinv
