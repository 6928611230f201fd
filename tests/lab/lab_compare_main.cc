// diskinv-lab-compare: the host side of a lab scenario. Compares the guest's `lsblk -J -O -b`
// with its `diskinv scan --json` through CompareLsblkJson (the rules the fixture tests use, the
// tolerated differences checked against the captured tree), lists diskinv's own per-device
// errors, and checks the scenario's expectations (tests/lab/expectations.h).
//
// Usage: diskinv-lab-compare --diskinv FILE [--lsblk FILE --root DIR [--sysroot-mode]]
//                            [--expect FILE] [--events FILE]
// Without --lsblk only the expectations and diskinv's errors are checked. --events: the step's
// event log, one "ACTION KNAME" a line, for the event/events expectations of hotplug steps.
// --monitor FILE --monitor-base SCAN --monitor-lines FROM:TO: the output of `diskinv monitor
// --json --inventory` in the guest; the inventory it tracked (SCAN, the scan taken when it
// started, with the added/removed devices of its "inventory" lines 1..TO applied) and its
// events of lines FROM+1..TO are checked against the same expectations ("MONITOR:" lines).
// Prints "known: ...", "MISMATCH: ...", "ERROR: ...", "EXPECT: ..." lines and a summary line.
// Exit status: 0 nothing wrong; 1 a mismatch, a diskinv error or a failed expectation; 2 bad
// input (unreadable file, bad JSON, bad arguments).
#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>
#include <string>

#include "lab/expectations.h"
#include "support/lsblk_compare.h"

namespace {

bool Slurp(const std::string& path, std::string* out) {
  std::ifstream f(path);
  if (!f) return false;
  std::stringstream ss;
  ss << f.rdbuf();
  *out = ss.str();
  return true;
}

// The inventory `diskinv monitor --inventory` tracked, and its events, as of a hotplug step.
struct MonitorView {
  nlohmann::json inventory;         // {"blockdevices": [...]}, as a scan
  std::vector<std::string> events;  // "ACTION KNAME" of the step's event lines
  std::vector<std::string> errors;  // resyncs, unparsable lines, a missing inventory line
};

MonitorView ReplayMonitor(const nlohmann::json& base, const std::string& text, size_t from,
                          size_t to) {
  MonitorView v;
  std::map<std::string, nlohmann::json> devices;
  for (const auto& d : base.value("blockdevices", nlohmann::json::array())) {
    devices[d.value("kname", "")] = d;
  }
  std::stringstream in(text);
  size_t n = 0, events = 0, inventories = 0;
  for (std::string line; n < to && std::getline(in, line);) {
    ++n;
    nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_discarded()) {
      v.errors.push_back("line " + std::to_string(n) + " is not JSON");
      continue;
    }
    std::string type = j.value("type", "");
    if (type == "inventory") {
      ++inventories;
      for (const auto& d : j["added"]) devices[d.value("kname", "")] = d;
      for (const auto& k : j["removed"]) devices.erase(k.get<std::string>());
    }
    if (n <= from) continue;
    if (type == "event") {
      std::string devpath = j.value("devpath", "");
      v.events.push_back(j.value("action", "") + " " + devpath.substr(devpath.rfind('/') + 1));
      ++events;
    } else if (type == "resync") {
      v.errors.push_back("resync: " + j.dump());
    }
  }
  if (n < to)
    v.errors.push_back("the monitor wrote " + std::to_string(n) + " lines, not " +
                       std::to_string(to));
  if (inventories == 0 && events > 0) v.errors.push_back("events but no inventory line");
  v.inventory["blockdevices"] = nlohmann::json::array();
  for (auto& [k, d] : devices) v.inventory["blockdevices"].push_back(d);
  return v;
}

constexpr const char* kUsage =
    "usage: diskinv-lab-compare --diskinv FILE [--lsblk FILE --root DIR [--sysroot-mode]] "
    "[--expect FILE] [--events FILE]\n"
    "       [--monitor FILE --monitor-base SCAN --monitor-lines FROM:TO]\n";

}  // namespace

int main(int argc, char** argv) {
  std::string lsblk_path, ours_path, root, expect_path, events_path;
  std::string monitor_path, monitor_base, monitor_lines;
  bool sysroot_mode = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
    if (a == "--lsblk") {
      lsblk_path = next();
    } else if (a == "--diskinv") {
      ours_path = next();
    } else if (a == "--root") {
      root = next();
    } else if (a == "--expect") {
      expect_path = next();
    } else if (a == "--monitor") {
      monitor_path = next();
    } else if (a == "--monitor-base") {
      monitor_base = next();
    } else if (a == "--monitor-lines") {
      monitor_lines = next();
    } else if (a == "--events") {
      events_path = next();
    } else if (a == "--sysroot-mode") {
      sysroot_mode = true;
    } else if (a == "-h" || a == "--help") {
      std::fputs(kUsage, stdout);
      return 0;
    } else {
      std::fprintf(stderr, "diskinv-lab-compare: unknown argument %s\n%s", a.c_str(), kUsage);
      return 2;
    }
  }
  if (ours_path.empty() || (!lsblk_path.empty() && root.empty())) {
    std::fputs(kUsage, stderr);
    return 2;
  }
  std::string ltext, otext, etext, vtext;
  if (!Slurp(ours_path, &otext) || (!lsblk_path.empty() && !Slurp(lsblk_path, &ltext)) ||
      (!expect_path.empty() && !Slurp(expect_path, &etext)) ||
      (!events_path.empty() && !Slurp(events_path, &vtext))) {
    std::fprintf(stderr, "diskinv-lab-compare: cannot read %s, %s or %s\n", ours_path.c_str(),
                 lsblk_path.c_str(), expect_path.c_str());
    return 2;
  }
  nlohmann::json o;
  diskinv::testing::CompareResult r;
  try {
    o = nlohmann::json::parse(otext);
    if (!lsblk_path.empty()) {
      r = diskinv::testing::CompareLsblkJson(nlohmann::json::parse(ltext), o, root, sysroot_mode);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "diskinv-lab-compare: bad JSON: %s\n", e.what());
    return 2;
  }
  std::vector<std::string> errors;
  for (const auto& m : o.value("messages", nlohmann::json::array()))
    errors.push_back("walk: " + m.dump());
  for (const auto& d : o.value("blockdevices", nlohmann::json::array())) {
    if (d.contains("errors") && d["errors"].is_array()) {
      for (const auto& e : d["errors"]) errors.push_back(d.value("kname", "?") + ": " + e.dump());
    }
  }
  std::vector<std::string> events;
  std::stringstream vs(vtext);
  for (std::string line; std::getline(vs, line);) {
    if (!line.empty()) events.push_back(line);
  }
  auto fails = diskinv::lab::CheckExpectations(o, etext, events_path.empty() ? nullptr : &events);
  if (!monitor_path.empty()) {
    std::string mtext, btext;
    size_t from = 0, to = 0;
    if (std::sscanf(monitor_lines.c_str(), "%zu:%zu", &from, &to) != 2 ||
        !Slurp(monitor_path, &mtext) || !Slurp(monitor_base, &btext)) {
      std::fprintf(stderr,
                   "diskinv-lab-compare: bad --monitor, --monitor-base or --monitor-lines\n");
      return 2;
    }
    try {
      MonitorView m = ReplayMonitor(nlohmann::json::parse(btext), mtext, from, to);
      for (const auto& e : m.errors) fails.push_back("MONITOR: " + e);
      for (const auto& f : diskinv::lab::CheckExpectations(m.inventory, etext, &m.events)) {
        fails.push_back("MONITOR: " + f);
      }
    } catch (const std::exception& e) {
      std::fprintf(stderr, "diskinv-lab-compare: bad monitor JSON: %s\n", e.what());
      return 2;
    }
  }
  for (const auto& k : r.known) std::printf("known: %s\n", k.c_str());
  for (const auto& m : r.mismatches) std::printf("MISMATCH: %s\n", m.c_str());
  for (const auto& e : errors) std::printf("ERROR: %s\n", e.c_str());
  for (const auto& f : fails) std::printf("EXPECT: %s\n", f.c_str());
  std::printf(
      "summary: %zu devices, %zu fields compared, %zu mismatches, %zu known, %zu diskinv errors, "
      "%zu failed expectations\n",
      r.devices, r.fields, r.mismatches.size(), r.known.size(), errors.size(), fails.size());
  return r.mismatches.empty() && errors.empty() && fails.empty() ? 0 : 1;
}
