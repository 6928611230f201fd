// SharedValue<T>: a T with value semantics whose copies share one immutable heap block until
// one of them is written (copy on write).
//
// For a large member that many owners hold identical copies of: a partition's queue limits are
// its whole disk's (`part.queue = disk.queue` shares them; at 10,000 disks with 2 partitions
// each that is 20,000 copies of 448 bytes plus the scheduler list saved).
//
// Reads: *v and v-> (a default-constructed SharedValue reads as T{} and allocates nothing).
// Writes: v.Mutable() returns a T& of this value alone (it copies the block first when it is
// shared); the reference is valid until this SharedValue is next copied, assigned or destroyed.
// == compares the values. Copies may be made and read from several threads, like a
// std::shared_ptr<const T>; one SharedValue object is not written from two threads at once.
#pragma once

#include <memory>
#include <utility>

namespace diskinv {

template <typename T>
class SharedValue {
 public:
  SharedValue() = default;
  SharedValue(T value)  // NOLINT(google-explicit-constructor): assign a T like a plain member
      : p_(std::make_shared<T>(std::move(value))) {}

  const T& operator*() const { return p_ ? *p_ : Default(); }
  const T* operator->() const { return &**this; }

  T& Mutable() {
    if (!p_) {
      p_ = std::make_shared<T>();
    } else if (p_.use_count() != 1) {
      p_ = std::make_shared<T>(*p_);
    }
    return *p_;
  }

  // True when both hold the same block (a copy not written since): for tests.
  bool SharesWith(const SharedValue& o) const { return p_ != nullptr && p_ == o.p_; }

  friend bool operator==(const SharedValue& a, const SharedValue& b) {
    return a.p_ == b.p_ || *a == *b;
  }

 private:
  static const T& Default() {
    static const T kDefault{};
    return kDefault;
  }

  std::shared_ptr<T> p_;
};

}  // namespace diskinv
