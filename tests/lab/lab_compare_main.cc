// diskinv-lab-compare: the host side of a lab scenario. Compares the guest's `lsblk -J -O -b`
// with its `diskinv scan --json` through CompareLsblkJson (the rules the fixture tests use, the
// tolerated differences checked against the captured tree), lists diskinv's own per-device
// errors, and checks the scenario's expectations (tests/lab/expectations.h).
//
// Usage: diskinv-lab-compare --diskinv FILE [--lsblk FILE --root DIR [--sysroot-mode]]
//                            [--expect FILE] [--events FILE]
// Without --lsblk only the expectations and diskinv's errors are checked. --events: the step's
// event log, one "ACTION KNAME" a line, for the event/events expectations of hotplug steps.
// Prints "known: ...", "MISMATCH: ...", "ERROR: ...", "EXPECT: ..." lines and a summary line.
// Exit status: 0 nothing wrong; 1 a mismatch, a diskinv error or a failed expectation; 2 bad
// input (unreadable file, bad JSON, bad arguments).
#include <cstdio>
#include <fstream>
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

constexpr const char* kUsage =
    "usage: diskinv-lab-compare --diskinv FILE [--lsblk FILE --root DIR [--sysroot-mode]] "
    "[--expect FILE] [--events FILE]\n";

}  // namespace

int main(int argc, char** argv) {
  std::string lsblk_path, ours_path, root, expect_path, events_path;
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
