// lab-compare: the host side of a lab scenario. Compares the guest's `lsblk -J -O -b` and
// `diskinv scan --json` (files) with the rules of lab_compare.h and checks the scenario's
// expectations. Built by scripts/lab with the system compiler (no CMake target needed).
//
// Usage: lab-compare --lsblk FILE --diskinv FILE --root DIR [--sysroot-mode] [--expect FILE]
// Prints "known: ...", "MISMATCH: ...", "ERROR: ..." (diskinv field errors), "EXPECT: ..." lines
// and a summary; exit 0 when there is no mismatch, error or failed expectation, 1 otherwise,
// 2 on bad input.
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

#include "lab/lab_compare.h"

namespace {

bool Slurp(const std::string& path, std::string* out) {
  std::ifstream f(path);
  if (!f) return false;
  std::stringstream ss;
  ss << f.rdbuf();
  *out = ss.str();
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  std::string lsblk_path, ours_path, root, expect_path;
  bool sysroot_mode = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
    if (a == "--lsblk") lsblk_path = next();
    else if (a == "--diskinv") ours_path = next();
    else if (a == "--root") root = next();
    else if (a == "--expect") expect_path = next();
    else if (a == "--sysroot-mode") sysroot_mode = true;
    else {
      std::fprintf(stderr, "lab-compare: unknown argument %s\n", a.c_str());
      return 2;
    }
  }
  std::string ltext, otext, etext;
  if (!Slurp(lsblk_path, &ltext) || !Slurp(ours_path, &otext)) {
    std::fprintf(stderr, "lab-compare: cannot read %s or %s\n", lsblk_path.c_str(), ours_path.c_str());
    return 2;
  }
  if (!expect_path.empty() && !Slurp(expect_path, &etext)) {
    std::fprintf(stderr, "lab-compare: cannot read %s\n", expect_path.c_str());
    return 2;
  }
  nlohmann::json l, o;
  try {
    l = nlohmann::json::parse(ltext);
    o = nlohmann::json::parse(otext);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "lab-compare: bad JSON: %s\n", e.what());
    return 2;
  }
  auto r = diskinv::lab::CompareScanJson(l, o, root, sysroot_mode);
  auto fails = diskinv::lab::CheckExpectations(o, etext);
  for (const auto& k : r.known) std::printf("known: %s\n", k.c_str());
  for (const auto& m : r.mismatches) std::printf("MISMATCH: %s\n", m.c_str());
  for (const auto& e : r.errors) std::printf("ERROR: %s\n", e.c_str());
  for (const auto& f : fails) std::printf("EXPECT: %s\n", f.c_str());
  std::printf("summary: %zu devices, %zu fields compared, %zu mismatches, %zu known, %zu diskinv errors, "
              "%zu failed expectations\n",
              r.devices, r.fields, r.mismatches.size(), r.known.size(), r.errors.size(), fails.size());
  return r.mismatches.empty() && r.errors.empty() && fails.empty() ? 0 : 1;
}
