#include "agent/agent_config.h"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "agent/metrics_server.h"
#include "common/parse.h"
#include "store/pg_connection.h"

namespace diskinv {
namespace {

using std::chrono::milliseconds;

std::string FormatDuration(milliseconds d) {
  auto ms = d.count();
  if (ms != 0 && ms % 3600000 == 0) return fmt::format("{}h", ms / 3600000);
  if (ms != 0 && ms % 60000 == 0) return fmt::format("{}m", ms / 60000);
  if (ms != 0 && ms % 1000 == 0) return fmt::format("{}s", ms / 1000);
  return fmt::format("{}ms", ms);
}

std::string FormatSize(uint64_t v) {
  if (v != 0 && v % (1u << 30) == 0) return fmt::format("{}G", v >> 30);
  if (v != 0 && v % (1u << 20) == 0) return fmt::format("{}M", v >> 20);
  if (v != 0 && v % (1u << 10) == 0) return fmt::format("{}K", v >> 10);
  return std::to_string(v);
}

Status Bad(std::string_view value, std::string_view what) {
  return Status::Invalid(fmt::format("{} {}", QuoteForError(value), what));
}

// A duration within [lo, hi].
Status SetDuration(std::string_view v, milliseconds& out, milliseconds lo, milliseconds hi) {
  auto d = ParseDuration(v);
  if (!d.ok()) return d.status();
  if (*d < lo || *d > hi) {
    return Bad(v,
               fmt::format("is out of range ({} to {})", FormatDuration(lo), FormatDuration(hi)));
  }
  out = *d;
  return Status::Ok();
}

Status SetCount(std::string_view v, uint64_t& out, uint64_t lo, uint64_t hi) {
  auto n = ParseU64(v);
  if (!n.ok() || *n < lo || *n > hi) {
    return Bad(v, fmt::format("is not a whole number from {} to {}", lo, hi));
  }
  out = *n;
  return Status::Ok();
}

struct KeyDef {
  const char* key;
  Status (*set)(std::string_view value, AgentConfig& c);
  std::string (*get)(const AgentConfig& c);
};

const KeyDef kKeys[] = {
    {"database_url",
     [](std::string_view v, AgentConfig& c) {
       c.database_url = v;
       return Status::Ok();
     },
     [](const AgentConfig& c) { return c.database_url.empty() ? "" : RedactUrl(c.database_url); }},
    {"sysroot",
     [](std::string_view v, AgentConfig& c) {
       if (v.empty() || v[0] != '/') return Bad(v, "is not an absolute directory");
       c.sysroot = v;
       return Status::Ok();
     },
     [](const AgentConfig& c) { return c.sysroot; }},
    {"events",
     [](std::string_view v, AgentConfig& c) {
       for (EventSources e : {EventSources::kAuto, EventSources::kBoth, EventSources::kKernel,
                              EventSources::kUdev, EventSources::kNone}) {
         if (v == ToString(e)) {
           c.events = e;
           return Status::Ok();
         }
       }
       return Bad(v, "is not one of auto, both, kernel, udev, none");
     },
     [](const AgentConfig& c) { return std::string(ToString(c.events)); }},
    {"udev_tag",
     [](std::string_view v, AgentConfig& c) {
       for (char ch : v) {
         if (!std::isalnum(static_cast<unsigned char>(ch)) && ch != '_' && ch != '-') {
           return Bad(v, "is not a udev tag (letters, digits, '_' and '-')");
         }
       }
       c.udev_tag = v;
       return Status::Ok();
     },
     [](const AgentConfig& c) { return c.udev_tag; }},
    {"resync_interval",
     [](std::string_view v, AgentConfig& c) {
       if (Status s =
               SetDuration(v, c.resync_interval, milliseconds(0), std::chrono::hours(24 * 7));
           !s.ok()) {
         return s;
       }
       if (c.resync_interval.count() > 0 && c.resync_interval < std::chrono::seconds(1)) {
         return Bad(v, "is shorter than 1s (0 turns periodic resyncs off)");
       }
       return Status::Ok();
     },
     [](const AgentConfig& c) { return FormatDuration(c.resync_interval); }},
    {"reconnect_min",
     [](std::string_view v, AgentConfig& c) {
       return SetDuration(v, c.reconnect_min, milliseconds(10), std::chrono::hours(1));
     },
     [](const AgentConfig& c) { return FormatDuration(c.reconnect_min); }},
    {"reconnect_max",
     [](std::string_view v, AgentConfig& c) {
       return SetDuration(v, c.reconnect_max, milliseconds(10), std::chrono::hours(1));
     },
     [](const AgentConfig& c) { return FormatDuration(c.reconnect_max); }},
    {"rcvbuf",
     [](std::string_view v, AgentConfig& c) {
       auto n = ParseByteSize(v);
       if (!n.ok()) return n.status();
       if (*n < (64u << 10) || *n > (1u << 30)) return Bad(v, "is out of range (64K to 1G)");
       c.rcvbuf = static_cast<int>(*n);
       return Status::Ok();
     },
     [](const AgentConfig& c) { return FormatSize(static_cast<uint64_t>(c.rcvbuf)); }},
    {"coalesce_window",
     [](std::string_view v, AgentConfig& c) {
       return SetDuration(v, c.coalesce_window, milliseconds(0), std::chrono::seconds(10));
     },
     [](const AgentConfig& c) { return FormatDuration(c.coalesce_window); }},
    {"coalesce_max_delay",
     [](std::string_view v, AgentConfig& c) {
       return SetDuration(v, c.coalesce_max_delay, milliseconds(0), std::chrono::seconds(60));
     },
     [](const AgentConfig& c) { return FormatDuration(c.coalesce_max_delay); }},
    {"burst_threshold",
     [](std::string_view v, AgentConfig& c) { return SetCount(v, c.burst_threshold, 0, 10000000); },
     [](const AgentConfig& c) { return std::to_string(c.burst_threshold); }},
    {"batch_rows",
     [](std::string_view v, AgentConfig& c) { return SetCount(v, c.batch_rows, 1, 100000); },
     [](const AgentConfig& c) { return std::to_string(c.batch_rows); }},
    {"statement_timeout",
     [](std::string_view v, AgentConfig& c) {
       return SetDuration(v, c.statement_timeout, milliseconds(0), std::chrono::hours(1));
     },
     [](const AgentConfig& c) { return FormatDuration(c.statement_timeout); }},
    {"log_level",
     [](std::string_view v, AgentConfig& c) {
       for (const char* l : {"trace", "debug", "info", "warn", "error", "critical", "off"}) {
         if (v == l) {
           c.log_level = v;
           return Status::Ok();
         }
       }
       return Bad(v, "is not one of trace, debug, info, warn, error, critical, off");
     },
     [](const AgentConfig& c) { return c.log_level; }},
    {"machine_id",
     [](std::string_view v, AgentConfig& c) {
       c.machine_id = v;
       return Status::Ok();
     },
     [](const AgentConfig& c) { return c.machine_id; }},
    {"hostname",
     [](std::string_view v, AgentConfig& c) {
       c.hostname = v;
       return Status::Ok();
     },
     [](const AgentConfig& c) { return c.hostname; }},
    {"metrics_listen",
     [](std::string_view v, AgentConfig& c) {
       if (!v.empty()) {
         std::string host;
         uint16_t port = 0;
         if (Status s = SplitHostPort(v, &host, &port); !s.ok()) return s;
       }
       c.metrics_listen = v;
       return Status::Ok();
     },
     [](const AgentConfig& c) { return c.metrics_listen; }},
    {"self_check",
     [](std::string_view v, AgentConfig& c) {
       bool name =
           !v.empty() && v != "." && v != ".." && std::all_of(v.begin(), v.end(), [](char ch) {
             return std::isalnum(static_cast<unsigned char>(ch)) || ch == '-' || ch == '_' ||
                    ch == '.' || ch == ':' || ch == '!';
           });
       if (!name) return Bad(v, "is not auto, off or a kernel device name (sda, loop0)");
       c.self_check = v;
       return Status::Ok();
     },
     [](const AgentConfig& c) { return c.self_check; }},
    {"self_check_timeout",
     [](std::string_view v, AgentConfig& c) {
       return SetDuration(v, c.self_check_timeout, milliseconds(100), std::chrono::seconds(60));
     },
     [](const AgentConfig& c) { return FormatDuration(c.self_check_timeout); }},
    {"self_check_retry",
     [](std::string_view v, AgentConfig& c) {
       return SetDuration(v, c.self_check_retry, std::chrono::seconds(1), std::chrono::hours(24));
     },
     [](const AgentConfig& c) { return FormatDuration(c.self_check_retry); }},
    {"tuning",
     [](std::string_view v, AgentConfig& c) {
       if (v == "on" || v == "true" || v == "yes" || v == "1") {
         c.tuning = true;
       } else if (v == "off" || v == "false" || v == "no" || v == "0") {
         c.tuning = false;
       } else {
         return Bad(v, "is not on or off");
       }
       return Status::Ok();
     },
     [](const AgentConfig& c) { return std::string(c.tuning ? "on" : "off"); }},
};

const KeyDef* FindKey(std::string_view key) {
  for (const KeyDef& k : kKeys) {
    if (key == k.key) return &k;
  }
  return nullptr;
}

std::string KnownKeys() {
  std::string out;
  for (const KeyDef& k : kKeys) out += (out.empty() ? "" : ", ") + std::string(k.key);
  return out;
}

std::string_view Unquote(std::string_view v) {
  if (v.size() >= 2 && (v.front() == '"' || v.front() == '\'') && v.back() == v.front()) {
    return v.substr(1, v.size() - 2);
  }
  return v;
}

}  // namespace

std::string_view ToString(EventSources e) {
  switch (e) {
    case EventSources::kAuto:
      return "auto";
    case EventSources::kBoth:
      return "both";
    case EventSources::kKernel:
      return "kernel";
    case EventSources::kUdev:
      return "udev";
    case EventSources::kNone:
      return "none";
  }
  return "auto";
}

std::vector<std::string_view> AgentConfigKeys() {
  std::vector<std::string_view> out;
  for (const KeyDef& k : kKeys) out.push_back(k.key);
  return out;
}

Result<milliseconds> ParseDuration(std::string_view s) {
  std::string_view t = Trim(s);
  size_t digits = 0;
  while (digits < t.size() && t[digits] >= '0' && t[digits] <= '9') ++digits;
  std::string_view unit = t.substr(digits);
  auto n = ParseU64(t.substr(0, digits));
  const uint64_t kMax = uint64_t{1} << 40;  // ms: 34 years; keeps the products below overflow
  if (digits == 0 || !n.ok() || *n > kMax) {
    return Bad(s, "is not a duration (a number with ms, s, m or h: 250ms, 90s, 10m, 1h)");
  }
  uint64_t mult = unit == "ms"                  ? 1
                  : unit == "s" || unit.empty() ? 1000
                  : unit == "m"                 ? 60000
                  : unit == "h"                 ? 3600000
                                                : 0;
  if (mult == 0) return Bad(s, "has an unknown unit (use ms, s, m or h)");
  if (*n * mult > kMax) return Bad(s, "is too long");
  return milliseconds(static_cast<int64_t>(*n * mult));
}

Result<uint64_t> ParseByteSize(std::string_view s) {
  std::string_view t = Trim(s);
  uint64_t mult = 1;
  if (!t.empty()) {
    char u = static_cast<char>(std::toupper(static_cast<unsigned char>(t.back())));
    if (u == 'K' || u == 'M' || u == 'G') {
      mult = u == 'K' ? 1u << 10 : u == 'M' ? 1u << 20 : 1u << 30;
      t.remove_suffix(1);
    }
  }
  auto n = ParseU64(t);
  if (t.empty() || !n.ok() || *n > (uint64_t{1} << 40)) {
    return Bad(s, "is not a size (bytes, or a number with K, M or G: 128M)");
  }
  return *n * mult;
}

Status ParseAgentConfig(std::string_view text, std::string_view origin, AgentConfig& config) {
  size_t line_no = 0;
  while (!text.empty()) {
    size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    ++line_no;
    line = Trim(line);
    if (line.empty() || line[0] == '#') continue;
    std::string where = fmt::format("{}:{}", origin, line_no);
    size_t eq = line.find('=');
    if (eq == std::string_view::npos) {
      return Status::Invalid(
          fmt::format("{}: expected 'key = value', got {}", where, QuoteForError(line)));
    }
    Status s = SetAgentConfigKey(Trim(line.substr(0, eq)), Unquote(Trim(line.substr(eq + 1))),
                                 where, config);
    if (!s.ok()) return s;
  }
  return Status::Ok();
}

Status SetAgentConfigKey(std::string_view key, std::string_view value, std::string_view origin,
                         AgentConfig& config) {
  const KeyDef* def = FindKey(key);
  if (def == nullptr) {
    return Status::Invalid(
        fmt::format("{}: unknown key {} (known: {})", origin, QuoteForError(key), KnownKeys()));
  }
  if (Status s = def->set(value, config); !s.ok()) {
    return Status::Invalid(fmt::format("{}: {}: {}", origin, key, s.message()));
  }
  return Status::Ok();
}

Status ApplyAgentEnvironment(const std::function<const char*(const char*)>& getenv,
                             AgentConfig& config) {
  for (const KeyDef& k : kKeys) {
    std::string var = "DISKINV_";
    for (const char* p = k.key; *p; ++p) var += static_cast<char>(std::toupper(*p));
    const char* v = getenv(var.c_str());
    if (v == nullptr) continue;
    if (Status s = k.set(Trim(v), config); !s.ok()) {
      return Status::Invalid(fmt::format("environment {}: {}: {}", var, k.key, s.message()));
    }
  }
  return Status::Ok();
}

Status ValidateAgentConfig(const AgentConfig& c) {
  if (c.reconnect_min > c.reconnect_max) {
    return Status::Invalid(fmt::format("reconnect_min ({}) is longer than reconnect_max ({})",
                                       FormatDuration(c.reconnect_min),
                                       FormatDuration(c.reconnect_max)));
  }
  if (c.coalesce_window > c.coalesce_max_delay) {
    return Status::Invalid(
        fmt::format("coalesce_window ({}) is longer than coalesce_max_delay ({})",
                    FormatDuration(c.coalesce_window), FormatDuration(c.coalesce_max_delay)));
  }
  return Status::Ok();
}

Result<AgentConfig> LoadAgentConfig(const std::string& path, bool path_explicit,
                                    const ConfigOverrides& overrides) {
  AgentConfig c;
  if (!path.empty()) {
    std::ifstream in(path);
    if (!in) {
      int err = errno;
      if (path_explicit || err != ENOENT) {
        return Status::FromErrno(err, fmt::format("config file {}", path));
      }
    } else {
      std::stringstream ss;
      ss << in.rdbuf();
      if (in.bad()) return Status::FromErrno(errno, fmt::format("read {}", path));
      if (Status s = ParseAgentConfig(ss.str(), path, c); !s.ok()) return s;
    }
  }
  if (Status s = ApplyAgentEnvironment([](const char* n) { return std::getenv(n); }, c); !s.ok()) {
    return s;
  }
  for (const auto& [key, value] : overrides) {
    std::string flag = "--" + key;
    for (char& ch : flag) ch = ch == '_' ? '-' : ch;
    if (Status s = SetAgentConfigKey(key, value, "option " + flag, c); !s.ok()) return s;
  }
  if (Status s = ValidateAgentConfig(c); !s.ok()) return s;
  return c;
}

std::string AgentConfig::Describe() const {
  std::string out;
  for (const KeyDef& k : kKeys) out += fmt::format("{} = {}\n", k.key, k.get(*this));
  return out;
}

}  // namespace diskinv
