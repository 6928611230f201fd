#include "common/status.h"

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

namespace diskinv {

Status Status::FromErrno(int err, std::string_view what) {
  return Status(err, fmt::format("{}: {}", what, std::strerror(err)));
}

Status Status::Invalid(std::string message) { return Status(EINVAL, std::move(message)); }

}  // namespace diskinv
