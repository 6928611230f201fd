#include "agent/live_source.h"

namespace diskinv {

const BlockDevice* LiveSource::Find(std::string_view kname) const {
  if (live_.Find(kname) == nullptr) return nullptr;
  if (const BlockDevice* d = live_.Probed(kname)) return d;
  auto it = probes_.find(kname);
  if (it == probes_.end()) {
    ++probe_count_;
    auto dev = walker_.Probe(kname);
    std::optional<BlockDevice> kept;
    if (dev.ok() && walker_.Listed(*dev)) kept = std::move(*dev);
    it = probes_.emplace(std::string(kname), std::move(kept)).first;
  }
  return it->second ? &*it->second : nullptr;
}

void LiveSource::ForEach(const std::function<void(const BlockDevice&)>& fn) const {
  walker_.Walk([&](BlockDevice&& dev) {
    if (live_.Find(dev.kname) != nullptr) fn(dev);
  });
}

}  // namespace diskinv
