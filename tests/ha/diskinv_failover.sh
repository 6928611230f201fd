#!/usr/bin/env bash
# diskinv under a crash of the database leader (issue 8): NODES agents (each a synthetic
# --sysroot tree from diskinv-mktree, its own per-node role through PgBouncer with TLS) and the
# reconciler (its controller role, straight to the read-write member) run while a storm script
# resizes, removes and re-adds disks in the trees; the Patroni leader is killed (kill -9) in the
# middle of the storm. Then the storm stops and the test checks:
#   - every node's present disk rows equal a fresh walk of its tree (kname, size): nothing lost;
#   - every disk row (present or tombstone) is claimed exactly once (one disk_claim, generation
#     1, no claim history) and its desired tuning was written once (desired_generation 1):
#     redelivered events were absorbed;
#   - the reconciler's persisted position moved on the new leader.
# Prints the time to recover: promotion, every agent writing again, the consumer resuming, and
# the tables equal to the walks after the storm stopped.
#
#   tests/ha/diskinv_failover.sh [--keep]   env: NODES (3), DISKS (20 per node), STORM_S (25)
# Exit 0 when everything matched; 1 otherwise; 77 skipped (outside CI, cannot run here).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${DISKINV_BINARY:-$root/build/src/cli/diskinv}
MKTREE=${DISKINV_MKTREE:-$root/build/tests/support/diskinv-mktree}
NODES=${NODES:-3}
DISKS=${DISKS:-20}
STORM_S=${STORM_S:-25}
export HA_DIR=${HA_DIR:-/tmp/diskinv-ha-fo}
export HA_PORT_BASE=${HA_PORT_BASE:-26200}
export HA_POOL_MODE=session  # the store prepares statements and sets statement_timeout (docs/ha.md)
export HA_SETUP="'$BIN' db migrate && '$BIN' cdc slots sync"
keep=0; [ "${1:-}" = --keep ] && keep=1
. "$(dirname "$0")/lib.sh"
[ -x "$BIN" ] && [ -x "$MKTREE" ] || { echo "build first: $BIN, $MKTREE" >&2; exit 1; }
ha_begin diskinv-fo
sql() { "$ha" psql -At -c "$1" 2>>"$work/sql.err"; }

"$ha" add-role reconciler "REPLICATION IN ROLE diskinv_controller"
for k in $(seq 1 "$NODES"); do
  "$MKTREE" --out "$work/node$k" --disks "$DISKS" --partitions 0 --seed "$k" --quiet
  "$ha" add-node "node_$k" "machine$k"
done
PRIMARY_AS=${HA_PRIMARY_URL/diskinv_owner@/reconciler@}
DISKINV_DATABASE_URL=$HA_PRIMARY_URL "$BIN" pool create main --grace '1 day' >/dev/null
DISKINV_DATABASE_URL=$HA_PRIMARY_URL "$BIN" pool policy add all --pool main >/dev/null
DISKINV_DATABASE_URL=$HA_PRIMARY_URL "$BIN" tune profile add deep --set nr_requests=64 >/dev/null

# The reconciler as a service would run (systemd Restart=always): restarted when it exits.
(
  while [ ! -e "$work/stop" ]; do
    echo "$(now) start" >>"$work/reconcile.runs"
    "$BIN" reconcile --database-url "$PRIMARY_AS" --resync-interval 0 >>"$work/reconcile.log" 2>&1 &&
      rc=0 || rc=$?
    echo "$(now) exit $rc" >>"$work/reconcile.runs"
    sleep 0.5
  done
) & pids+=($!)
for k in $(seq 1 "$NODES"); do
  DISKINV_MACHINE_ID=machine$k DISKINV_HOSTNAME=node$k DISKINV_RESYNC_INTERVAL=1s \
    DISKINV_RECONNECT_MAX=2s "$BIN" agent --sysroot "$work/node$k" --database-url \
    "postgresql://node_$k@localhost:$HA_BOUNCER_PORT/diskinv?sslmode=verify-full&sslrootcert=$HA_CA" \
    >"$work/agent$k.log" 2>&1 &
  pids+=($!)
done

total=$((NODES * DISKS))
wait_until() {  # wait_until SECONDS SQL EXPECTED
  local deadline=$(($(date +%s) + $1))
  until [ "$(sql "$2")" = "$3" ]; do
    [ "$(date +%s)" -lt "$deadline" ] || return 1
    sleep 0.3
  done
}
t0=$(now)
wait_until 120 "SELECT count(*) FROM diskinv.disk WHERE state = 'present'" "$total" ||
  { say "initial load incomplete: $(sql "SELECT count(*) FROM diskinv.disk")/$total"; exit 1; }
wait_until 120 "SELECT count(*) FROM diskinv.disk_claim" "$total" ||
  { say "initial claims incomplete: $(sql "SELECT count(*) FROM diskinv.disk_claim")/$total"; exit 1; }
say "initial_converge_s=$(since "$t0") nodes=$NODES disks=$total"

# The storm: per node, random resizes (atomic file replace), removals (the sys/block link moved
# away) and re-additions, ~10 changes/s per node.
storm() {
  local k=$1 tree=$work/node$1 n=0 d op
  mkdir -p "$work/stash$k"
  while [ ! -e "$work/stop-storm" ]; do
    n=$((n + 1))
    op=$((RANDOM % 4))
    if [ $op -eq 0 ] && [ -n "$(ls "$work/stash$k")" ]; then
      d=$(ls "$work/stash$k" | shuf -n 1)
      mv "$work/stash$k/$d" "$tree/sys/block/$d"
    elif [ $op -eq 1 ] && [ "$(ls "$tree/sys/block" | wc -l)" -gt 2 ]; then
      d=$(ls "$tree/sys/block" | shuf -n 1)
      mv "$tree/sys/block/$d" "$work/stash$k/$d"
    else
      d=$(ls "$tree/sys/block" | shuf -n 1)
      f=$(readlink -f "$tree/sys/block/$d")/size
      echo $(((RANDOM + 1) * 2048)) >"$f.new" && mv "$f.new" "$f"
    fi
    sleep 0.1
  done
  echo "$n" >"$work/storm$k.count"
}
for k in $(seq 1 "$NODES"); do storm "$k" & pids+=($!); done
sleep 5
cons_before=$(sql "SELECT confirmed_lsn FROM diskinv.cdc_consumer WHERE app = 'reconcile'")
# Patroni (synchronous_mode) promotes only the member named in /sync: wait until the replica is
# that again (it loses it while restarting to load the copied slot) with the storm in flight.
t_ready=$(now)
"$ha" wait-failover-ready 120
say "waited_for_sync_standby_s=$(since "$t_ready")"
t_kill=$(now)
"$ha" kill-leader --now >"$work/kill.log"
say "$(grep promoted_after_s "$work/kill.log")"
# Recovery: every node's agent has written (last_full_scan after the kill) and the consumer's
# persisted position has moved on the new leader.
agents_s="" consumer_s=""
for _ in $(seq 1 900); do
  if [ -z "$agents_s" ] && [ "$(sql "SELECT count(*) FROM diskinv.node WHERE last_full_scan > to_timestamp($t_kill)")" = "$NODES" ]; then
    agents_s=$(since "$t_kill")
  fi
  if [ -z "$consumer_s" ]; then
    c=$(sql "SELECT confirmed_lsn FROM diskinv.cdc_consumer WHERE app = 'reconcile'" || true)
    [ -n "$c" ] && [ "$c" != "$cons_before" ] &&
      [ "$(sql "SELECT '$c'::pg_lsn > pg_last_wal_receive_lsn() IS NOT FALSE")" = t ] && consumer_s=$(since "$t_kill")
  fi
  [ -n "$agents_s" ] && [ -n "$consumer_s" ] && break
  sleep 0.2
done
say "agents_writing_again_after_s=${agents_s:-never}"
say "consumer_resumed_after_s=${consumer_s:-never}"
rest=$((STORM_S - 5 - ${agents_s%.*}))
[ "$rest" -gt 0 ] && sleep "$rest"
touch "$work/stop-storm"
t_stop=$(now)
sleep 0.5
say "storm_changes=$(cat "$work"/storm*.count 2>/dev/null | awk '{ s += $1 } END { print s + 0 }')"

# Convergence: the tables equal a fresh walk of every tree.
walks() {
  local k
  for k in $(seq 1 "$NODES"); do
    "$BIN" scan --sysroot "$work/node$k" --json | /usr/bin/python3 -c '
import json, sys
for d in json.load(sys.stdin)["blockdevices"]:
    if d.get("type") != "part": print(sys.argv[1], d["kname"], d["size"])' "node$k"
  done | sort
}
rows() {
  sql "SELECT n.hostname, d.kname, d.size_bytes FROM diskinv.disk d JOIN diskinv.node n ON n.id = d.node_id WHERE d.state = 'present'" |
    tr '|' ' ' | sort
}
walks >"$work/walks"
converged=""
for _ in $(seq 1 300); do
  rows >"$work/rows"
  if cmp -s "$work/walks" "$work/rows"; then converged=$(since "$t_stop"); break; fi
  sleep 0.3
done
say "tables_equal_walks_after_storm_s=${converged:-never} ($(wc -l <"$work/walks") present disks)"
[ -n "$converged" ] || diff "$work/walks" "$work/rows" | head -20 | tee -a "$work/result"
# Claims and tuning: let the reconciler finish what it has, then check "exactly once".
wait_until 60 "SELECT count(*) FROM diskinv.disk d WHERE NOT EXISTS (SELECT 1 FROM diskinv.disk_claim c WHERE c.disk_id = d.id)" 0 || true
all=$(sql "SELECT count(*) FROM diskinv.disk")
claims=$(sql "SELECT count(*) FROM diskinv.disk_claim")
reclaimed=$(sql "SELECT count(*) FROM diskinv.disk_claim WHERE generation <> 1")
history=$(sql "SELECT count(*) FROM diskinv.disk_claim_history")
tuning=$(sql "SELECT count(*) FROM diskinv.disk_tuning")
retuned=$(sql "SELECT count(*) FROM diskinv.disk_tuning WHERE desired_generation <> 1")
say "disk_rows=$all claims=$claims claims_rewritten=$reclaimed claim_history=$history"
say "tuning_rows=$tuning desired_rewritten=$retuned"
say "reconciler_runs=$(grep -c start "$work/reconcile.runs") agent_errors=$(cat "$work"/agent*.log | grep -ci error || true)"
grep -h "now targets" "$HA_DIR/watcher.log" | tail -1 | sed 's/^/watcher: /' | tee -a "$work/result"
# No secret in any log: the passwords of every role this test used.
leaks=0
while IFS=: read -r _ _ _ _ pw; do
  grep -rqF "$pw" "$work"/*.log "$HA_DIR"/pg1/patroni.log "$HA_DIR"/pg2/patroni.log \
    "$HA_DIR"/pgbouncer/pgbouncer.log "$HA_DIR"/watcher.log 2>/dev/null && leaks=$((leaks + 1))
done <"$HA_DIR/pgpass"
say "secrets_in_logs=$leaks"
ok=1
[ -n "$converged" ] || ok=0
[ "$claims" = "$all" ] && [ "$reclaimed" = 0 ] && [ "$history" = 0 ] || ok=0
[ "$retuned" = 0 ] && [ "$tuning" = "$all" ] || ok=0
[ -n "$agents_s" ] && [ -n "$consumer_s" ] && [ "$leaks" = 0 ] || ok=0
[ $ok = 1 ] && { say "PASS"; exit 0; }
say "FAIL (logs in $work with --keep)"
exit 1
