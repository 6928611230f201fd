#include "agent/tuning_applier.h"

#include <fmt/format.h>

#include "common/logging.h"
#include "reconcile/queue_attribute.h"

namespace diskinv {

TuningOutcome TuningApplier::Apply(std::string_view kname,
                                   const std::map<std::string, std::string>& desired, bool resync,
                                   bool repair_drift) {
  auto log = Logger("agent");
  TuningOutcome out;
  auto before = ReadQueueState(reader_, kname);
  if (!before.ok()) {
    out.status = "error";
    out.error = before.status().message();
    return out;
  }
  std::vector<TuningVerdict> verdicts = ValidateTuning(desired, *before, page_size_);
  std::map<std::string, std::string> to_write;  // in application order below
  std::vector<std::string> order;
  for (const TuningVerdict& v : verdicts) {
    if (!v.ok) {
      out.rejected[v.attribute] = v.reason;
      continue;
    }
    std::string cur = before->Current(v.attribute);
    if (cur == v.value) continue;
    if (resync) {
      out.drift[v.attribute] = {v.value, cur, false};
      if (!repair_drift) continue;
    }
    order.push_back(v.attribute);
    to_write[v.attribute] = v.value;
  }
  for (const std::string& attr : order) {
    Status s = writer_.WriteQueueAttribute(kname, attr, to_write[attr]);
    if (!s.ok()) {
      out.rejected[attr] = fmt::format("the kernel refused it: {}", s.message());
      log->warn("{}: {}", kname, out.rejected[attr]);
      continue;
    }
    out.written.push_back(attr);
  }
  auto after = ReadQueueState(reader_, kname);
  if (!after.ok()) {
    out.status = "error";
    out.error = after.status().message();
    return out;
  }
  size_t matching = 0;
  for (const auto& [attr, value] : desired) {
    std::string now = after->Current(attr);
    if (!now.empty() || FindQueueAttribute(attr) != nullptr) out.observed[attr] = now;
    bool written = to_write.count(attr) && !out.rejected.count(attr);
    if (written && now != value) {
      out.rejected[attr] = fmt::format("written, but the kernel reports {}", now.empty() ? "nothing" : now);
    }
    if (now == value) ++matching;
    if (auto d = out.drift.find(attr); d != out.drift.end()) d->second.repaired = now == value;
  }
  bool unrepaired = false;
  for (const auto& [attr, d] : out.drift) unrepaired = unrepaired || !d.repaired;
  if (matching == desired.size()) {
    out.status = "applied";
  } else if (!out.rejected.empty()) {
    out.status = matching == 0 ? "rejected" : "partial";
  } else {
    out.status = unrepaired ? "drift" : "partial";
  }
  if (unrepaired && out.status == "applied") out.status = "drift";
  return out;
}

}  // namespace diskinv
