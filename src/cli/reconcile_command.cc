// diskinv reconcile: the controller of pools and queue tuning (docs/reconcile.md).
#include <cstdio>
#include <thread>

#include <fmt/format.h>

#include "cdc/cdc_app.h"
#include "cdc/cdc_consumer.h"
#include "cli/cli.h"
#include "cli/command_support.h"
#include "common/logging.h"
#include "reconcile/reconciler.h"
#include "store/migrations.h"

namespace diskinv {
namespace {

constexpr const char* kReconcileHelp = R"(Usage: diskinv reconcile [OPTIONS]

The controller: keeps pool claims and desired queue tuning equal to what the pool policies and
tuning profiles say, for every disk. It first reconciles every disk ("list"), then follows the
disk tables' change stream (CDC slot diskinv_reconcile, created by `diskinv cdc slots sync`)
and reconciles each disk a change touches, from the disk's current rows. It also releases
claims of disks removed longer than their pool's grace period, and re-checks every disk each
--resync-interval.

Options:
      --once                 reconcile every disk once (and release what is due), then exit;
                             no CDC
      --no-list              do not reconcile every disk before following the stream
      --resync-interval SEC  full pass period (default 600; 0 = never)
      --batch N              disks per reconcile batch (default 2000)
      --due-interval SEC     how often to release claims of disks removed past their pool's
                             grace period (default 10)
      --database-url URL     default $DISKINV_DATABASE_URL, else the libpq defaults
  -h, --help                 show this help

Stops cleanly on SIGINT/SIGTERM (acknowledging what it handled).

Exit status: 0 success or stopped by a signal; 1 failure; 2 usage error; 4 the slot is missing
or invalidated (alarm raised: run `diskinv cdc slots sync` and `diskinv cdc replay`); 5 another
consumer is streaming from the slot; 6 the stream could not be decoded (alarm raised).
)";

void PrintStats(const Reconciler& r, const char* prefix) {
  const auto& s = r.stats();
  std::printf("%s%llu disks checked, %llu claimed, %llu released, %llu tuning written, %llu "
              "tuning removed, %llu etag races\n",
              prefix, static_cast<unsigned long long>(s.disks.load()),
              static_cast<unsigned long long>(s.claims.load()),
              static_cast<unsigned long long>(s.releases.load()),
              static_cast<unsigned long long>(s.tuning_writes.load()),
              static_cast<unsigned long long>(s.tuning_deletes.load()),
              static_cast<unsigned long long>(s.lost_races.load()));
}

}  // namespace

int ReconcileCommand(std::vector<std::string> args) {
  ArgParser p{std::move(args)};
  std::string url = DefaultDatabaseUrl(), err;
  bool once = false, list = true;
  uint64_t resync = 600, batch = 2000, due = 10;
  while (!p.Done()) {
    if (p.Flag("help", 'h')) {
      std::fputs(kReconcileHelp, stdout);
      return kExitOk;
    }
    if (p.Flag("once")) {
      once = true;
    } else if (p.Flag("no-list")) {
      list = false;
    } else if (DatabaseUrlOption(p, &url, &err) || NumberOption(p, "resync-interval", &resync, &err) ||
               NumberOption(p, "batch", &batch, &err) ||
               NumberOption(p, "due-interval", &due, &err)) {
      if (!err.empty()) return UsageError("reconcile", err);
    } else {
      return UsageError("reconcile", fmt::format("unknown argument '{}'", p.Current()));
    }
  }
  auto conn = PgConnection::Connect(url);
  if (!conn.ok()) {
    std::fprintf(stderr, "diskinv reconcile: %s\n", conn.status().message().c_str());
    return kExitFailure;
  }
  auto schema = GetSchemaStatus(**conn);
  if (!schema.ok() || schema->current < LatestSchemaVersion()) {
    std::fprintf(stderr, "diskinv reconcile: %s\n",
                 schema.ok() ? "the schema is not up to date: run `diskinv db migrate`"
                             : schema.status().message().c_str());
    return kExitFailure;
  }
  ReconcilerOptions ro;
  ro.batch_disks = batch;
  Reconciler rec(ro);
  const std::atomic<bool>& sig = StopOnSignals();
  if (list || once) {
    if (Status s = rec.ReconcileAll(**conn, /*own_transactions=*/true); !s.ok()) {
      std::fprintf(stderr, "diskinv reconcile: %s\n", s.message().c_str());
      return kExitFailure;
    }
  }
  if (Status s = rec.ReleaseDue(**conn); !s.ok()) {
    std::fprintf(stderr, "diskinv reconcile: %s\n", s.message().c_str());
    return kExitFailure;
  }
  if (once) {
    PrintStats(rec, "");
    for (const auto& n : rec.TakeNotes()) std::printf("note: %s\n", n.c_str());
    return kExitOk;
  }
  auto app = FindCdcApp("reconcile");
  ConsumerOptions o;
  o.url = url;
  o.app = app->name;
  o.slot = app->slot;
  o.publications = {app->publication};
  CdcConsumer consumer(o, &rec);
  std::atomic<bool> stop{false};
  Status result;
  std::atomic<bool> finished{false};
  std::thread stream([&] {
    result = consumer.Run(stop);
    finished.store(true);
  });
  using Clock = std::chrono::steady_clock;
  auto next_full = Clock::now() + std::chrono::seconds(resync);
  auto next_due = Clock::now() + std::chrono::seconds(due);
  Status loop_error;
  while (!finished.load() && !sig.load()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    auto now = Clock::now();
    if (resync > 0 && now >= next_full) {
      if (Status s = rec.ReconcileAll(**conn, true); !s.ok()) {
        Logger("reconcile")->warn("periodic full pass: {}", s.message());
        (void)(*conn)->EnsureConnected();
      }
      next_full = now + std::chrono::seconds(resync);
    }
    if (now >= next_due) {
      if (Status s = rec.ReleaseDue(**conn); !s.ok()) {
        Logger("reconcile")->warn("release of removed disks: {}", s.message());
        (void)(*conn)->EnsureConnected();
      }
      next_due = now + std::chrono::seconds(due);
    }
  }
  stop.store(true);
  stream.join();
  PrintStats(rec, "reconcile: ");
  return ConsumerExitCode("reconcile", result);
}

}  // namespace diskinv
