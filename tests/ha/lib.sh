# Shared by the tests/ha scripts and bench/fleet; source it after setting HA_DIR and
# HA_PORT_BASE. Skips (exit 77) outside CI when this machine cannot run the environment; starts
# a fresh scripts/ha-env (and its env file), a work directory, and a cleanup that ends the
# background jobs listed in `pids` and, unless --keep was given, stops the environment.
ha_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
ha="$ha_root/scripts/ha-env"
if [ "$(id -u)" -ne 0 ] && ! command -v patroni >/dev/null; then
  [ -n "${CI:-}" ] && { echo "not root and patroni missing" >&2; exit 1; }
  echo "skipped: needs root (or patroni, etcd-server, pgbouncer installed); set CI to fail" >&2
  exit 77
fi
keep=${keep:-0}
pids=()
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
say() { printf '%s\n' "$*" | tee -a "$work/result"; }
ha_cleanup() {
  local p kids
  touch "$work/stop"
  # A background loop's current child (a reconciler, pg_recvlogical) would outlive the loop and
  # keep the inherited test lock open: its children are listed first and ended after it.
  for p in "${pids[@]}"; do
    kids=$(ps -o pid= --ppid "$p" 2>/dev/null || true)
    kill "$p" 2>/dev/null || true
    # shellcheck disable=SC2086
    [ -n "$kids" ] && kill $kids 2>/dev/null || true
  done
  wait 2>/dev/null || true
  if declare -F ha_extra_cleanup >/dev/null; then ha_extra_cleanup; fi
  if [ "$keep" = 0 ]; then "$ha" stop >/dev/null 2>&1 || true; rm -rf "$work"; fi
}
# ha_begin PREFIX: work directory /tmp/PREFIX.XXXXXX, a fresh environment, its env sourced.
ha_begin() {
  work=$(mktemp -d "/tmp/$1.XXXXXX")
  trap ha_cleanup EXIT
  "$ha" stop >/dev/null 2>&1 || true
  "$ha" start >"$work/start.log" 2>&1 || { tail -30 "$work/start.log"; exit 1; }
  . "$HA_DIR/env"
}
