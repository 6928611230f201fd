#include "support/prometheus_text.h"

#include <fmt/format.h>

#include <cmath>
#include <cstdlib>
#include <set>
#include <thread>

#include "support/http_client.h"

namespace diskinv::testing {
namespace {

bool NameChar(char c, bool first) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' ||
         (!first && c >= '0' && c <= '9');
}

Result<double> ParseValue(std::string_view v) {
  if (v == "NaN") return std::nan("");
  if (v == "+Inf") return HUGE_VAL;
  if (v == "-Inf") return -HUGE_VAL;
  std::string s(v);
  char* end = nullptr;
  double d = std::strtod(s.c_str(), &end);
  if (s.empty() || end != s.c_str() + s.size()) return Status::Invalid("bad value '" + s + "'");
  return d;
}

Status Err(size_t line, std::string_view text, std::string_view why) {
  return Status::Invalid(fmt::format("line {}: {}: '{}'", line, why, text));
}

}  // namespace

const PromFamily* PromText::Family(std::string_view name) const {
  for (const PromFamily& f : families) {
    if (f.name == name) return &f;
  }
  return nullptr;
}

const PromSample* PromText::Find(std::string_view name,
                                 const std::map<std::string, std::string>& labels) const {
  for (const PromSample& s : samples) {
    if (s.name == name && s.labels == labels) return &s;
  }
  return nullptr;
}

Result<PromText> ParsePrometheusText(std::string_view text) {
  PromText out;
  if (!text.empty() && text.back() != '\n') return Status::Invalid("text does not end in \\n");
  std::set<std::string> series;
  size_t lineno = 0;
  while (!text.empty()) {
    size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text.remove_prefix(nl + 1);
    ++lineno;
    if (line.empty()) return Err(lineno, line, "empty line");
    if (line[0] == '#') {
      bool help = line.starts_with("# HELP ");
      bool type = line.starts_with("# TYPE ");
      if (!help && !type) return Err(lineno, line, "comment other than HELP/TYPE");
      std::string_view rest = line.substr(7);
      size_t sp = rest.find(' ');
      if (sp == std::string_view::npos) return Err(lineno, line, "no text after the name");
      std::string name(rest.substr(0, sp));
      std::string arg(rest.substr(sp + 1));
      if (help) {
        if (out.Family(name)) return Err(lineno, line, "HELP after the family started");
        out.families.push_back({name, arg, ""});
      } else {
        if (out.families.empty() || out.families.back().name != name) {
          return Err(lineno, line, "TYPE without HELP just before");
        }
        if (arg != "counter" && arg != "gauge" && arg != "histogram") {
          return Err(lineno, line, "unknown type");
        }
        out.families.back().type = arg;
      }
      continue;
    }
    PromSample s;
    size_t i = 0;
    while (i < line.size() && NameChar(line[i], i == 0)) ++i;
    s.name = std::string(line.substr(0, i));
    if (s.name.empty()) return Err(lineno, line, "no metric name");
    if (i < line.size() && line[i] == '{') {
      ++i;
      while (i < line.size() && line[i] != '}') {
        size_t k = i;
        while (i < line.size() && NameChar(line[i], i == k) && line[i] != ':') ++i;
        std::string key(line.substr(k, i - k));
        if (key.empty() || line.substr(i, 2) != "=\"") return Err(lineno, line, "bad label");
        i += 2;
        std::string val;
        while (i < line.size() && line[i] != '"') {
          if (line[i] == '\\') {
            if (i + 1 >= line.size()) return Err(lineno, line, "dangling escape");
            char e = line[i + 1];
            if (e == 'n') {
              val += '\n';
            } else if (e == '\\' || e == '"') {
              val += e;
            } else {
              return Err(lineno, line, "bad escape");
            }
            i += 2;
          } else {
            val += line[i++];
          }
        }
        if (i >= line.size()) return Err(lineno, line, "unterminated label value");
        ++i;
        if (!s.labels.emplace(key, val).second) return Err(lineno, line, "label twice");
        if (i < line.size() && line[i] == ',') ++i;
      }
      if (i >= line.size()) return Err(lineno, line, "unterminated labels");
      ++i;
    }
    if (i >= line.size() || line[i] != ' ') return Err(lineno, line, "no space before value");
    Result<double> v = ParseValue(line.substr(i + 1));
    if (!v.ok()) return Err(lineno, line, v.status().message());
    s.value = *v;
    if (out.families.empty() || out.families.back().type.empty()) {
      return Err(lineno, line, "sample before HELP and TYPE");
    }
    const PromFamily& f = out.families.back();
    bool ok = s.name == f.name;
    if (f.type == "histogram") {
      ok = s.name == f.name + "_bucket" || s.name == f.name + "_sum" || s.name == f.name + "_count";
      if (s.name == f.name + "_bucket" && !s.labels.contains("le")) {
        return Err(lineno, line, "bucket without le");
      }
    }
    if (!ok) return Err(lineno, line, "sample does not belong to family " + f.name);
    if (f.type == "counter" && !(s.value >= 0)) return Err(lineno, line, "negative counter");
    std::string key = s.name;
    for (const auto& [k, val] : s.labels) key += fmt::format("|{}={}", k, val);
    if (!series.insert(key).second) return Err(lineno, line, "series twice");
    out.samples.push_back(std::move(s));
  }
  // Histograms: buckets cumulative in order, +Inf bucket equal to _count.
  for (const PromFamily& f : out.families) {
    if (f.type != "histogram") continue;
    std::map<std::map<std::string, std::string>, double> last, inf;
    for (const PromSample& s : out.samples) {
      if (s.name != f.name + "_bucket") continue;
      auto labels = s.labels;
      std::string le = labels["le"];
      labels.erase("le");
      if (last.contains(labels) && s.value < last[labels]) {
        return Status::Invalid(f.name + ": buckets are not cumulative");
      }
      last[labels] = s.value;
      if (le == "+Inf") inf[labels] = s.value;
    }
    for (const auto& [labels, n] : last) {
      const PromSample* count = out.Find(f.name + "_count", labels);
      if (!inf.contains(labels) || !count || count->value != inf[labels]) {
        return Status::Invalid(f.name + ": +Inf bucket missing or not equal to _count");
      }
    }
  }
  return out;
}

double PromValue(const PromText& t, std::string_view name,
                 const std::map<std::string, std::string>& labels) {
  const PromSample* s = t.Find(name, labels);
  return s ? s->value : -1;
}

std::optional<PromText> ScrapeUntil(uint16_t port, const std::function<bool(const PromText&)>& ok,
                                    std::chrono::milliseconds timeout, std::string* last_error) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    Result<std::string> body = HttpGet(port, "/metrics");
    if (body.ok()) {
      Result<PromText> t = ParsePrometheusText(*body);
      if (!t.ok()) {
        *last_error = "bad exposition text: " + t.status().message();
        return std::nullopt;
      }
      if (ok(*t)) return *t;
      *last_error = "condition not met; last scrape:\n" + *body;
    } else {
      *last_error = body.status().message();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return std::nullopt;
}

}  // namespace diskinv::testing
