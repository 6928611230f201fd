// Metrics: a registry of counters, gauges and histograms rendered in the Prometheus text
// exposition format, version 0.0.4 (# HELP / # TYPE, one sample per line).
//
// A family has a name, a help text, a type and label names; a child is one set of label
// values and holds the value. Children are created on first use and never move, so callers
// look them up once and keep the reference; updating a value is one relaxed atomic operation
// and never takes a lock. Looking up a child and Render() take the family's mutex briefly, so
// a scrape (on the metrics server's thread) never blocks an update on the agent's thread.
//
// Registration errors (bad name, duplicate, bad buckets) are Status values: the names are
// constants, so a test that registers the agent's metric set catches them.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace diskinv {

// The Content-Type of the rendered text.
inline constexpr std::string_view kPrometheusTextContentType =
    "text/plain; version=0.0.4; charset=utf-8";

// Monotonic count. Inc() for events counted here; Set() mirrors a count kept elsewhere (a
// source's stats): it must not go down, or Prometheus sees a counter reset.
class CounterMetric {
 public:
  void Inc(uint64_t n = 1) { v_.fetch_add(n, std::memory_order_relaxed); }
  void Set(uint64_t v) { v_.store(v, std::memory_order_relaxed); }
  uint64_t value() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> v_{0};
};

// A value that goes up and down.
class GaugeMetric {
 public:
  void Set(double v) { v_.store(v, std::memory_order_relaxed); }
  void Add(double d) { v_.fetch_add(d, std::memory_order_relaxed); }
  double value() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> v_{0};
};

// Counts observations into fixed buckets (upper bounds, le); +Inf is implicit. The rendered
// _count is the sum of the buckets, so a scrape during Observe() stays self-consistent.
class HistogramMetric {
 public:
  explicit HistogramMetric(std::span<const double> bounds);
  void Observe(double v);
  std::span<const double> bounds() const { return bounds_; }
  // Observations in bucket i alone (not cumulative); i == bounds().size() is +Inf.
  uint64_t bucket_count(size_t i) const { return counts_[i].load(std::memory_order_relaxed); }
  double sum() const { return sum_.load(std::memory_order_relaxed); }

 private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> counts_;  // bounds_.size() + 1
  std::atomic<double> sum_{0};
};

enum class MetricType { kCounter, kGauge, kHistogram };
std::string_view ToString(MetricType type);  // "counter", "gauge", "histogram"

// Type-independent part of a family, used by the registry to render.
class MetricFamilyBase {
 public:
  virtual ~MetricFamilyBase() = default;
  const std::string& name() const { return name_; }
  const std::string& help() const { return help_; }
  MetricType type() const { return type_; }
  const std::vector<std::string>& label_names() const { return label_names_; }
  // Appends # HELP, # TYPE and every child's samples, children sorted by label values.
  virtual void Render(std::string* out) const = 0;

 protected:
  MetricFamilyBase(std::string name, std::string help, MetricType type,
                   std::vector<std::string> label_names)
      : name_(std::move(name)),
        help_(std::move(help)),
        type_(type),
        label_names_(std::move(label_names)) {}
  // `{a="x",b="y"` for these values, without the closing brace; empty without labels.
  std::string LabelPrefix(const std::vector<std::string>& values) const;

 private:
  std::string name_, help_;
  MetricType type_;
  std::vector<std::string> label_names_;
};

template <typename T>
class MetricFamily final : public MetricFamilyBase {
 public:
  // The child for these label values (one per label name, in order), created on first use.
  // A wrong number of values is a programming error: asserted, and padded/truncated.
  T& WithLabels(std::vector<std::string> values);
  // The only child of a family without labels.
  T& Get() { return WithLabels({}); }
  void Render(std::string* out) const override;

 private:
  friend class MetricsRegistry;
  MetricFamily(std::string name, std::string help, MetricType type,
               std::vector<std::string> label_names, std::vector<double> bounds = {})
      : MetricFamilyBase(std::move(name), std::move(help), type, std::move(label_names)),
        bounds_(std::move(bounds)) {}
  T& Create(std::vector<std::string> values);  // with mu_ held

  std::vector<double> bounds_;  // histograms only
  mutable std::mutex mu_;
  std::map<std::vector<std::string>, std::unique_ptr<T>> children_;
};

using CounterFamily = MetricFamily<CounterMetric>;
using GaugeFamily = MetricFamily<GaugeMetric>;
using HistogramFamily = MetricFamily<HistogramMetric>;

// Writes the samples of values kept outside the registry (a collector's job, see
// MetricsRegistry::AddCollector): families without labels, in the same text format.
class MetricsWriter {
 public:
  void WriteCounter(std::string_view name, std::string_view help, uint64_t value);
  void WriteGauge(std::string_view name, std::string_view help, double value);
  // cumulative[i]: observations <= bounds[i]; cumulative[bounds.size()]: all of them (+Inf,
  // also written as _count).
  void WriteHistogram(std::string_view name, std::string_view help, std::span<const double> bounds,
                      std::span<const uint64_t> cumulative, double sum);

 private:
  friend class MetricsRegistry;
  std::string* out_ = nullptr;                                       // rendering
  std::vector<std::pair<std::string, MetricType>>* seen_ = nullptr;  // registration dry run
};

class MetricsRegistry {
 public:
  MetricsRegistry() = default;
  MetricsRegistry(const MetricsRegistry&) = delete;
  MetricsRegistry& operator=(const MetricsRegistry&) = delete;

  // Names follow Prometheus: [a-zA-Z_:][a-zA-Z0-9_:]*; label names [a-zA-Z_][a-zA-Z0-9_]*, not
  // starting with "__". A family without labels gets its child (value 0) at once, so it is
  // rendered from the first scrape.
  Result<CounterFamily*> AddCounter(std::string name, std::string help,
                                    std::vector<std::string> label_names = {});
  Result<GaugeFamily*> AddGauge(std::string name, std::string help,
                                std::vector<std::string> label_names = {});
  // `bounds`: strictly increasing finite upper bounds; "le" cannot be a label name.
  Result<HistogramFamily*> AddHistogram(std::string name, std::string help,
                                        std::vector<double> bounds,
                                        std::vector<std::string> label_names = {});

  // Values that live elsewhere (e.g. the agent's AgentCounters, relaxed atomics): `collect`
  // writes them at every Render(), on the scraping thread, so it must only read thread-safe
  // state and be quick. It runs once here too, to check its names like Add*() does; it must
  // write the same names every time.
  Status AddCollector(std::function<void(MetricsWriter&)> collect);

  // The whole registry in text format 0.0.4, families in registration order. Thread-safe.
  std::string Render() const;
  const MetricFamilyBase* Find(std::string_view name) const;

 private:
  Status Check(const std::string& name, MetricType type,
               const std::vector<std::string>& label_names) const;

  // One of: a family, or a collector with the names it writes.
  struct Entry {
    std::unique_ptr<MetricFamilyBase> family;
    std::function<void(MetricsWriter&)> collect;
    std::vector<std::pair<std::string, MetricType>> names;
  };
  mutable std::mutex mu_;
  std::vector<Entry> entries_;
};

// diskinv_build_info{version="<version>"} 1: the build, in every process's set.
Status AddBuildInfo(MetricsRegistry* registry, std::string_view version);

// Text-format helpers, exposed for tests: a sample value ("NaN", "+Inf", "-Inf", shortest
// round-trip decimal otherwise), a label value and a HELP text with the format's escapes.
std::string FormatMetricValue(double v);
std::string EscapeLabelValue(std::string_view v);
std::string EscapeHelp(std::string_view v);
bool IsValidMetricName(std::string_view name);
bool IsValidLabelName(std::string_view name);

}  // namespace diskinv
