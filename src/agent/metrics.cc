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

void AppendHeader(std::string* out, std::string_view name, std::string_view help, MetricType type) {
  *out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, EscapeHelp(help), name, ToString(type));
}

// The _bucket, _sum and _count samples of one histogram series.
void AppendHistogram(std::string* out, std::string_view name, std::string_view labels,
                     std::span<const double> bounds, std::span<const uint64_t> cumulative,
                     double sum) {
  std::string bucket = fmt::format("{}_bucket", name);
  for (size_t i = 0; i <= bounds.size(); ++i) {
    std::string le = i < bounds.size() ? FormatMetricValue(bounds[i]) : "+Inf";
    AppendSample(out, bucket, labels, fmt::format("le=\"{}\"", le),
                 fmt::format("{}", cumulative[i]));
  }
  AppendSample(out, fmt::format("{}_sum", name), labels, {}, FormatMetricValue(sum));
  AppendSample(out, fmt::format("{}_count", name), labels, {},
               fmt::format("{}", cumulative[bounds.size()]));
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
  AppendHeader(out, name(), help(), type());
  std::lock_guard lock(mu_);
  for (const auto& [values, child] : children_) {
    std::string labels = LabelPrefix(values);
    if constexpr (std::is_same_v<T, CounterMetric>) {
      AppendSample(out, name(), labels, {}, fmt::format("{}", child->value()));
    } else if constexpr (std::is_same_v<T, GaugeMetric>) {
      AppendSample(out, name(), labels, {}, FormatMetricValue(child->value()));
    } else {
      std::vector<uint64_t> cumulative(bounds_.size() + 1);
      uint64_t n = 0;
      for (size_t i = 0; i <= bounds_.size(); ++i) cumulative[i] = n += child->bucket_count(i);
      AppendHistogram(out, name(), labels, bounds_, cumulative, child->sum());
    }
  }
}

void MetricsWriter::WriteCounter(std::string_view name, std::string_view help, uint64_t value) {
  if (seen_) seen_->emplace_back(name, MetricType::kCounter);
  if (!out_) return;
  AppendHeader(out_, name, help, MetricType::kCounter);
  AppendSample(out_, name, {}, {}, fmt::format("{}", value));
}

void MetricsWriter::WriteGauge(std::string_view name, std::string_view help, double value) {
  if (seen_) seen_->emplace_back(name, MetricType::kGauge);
  if (!out_) return;
  AppendHeader(out_, name, help, MetricType::kGauge);
  AppendSample(out_, name, {}, {}, FormatMetricValue(value));
}

void MetricsWriter::WriteHistogram(std::string_view name, std::string_view help,
                                   std::span<const double> bounds,
                                   std::span<const uint64_t> cumulative, double sum) {
  if (seen_) seen_->emplace_back(name, MetricType::kHistogram);
  if (!out_) return;
  assert(cumulative.size() == bounds.size() + 1);
  if (cumulative.size() != bounds.size() + 1) return;
  AppendHeader(out_, name, help, MetricType::kHistogram);
  AppendHistogram(out_, name, {}, bounds, cumulative, sum);
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
  for (const Entry& e : entries_) {
    std::vector<std::pair<std::string, MetricType>> names = e.names;
    if (e.family) names = {{e.family->name(), e.family->type()}};
    for (const auto& [other, other_type] : names) {
      for (const std::string& theirs : SampleNames(other, other_type)) {
        if (std::find(mine.begin(), mine.end(), theirs) != mine.end()) {
          return Status::Invalid(fmt::format("metric {} collides with {}", name, other));
        }
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
  entries_.push_back({.family = std::unique_ptr<MetricFamilyBase>(f), .collect = {}, .names = {}});
  if (f->label_names().empty()) f->Get();
  return f;
}

Result<GaugeFamily*> MetricsRegistry::AddGauge(std::string name, std::string help,
                                               std::vector<std::string> label_names) {
  std::lock_guard lock(mu_);
  if (Status st = Check(name, MetricType::kGauge, label_names); !st.ok()) return st;
  auto* f =
      new GaugeFamily(std::move(name), std::move(help), MetricType::kGauge, std::move(label_names));
  entries_.push_back({.family = std::unique_ptr<MetricFamilyBase>(f), .collect = {}, .names = {}});
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
  entries_.push_back({.family = std::unique_ptr<MetricFamilyBase>(f), .collect = {}, .names = {}});
  if (f->label_names().empty()) f->Get();
  return f;
}

Status MetricsRegistry::AddCollector(std::function<void(MetricsWriter&)> collect) {
  std::lock_guard lock(mu_);
  Entry e{.family = nullptr, .collect = std::move(collect), .names = {}};
  MetricsWriter dry;
  dry.seen_ = &e.names;
  e.collect(dry);
  std::vector<std::pair<std::string, MetricType>> checked;
  for (const auto& [name, type] : e.names) {
    if (Status st = Check(name, type, {}); !st.ok()) return st;
    for (const auto& [prev, prev_type] : checked) {
      if (prev == name) return Status::Invalid(fmt::format("collector writes {} twice", name));
    }
    checked.emplace_back(name, type);
  }
  entries_.push_back(std::move(e));
  return Status::Ok();
}

std::string MetricsRegistry::Render() const {
  std::lock_guard lock(mu_);
  std::string out;
  MetricsWriter writer;
  writer.out_ = &out;
  for (const Entry& e : entries_) {
    if (e.family) {
      e.family->Render(&out);
    } else {
      e.collect(writer);
    }
  }
  return out;
}

const MetricFamilyBase* MetricsRegistry::Find(std::string_view name) const {
  std::lock_guard lock(mu_);
  for (const Entry& e : entries_) {
    if (e.family && e.family->name() == name) return e.family.get();
  }
  return nullptr;
}

Status AddBuildInfo(MetricsRegistry* registry, std::string_view version) {
  auto build = registry->AddGauge("diskinv_build_info",
                                  "Always 1; the version label is this build's", {"version"});
  if (!build.ok()) return build.status();
  (*build)->WithLabels({std::string(version)}).Set(1);
  return Status::Ok();
}

}  // namespace diskinv
