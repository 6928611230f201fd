#include "uevent/coalescer.h"

#include <fmt/format.h>

#include <algorithm>

namespace diskinv {
namespace {

bool ChangeLike(UeventAction a) {
  return a != UeventAction::kAdd && a != UeventAction::kRemove && a != UeventAction::kMove;
}

}  // namespace

Coalescer::Coalescer(CoalescerOptions options, CoalescerClock clock)
    : options_(options),
      clock_(clock ? std::move(clock) : [] { return std::chrono::steady_clock::now(); }) {}

void Coalescer::Push(std::vector<SourceEvent> events) {
  for (SourceEvent& e : events) Push(std::move(e));
}

void Coalescer::Push(SourceEvent event) {
  TimePoint now = clock_();
  if (auto* r = std::get_if<Resync>(&event)) {
    ++stats_.resync_requests;
    StartResync(std::move(*r), now);
  } else {
    PushEvent(std::move(std::get<Uevent>(event)), now);
  }
}

void Coalescer::PushEvent(Uevent ev, TimePoint now) {
  ++stats_.received;
  if (options_.burst_threshold > 0) {
    if (now - burst_start_ >= options_.burst_window) {
      burst_start_ = now;
      burst_count_ = 0;
    }
    if (++burst_count_ > options_.burst_threshold && !resync_) {
      ++stats_.bursts;
      StartResync({ResyncReason::kBurst, 0,
                   fmt::format("more than {} events in {} ms", options_.burst_threshold,
                               options_.burst_window.count())},
                  now);
    }
  }
  if (resync_) {
    ++stats_.dropped;
    ++resync_->lost;
    resync_last_ = now;
    return;
  }
  if (ev.action == UeventAction::kMove && !ev.devpath_old.empty() && ev.devpath_old != ev.devpath) {
    if (auto old = devices_.extract(ev.devpath_old)) {
      auto [it, inserted] = devices_.try_emplace(ev.devpath, std::move(old.mapped()));
      if (!inserted) {  // both names pending: keep arrival order of the older one first
        for (auto& run : old.mapped().runs) it->second.runs.push_back(std::move(run));
      }
    }
  }
  auto [it, inserted] = devices_.try_emplace(ev.devpath);
  Device& d = it->second;
  if (inserted || d.runs.empty()) {
    d.first = now;
    d.order = next_order_++;
    d.immediate = false;
    if (options_.leading_edge) {
      auto r = recent_.find(ev.devpath);
      d.immediate = r == recent_.end() || now - r->second >= options_.window;
      if (r != recent_.end()) recent_.erase(r);
    }
  }
  d.last = now;
  if (ChangeLike(ev.action) && !d.runs.empty() &&
      d.runs.back().event.action != UeventAction::kRemove) {
    ++d.runs.back().merged;
    d.runs.back().last_seqnum = ev.seqnum;
    ++stats_.coalesced;
  } else {
    uint64_t seq = ev.seqnum;
    d.runs.push_back({std::move(ev), 1, seq});
  }
  if (devices_.size() > options_.max_pending) {
    ++stats_.bursts;
    StartResync({ResyncReason::kBurst, 0,
                 fmt::format("more than {} devices pending", options_.max_pending)},
                now);
  }
}

void Coalescer::StartResync(Resync r, TimePoint now) {
  uint64_t dropped = 0;
  for (auto& [path, d] : devices_) {
    for (const CoalescedEvent& run : d.runs) dropped += run.merged;
  }
  devices_.clear();
  stats_.dropped += dropped;
  if (!resync_) {
    resync_ = std::move(r);
    resync_->lost += dropped;
    resync_first_ = now;
  } else {
    resync_->lost += r.lost + dropped;
  }
  resync_last_ = now;
}

Coalescer::TimePoint Coalescer::Deadline(const Device& d) const {
  if (d.immediate) return d.first;
  return std::min(d.last + options_.window, d.first + options_.max_delay);
}

Coalescer::TimePoint Coalescer::ResyncDeadline() const {
  return std::min(resync_last_ + options_.window, resync_first_ + options_.max_delay);
}

std::optional<std::chrono::steady_clock::time_point> Coalescer::NextDeadline() const {
  std::optional<TimePoint> next;
  if (resync_) next = ResyncDeadline();
  for (const auto& [path, d] : devices_) {
    if (!next || Deadline(d) < *next) next = Deadline(d);
  }
  return next;
}

std::vector<CoalescerOutput> Coalescer::Collect(TimePoint now, bool all) {
  std::vector<CoalescerOutput> out;
  if (resync_ && (all || ResyncDeadline() <= now)) {
    ++stats_.resyncs;
    out.emplace_back(std::move(*resync_));
    resync_.reset();
  }
  std::vector<std::pair<std::pair<TimePoint, uint64_t>, std::string>> due;
  for (const auto& [path, d] : devices_) {
    if (all || Deadline(d) <= now) due.push_back({{Deadline(d), d.order}, path});
  }
  std::sort(due.begin(), due.end());
  for (auto& [key, path] : due) {
    auto node = devices_.extract(path);
    for (CoalescedEvent& run : node.mapped().runs) {
      ++stats_.emitted;
      out.emplace_back(std::move(run));
    }
    if (options_.leading_edge) recent_.insert_or_assign(std::move(node.key()), node.mapped().last);
  }
  if (options_.leading_edge && now - pruned_ >= options_.window) {
    std::erase_if(recent_, [&](const auto& r) { return now - r.second >= options_.window; });
    pruned_ = now;
  }
  return out;
}

std::vector<CoalescerOutput> Coalescer::Poll() { return Collect(clock_(), false); }

std::vector<CoalescerOutput> Coalescer::Flush() { return Collect(clock_(), true); }

}  // namespace diskinv
