#include "agent/metrics.h"

#include <fmt/format.h>

#include <algorithm>
#include <cassert>
#include <cmath>

namespace diskinv {
namespace {

bool NameChar(char c, bool first, bool colon) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_') return true;
  if (colon && c == ':') return true;
  return !first && c >= '0' && c <= '9';
}

void AppendSample(std::string* out, std::string_view name, std::string_view labels,
                  std::string_view extra_label, std::string_view value) {
  out->append(name);
  if (!labels.empty() || !extra_label.empty()) {
    out->append(labels.empty() ? "{" : labels);
    if (!labels.empty() && !extra_label.empty()) out->push_back(',');
    out->append(extra_label);
    out->push_back('}');
  }
  out->push_back(' ');
  out->append(value);
  out->push_back('\n');
}

}  // namespace

bool IsValidMetricName(std::string_view name) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    if (!NameChar(name[i], i == 0, true)) return false;
  }
  return true;
}

bool IsValidLabelName(std::string_view name) {
  if (name.empty() || name.substr(0, 2) == "__") return false;
  for (size_t i = 0; i < name.size(); ++i) {
    if (!NameChar(name[i], i == 0, false)) return false;
  }
  return true;
}

std::string FormatMetricValue(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  return fmt::format("{}", v);
}

namespace {

// The text format's escapes: backslash and newline always, double quote in label values.
std::string Escape(std::string_view v, bool quote) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\' || (quote && c == '"')) {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace

std::string EscapeLabelValue(std::string_view v) { return Escape(v, true); }
std::string EscapeHelp(std::string_view v) { return Escape(v, false); }

std::string_view ToString(MetricType type) {
  switch (type) {
    case MetricType::kCounter:
      return "counter";
    case MetricType::kGauge:
      return "gauge";
    case MetricType::kHistogram:
      return "histogram";
  }
  return "untyped";
}

HistogramMetric::HistogramMetric(std::span<const double> bounds)
    : bounds_(bounds.begin(), bounds.end()), counts_(new std::atomic<uint64_t>[bounds.size() + 1]) {
  for (size_t i = 0; i <= bounds_.size(); ++i) counts_[i].store(0, std::memory_order_relaxed);
}

void HistogramMetric::Observe(double v) {
  // First bucket whose upper bound is >= v (le is inclusive); NaN lands in +Inf.
  size_t i = std::isnan(v)
                 ? bounds_.size()
                 : static_cast<size_t>(std::lower_bound(bounds_.begin(), bounds_.end(), v) -
                                       bounds_.begin());
  counts_[i].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(v, std::memory_order_relaxed);
}

std::string MetricFamilyBase::LabelPrefix(const std::vector<std::string>& values) const {
  if (label_names_.empty()) return {};
  std::string out = "{";
  for (size_t i = 0; i < label_names_.size(); ++i) {
    if (i > 0) out += ',';
    out += fmt::format("{}=\"{}\"", label_names_[i], EscapeLabelValue(values[i]));
  }
  return out;
}

template <typename T>
T& MetricFamily<T>::WithLabels(std::vector<std::string> values) {
  assert(values.size() == label_names().size());
  values.resize(label_names().size());
  std::lock_guard lock(mu_);
  auto it = children_.find(values);
  if (it != children_.end()) return *it->second;
  return Create(std::move(values));
}

template <typename T>
T& MetricFamily<T>::Create(std::vector<std::string> values) {
  auto& slot = children_[std::move(values)];
  if constexpr (std::is_same_v<T, HistogramMetric>) {
    slot = std::make_unique<HistogramMetric>(bounds_);
  } else {
    slot = std::make_unique<T>();
  }
  return *slot;
}

template <typename T>
void MetricFamily<T>::Render(std::string* out) const {
  *out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name(), EscapeHelp(help()), name(),
                      ToString(type()));
  std::lock_guard lock(mu_);
  for (const auto& [values, child] : children_) {
    std::string labels = LabelPrefix(values);
    if constexpr (std::is_same_v<T, CounterMetric>) {
      AppendSample(out, name(), labels, {}, fmt::format("{}", child->value()));
    } else if constexpr (std::is_same_v<T, GaugeMetric>) {
      AppendSample(out, name(), labels, {}, FormatMetricValue(child->value()));
    } else {
      std::string bucket = name() + "_bucket";
      uint64_t cumulative = 0;
      for (size_t i = 0; i <= bounds_.size(); ++i) {
        cumulative += child->bucket_count(i);
        std::string le = i < bounds_.size() ? FormatMetricValue(bounds_[i]) : "+Inf";
        AppendSample(out, bucket, labels, fmt::format("le=\"{}\"", le),
                     fmt::format("{}", cumulative));
      }
      AppendSample(out, name() + "_sum", labels, {}, FormatMetricValue(child->sum()));
      AppendSample(out, name() + "_count", labels, {}, fmt::format("{}", cumulative));
    }
  }
}

template class MetricFamily<CounterMetric>;
template class MetricFamily<GaugeMetric>;
template class MetricFamily<HistogramMetric>;

namespace {

// The names a family's samples use: a histogram's are name_bucket, name_sum and name_count.
std::vector<std::string> SampleNames(const std::string& name, MetricType type) {
  if (type != MetricType::kHistogram) return {name};
  return {name, name + "_bucket", name + "_sum", name + "_count"};
}

}  // namespace

Status MetricsRegistry::Check(const std::string& name, MetricType type,
                              const std::vector<std::string>& label_names) const {
  if (!IsValidMetricName(name)) return Status::Invalid(fmt::format("bad metric name '{}'", name));
  for (const std::string& l : label_names) {
    if (!IsValidLabelName(l)) {
      return Status::Invalid(fmt::format("metric {}: bad label name '{}'", name, l));
    }
    if (std::count(label_names.begin(), label_names.end(), l) > 1) {
      return Status::Invalid(fmt::format("metric {}: label '{}' given twice", name, l));
    }
  }
  std::vector<std::string> mine = SampleNames(name, type);
  for (const auto& f : families_) {
    for (const std::string& theirs : SampleNames(f->name(), f->type())) {
      if (std::find(mine.begin(), mine.end(), theirs) != mine.end()) {
        return Status::Invalid(fmt::format("metric {} collides with {}", name, f->name()));
      }
    }
  }
  return Status::Ok();
}

Result<CounterFamily*> MetricsRegistry::AddCounter(std::string name, std::string help,
                                                   std::vector<std::string> label_names) {
  std::lock_guard lock(mu_);
  if (Status st = Check(name, MetricType::kCounter, label_names); !st.ok()) return st;
  auto* f = new CounterFamily(std::move(name), std::move(help), MetricType::kCounter,
                              std::move(label_names));
  families_.emplace_back(f);
  if (f->label_names().empty()) f->Get();
  return f;
}

Result<GaugeFamily*> MetricsRegistry::AddGauge(std::string name, std::string help,
                                               std::vector<std::string> label_names) {
  std::lock_guard lock(mu_);
  if (Status st = Check(name, MetricType::kGauge, label_names); !st.ok()) return st;
  auto* f =
      new GaugeFamily(std::move(name), std::move(help), MetricType::kGauge, std::move(label_names));
  families_.emplace_back(f);
  if (f->label_names().empty()) f->Get();
  return f;
}

Result<HistogramFamily*> MetricsRegistry::AddHistogram(std::string name, std::string help,
                                                       std::vector<double> bounds,
                                                       std::vector<std::string> label_names) {
  std::lock_guard lock(mu_);
  if (Status st = Check(name, MetricType::kHistogram, label_names); !st.ok()) return st;
  if (std::find(label_names.begin(), label_names.end(), "le") != label_names.end()) {
    return Status::Invalid(fmt::format("histogram {}: 'le' is reserved", name));
  }
  if (bounds.empty()) return Status::Invalid(fmt::format("histogram {}: no buckets", name));
  for (size_t i = 0; i < bounds.size(); ++i) {
    if (!std::isfinite(bounds[i]) || (i > 0 && bounds[i] <= bounds[i - 1])) {
      return Status::Invalid(
          fmt::format("histogram {}: bucket bounds must be finite and increasing", name));
    }
  }
  auto* f = new HistogramFamily(std::move(name), std::move(help), MetricType::kHistogram,
                                std::move(label_names), std::move(bounds));
  families_.emplace_back(f);
  if (f->label_names().empty()) f->Get();
  return f;
}

std::string MetricsRegistry::Render() const {
  std::lock_guard lock(mu_);
  std::string out;
  for (const auto& f : families_) f->Render(&out);
  return out;
}

const MetricFamilyBase* MetricsRegistry::Find(std::string_view name) const {
  std::lock_guard lock(mu_);
  for (const auto& f : families_) {
    if (f->name() == name) return f.get();
  }
  return nullptr;
}

}  // namespace diskinv
