#include "cdc/cdc_consumer.h"

#include <fmt/format.h>
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <cstdlib>
#include <deque>
#include <mutex>
#include <thread>

#include "cdc/consumer_state.h"
#include "cdc/replication_connection.h"
#include "cdc/replication_message.h"
#include "common/backoff.h"
#include "common/logging.h"

namespace diskinv {

namespace {

using Clock = std::chrono::steady_clock;

void AtomicMax(std::atomic<uint64_t>& a, uint64_t v) {
  uint64_t cur = a.load(std::memory_order_relaxed);
  while (cur < v && !a.compare_exchange_weak(cur, v, std::memory_order_relaxed)) {
  }
}

struct FaultConfig {
  bool set = false;
  FaultPoint point = FaultPoint::kBeforeCommit;
  int nth = 1;
  std::atomic<int> seen{0};
};

FaultConfig& Fault() {
  static FaultConfig f;
  static std::once_flag once;
  std::call_once(once, [] {
    const char* env = std::getenv("DISKINV_CDC_FAULT");
    if (env == nullptr || *env == '\0') return;
    std::string v = env;
    size_t colon = v.find(':');
    std::string name = v.substr(0, colon);
    if (colon != std::string::npos) f.nth = std::max(1, std::atoi(v.c_str() + colon + 1));
    if (name == "kill-before-commit" || name == "kill-after-commit") {
      f.set = true;
      f.point = name == "kill-before-commit" ? FaultPoint::kBeforeCommit : FaultPoint::kAfterCommit;
    }
  });
  return f;
}

// The walsender can send a transaction a few microseconds before the committing backend has
// left the proc array, so a snapshot taken at once may not see it yet. A handler reconciles
// from current rows, so it must see at least what it was told about: wait until every
// transaction of the batch is visible in a fresh snapshot (32-bit xids are widened to xid8
// with the snapshot's epoch: a committed xid is below xmax).
Status WaitVisible(PgConnection& c, const std::vector<const EventGroup*>& groups) {
  PgParams xids;
  for (const EventGroup* g : groups) {
    if (!g->replayed && g->transactional && g->xid != 0) xids.push_back(std::to_string(g->xid));
  }
  if (xids.empty()) return Status::Ok();
  std::string arr = PgArray(xids);
  auto deadline = Clock::now() + std::chrono::seconds(5);
  for (int i = 0;; ++i) {
    auto r = c.ExecPrepared(
        "cdc_xids_visible",
        "WITH s AS (SELECT pg_current_snapshot() AS snap, "
        "pg_snapshot_xmax(pg_current_snapshot())::text::bigint AS xmax) SELECT "
        "bool_and(pg_visible_in_snapshot((((s.xmax >> 32) - CASE WHEN x > (s.xmax & 4294967295) "
        "THEN 1 ELSE 0 END) << 32 | x)::text::xid8, s.snap)) FROM s, unnest($1::bigint[]) AS x",
        {arr});
    if (!r.ok()) return r.status();
    if (r->Str(0, 0) == "t") return Status::Ok();
    if (Clock::now() > deadline) {
      Logger("cdc")->warn("transactions up to xid {} still not visible after 5 s; handling anyway",
                          groups.back()->xid);
      return Status::Ok();
    }
    std::this_thread::sleep_for(std::chrono::microseconds(i < 10 ? 100 : 2000));
  }
}

}  // namespace

bool FaultInjected(FaultPoint p) {
  FaultConfig& f = Fault();
  if (!f.set || f.point != p) return false;
  return ++f.seen == f.nth;
}

struct CdcConsumer::Session {
  struct Queued {
    std::unique_ptr<EventGroup> group;
    size_t bytes = 0;
  };

  std::unique_ptr<ReplicationConnection> repl;
  std::unique_ptr<PgConnection> sink;
  std::mutex mu;
  std::condition_variable cv;
  std::deque<Queued> queue;
  size_t queue_bytes = 0;
  uint64_t inflight = 0;  // groups queued or being handled
  bool stopping = false;
  bool handler_waiting = false;         // the handler thread sleeps on cv
  std::atomic<bool> io_waiting{false};  // the stream thread waits for room in the queue
  int wake_fd = -1;
  std::thread thread;

  ~Session() {
    if (wake_fd >= 0) close(wake_fd);
  }
  void Wake() {
    if (wake_fd < 0) return;
    uint64_t one = 1;
    ssize_t n = write(wake_fd, &one, sizeof(one));
    (void)n;
  }
};

Status CdcConsumer::RaiseFatal(const Status& s) {
  if (opt_.app.empty()) return s;
  AlarmKind kind;
  if (s.code() == ENOENT) {
    kind = AlarmKind::kSlotMissing;
  } else if (s.code() == ESTALE) {
    kind = AlarmKind::kSlotInvalidated;
  } else if (s.code() == EINVAL) {
    kind = AlarmKind::kDecodeError;
  } else {
    return s;
  }
  auto c = PgConnection::Connect(opt_.url);
  if (!c.ok()) {
    Logger("cdc")->error("cannot record the alarm for {}: {}", s.message(), c.status().message());
    return s;
  }
  std::optional<std::string> gap;
  if (auto rec = consumer_state::Load(**c, opt_.app); rec.ok()) gap = rec->last_commit_time;
  std::string msg = s.message();
  if (kind != AlarmKind::kDecodeError) {
    msg += fmt::format(
        "; changes after {} may not be delivered: run `diskinv cdc slots sync` then "
        "`diskinv cdc replay` for the gap",
        gap ? *gap : std::string("the consumer's first transaction"));
  } else {
    (void)consumer_state::RecordError(**c, opt_.app, "decode", s.message());
  }
  if (Status a = consumer_state::RaiseAlarm(**c, opt_.app, kind, msg, gap); !a.ok()) {
    Logger("cdc")->error("cannot record the alarm: {}", a.message());
  }
  return s;
}

Status CdcConsumer::Run(const std::atomic<bool>& stop) {
  auto log = Logger("cdc");
  Backoff backoff({.initial = opt_.retry_initial, .max = opt_.reconnect_max, .jitter = 0.2});
  int failures = 0;
  while (!stop.load()) {
    bool progressed = false;
    Status s = RunSession(stop, &progressed);
    if (s.ok() || stop.load()) return Status::Ok();
    switch (s.code()) {
      case ENOENT:
      case ESTALE:
      case EINVAL:
        return RaiseFatal(s);
      case EBUSY:
      case EPERM:
      case EIO:  // a server error that a reconnect would only repeat
        return s;
      default:
        break;
    }
    if (progressed) {
      backoff.Reset();
      failures = 0;
    }
    ++failures;
    if (opt_.max_reconnects >= 0 && failures > opt_.max_reconnects) return s;
    std::chrono::milliseconds wait = backoff.Next();
    log->warn("{}; reconnecting in {} ms", s.message(), wait.count());
    auto until = Clock::now() + wait;
    while (!stop.load() && Clock::now() < until) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
  return Status::Ok();
}

Status CdcConsumer::RunSession(const std::atomic<bool>& stop, bool* progressed) {
  auto log = Logger("cdc");
  Session s;
  Lsn start = std::max<Lsn>(opt_.start_lsn, stats_.processed_lsn.load());
  if (!opt_.app.empty()) {
    auto sink = PgConnection::Connect(opt_.url);
    if (!sink.ok()) return sink.status();
    s.sink = std::move(*sink);
    // The acknowledgement follows the handler's COMMIT: that COMMIT must be durable first, or
    // a crash could lose an effect whose transaction the slot no longer holds.
    if (auto sc = s.sink->Exec("SET synchronous_commit TO on"); !sc.ok()) return sc.status();
    std::string pubs = opt_.publications.empty() ? "" : opt_.publications.front();
    if (Status e = consumer_state::Ensure(*s.sink, opt_.app, opt_.slot, pubs); !e.ok()) {
      return Status(e.code() == ENOTCONN ? ENOTCONN : EPERM, e.message());
    }
    auto rec = consumer_state::Load(*s.sink, opt_.app);
    if (!rec.ok())
      return Status(rec.status().code() == ENOTCONN ? ENOTCONN : EPERM, rec.status().message());
    start = std::max(start, rec->confirmed_lsn);
  }
  auto repl = ReplicationConnection::Connect(opt_.url);
  if (!repl.ok()) return repl.status();
  s.repl = std::move(*repl);
  if (opt_.temporary_slot) {
    auto created = s.repl->CreateSlot(opt_.slot, /*temporary=*/true);
    if (!created.ok()) return created.status();
    start = std::max(start, created->consistent_point);
  }
  StartReplicationOptions so;
  so.proto_version = opt_.proto_version;
  so.publications = opt_.publications;
  so.binary = opt_.binary;
  so.messages = opt_.messages;
  if (Status st = s.repl->StartReplication(opt_.slot, start, so); !st.ok()) return st;
  ++stats_.sessions;
  log->info("streaming slot {} from {} (publications {})", opt_.slot, FormatLsn(start),
            fmt::join(opt_.publications, ","));

  AssemblerOptions aopt = opt_.assembler;
  aopt.proto_version = opt_.proto_version;
  aopt.skip_before = start;
  TransactionAssembler assembler(aopt, &pool_);
  s.wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (s.wake_fd < 0) return Status::FromErrno(errno, "eventfd");

  const uint64_t txns_at_start = stats_.transactions.load();
  s.thread = std::thread([this, &s] {
    std::vector<Session::Queued> batch;
    std::vector<const EventGroup*> ptrs;
    while (true) {
      {
        std::unique_lock lock(s.mu);
        s.handler_waiting = true;
        s.cv.wait(lock, [&] { return s.stopping || !s.queue.empty(); });
        s.handler_waiting = false;
        if (s.stopping) return;
        size_t n = std::min(s.queue.size(), std::max<size_t>(opt_.max_batch_groups, 1));
        for (size_t i = 0; i < n; ++i) {
          batch.push_back(std::move(s.queue.front()));
          s.queue.pop_front();
        }
      }
      ptrs.clear();
      Lsn end = 0;
      int64_t commit_time = 0;
      uint64_t txns = 0, changes = 0;
      for (const auto& q : batch) {
        ptrs.push_back(q.group.get());
        changes += q.group->changes().size();
        if (q.group->transactional && q.group->last_part && !q.group->replayed) {
          end = q.group->end_lsn;
          commit_time = q.group->commit_time;
          ++txns;
        }
      }
      auto backoff = opt_.retry_initial;
      while (true) {
        Status st;
        if (!s.sink) {
          st = handler_->Handle(ptrs, nullptr);
        } else if (st = s.sink->EnsureConnected();
                   st.ok() && (st = WaitVisible(*s.sink, ptrs)).ok()) {
          if (auto b = s.sink->Exec("BEGIN"); !b.ok()) {
            st = b.status();
          } else {
            st = handler_->Handle(ptrs, s.sink.get());
            if (st.ok() && end != 0) {
              st = consumer_state::SavePosition(*s.sink, opt_.app, end, commit_time, txns, changes);
            }
            if (st.ok()) {
              if (end != 0 && FaultInjected(FaultPoint::kBeforeCommit)) raise(SIGKILL);
              if (auto c = s.sink->Exec("COMMIT"); !c.ok()) st = c.status();
              if (st.ok() && end != 0 && FaultInjected(FaultPoint::kAfterCommit)) raise(SIGKILL);
            } else {
              (void)s.sink->Exec("ROLLBACK");
            }
          }
        }
        if (st.ok()) break;
        ++stats_.handler_errors;
        Logger("cdc")->warn("handler failed on {} group(s) up to xid {} (retrying in {} ms): {}",
                            ptrs.size(), ptrs.back()->xid, backoff.count(), st.message());
        if (s.sink && s.sink->connected()) {
          (void)consumer_state::RecordError(*s.sink, opt_.app, "handler", st.message());
        }
        std::unique_lock lock(s.mu);
        if (s.cv.wait_for(lock, backoff, [&] { return s.stopping; })) return;
        backoff = std::min(backoff * 2, opt_.retry_max);
      }
      if (end != 0) {
        AtomicMax(stats_.processed_lsn, end);
        stats_.last_commit_time.store(commit_time);
      }
      stats_.transactions += txns;
      stats_.changes += changes;
      stats_.groups += batch.size();
      size_t bytes = 0;
      for (auto& q : batch) {
        bytes += q.bytes;
        pool_.Release(std::move(q.group));
      }
      {
        std::lock_guard lock(s.mu);
        s.inflight -= batch.size();
        s.queue_bytes -= bytes;
        stats_.queue_bytes.store(s.queue_bytes);
      }
      batch.clear();
      // The stream thread polls with a short timeout anyway (acks go out within ack_delay);
      // wake it early only when it stopped reading for want of room.
      if (s.io_waiting.load()) s.Wake();
    }
  });

  auto stop_handler = [&] {
    {
      std::lock_guard lock(s.mu);
      s.stopping = true;
    }
    s.cv.notify_all();
    if (s.thread.joinable()) s.thread.join();
    for (auto& q : s.queue) pool_.Release(std::move(q.group));
    s.queue.clear();
  };

  // Groups decoded during one read burst are handed over together: one lock and at most one
  // wake-up per burst instead of per transaction (a futex wake and a context switch cost more
  // than decoding a single-row transaction).
  std::vector<Session::Queued> pending;
  size_t pending_bytes = 0;
  Clock::time_point pending_since;  // when the oldest pending group was decoded
  constexpr auto kHandOverDelay = std::chrono::milliseconds(2);
  constexpr int kBusyBurst = 16;  // frames read in one go
  constexpr auto kBusyPause = std::chrono::microseconds(250);
  auto flush_pending = [&] {
    if (pending.empty()) return;
    bool notify;
    {
      std::lock_guard lock(s.mu);
      for (auto& q : pending) s.queue.push_back(std::move(q));
      s.queue_bytes += pending_bytes;
      s.inflight += pending.size();
      notify = s.handler_waiting;
      stats_.queue_bytes.store(s.queue_bytes);
      AtomicMax(stats_.queue_bytes_peak, s.queue_bytes);
    }
    pending.clear();
    pending_bytes = 0;
    pending_since = Clock::time_point();
    if (notify) s.cv.notify_one();
  };
  auto emit = [&](std::unique_ptr<EventGroup> g) -> Status {
    size_t bytes = g->MemoryBytes();
    pending.push_back({std::move(g), bytes});
    pending_bytes += bytes;
    if (pending.size() >= 64 || pending_bytes >= (1u << 20)) flush_pending();
    return Status::Ok();
  };

  Status result;
  Lsn flush_sent = 0;
  Lsn keepalive_end = 0;
  bool reply_pending = false;
  bool output_pending = false;
  auto last_sent = Clock::now() - std::chrono::hours(1);
  std::string_view frame;
  while (true) {
    if (stop.load()) break;
    auto has_room = [&] {
      std::lock_guard lock(s.mu);
      return s.queue_bytes + pending_bytes < opt_.max_queue_bytes;
    };
    bool room = has_room();
    bool got_data = false;
    int burst = 0;
    // 1. Read what is there, while the queue has room.
    while (room) {
      auto r = s.repl->ReadFrame(&frame);
      if (!r.ok()) {
        result = r.status();
        break;
      }
      if (*r == ReplicationConnection::ReadState::kWouldBlock) break;
      got_data = true;
      ++burst;
      ++stats_.frames;
      auto f = ParseServerFrame(frame);
      if (!f.ok()) {
        ++stats_.decode_errors;
        result = Status::Invalid(f.status().message());
        break;
      }
      if (f->kind == ServerFrame::kXLogData) {
        AtomicMax(stats_.received_lsn, f->xlog.data_start);
        uint64_t skipped = assembler.stats().skipped_transactions;
        if (Status st = assembler.Feed(f->xlog, emit); !st.ok()) {
          ++stats_.decode_errors;
          result = st;
          break;
        }
        stats_.skipped_transactions += assembler.stats().skipped_transactions - skipped;
        if (pending.empty()) room = has_room();  // (re-checked after each hand-over)
      } else {
        ++stats_.keepalives;
        keepalive_end = std::max(keepalive_end, f->keepalive.wal_end);
        AtomicMax(stats_.received_lsn, f->keepalive.wal_end);
        if (f->keepalive.reply_requested) {
          reply_pending = true;
          ++stats_.replies_requested;
        }
      }
    }
    // Hand the burst over now when it is big or has waited long enough, or when the stream went
    // quiet (nothing more is coming soon); otherwise keep collecting for a moment, so the
    // handler thread wakes once per many transactions rather than per network packet.
    if (!pending.empty()) {
      if (pending_since == Clock::time_point()) pending_since = Clock::now();
      if (!got_data || Clock::now() - pending_since >= kHandOverDelay) flush_pending();
    }
    if (!result.ok()) break;
    // 2. What can be acknowledged: the last handled transaction, or (nothing in flight) the
    // WAL end of the last keepalive.
    Lsn target = std::max<Lsn>(start, stats_.processed_lsn.load());
    if (!assembler.in_transaction() && pending.empty()) {
      std::lock_guard lock(s.mu);
      if (s.inflight == 0) target = std::max(target, keepalive_end);
    }
    // 3. Status update: at once when asked, soon after progress, and at least periodically.
    auto now = Clock::now();
    bool due = reply_pending || (target > flush_sent && now - last_sent >= opt_.ack_delay) ||
               now - last_sent >= opt_.status_interval;
    if (due) {
      Status st = s.repl->SendStatus(stats_.received_lsn.load(), target, target);
      if (!st.ok()) {
        result = st;
        break;
      }
      ++stats_.status_updates;
      flush_sent = target;
      stats_.acked_lsn.store(target);
      last_sent = now;
      reply_pending = false;
    }
    auto fl = s.repl->Flush();
    if (!fl.ok()) {
      result = fl.status();
      break;
    }
    output_pending = !*fl;
    // 4. Wait for the socket, handler progress, or the next status deadline.
    auto wait = std::chrono::milliseconds(100);
    if (!pending.empty()) wait = kHandOverDelay;
    auto since = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - last_sent);
    if (target > flush_sent) {
      wait = std::min(wait, std::max(opt_.ack_delay - since, std::chrono::milliseconds(0)));
    }
    wait = std::min(wait, std::max(opt_.status_interval - since, std::chrono::milliseconds(0)));
    pollfd fds[2] = {{s.repl->socket(), 0, 0}, {s.wake_fd, POLLIN, 0}};
    s.io_waiting = !has_room();
    // A walsender draining a backlog sends one message per write: waking for each would cost
    // a context switch per message. When the last burst was large, let data accumulate for a
    // fraction of a millisecond before reading again (the socket buffer holds far more).
    bool busy = burst >= kBusyBurst && !s.io_waiting;
    if (!s.io_waiting && !busy) fds[0].events |= POLLIN;
    if (output_pending) fds[0].events |= POLLOUT;
    auto pause = std::chrono::duration_cast<std::chrono::nanoseconds>(wait);
    if (busy) pause = std::min<std::chrono::nanoseconds>(pause, kBusyPause);
    timespec ts{static_cast<time_t>(pause.count() / 1000000000),
                static_cast<long>(pause.count() % 1000000000)};
    int n = ppoll(fds, 2, &ts, nullptr);
    if (n < 0 && errno != EINTR) {
      result = Status::FromErrno(errno, "poll");
      break;
    }
    s.io_waiting = false;
    if (n > 0 && (fds[1].revents & POLLIN)) {
      uint64_t v;
      ssize_t r = read(s.wake_fd, &v, sizeof(v));
      (void)r;
    }
  }
  stop_handler();
  *progressed = stats_.transactions.load() > txns_at_start;
  if (result.ok()) {
    // Clean stop: acknowledge everything handled before closing.
    Lsn target = std::max<Lsn>(start, stats_.processed_lsn.load());
    if (s.repl->SendStatus(stats_.received_lsn.load(), target, target).ok()) {
      stats_.acked_lsn.store(target);
      for (int i = 0; i < 50; ++i) {
        auto fl = s.repl->Flush();
        if (!fl.ok() || *fl) break;
        pollfd p{s.repl->socket(), POLLOUT, 0};
        poll(&p, 1, 20);
      }
    }
    log->info("stopped; acknowledged {}", FormatLsn(target));
  }
  return result;
}

}  // namespace diskinv
