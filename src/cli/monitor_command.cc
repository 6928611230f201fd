// diskinv monitor: live uevents, parsed, and with --inventory what each one changed.
#include <fmt/format.h>
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>

#include "agent/live_inventory.h"
#include "cli/cli.h"
#include "cli/output.h"
#include "common/json_writer.h"
#include "common/logging.h"
#include "common/parse.h"
#include "sysfs/real_sysfs_reader.h"
#include "sysfs/walker.h"
#include "uevent/netlink_socket.h"
#include "uevent/self_check.h"
#include "uevent/udev_monitor.h"

namespace diskinv {
namespace {

using Clock = std::chrono::steady_clock;

constexpr const char* kMonitorHelp =
    R"(Usage: diskinv monitor [--kernel|--udev|--both] [--json] [--inventory] [--selftest] [OPTIONS]

Listen to block-device uevents and print each one, parsed: action, devpath, subsystem, devtype,
devname, major:minor, diskseq, seqnum, then every property in arrival order. A "resync" line
says events were lost (receive queue overflow, SEQNUM gap, loss at the tail of a burst): the
agent re-walks the whole tree then.

Sources:
  -k, --kernel          the kernel's uevents (netlink group 1), as they happen (default)
  -u, --udev            events after systemd-udevd processed them (libudev monitor), with
                        udev's properties (DEVLINKS, ID_*, TAGS...)
      --both            both, as they arrive

Options:
  -J, --json            one JSON object per line (docs/uevent.md)
  -i, --inventory       walk the inventory first; after each event re-probe what it touched,
                        after each resync walk everything, and print what changed: devices
                        added and removed, fields added (+), removed (-) and changed
      --no-udev         --inventory: do not read the udev database (run/udev/data)
      --selftest        write "change <uuid> DISKINV=selftest" into a device's uevent file,
                        wait until every source returned the event, print the round trip and
                        exit (needs root)
      --device NAME     --selftest: the device to trigger (default: the first in sys/block)
      --timeout MS      --selftest: how long to wait for the event (default 5000)
      --sysroot DIR     root for sys/ and run/udev/data (inventory, self-check, the kernel's
                        SEQNUM counter); default /
  -a, --all-subsystems  print events of every subsystem, not only block
      --tag TAG         --udev: only devices udev tagged TAG (the diskinv rule sets "diskinv")
      --receive-buffer BYTES  socket receive buffer (default 134217728 = 128 MiB; the kernel
                        doubles it; without CAP_NET_ADMIN it is capped by net.core.rmem_max)
  -c, --count N         exit after N events
  -h, --help            show this help

Ctrl-C (SIGINT) or SIGTERM stops it; it prints a "stats" line and exits 0.

Exit status: 0 stopped by a signal, --count reached, or the self-check passed; 1 a source
could not be opened or failed, the inventory could not be read, or the self-check failed;
2 usage error.
)";

struct MonitorOptions {
  bool kernel = false, udev = false;
  bool json = false, inventory = false, udev_db = true, selftest = false, all = false;
  std::string device, sysroot = "/";
  std::optional<std::string> tag;
  int receive_buffer = 128 << 20;
  std::chrono::milliseconds timeout{5000};
  uint64_t count = 0;  // 0: no limit
};

// Control characters and backslashes as \xNN, so one property stays on one line.
std::string Printable(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f || c == '\\') {
      out += fmt::format("\\x{:02x}", u);
    } else {
      out += c;
    }
  }
  return out;
}

void OptionalString(JsonWriter& w, std::string_view key, std::string_view v) {
  w.Key(key);
  v.empty() ? w.Null() : w.String(v);
}

template <typename T>
void OptionalUint(JsonWriter& w, std::string_view key, const std::optional<T>& v) {
  w.Key(key);
  v ? w.Uint(*v) : w.Null();
}

// Renders every record as a text block or one JSON line, into a buffer flushed per batch.
class Printer {
 public:
  explicit Printer(bool json) : json_(json) {}

  void Listening(const std::vector<std::unique_ptr<UeventSource>>& sources,
                 const LiveInventory* live) {
    if (json_) {
      JsonWriter w;
      w.BeginObject().Key("type").String("listening").Key("sources").BeginArray();
      for (const auto& s : sources) w.String(s->name());
      w.EndArray();
      if (live) w.Key("inventory_devices").Uint(live->inventory().size());
      Line(w.EndObject());
      return;
    }
    std::vector<std::string_view> names;
    for (const auto& s : sources) names.push_back(s->name());
    out_ += fmt::format("listening: {}", fmt::join(names, ", "));
    if (live) out_ += fmt::format("; inventory: {} devices", live->inventory().size());
    out_ += '\n';
  }

  void Event(std::string_view source, const Uevent& e) {
    if (json_) {
      JsonWriter w;
      w.BeginObject().Key("type").String("event").Key("source").String(source);
      w.Key("action").String(ToString(e.action)).Key("devpath").String(e.devpath);
      OptionalString(w, "devpath_old", e.devpath_old);
      w.Key("subsystem").String(e.subsystem);
      OptionalString(w, "devtype", e.devtype);
      OptionalString(w, "devname", e.devname);
      OptionalUint(w, "major", e.major);
      OptionalUint(w, "minor", e.minor);
      OptionalUint(w, "diskseq", e.diskseq);
      w.Key("seqnum").Uint(e.seqnum);
      w.Key("synth_uuid");
      e.synth_uuid ? w.String(*e.synth_uuid) : w.Null();
      w.Key("properties").BeginObject();
      for (const UeventProperty& p : e.properties) w.Key(p.key).String(p.value);
      Line(w.EndObject().EndObject());
      return;
    }
    out_ += fmt::format("{} {} {}", source, ToString(e.action), Printable(e.devpath));
    if (!e.devpath_old.empty()) out_ += fmt::format(" devpath_old={}", Printable(e.devpath_old));
    out_ += fmt::format(" subsystem={}", Printable(e.subsystem));
    if (!e.devtype.empty()) out_ += fmt::format(" devtype={}", Printable(e.devtype));
    if (!e.devname.empty()) out_ += fmt::format(" devname={}", Printable(e.devname));
    if (e.major) out_ += fmt::format(" dev={}:{}", *e.major, *e.minor);
    if (e.diskseq) out_ += fmt::format(" diskseq={}", *e.diskseq);
    out_ += fmt::format(" seqnum={}\n", e.seqnum);
    for (const UeventProperty& p : e.properties) {
      out_ += fmt::format("  {}={}\n", Printable(p.key), Printable(p.value));
    }
  }

  void SourceResync(std::string_view source, const Resync& r) {
    if (json_) {
      JsonWriter w;
      w.BeginObject().Key("type").String("resync").Key("source").String(source);
      w.Key("reason").String(ToString(r.reason)).Key("lost").Uint(r.lost);
      Line(w.Key("detail").String(r.detail).EndObject());
      return;
    }
    out_ += fmt::format("{} resync reason={} lost={}: {}\n", source, ToString(r.reason), r.lost,
                        Printable(r.detail));
  }

  // What one event (`seqnum`) or one resync walk (`resync`) changed.
  void InventoryChange(std::string_view source, std::optional<uint64_t> seqnum,
                       const Resync* resync, const InventoryDiff& d, const Inventory& inv) {
    if (json_) {
      JsonWriter w;
      w.BeginObject().Key("type").String("inventory").Key("source").String(source);
      OptionalUint(w, "seqnum", seqnum);
      w.Key("resync");
      resync ? w.String(ToString(resync->reason)) : w.Null();
      w.Key("devices").Uint(inv.size());
      w.Key("added").BeginArray();
      for (const std::string& name : d.added) {
        if (const BlockDevice* dev = inv.FindByName(name)) WriteDeviceJson(w, *dev, {});
      }
      w.EndArray().Key("removed").BeginArray();
      for (const std::string& name : d.removed) w.String(name);
      w.EndArray().Key("changed").BeginArray();
      for (const auto& c : d.changed) {
        w.BeginObject().Key("kname").String(c.kname).Key("fields").BeginArray();
        for (const FieldChange& f : c.changes) {
          w.BeginObject().Key("field").String(f.field).Key("before");
          WriteValue(w, f.before);
          w.Key("after");
          WriteValue(w, f.after);
          w.EndObject();
        }
        w.EndArray().EndObject();
      }
      Line(w.EndArray().EndObject());
      return;
    }
    std::string cause = resync ? fmt::format("{} resync", source)
                               : fmt::format("{} seqnum {}", source, seqnum.value_or(0));
    std::vector<std::string> parts;
    if (resync) parts.push_back(fmt::format("{} devices", inv.size()));
    auto list = [&](const char* what, const std::vector<std::string>& names) {
      if (!names.empty()) parts.push_back(fmt::format("{} {}", what, fmt::join(names, " ")));
    };
    list("added", d.added);
    list("removed", d.removed);
    std::vector<std::string> changed;
    for (const auto& c : d.changed) changed.push_back(c.kname);
    list("changed", changed);
    if (d.empty()) parts.push_back("no change");
    out_ += fmt::format("inventory after {}: {}\n", cause, fmt::join(parts, "; "));
    for (const auto& c : d.changed) {
      for (const FieldChange& f : c.changes) {
        if (std::holds_alternative<std::monostate>(f.before)) {
          out_ += fmt::format("  {} +{}: {}\n", c.kname, f.field,
                              Printable(FieldValueToString(f.after)));
        } else if (std::holds_alternative<std::monostate>(f.after)) {
          out_ += fmt::format("  {} -{}: {}\n", c.kname, f.field,
                              Printable(FieldValueToString(f.before)));
        } else {
          out_ += fmt::format("  {} {}: {} -> {}\n", c.kname, f.field,
                              Printable(FieldValueToString(f.before)),
                              Printable(FieldValueToString(f.after)));
        }
      }
    }
  }

  void SelfCheck(const SelfCheckReport& r,
                 const std::vector<std::unique_ptr<UeventSource>>& sources) {
    if (json_) {
      JsonWriter w;
      w.BeginObject().Key("type").String("selftest").Key("device").String(r.device);
      w.Key("uuid").String(r.uuid).Key("round_trip_us").BeginObject();
      for (size_t i = 0; i < sources.size(); ++i) {
        w.Key(sources[i]->name()).Uint(static_cast<uint64_t>(r.round_trip[i].count()));
      }
      Line(w.EndObject().EndObject());
      return;
    }
    std::vector<std::string> trips;
    for (size_t i = 0; i < sources.size(); ++i) {
      trips.push_back(fmt::format("{} {} us", sources[i]->name(), r.round_trip[i].count()));
    }
    out_ += fmt::format("selftest passed: {} SYNTH_UUID={} round trip: {}\n", r.device, r.uuid,
                        fmt::join(trips, ", "));
  }

  void Stats(const std::vector<std::unique_ptr<UeventSource>>& sources, const LiveInventory* live) {
    if (json_) {
      JsonWriter w;
      w.BeginObject().Key("type").String("stats").Key("sources").BeginObject();
      for (const auto& s : sources) {
        const UeventSourceStats& st = s->stats();
        w.Key(s->name()).BeginObject();
        w.Key("datagrams").Uint(st.datagrams).Key("accepted").Uint(st.accepted);
        w.Key("filtered").Uint(st.filtered).Key("rejected").Uint(st.rejected.total());
        w.Key("rejected_by_reason").BeginObject();
        for (size_t i = 1; i < kUeventRejectCount; ++i) {
          auto reason = static_cast<UeventReject>(i);
          if (st.rejected.count(reason)) w.Key(ToString(reason)).Uint(st.rejected.count(reason));
        }
        w.EndObject();
        w.Key("overflows").Uint(st.overflows).Key("seqnum_gaps").Uint(st.seqnum_gaps);
        w.Key("tail_losses").Uint(st.tail_losses).Key("lost").Uint(st.lost);
        w.Key("resyncs").Uint(st.resyncs).EndObject();
      }
      w.EndObject();
      if (live) {
        const LiveInventoryStats& st = live->stats();
        w.Key("inventory").BeginObject().Key("devices").Uint(live->inventory().size());
        w.Key("events").Uint(st.events).Key("probes").Uint(st.probes);
        w.Key("full_walks").Uint(st.full_walks).Key("unchanged").Uint(st.unchanged).EndObject();
      }
      Line(w.EndObject());
      return;
    }
    for (const auto& s : sources) {
      const UeventSourceStats& st = s->stats();
      out_ += fmt::format(
          "stats: {}: datagrams={} accepted={} filtered={} rejected={} overflows={} "
          "seqnum_gaps={} tail_losses={} lost={} resyncs={}",
          s->name(), st.datagrams, st.accepted, st.filtered, st.rejected.total(), st.overflows,
          st.seqnum_gaps, st.tail_losses, st.lost, st.resyncs);
      if (st.rejected.total()) out_ += fmt::format(" ({})", st.rejected.ToString());
      out_ += '\n';
    }
    if (live) {
      const LiveInventoryStats& st = live->stats();
      out_ += fmt::format(
          "stats: inventory: devices={} events={} probes={} full_walks={} "
          "unchanged={}\n",
          live->inventory().size(), st.events, st.probes, st.full_walks, st.unchanged);
    }
  }

  // Writes what was rendered; false when stdout is gone or failing (errno set).
  bool Flush() {
    if (out_.empty()) return true;
    size_t n = std::fwrite(out_.data(), 1, out_.size(), stdout);
    out_.clear();
    return std::fflush(stdout) == 0 && !std::ferror(stdout) && n > 0;
  }

 private:
  void Line(JsonWriter& w) {
    out_ += w.str();
    out_ += '\n';
  }

  bool json_;
  std::string out_;
};

int Fail(const std::string& msg) {
  std::fprintf(stderr, "diskinv monitor: %s\n", msg.c_str());
  return kExitFailure;
}

Result<int> ParseBytes(std::string_view s) {
  Result<uint64_t> v = ParseU64(s);
  if (!v.ok()) return v.status();
  if (*v < 4096 || *v > (1u << 30)) {
    return Status::Invalid(
        fmt::format("--receive-buffer {} is out of range (4096..{})", *v, 1u << 30));
  }
  return static_cast<int>(*v);
}

// Parses the arguments into `o`; returns a usage message when they are wrong.
std::optional<std::string> ParseArgs(std::vector<std::string> args, MonitorOptions& o, bool& help) {
  ArgParser p{std::move(args)};
  std::string err, value;
  bool both = false;
  while (!p.Done()) {
    if (p.Flag("help", 'h')) {
      help = true;
      return std::nullopt;
    }
    if (p.Flag("kernel", 'k')) {
      o.kernel = true;
    } else if (p.Flag("udev", 'u')) {
      o.udev = true;
    } else if (p.Flag("both")) {
      both = true;
    } else if (p.Flag("json", 'J')) {
      o.json = true;
    } else if (p.Flag("inventory", 'i')) {
      o.inventory = true;
    } else if (p.Flag("no-udev")) {
      o.udev_db = false;
    } else if (p.Flag("selftest")) {
      o.selftest = true;
    } else if (p.Flag("all-subsystems", 'a')) {
      o.all = true;
    } else if (p.Option("device", 0, &o.device, &err) || p.Option("sysroot", 0, &o.sysroot, &err)) {
      if (!err.empty()) return err;
    } else if (p.Option("tag", 0, &value, &err)) {
      if (!err.empty()) return err;
      o.tag = value;
    } else if (p.Option("receive-buffer", 0, &value, &err)) {
      if (!err.empty()) return err;
      Result<int> b = ParseBytes(value);
      if (!b.ok()) return "--receive-buffer: " + b.status().message();
      o.receive_buffer = *b;
    } else if (p.Option("timeout", 0, &value, &err)) {
      if (!err.empty()) return err;
      Result<uint64_t> ms = ParseU64(value);
      if (!ms.ok() || *ms == 0 || *ms > 3600000) return "--timeout wants 1..3600000 ms";
      o.timeout = std::chrono::milliseconds(*ms);
    } else if (p.Option("count", 'c', &value, &err)) {
      if (!err.empty()) return err;
      Result<uint64_t> n = ParseU64(value);
      if (!n.ok() || *n == 0) return "--count wants a positive number";
      o.count = *n;
    } else {
      return fmt::format("unknown argument '{}'", p.Current());
    }
  }
  if (int(o.kernel) + int(o.udev) + int(both) > 1) {
    return "--kernel, --udev and --both exclude each other";
  }
  if (both) o.kernel = o.udev = true;
  if (!o.kernel && !o.udev) o.kernel = true;
  if (o.selftest && (o.inventory || o.count)) {
    return "--selftest cannot be combined with --inventory or --count";
  }
  if (o.tag && !o.udev) return "--tag filters the udev source: add --udev or --both";
  if (!o.selftest && (!o.device.empty())) return "--device is for --selftest";
  if (!o.inventory && !o.udev_db) return "--no-udev is for --inventory";
  return std::nullopt;
}

}  // namespace

int MonitorCommand(std::vector<std::string> args) {
  MonitorOptions o;
  bool help = false;
  if (std::optional<std::string> usage = ParseArgs(std::move(args), o, help)) {
    return UsageError("monitor", *usage);
  }
  if (help) {
    std::fputs(kMonitorHelp, stdout);
    return kExitOk;
  }
  auto log = Logger("monitor");
  // SIGINT/SIGTERM arrive on a signalfd in the poll loop; a closed stdout is a write error.
  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGINT);
  sigaddset(&mask, SIGTERM);
  sigprocmask(SIG_BLOCK, &mask, nullptr);
  int sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
  if (sfd < 0) return Fail(Status::FromErrno(errno, "signalfd").message());
  signal(SIGPIPE, SIG_IGN);

  std::vector<std::unique_ptr<UeventSource>> sources;
  if (o.kernel) {
    NetlinkSocketOptions nl;
    nl.receive_buffer_bytes = o.receive_buffer;
    if (!o.all) nl.subsystems = {"block"};
    nl.sysroot = o.sysroot;
    Result<std::unique_ptr<NetlinkSocket>> s = NetlinkSocket::Open(nl);
    if (!s.ok()) return Fail("cannot listen to kernel uevents: " + s.status().message());
    log->info("kernel uevent socket: receive buffer {} bytes{}", (*s)->receive_buffer_bytes(),
              (*s)->receive_buffer_forced() ? "" : " (not forced: no CAP_NET_ADMIN)");
    sources.push_back(std::move(s).value());
  }
  if (o.udev) {
    UdevMonitorOptions um;
    um.subsystem = o.all ? "" : "block";
    um.tag = o.tag;
    um.receive_buffer_bytes = o.receive_buffer;
    Result<std::unique_ptr<UdevMonitor>> m = UdevMonitor::Open(um);
    if (!m.ok()) return Fail("cannot listen to udev events: " + m.status().message());
    sources.push_back(std::move(m).value());
  }
  Printer out(o.json);
  auto flush = [&]() -> std::optional<int> {
    if (out.Flush()) return std::nullopt;
    if (errno == EPIPE) return kExitOk;  // the reader went away (| head): done
    return Fail(Status::FromErrno(errno, "cannot write to stdout").message());
  };

  if (o.selftest) {
    std::vector<UeventSource*> raw;
    for (auto& s : sources) raw.push_back(s.get());
    auto sink = [&](size_t i, SourceEvent e) {
      if (const auto* u = std::get_if<Uevent>(&e)) {
        out.Event(sources[i]->name(), *u);
      } else {
        out.SourceResync(sources[i]->name(), std::get<Resync>(e));
      }
    };
    SelfCheckOptions sc;
    sc.sysroot = o.sysroot;
    sc.device = o.device;
    sc.timeout = o.timeout;
    Result<SelfCheckReport> r = RunSelfCheck(raw, sc, sink);
    if (r.ok()) out.SelfCheck(*r, sources);
    if (std::optional<int> rc = flush()) return *rc;
    return r.ok() ? kExitOk : Fail(r.status().message());
  }

  std::unique_ptr<RealSysfsReader> reader;
  std::unique_ptr<Walker> walker;
  std::unique_ptr<LiveInventory> live;
  if (o.inventory) {
    Result<std::unique_ptr<RealSysfsReader>> r = RealSysfsReader::Open(o.sysroot);
    if (!r.ok()) return Fail(r.status().message());
    reader = std::move(r).value();
    walker = std::make_unique<Walker>(*reader, WalkOptions{.all = false, .udev = o.udev_db});
    live = std::make_unique<LiveInventory>(*walker, LiveInventory::Options{.keep_devices = true});
    live->Resync();
    if (live->inventory().stats().walk_errors > 0) {
      return Fail(fmt::format("cannot walk {}: {}", o.sysroot,
                              fmt::join(live->inventory().stats().messages, "; ")));
    }
  }
  out.Listening(sources, live.get());
  if (std::optional<int> rc = flush()) return *rc;

  uint64_t events = 0;
  auto handle = [&](const UeventSource& src, const SourceEvent& e) {
    if (const auto* u = std::get_if<Uevent>(&e)) {
      if (o.count && events >= o.count) return;  // CheckIdle may bring more than asked for
      ++events;
      out.Event(src.name(), *u);
      if (live && u->subsystem == "block") {
        InventoryDiff d = live->Apply(*u);
        out.InventoryChange(src.name(), u->seqnum, nullptr, d, live->inventory());
      }
    } else {
      const Resync& r = std::get<Resync>(e);
      log->warn("{} source: resync ({}): {}", src.name(), ToString(r.reason), r.detail);
      out.SourceResync(src.name(), r);
      if (live) {
        InventoryDiff d = live->Resync();
        out.InventoryChange(src.name(), std::nullopt, &r, d, live->inventory());
      }
    }
  };

  // After activity, a quiet moment lets the sources look for losses that left no trace.
  constexpr auto kIdleCheck = std::chrono::milliseconds(100);
  bool active = false;
  Clock::time_point last_activity{};
  while (o.count == 0 || events < o.count) {
    std::vector<pollfd> fds;
    for (const auto& s : sources) fds.push_back({s->fd(), POLLIN, 0});
    fds.push_back({sfd, POLLIN, 0});
    int timeout = -1;
    if (active) {
      auto left =
          std::chrono::ceil<std::chrono::milliseconds>(last_activity + kIdleCheck - Clock::now());
      timeout = static_cast<int>(std::max<int64_t>(left.count(), 0));
    }
    if (poll(fds.data(), fds.size(), timeout) < 0 && errno != EINTR) {
      return Fail(Status::FromErrno(errno, "poll").message());
    }
    if (fds.back().revents & POLLIN) {
      signalfd_siginfo si;
      if (read(sfd, &si, sizeof si) == sizeof si) {
        log->info("signal {}: stopping", si.ssi_signo);
      }
      break;
    }
    bool any = false;
    for (size_t i = 0; i < sources.size() && (o.count == 0 || events < o.count); ++i) {
      if (!(fds[i].revents & (POLLIN | POLLERR))) continue;
      any = true;
      // Read in small batches so --count stops exactly and output is not held back.
      Result<std::vector<SourceEvent>> got = sources[i]->Receive(o.count ? 1 : 256);
      if (!got.ok()) {
        return Fail(fmt::format("{} source: {}", sources[i]->name(), got.status().message()));
      }
      for (const SourceEvent& e : *got) handle(*sources[i], e);
    }
    if (any) {
      active = true;
      last_activity = Clock::now();
    } else if (active && Clock::now() >= last_activity + kIdleCheck) {
      active = false;
      for (auto& s : sources) {
        Result<std::vector<SourceEvent>> got = s->CheckIdle();
        if (!got.ok()) return Fail(fmt::format("{} source: {}", s->name(), got.status().message()));
        for (const SourceEvent& e : *got) handle(*s, e);
      }
    }
    if (std::optional<int> rc = flush()) return *rc;
  }
  out.Stats(sources, live.get());
  if (std::optional<int> rc = flush()) return *rc;
  close(sfd);
  return kExitOk;
}

}  // namespace diskinv
