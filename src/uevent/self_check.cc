#include "uevent/self_check.h"

#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <sys/random.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "common/logging.h"
#include "common/parse.h"

namespace diskinv {
namespace {

using Clock = std::chrono::steady_clock;

spdlog::logger& Log() {
  static std::shared_ptr<spdlog::logger> log = Logger("uevent");
  return *log;
}

std::string Join(std::string root, std::string_view rel) {
  if (root.empty() || root.back() != '/') root += '/';
  return root.append(rel);
}

// The first name in <sysroot>/sys/block, in name order.
Result<std::string> FirstBlockDevice(const std::string& sysroot) {
  std::string dir = Join(sysroot, "sys/block");
  DIR* d = opendir(dir.c_str());
  if (!d) return Status::FromErrno(errno, "self-check: cannot list " + dir);
  std::vector<std::string> names;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] != '.') names.emplace_back(e->d_name);
  }
  closedir(d);
  if (names.empty()) {
    return Status(ENOENT, fmt::format("self-check: no block device in {} to trigger", dir));
  }
  return *std::min_element(names.begin(), names.end());
}

bool ValidName(std::string_view s) {
  return !s.empty() && s != "." && s != ".." && s.find('/') == std::string_view::npos;
}

bool ValidTag(std::string_view s) {
  return !s.empty() &&
         std::all_of(s.begin(), s.end(), [](char c) { return c > ' ' && c < 0x7f; });
}

Status WriteTrigger(const std::string& path, const std::string& text) {
  int fd = open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) {
    int err = errno;
    if (err == EACCES || err == EPERM) {
      return Status::FromErrno(err, fmt::format("self-check: cannot open {} for writing (needs "
                                                "root)",
                                                path));
    }
    return Status::FromErrno(err, "self-check: cannot open " + path);
  }
  ssize_t n = write(fd, text.data(), text.size());
  int err = errno;
  close(fd);
  if (n < 0) {
    return Status::FromErrno(err, fmt::format("self-check: the kernel refused {} written to {}",
                                              QuoteForError(text), path));
  }
  if (static_cast<size_t>(n) != text.size()) {
    return Status(EIO, fmt::format("self-check: short write to {}", path));
  }
  return Status::Ok();
}

}  // namespace

std::string SelfCheckTrigger(std::string_view uuid, std::string_view tag) {
  return fmt::format("change {} DISKINV={}", uuid, tag);
}

std::string NewUuid() {
  unsigned char b[16];
  size_t got = 0;
  while (got < sizeof b) {
    ssize_t n = getrandom(b + got, sizeof b - got, 0);
    if (n > 0) got += static_cast<size_t>(n);
  }
  b[6] = (b[6] & 0x0f) | 0x40;  // version 4
  b[8] = (b[8] & 0x3f) | 0x80;  // RFC 4122 variant
  std::string s;
  for (int i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) s += '-';
    s += fmt::format("{:02x}", b[i]);
  }
  return s;
}

Result<SelfCheckReport> RunSelfCheck(const std::vector<UeventSource*>& sources,
                                     const SelfCheckOptions& options, const SelfCheckSink& sink) {
  if (sources.empty()) return Status::Invalid("self-check: no source to check");
  if (!ValidTag(options.tag)) {
    return Status::Invalid("self-check: tag must be printable without spaces: " +
                           QuoteForError(options.tag));
  }
  SelfCheckReport report;
  if (options.device.empty()) {
    Result<std::string> first = FirstBlockDevice(options.sysroot);
    if (!first.ok()) return first.status();
    report.device = *first;
  } else if (!ValidName(options.device)) {
    return Status::Invalid("self-check: not a kernel device name: " +
                           QuoteForError(options.device));
  } else {
    report.device = options.device;
  }
  std::string path = Join(options.sysroot, "sys/class/block/" + report.device + "/uevent");
  if (access(path.c_str(), F_OK) != 0) {
    return Status::FromErrno(errno, fmt::format("self-check: no block device {} ({})",
                                                QuoteForError(report.device), path));
  }
  report.uuid = NewUuid();
  report.round_trip.assign(sources.size(), std::chrono::microseconds(-1));
  Clock::time_point start = Clock::now();
  Status written = WriteTrigger(path, SelfCheckTrigger(report.uuid, options.tag));
  if (!written.ok()) return written;
  Log().debug("self-check: wrote SYNTH_UUID {} to {}", report.uuid, path);

  size_t missing = sources.size();
  Clock::time_point deadline = start + options.timeout;
  while (missing > 0) {
    Clock::time_point now = Clock::now();
    if (now >= deadline) break;
    std::vector<pollfd> fds;
    for (UeventSource* s : sources) fds.push_back({s->fd(), POLLIN, 0});
    auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - now);
    if (poll(fds.data(), fds.size(), static_cast<int>(left.count())) < 0 && errno != EINTR) {
      return Status::FromErrno(errno, "self-check: poll");
    }
    for (size_t i = 0; i < sources.size(); ++i) {
      if (!(fds[i].revents & (POLLIN | POLLERR))) continue;
      Result<std::vector<SourceEvent>> got = sources[i]->Receive();
      Clock::time_point at = Clock::now();
      if (!got.ok()) {
        return Status(got.status().code(), fmt::format("self-check: {} source: {}",
                                                       sources[i]->name(),
                                                       got.status().message()));
      }
      for (SourceEvent& e : *got) {
        const auto* u = std::get_if<Uevent>(&e);
        if (u && u->synth_uuid == report.uuid && report.round_trip[i].count() < 0) {
          report.round_trip[i] = std::chrono::duration_cast<std::chrono::microseconds>(at - start);
          --missing;
        }
        if (sink) sink(i, std::move(e));
      }
    }
  }
  if (missing > 0) {
    std::vector<std::string> silent, answered;
    for (size_t i = 0; i < sources.size(); ++i) {
      if (report.round_trip[i].count() < 0) {
        silent.emplace_back(sources[i]->name());
      } else {
        answered.push_back(
            fmt::format("{} in {} us", sources[i]->name(), report.round_trip[i].count()));
      }
    }
    return Status(ETIMEDOUT,
                  fmt::format("self-check: no event with SYNTH_UUID={} for {} from {} within {} "
                              "ms{}{}",
                              report.uuid, report.device, fmt::join(silent, ", "),
                              options.timeout.count(), answered.empty() ? "" : "; answered: ",
                              fmt::join(answered, ", ")));
  }
  return report;
}

}  // namespace diskinv
