// Status and Result<T>: errors as values at library boundaries (STYLE.md rule 1).
//
// A Status is either OK or carries an errno-style code plus a message a person can act on
// (the path, the errno text, the SQL state). Result<T> holds a T or a non-OK Status.
// Neither throws; accessing the value of an error Result is a programming error (asserted).
#pragma once

#include <cassert>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace diskinv {

class Status {
 public:
  Status() = default;  // OK
  Status(int code, std::string message) : code_(code == 0 ? -1 : code), msg_(std::move(message)) {}

  static Status Ok() { return {}; }
  // An error from a failed system call: "<what>: <strerror(err)>".
  static Status FromErrno(int err, std::string_view what);
  // An error with no errno behind it (bad data, bad arguments). Code is EINVAL.
  static Status Invalid(std::string message);

  bool ok() const { return code_ == 0; }
  // errno value for OS errors (ENOENT, EACCES, ...); EINVAL for data errors; 0 when OK.
  int code() const { return code_; }
  const std::string& message() const { return msg_; }
  std::string ToString() const { return ok() ? "OK" : msg_; }

 private:
  int code_ = 0;
  std::string msg_;
};

template <typename T>
class Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT(google-explicit-constructor)
  Result(Status status) : v_(std::move(status)) {  // NOLINT(google-explicit-constructor)
    assert(!std::get<Status>(v_).ok());
  }

  bool ok() const { return std::holds_alternative<T>(v_); }
  explicit operator bool() const { return ok(); }

  const T& value() const& {
    assert(ok());
    return std::get<T>(v_);
  }
  T& value() & {
    assert(ok());
    return std::get<T>(v_);
  }
  T&& value() && {
    assert(ok());
    return std::get<T>(std::move(v_));
  }
  const T& operator*() const& { return value(); }
  T& operator*() & { return value(); }
  const T* operator->() const { return &value(); }
  T* operator->() { return &value(); }

  // The error; Status::Ok() when this holds a value.
  Status status() const { return ok() ? Status::Ok() : std::get<Status>(v_); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace diskinv
