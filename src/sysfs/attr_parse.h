// Pure parsers for sysfs attribute formats beyond plain numbers.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace diskinv {

struct SchedulerList {
  std::optional<std::string> selected;  // the one in brackets; none when nothing is bracketed
  std::vector<std::string> available;   // all names, brackets removed
};
// "mq-deadline kyber [bfq] none" -> selected "bfq". "none" alone (no brackets) -> selected
// unset, as lsblk reports it.
SchedulerList ParseScheduler(std::string_view s);

// KEY=VALUE lines of a sysfs "uevent" file, in order; lines without '=' are skipped.
std::vector<std::pair<std::string, std::string>> ParseUeventFile(std::string_view s);

struct Hctl {
  unsigned host = 0, channel = 0, target = 0, lun = 0;
};
// Parses a SCSI device directory name "H:C:T:L" (as lsblk's sscanf "%u:%u:%u:%u": extra text
// after the LUN is tolerated, a missing part is not).
std::optional<Hctl> ParseHctl(std::string_view name);

// "0"/"1" attribute -> bool; anything else -> nullopt.
std::optional<bool> ParseBool01(std::string_view s);

}  // namespace diskinv
