// Helpers shared by the database-backed commands of CDC and reconciliation (cdc, pool, tune,
// reconcile): the --database-url option, stop-on-signal for long-running commands, the disk
// selector options, and their exit codes.
#pragma once

#include <atomic>
#include <string>

#include "cli/cli.h"
#include "common/status.h"
#include "reconcile/disk_selector.h"

namespace diskinv {

// Exit codes of the CDC commands beyond cli.h's 0/1/2/3.
inline constexpr int kExitSlotLost = 4;       // slot missing or invalidated: alarm raised
inline constexpr int kExitSlotBusy = 5;       // another consumer streams from the slot
inline constexpr int kExitDecodeError = 6;    // the stream could not be decoded: alarm raised

// $DISKINV_DATABASE_URL, else "" (the libpq defaults).
std::string DefaultDatabaseUrl();
// Consumes --database-url URL at p.pos; true when it did (err set on a missing value).
bool DatabaseUrlOption(ArgParser& p, std::string* url, std::string* err);

// Consumes --NAME N (a decimal unsigned number); true when it did.
bool NumberOption(ArgParser& p, const char* name, uint64_t* out, std::string* err);

// Installs SIGINT/SIGTERM handlers (once) that set the returned flag.
const std::atomic<bool>& StopOnSignals();

// Consumes one selector option at p.pos (--node, --kname, --transport, --rotational, --min-size,
// --max-size, --model, --vendor, and for pools --allow-partitioned / --allow-holders); true
// when it did. Errors (bad size, bad yes/no) go to *err.
bool SelectorOption(ArgParser& p, DiskSelector* s, std::string* err);
inline constexpr const char* kSelectorHelp =
    R"(Selector (every option given must hold; globs as in the shell):
      --node GLOB          node hostname
      --kname GLOB         kernel name (sd*, nvme*n1, loop*)
      --transport T        nvme, sata, sas, usb, virtio, ... (exact)
      --rotational yes|no
      --min-size SIZE      e.g. 100G, 1.5T (binary units)
      --max-size SIZE
      --model GLOB
      --vendor GLOB
)";

// "kname=loop* transport=nvme unpartitioned ..." for listings.
std::string SelectorText(const DiskSelector& s);

// Maps a consumer's fatal Status to the exit codes above and prints it.
int ConsumerExitCode(const std::string& command, const Status& s);

}  // namespace diskinv
