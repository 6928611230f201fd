// A strict reader of the Prometheus text exposition format 0.0.4, for tests that scrape
// diskinv: checks the grammar (HELP/TYPE before samples, sample names of the family, label
// escapes, values), histogram consistency (cumulative buckets, +Inf bucket == _count) and
// that no series appears twice. Not a general parser: no timestamps, no untyped samples.
#pragma once

#include <map>
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

}  // namespace diskinv::testing
