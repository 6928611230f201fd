// diskinv reconcile: the controller of pools and queue tuning (docs/reconcile.md).
#include <fmt/format.h>

#include <cstdio>
#include <cstdlib>
#include <thread>

#include "agent/metrics_server.h"
#include "agent/reconcile_metrics.h"
#include "cdc/cdc_app.h"
#include "cdc/cdc_consumer.h"
#include "cdc/slot_manager.h"
#include "cli/cli.h"
#include "cli/command_support.h"
#include "common/logging.h"
#include "common/version.h"
#include "reconcile/reconciler.h"
#include "store/migrations.h"

namespace diskinv {
namespace {

// How often --metrics-listen measures the CDC lag (one query).
constexpr std::chrono::seconds kLagInterval{1};

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
      --metrics-listen HOST:PORT
                             serve Prometheus metrics on http://HOST:PORT/metrics: CDC lag,
                             reconcile and consumer counters (docs/metrics.md); default
                             $DISKINV_RECONCILE_METRICS_LISTEN; unauthenticated: use a loopback
                             address such as 127.0.0.1:9418 unless the port is firewalled
  -h, --help                 show this help

A lost stream (server restart, failover) is reconnected with backoff: from 100 ms, doubling,
at most 2 s (20% jitter below), so a failover is followed within seconds.

Stops cleanly on SIGINT/SIGTERM (acknowledging what it handled).

Exit status: 0 success or stopped by a signal; 1 failure (also: the metrics address cannot be
bound); 2 usage error (also: --metrics-listen is not HOST:PORT); 4 the slot is missing or
invalidated (alarm raised: run `diskinv cdc slots sync` and `diskinv cdc replay`); 5 another
consumer is streaming from the slot; 6 the stream could not be decoded (alarm raised).
)";

void PrintStats(const Reconciler& r, const char* prefix) {
  const auto& s = r.stats();
  std::printf(
      "%s%llu disks checked, %llu claimed, %llu released, %llu tuning written, %llu "
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
  const char* env_listen = std::getenv("DISKINV_RECONCILE_METRICS_LISTEN");
  std::string metrics_listen = env_listen ? env_listen : "";
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
    } else if (DatabaseUrlOption(p, &url, &err) ||
               NumberOption(p, "resync-interval", &resync, &err) ||
               NumberOption(p, "batch", &batch, &err) ||
               NumberOption(p, "due-interval", &due, &err) ||
               p.Option("metrics-listen", 0, &metrics_listen, &err)) {
      if (!err.empty()) return UsageError("reconcile", err);
    } else {
      return UsageError("reconcile", fmt::format("unknown argument '{}'", p.Current()));
    }
  }
  if (!metrics_listen.empty()) {
    std::string host;
    uint16_t port = 0;
    if (Status st = SplitHostPort(metrics_listen, &host, &port); !st.ok()) {
      return UsageError("reconcile", "--metrics-listen: " + st.message());
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
  // The controller as a service says what it does (the slot it streams, reconnects, the
  // periodic pass) like the agent; --once and an explicit level keep the default (warnings).
  if (!once && !LogLevelFromCommandLine()) (void)SetLogLevel("info");
  ReconcilerOptions ro;
  ro.batch_disks = batch;
  Reconciler rec(ro);
  auto app = FindCdcApp("reconcile");
  ConsumerOptions o;
  o.url = url;
  o.app = app->name;
  o.slot = app->slot;
  o.publications = {app->publication};
  CdcConsumer consumer(o, &rec);
  // Metrics: counters are read at scrape time; the lag is measured by the loop below.
  MetricsRegistry registry;
  std::unique_ptr<ReconcileMetrics> metrics;
  std::unique_ptr<MetricsServer> server;
  if (!metrics_listen.empty()) {
    auto m = ReconcileMetrics::Register(&registry, DISKINV_VERSION, &rec.stats(),
                                        once ? nullptr : &consumer.stats());
    if (!m.ok()) {
      std::fprintf(stderr, "diskinv reconcile: metrics: %s\n", m.status().message().c_str());
      return kExitFailure;
    }
    metrics = std::move(*m);
    auto srv = MetricsServer::Start({.listen = metrics_listen}, &registry);
    if (!srv.ok()) {
      std::fprintf(stderr, "diskinv reconcile: --metrics-listen: %s\n",
                   srv.status().message().c_str());
      return kExitFailure;
    }
    server = std::move(*srv);
    Logger("reconcile")->info("metrics on http://{}/metrics", server->address());
  }
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
  auto next_lag = Clock::now();
  // Since when the slot has had no walsender (a plain time point and a flag: GCC 12 warns
  // about std::optional<time_point> here).
  bool down = false;
  Clock::time_point down_since{};
  Status loop_error;
  while (!finished.load() && !sig.load()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    auto now = Clock::now();
    if (metrics && now >= next_lag) {
      next_lag = now + kLagInterval;
      // While streaming: the walsender's flush lag. While not: how long the stream has been
      // down (at least that far behind). A failed query leaves the last values.
      if (auto lag = GetCdcLag(**conn, *app); lag.ok()) {
        double seconds = lag->flush_lag_seconds;
        if (lag->streaming) {
          down = false;
        } else {
          if (!down) down_since = now;
          down = true;
          seconds = std::chrono::duration<double>(now - down_since).count();
        }
        metrics->SetCdcLag(app->slot, std::chrono::duration<double>(seconds), lag->bytes);
      } else {
        (void)(*conn)->EnsureConnected();
      }
    }
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
