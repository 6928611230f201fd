// DeviceDigest: a 64-bit hash of every field of a BlockDevice, so that "did this device change?"
// can be answered without keeping the device (the agent keeps one digest per device, not the
// device: docs/agent.md, "Memory").
//
// Equal devices have equal digests; a change of any field (tests/unit/device_digest_test.cc
// changes each one) gives another digest, except with the probability of a 64-bit collision.
// The digest is for one process's memory: it may change between builds, never store it.
#pragma once

#include <cstdint>

#include "model/block_device.h"

namespace diskinv {

uint64_t DeviceDigest(const BlockDevice& dev);

}  // namespace diskinv
