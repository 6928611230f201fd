#include "common/logging.h"

#include <fmt/format.h>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>

#include "common/json_writer.h"

namespace diskinv {
namespace {

std::mutex g_mu;
spdlog::sink_ptr g_sink;
spdlog::level::level_enum g_level = spdlog::level::warn;
bool g_level_from_command_line = false;

Result<spdlog::level::level_enum> ParseLevel(std::string_view level) {
  auto lvl = spdlog::level::from_str(std::string(level));
  if (lvl == spdlog::level::off && level != "off") {
    return Status::Invalid(fmt::format(
        "unknown log level '{}' (use trace, debug, info, warn, error, critical or off)", level));
  }
  return lvl;
}

spdlog::sink_ptr Sink() {
  if (!g_sink) g_sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
  return g_sink;
}

// %j: the message as a JSON string (quotes included), so JSON log lines stay valid whatever
// bytes a device name or an error message carries.
class JsonMessageFlag : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    std::string quoted;
    JsonWriter::AppendQuoted(quoted, std::string_view(msg.payload.data(), msg.payload.size()));
    dest.append(quoted.data(), quoted.data() + quoted.size());
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<JsonMessageFlag>();
  }
};

// %*: the syslog priority prefix journald reads from a service's stderr ("<3>" error ...
// "<7>" debug; sd-daemon(3)), so `journalctl -p warning` filters diskinv's lines.
class SyslogPriorityFlag : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    static constexpr const char* kPrefix[] = {"<7>", "<7>", "<6>", "<4>", "<3>", "<2>", "<6>"};
    const char* p = kPrefix[static_cast<int>(msg.level) % 7];
    dest.append(p, p + 3);
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<SyslogPriorityFlag>();
  }
};

// stderr is a stream connected to journald (systemd sets JOURNAL_STREAM=DEV:INODE of it).
bool StderrIsJournal() {
  const char* js = std::getenv("JOURNAL_STREAM");
  struct stat st {};
  if (js == nullptr || fstat(STDERR_FILENO, &st) != 0) return false;
  unsigned long long dev = 0, ino = 0;
  if (std::sscanf(js, "%llu:%llu", &dev, &ino) != 2) return false;
  return static_cast<unsigned long long>(st.st_dev) == dev &&
         static_cast<unsigned long long>(st.st_ino) == ino;
}

}  // namespace

Status SetupLogging(std::string_view level, LogFormat format) {
  auto parsed = ParseLevel(level);
  if (!parsed.ok()) return parsed.status();
  spdlog::level::level_enum lvl = *parsed;
  std::lock_guard lock(g_mu);
  g_level = lvl;
  auto sink = Sink();
  if (format == LogFormat::kJson) {
    auto formatter = std::make_unique<spdlog::pattern_formatter>();
    formatter->add_flag<JsonMessageFlag>('j').set_pattern(
        R"({"time":"%Y-%m-%dT%H:%M:%S.%e%z","level":"%l","logger":"%n","pid":%P,"msg":%j})");
    sink->set_formatter(std::move(formatter));
  } else if (StderrIsJournal()) {
    // journald stamps every line itself: a priority prefix instead of a timestamp.
    auto formatter = std::make_unique<spdlog::pattern_formatter>();
    formatter->add_flag<SyslogPriorityFlag>('*').set_pattern("%*%l [%n] %v");
    sink->set_formatter(std::move(formatter));
  } else {
    sink->set_pattern("%Y-%m-%d %H:%M:%S.%e %^%l%$ [%n] %v");
  }
  spdlog::apply_all([&](const std::shared_ptr<spdlog::logger>& l) { l->set_level(lvl); });
  return Status::Ok();
}

Status SetLogLevel(std::string_view level) {
  auto lvl = ParseLevel(level);
  if (!lvl.ok()) return lvl.status();
  std::lock_guard lock(g_mu);
  g_level = *lvl;
  spdlog::apply_all([&](const std::shared_ptr<spdlog::logger>& l) { l->set_level(*lvl); });
  return Status::Ok();
}

void MarkLogLevelFromCommandLine() {
  std::lock_guard lock(g_mu);
  g_level_from_command_line = true;
}

bool LogLevelFromCommandLine() {
  std::lock_guard lock(g_mu);
  return g_level_from_command_line;
}

std::shared_ptr<spdlog::logger> Logger(std::string_view name) {
  std::lock_guard lock(g_mu);
  std::string n(name);
  if (auto l = spdlog::get(n)) return l;
  auto l = std::make_shared<spdlog::logger>(n, Sink());
  l->set_level(g_level);
  spdlog::register_logger(l);
  return l;
}

}  // namespace diskinv
