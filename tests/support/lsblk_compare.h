// Field-by-field comparison of `diskinv scan --json` with `lsblk -J -O -b` (util-linux 2.38),
// on the live system (sysroot "") or on a tree (--sysroot DIR). lsblk's tree is flattened by
// kernel name; a device that lsblk lists under several parents (dm over two paths) must have
// our PKNAME among lsblk's.
//
// Every column both tools report is compared. The only tolerated differences are listed in
// lsblk_compare.cc (KnownDifferences), each with the reason lsblk is wrong or incomplete there
// and a check that our value is the one sysfs/udev really hold.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace diskinv::testing {

struct CompareResult {
  std::vector<std::string> mismatches;  // human-readable, one per differing field or device
  size_t devices = 0;                   // devices compared
  size_t fields = 0;                    // field values compared
  std::vector<std::string> known;       // tolerated differences that applied (with reason)
  nlohmann::json lsblk, ours;           // raw outputs
};

// `diskinv` is the path of the binary (tests get it from $DISKINV_BINARY).
CompareResult CompareWithLsblk(const std::string& sysroot, const std::string& diskinv);

// The comparison itself, over already-parsed documents (the QEMU lab runs both tools in a guest
// and compares on the host). `files_root` is where the tolerated-difference checks read the
// kernel's real values (the guest's captured tree; "" = this machine's /); `sysroot_mode` says
// lsblk ran with --sysroot (it then reads dev/<name> files instead of the udev db).
CompareResult CompareLsblkJson(const nlohmann::json& lsblk, const nlohmann::json& ours,
                               const std::string& files_root, bool sysroot_mode);

// Runs a shell command, returns its stdout; *exit_code gets the exit status.
std::string RunCommand(const std::string& cmd, int* exit_code);
// Quotes a string for /bin/sh.
std::string ShellQuote(const std::string& s);
// $DISKINV_BINARY, or the conventional build location.
std::string DiskinvBinary();
// $DISKINV_MKTREE, or the diskinv-mktree of this build.
std::string MktreeBinary();
// Source tree root ($DISKINV_SOURCE_DIR).
std::string SourceDir();

}  // namespace diskinv::testing
