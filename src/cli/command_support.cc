#include "cli/command_support.h"

#include <signal.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <mutex>

#include <fmt/format.h>

#include "common/parse.h"

namespace diskinv {
namespace {

std::atomic<bool> g_stop{false};

void OnSignal(int) { g_stop.store(true); }

}  // namespace

std::string DefaultDatabaseUrl() {
  const char* env = std::getenv("DISKINV_DATABASE_URL");
  return env ? env : "";
}

bool DatabaseUrlOption(ArgParser& p, std::string* url, std::string* err) {
  return p.Option("database-url", 0, url, err);
}

bool NumberOption(ArgParser& p, const char* name, uint64_t* out, std::string* err) {
  std::string v;
  if (!p.Option(name, 0, &v, err)) return false;
  if (!err->empty()) return true;
  auto n = ParseU64(v);
  if (!n.ok()) {
    *err = fmt::format("--{}: {}", name, n.status().message());
  } else {
    *out = *n;
  }
  return true;
}

const std::atomic<bool>& StopOnSignals() {
  static std::once_flag once;
  std::call_once(once, [] {
    struct sigaction sa {};
    sa.sa_handler = OnSignal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, nullptr);
    sigaction(SIGTERM, &sa, nullptr);
  });
  return g_stop;
}

bool SelectorOption(ArgParser& p, DiskSelector* s, std::string* err) {
  std::string v;
  auto text = [&](const char* name, std::optional<std::string>* out) {
    if (!p.Option(name, 0, &v, err)) return false;
    *out = v;
    return true;
  };
  if (text("node", &s->node_pattern) || text("kname", &s->kname_pattern) ||
      text("transport", &s->transport) || text("model", &s->model_pattern) ||
      text("vendor", &s->vendor_pattern)) {
    return true;
  }
  if (p.Option("rotational", 0, &v, err)) {
    if (v == "yes" || v == "true" || v == "1") {
      s->rotational = true;
    } else if (v == "no" || v == "false" || v == "0") {
      s->rotational = false;
    } else if (err->empty()) {
      *err = fmt::format("--rotational takes yes or no, not '{}'", v);
    }
    return true;
  }
  for (auto [name, out] : {std::pair{"min-size", &s->min_size_bytes},
                           std::pair{"max-size", &s->max_size_bytes}}) {
    if (p.Option(name, 0, &v, err)) {
      if (!err->empty()) return true;
      auto size = ParseSize(v);
      if (!size.ok()) {
        *err = fmt::format("--{}: {}", name, size.status().message());
      } else {
        *out = *size;
      }
      return true;
    }
  }
  return false;
}

std::string SelectorText(const DiskSelector& s) {
  std::vector<std::string> parts;
  if (s.node_pattern) parts.push_back("node=" + *s.node_pattern);
  if (s.kname_pattern) parts.push_back("kname=" + *s.kname_pattern);
  if (s.transport) parts.push_back("transport=" + *s.transport);
  if (s.rotational) parts.push_back(*s.rotational ? "rotational" : "non-rotational");
  if (s.min_size_bytes) parts.push_back(fmt::format("size>={}", *s.min_size_bytes));
  if (s.max_size_bytes) parts.push_back(fmt::format("size<={}", *s.max_size_bytes));
  if (s.model_pattern) parts.push_back("model=" + *s.model_pattern);
  if (s.vendor_pattern) parts.push_back("vendor=" + *s.vendor_pattern);
  if (s.require_unpartitioned) parts.push_back("unpartitioned");
  if (s.require_no_holders) parts.push_back("no-holders");
  return parts.empty() ? "(any disk)" : fmt::format("{}", fmt::join(parts, " "));
}

int ConsumerExitCode(const std::string& command, const Status& s) {
  if (s.ok()) return kExitOk;
  std::fprintf(stderr, "diskinv %s: %s\n", command.c_str(), s.message().c_str());
  switch (s.code()) {
    case ENOENT:
    case ESTALE:
      return kExitSlotLost;
    case EBUSY:
      return kExitSlotBusy;
    case EINVAL:
      return kExitDecodeError;
    default:
      return kExitFailure;
  }
}

}  // namespace diskinv
