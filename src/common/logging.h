// Logging setup for the CLI and daemons (STYLE.md rule 9). Libraries log through named spdlog
// loggers obtained with Logger("sysfs"); the CLI calls SetupLogging once to choose the sink
// (stderr), the format (text or JSON lines for journald/collectors) and the level.
#pragma once

#include <memory>
#include <string_view>

#include <spdlog/spdlog.h>

#include "common/status.h"

namespace diskinv {

enum class LogFormat { kText, kJson };

// `level`: trace, debug, info, warn, error, critical, off.
Status SetupLogging(std::string_view level, LogFormat format);
// Changes the level of every logger (a daemon's config reload), keeping sink and format.
Status SetLogLevel(std::string_view level);
// Set by the CLI when -v, --log-level or DISKINV_LOG_LEVEL chose the level: neither a config
// file nor a daemon's default (info) overrides it.
void MarkLogLevelFromCommandLine();
bool LogLevelFromCommandLine();
// Returns (creating on first use) the named logger; all share the sink chosen by SetupLogging.
std::shared_ptr<spdlog::logger> Logger(std::string_view name);

}  // namespace diskinv
