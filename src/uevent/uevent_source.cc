#include "uevent/uevent_source.h"

namespace diskinv {

std::string_view ToString(ResyncReason reason) {
  switch (reason) {
    case ResyncReason::kOverflow:
      return "overflow";
    case ResyncReason::kSeqnumGap:
      return "seqnum_gap";
    case ResyncReason::kTruncated:
      return "truncated";
    case ResyncReason::kBurst:
      return "burst";
    case ResyncReason::kTailLoss:
      return "tail_loss";
  }
  return "unknown";
}

}  // namespace diskinv
