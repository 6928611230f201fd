#include "cdc/cdc_app.h"

#include <fmt/format.h>

namespace diskinv {

const std::vector<CdcApp>& CdcApps() {
  static const std::vector<CdcApp> apps = {
      {"reconcile", "diskinv_reconcile", "diskinv_reconcile",
       {"diskinv.disk", "diskinv.partition", "diskinv.holder", "diskinv.node", "diskinv.pool",
        "diskinv.pool_policy", "diskinv.tuning_profile"},
       "pool claims and desired queue tuning (diskinv reconcile)"},
      {"tail", "diskinv_tail", "",
       {"diskinv.node", "diskinv.disk", "diskinv.partition", "diskinv.holder",
        "diskinv.identity_conflict", "diskinv.pool", "diskinv.pool_policy", "diskinv.disk_claim",
        "diskinv.tuning_profile", "diskinv.disk_tuning"},
       "live view of every table (diskinv cdc tail, temporary slots)"},
  };
  return apps;
}

Result<CdcApp> FindCdcApp(const std::string& name) {
  for (const auto& a : CdcApps()) {
    if (a.name == name) return a;
  }
  std::string names;
  for (const auto& a : CdcApps()) names += (names.empty() ? "" : ", ") + a.name;
  return Status::Invalid(fmt::format("unknown CDC application '{}' (known: {})", name, names));
}

}  // namespace diskinv
