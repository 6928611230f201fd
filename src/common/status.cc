#include "common/status.h"

#include <cerrno>
#include <cstring>
#include <string>

namespace diskinv {

Status Status::FromErrno(int err, std::string_view what) {
  // strerrordesc_np: the text strerror gives in the C locale (diskinv never calls setlocale),
  // without strerror's locale and translation lookups. A walk builds one such Status per
  // attribute a device does not have, hundreds per scan.
  const char* text = strerrordesc_np(err);
  std::string_view desc = text ? std::string_view(text) : std::string_view("Unknown error");
  std::string msg;
  msg.reserve(what.size() + 2 + desc.size() + (text ? 0 : 12));
  msg.append(what).append(": ").append(desc);
  if (!text) msg.append(" ").append(std::to_string(err));
  return Status(err, std::move(msg));
}

Status Status::Invalid(std::string message) { return Status(EINVAL, std::move(message)); }

}  // namespace diskinv
