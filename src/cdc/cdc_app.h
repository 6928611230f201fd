// The CDC consumer applications of diskinv: each has one publication and (unless it uses only
// temporary slots) one permanent slot, named after it. DESIGN.md: one publication per consumer
// application, created before its slot.
#pragma once

#include <string>
#include <vector>

#include "common/status.h"

namespace diskinv {

struct CdcApp {
  std::string name;         // "reconcile"
  std::string publication;  // "diskinv_reconcile"
  std::string slot;         // "diskinv_reconcile"; "" = temporary slots only
  std::vector<std::string> tables;  // schema-qualified
  std::string purpose;
};

// reconcile: the controller (permanent slot). tail: `cdc tail` (temporary slots, every table).
const std::vector<CdcApp>& CdcApps();
Result<CdcApp> FindCdcApp(const std::string& name);

}  // namespace diskinv
