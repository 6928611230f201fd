// A strict reader of the Prometheus text exposition format 0.0.4, for tests that scrape
// diskinv: checks the grammar (HELP/TYPE before samples, sample names of the family, label
// escapes, values), histogram consistency (cumulative buckets, +Inf bucket == _count) and
// that no series appears twice. Not a general parser: no timestamps, no untyped samples.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace diskinv::testing {

struct PromSample {
  std::string name;  // as written: foo_bucket, foo_sum, foo
  std::map<std::string, std::string> labels;
  double value = 0;
};

struct PromFamily {
  std::string name, help, type;
};

struct PromText {
  std::vector<PromFamily> families;  // in order
  std::vector<PromSample> samples;   // in order
  const PromFamily* Family(std::string_view name) const;
  // The sample with exactly these labels, or nullptr.
  const PromSample* Find(std::string_view name,
                         const std::map<std::string, std::string>& labels = {}) const;
};

Result<PromText> ParsePrometheusText(std::string_view text);

// The value of a sample, or -1 when there is none.
double PromValue(const PromText& t, std::string_view name,
                 const std::map<std::string, std::string>& labels = {});
// Scrapes http://127.0.0.1:PORT/metrics until `ok` holds for a scrape (returned) or the
// timeout; `last_error` says why not (the last scrape's text, a connection error, bad text).
std::optional<PromText> ScrapeUntil(uint16_t port, const std::function<bool(const PromText&)>& ok,
                                    std::chrono::milliseconds timeout, std::string* last_error);

}  // namespace diskinv::testing
