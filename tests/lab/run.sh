# The lab runner. Source it (scripts/lab does, after lib.sh, kernel.sh, initramfs.sh).
#
# A scenario is tests/lab/scenarios/NAME.sh, sourced in a subshell on the host; it defines
#   LAB_KIND         scan (default) or hotplug
#   LAB_DESCRIPTION  one line for --list
#   lab_qemu         prints QEMU device arguments, one per line; may create images in $LAB_RUN
#                    with lab_image NAME SIZE_MB (sparse raw files) or lab_gpt_image
#   LAB_GUEST_VARS   names of the scenario's variables that lab_guest uses too
#   lab_guest        shell code for the guest (busybox ash): sets up what QEMU cannot (scsi_debug,
#                    md, dm, loop); hotplug scenarios also drive their steps from here:
#                    `host_step NAME` asks the host to run `lab_host NAME` (QMP) and waits for it,
#                    `snapshot NAME` records the inventory and the events since the last snapshot
#   lab_host NAME    (hotplug) the host side of step NAME; `qmp COMMAND [JSON-ARGS]` talks to QEMU
#   lab_host_setup, lab_host_teardown   (optional) run on the host before QEMU starts (before
#                    the guest script is written, so it may set LAB_GUEST_VARS' values) and
#                    after it exited, whatever happened (tests/lab/pg.sh: a private PostgreSQL)
#   LAB_INIT         busybox (default): tests/lab/guest-init.sh runs the scenario; systemd:
#                    guest-init execs systemd as PID 1 and a unit runs it (tests/lab/systemd.sh)
#   lab_initrd_extra OUT   (optional) writes a cpio.gz appended to the shared initramfs for this
#                    scenario only (lab_systemd_cpio builds the systemd one)
#   lab_expect       prints expectations (tests/lab/expectations.h) for the final scan; a line
#                    "[NAME]" starts the expectations of snapshot NAME
# After lab_guest the guest always runs `collect`: the final scan, lsblk and the capture.
#
# Per run: $LAB_OUT/NAME/ holds scenario.sh (what the guest ran), console.log, qemu.log, out/
# (diskinv.json, lsblk.json, capture.tar, snap/<step>/, scenario.log, times), compare.txt,
# host-compare.txt, snap-<step>.txt and result.txt (timings and status).
#
# Timings in result.txt: the host wall time of the whole scenario (QEMU start to exit) and the
# guest's uptime when /init started (boot), after the drivers loaded, after udev settled, and
# when the scenario script ended.

. "$DISKINV_LAB_DIR/pg.sh"
. "$DISKINV_LAB_DIR/systemd.sh"

lab_scenarios() {
  local f
  for f in "$DISKINV_LAB_DIR"/scenarios/*.sh; do basename "$f" .sh; done
}

lab_describe() {  # NAME
  (LAB_DESCRIPTION=; LAB_KIND=scan; . "$DISKINV_LAB_DIR/scenarios/$1.sh"; printf '%-18s %-8s %s\n' "$1" "$LAB_KIND" "$LAB_DESCRIPTION")
}

lab_image() {  # NAME SIZE_MB: a sparse raw image in the run directory; prints its path
  truncate -s "${2}M" "$LAB_RUN/$1.img" && echo "$LAB_RUN/$1.img"
}

lab_gpt_image() {  # NAME SIZE_MB: lab_image with a GPT: partitions "one" (16 MiB), "two" (8 MiB)
  local img
  img=$(lab_image "$1" "$2") || return 1
  printf 'label: gpt\nstart=2048, size=32768, name=one\nstart=34816, size=16384, name=two\n' |
    sfdisk -q "$img" >/dev/null && echo "$img"
}

# The guest half every scenario shares: helpers, then the scenario's lab_guest, then collect.
_lab_guest_prelude() {
  cat <<'EOS'
set -u
# A failed wait_for/wait_gone/host_step fails the scenario (the script goes on, to collect).
fail() { echo "FAILED: $*"; echo "$*" >>/lab/out/failed; return 1; }
settle() { if [ -x /bin/udevadm ]; then udevadm settle --timeout=60; else sleep 2; fi; }
# wait_for PATH...: until each path exists (device nodes and sysfs entries appear asynchronously).
wait_for() { local p i; for p in "$@"; do i=0; while [ ! -e "$p" ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done; [ -e "$p" ] || { fail "wait_for: $p did not appear"; return 1; }; done; }
# wait_gone PATH...: until each path is gone.
wait_gone() { local p i; for p in "$@"; do i=0; while [ -e "$p" ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done; [ ! -e "$p" ] || { fail "wait_gone: $p is still there"; return 1; }; done; }
# Block-device events as "ACTION KNAME", from udev (after its rules ran, as a consumer sees them),
# and, where the binary has it, `diskinv monitor --udev --json --inventory` (out/monitor.jsonl):
# its events and the inventory it tracks are checked at each snapshot like the scan's.
start_events() {
  udevadm monitor --udev --subsystem-match=block >/tmp/events.raw 2>/dev/null &
  EVENTS_SEEN=0
  MONITOR_SEEN=0
  if diskinv monitor --help >/dev/null 2>&1; then
    diskinv monitor --udev --json --inventory >/lab/out/monitor.jsonl 2>/lab/out/monitor.stderr &
    wait_for_line /lab/out/monitor.jsonl '"type":"listening"'
  fi
  sleep 1
}
# wait_for_line FILE PATTERN: until FILE has a line with PATTERN (at most 30 s).
wait_for_line() { local i=0; while ! grep -q "$2" "$1" 2>/dev/null && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done; }
# wait_quiet FILE: until FILE has not grown for a second (at most 20 s): the monitor's
# coalescer debounces a device's later events.
wait_quiet() { local a b i=0; b=$(wc -c <"$1"); while [ $i -lt 20 ]; do sleep 1; a=$b; b=$(wc -c <"$1"); [ "$a" = "$b" ] && break; i=$((i+1)); done; }
# host_step NAME: the host runs its step NAME (QMP) while the guest waits.
host_step() {
  local i=0
  mkdir -p /lab/out/sync && : >"/lab/out/sync/$1.req"
  while [ ! -e "/lab/sync/$1.done" ] && [ $i -lt 1200 ]; do sleep 0.1; i=$((i+1)); done
  [ -e "/lab/sync/$1.done" ] || { fail "host_step $1: the host did not answer"; return 1; }
  [ "$(cat "/lab/sync/$1.done")" = 0 ] || { fail "host_step $1: the host step failed"; return 1; }
  echo "host_step $1: done at $(cut -d' ' -f1 /proc/uptime)"
}
# snapshot NAME: the inventory now (diskinv and lsblk) and the events since the last snapshot.
snapshot() {
  local d=/lab/out/snap/$1 n
  settle
  mkdir -p "$d"
  diskinv scan --json >"$d/diskinv.json" 2>"$d/diskinv.stderr"; echo $? >"$d/diskinv.rc"
  lsblk -J -O -b >"$d/lsblk.json" 2>"$d/lsblk.stderr"
  sleep 0.5
  n=$(wc -l </tmp/events.raw)
  awk -v from="$EVENTS_SEEN" -v to="$n" 'NR > from && NR <= to && $1 == "UDEV" && $2 ~ /^\[/ {
      k = split($4, p, "/"); print $3, p[k] }' /tmp/events.raw >"$d/events.txt"
  EVENTS_SEEN=$n
  if [ -f /lab/out/monitor.jsonl ]; then
    wait_quiet /lab/out/monitor.jsonl
    n=$(wc -l </lab/out/monitor.jsonl)
    echo "$MONITOR_SEEN:$n" >"$d/monitor.lines"
    MONITOR_SEEN=$n
  fi
  echo "snapshot $1: $(tr '\n' ' ' <"$d/events.txt")"
}
collect() {
  settle
  diskinv scan --json >/lab/out/diskinv.json 2>/lab/out/diskinv.stderr
  echo $? >/lab/out/diskinv.rc
  lsblk -J -O -b >/lab/out/lsblk.json 2>/lab/out/lsblk.stderr
  echo $? >/lab/out/lsblk.rc
  rm -rf /tmp/capture
  diskinv capture -q --out /tmp/capture >/lab/out/capture.log 2>&1
  echo $? >/lab/out/capture.rc
  tar -C /tmp/capture -cf /lab/out/capture.tar .
  ls -l /dev/disk/by-id >/lab/out/by-id.txt 2>&1
}
EOS
}

# Serves the guest's host_step requests until QEMU (pid $1) exits. Runs in the scenario's
# subshell, so lab_host is defined.
_lab_serve_steps() {
  local qpid=$1 req name rc
  mkdir -p "$LAB_RUN/sync" "$LAB_RUN/out/sync"
  while kill -0 "$qpid" 2>/dev/null; do
    for req in "$LAB_RUN"/out/sync/*.req; do
      [ -e "$req" ] || continue
      name=$(basename "$req" .req)
      [ -e "$LAB_RUN/sync/$name.done" ] && continue
      echo "step $name at $(date +%s.%N)" >>"$LAB_RUN/qmp.log"
      (set -e; lab_host "$name") >>"$LAB_RUN/qmp.log" 2>&1
      rc=$?
      echo "step $name rc $rc" >>"$LAB_RUN/qmp.log"
      echo "$rc" >"$LAB_RUN/sync/$name.tmp" && mv "$LAB_RUN/sync/$name.tmp" "$LAB_RUN/sync/$name.done"
    done
    sleep 0.2
  done
}

# lab_run_scenario NAME: 0 passed, 1 failed (mismatches, errors, expectations), 2 did not run.
lab_run_scenario() {
  local name=$1 file=$DISKINV_LAB_DIR/scenarios/$1.sh
  [ -f "$file" ] || { log "lab: no scenario $name (see --list)"; return 2; }
  LAB_RUN=$LAB_OUT/$name
  rm -rf "$LAB_RUN" && mkdir -p "$LAB_RUN/out" || return 2
  # QMP socket paths must fit in sun_path (108 bytes): keep it short, outside the run dir.
  local qmp_dir
  qmp_dir=$(mktemp -d /tmp/diskinv-lab.XXXXXX) || return 2
  (
    unset -f lab_qemu lab_guest lab_expect lab_host lab_host_setup lab_host_teardown lab_initrd_extra
    LAB_KIND=scan
    LAB_INIT=busybox
    . "$file" || exit 2
    trap 'declare -F lab_host_teardown >/dev/null && lab_host_teardown' EXIT
    if declare -F lab_host_setup >/dev/null; then
      lab_host_setup >"$LAB_RUN/host-setup.log" 2>&1 || { cat "$LAB_RUN/host-setup.log" >&2; exit 2; }
    fi
    qmp() { python3 "$DISKINV_LAB_DIR/qmp.py" "$qmp_dir/qmp.sock" "$@"; }
    {
      _lab_guest_prelude
      for v in ${LAB_GUEST_VARS:-}; do printf "%s='%s'\n" "$v" "${!v}"; done
      declare -f lab_guest
      echo 'lab_guest'
      echo 'collect'
      echo '[ ! -e /lab/out/failed ]'
    } >"$LAB_RUN/scenario.sh" || exit 2
    lab_expect >"$LAB_RUN/expect.txt" || exit 2
    lab_qemu >"$LAB_RUN/qemu-args.txt" || exit 2
    local -a dev_args
    mapfile -t dev_args <"$LAB_RUN/qemu-args.txt"
    local initrd=$LAB_INITRD init_args=""
    if declare -F lab_initrd_extra >/dev/null; then
      lab_initrd_extra "$LAB_RUN/initrd-extra.cpio.gz" >"$LAB_RUN/initrd-extra.log" 2>&1 ||
        { cat "$LAB_RUN/initrd-extra.log" >&2; exit 2; }
      cat "$LAB_INITRD" "$LAB_RUN/initrd-extra.cpio.gz" >"$LAB_RUN/initrd.img" || exit 2
      initrd=$LAB_RUN/initrd.img
    fi
    [ "$LAB_INIT" = systemd ] &&
      init_args="diskinv.lab=systemd systemd.unit=diskinv-lab.target systemd.show_status=0"
    local t0 t1 rc qpid
    t0=$(date +%s.%N)
    # -nodefaults: no default NIC, CD-ROM or VGA, so each scenario has exactly its devices.
    timeout "${LAB_TIMEOUT:-300}" qemu-system-x86_64 -accel tcg -M q35 -m 1024 -smp 1 \
      -nodefaults -no-reboot -display none -serial "file:$LAB_RUN/console.log" \
      -kernel "$LAB_VMLINUZ" -initrd "$initrd" \
      -append "console=ttyS0 quiet panic=-1 $init_args ${LAB_KERNEL_ARGS:-}" \
      -virtfs "local,path=$LAB_RUN,mount_tag=lab,security_model=none,id=lab" \
      -qmp "unix:$qmp_dir/qmp.sock,server=on,wait=off" \
      "${dev_args[@]}" >"$LAB_RUN/qemu.log" 2>&1 &
    qpid=$!
    [ "$LAB_KIND" = hotplug ] && _lab_serve_steps "$qpid"
    wait "$qpid"
    rc=$?
    t1=$(date +%s.%N)
    echo "qemu_exit $rc" >"$LAB_RUN/qemu-exit"
    echo "wall_s $(echo "$t1 - $t0" | bc)" >>"$LAB_RUN/qemu-exit"
    echo "kind $LAB_KIND" >>"$LAB_RUN/qemu-exit"
  )
  local setup_rc=$?
  rm -rf "$qmp_dir"
  [ $setup_rc = 0 ] || { log "lab: $name: scenario setup failed"; return 2; }
  local guest_rc
  guest_rc=$(sed -n 's/.*===DISKINV-LAB-END rc=\([0-9]*\)===.*/\1/p' "$LAB_RUN/console.log" | tail -n1)
  {
    echo "scenario $name"
    cat "$LAB_RUN/qemu-exit"
    echo "guest_rc ${guest_rc:-none}"
    sed 's/^/guest_uptime_/' "$LAB_RUN/out/times" 2>/dev/null
  } >"$LAB_RUN/result.txt"
  if [ -z "$guest_rc" ]; then
    log "lab: $name: the guest did not finish (see $LAB_RUN/console.log, qemu.log)"
    tail -n 20 "$LAB_RUN/console.log" "$LAB_RUN/qemu.log" >&2
    return 2
  fi
  if [ "$guest_rc" != 0 ]; then
    log "lab: $name: the guest scenario failed (rc $guest_rc); $LAB_RUN/out/scenario.log:"
    tail -n 20 "$LAB_RUN/out/scenario.log" >&2
    return 1
  fi
  mkdir -p "$LAB_RUN/capture"
  tar -C "$LAB_RUN/capture" -xf "$LAB_RUN/out/capture.tar" 2>/dev/null
  local status=0
  # Expectations: the final scan's (before any "[step]" line), and one file per snapshot.
  awk -v dir="$LAB_RUN" 'BEGIN { out = dir "/expect-final.txt"; printf "" > out }
      /^\[.*\]$/ { out = dir "/expect-snap-" substr($0, 2, length($0) - 2) ".txt"; printf "" > out; next }
      { print > out }' "$LAB_RUN/expect.txt"
  # 1. In the guest: live diskinv vs live lsblk (both with the guest's udev db).
  "$LAB_COMPARE" --lsblk "$LAB_RUN/out/lsblk.json" --diskinv "$LAB_RUN/out/diskinv.json" \
    --root "$LAB_RUN/capture" --expect "$LAB_RUN/expect-final.txt" >"$LAB_RUN/compare.txt" 2>&1 || status=1
  # 2. Each hotplug snapshot: lsblk, expectations (exact inventory) and the step's events.
  # The monitor starts with the first snapshot's inventory (the scan taken right after it).
  local f step first
  first=$(sed -n 's/^\[\(.*\)\]$/\1/p' "$LAB_RUN/expect.txt" | head -n1)
  for f in "$LAB_RUN"/expect-snap-*.txt; do
    [ -e "$f" ] || continue
    step=${f##*/expect-snap-}; step=${step%.txt}
    if [ ! -f "$LAB_RUN/out/snap/$step/diskinv.json" ]; then
      echo "EXPECT: the guest took no snapshot $step" >"$LAB_RUN/snap-$step.txt"
      status=1
      continue
    fi
    local -a monitor=()
    if [ -f "$LAB_RUN/out/snap/$step/monitor.lines" ]; then
      monitor=(--monitor "$LAB_RUN/out/monitor.jsonl" --monitor-base "$LAB_RUN/out/snap/$first/diskinv.json"
               --monitor-lines "$(cat "$LAB_RUN/out/snap/$step/monitor.lines")")
    fi
    "$LAB_COMPARE" --lsblk "$LAB_RUN/out/snap/$step/lsblk.json" --diskinv "$LAB_RUN/out/snap/$step/diskinv.json" \
      --root "$LAB_RUN/capture" --expect "$f" --events "$LAB_RUN/out/snap/$step/events.txt" \
      "${monitor[@]}" >"$LAB_RUN/snap-$step.txt" 2>&1 || status=1
  done
  # 3. On the host: the captured tree, as the fixture test will see it (lsblk --sysroot).
  if [ -d "$LAB_RUN/capture/sys" ]; then
    lsblk -J -O -b --sysroot "$LAB_RUN/capture" >"$LAB_RUN/host-lsblk.json" 2>"$LAB_RUN/host-lsblk.stderr"
    "$DISKINV_BIN" scan --json --sysroot "$LAB_RUN/capture" >"$LAB_RUN/host-diskinv.json" 2>/dev/null
    "$LAB_COMPARE" --lsblk "$LAB_RUN/host-lsblk.json" --diskinv "$LAB_RUN/host-diskinv.json" \
      --root "$LAB_RUN/capture" --sysroot-mode >"$LAB_RUN/host-compare.txt" 2>&1 || status=1
    # Live diskinv vs diskinv on the capture: the capture must keep everything the walk reads.
    if ! diff <(jq -S 'del(.sysroot) | .blockdevices |= map(del(.udev.initialized_usec))' "$LAB_RUN/out/diskinv.json") \
              <(jq -S 'del(.sysroot) | .blockdevices |= map(del(.udev.initialized_usec))' "$LAB_RUN/host-diskinv.json") \
              >"$LAB_RUN/capture-diff.txt" 2>&1; then
      status=1
    fi
  else
    echo "no capture" >"$LAB_RUN/host-compare.txt"
    status=1
  fi
  echo "status $status" >>"$LAB_RUN/result.txt"
  return $status
}

# Prints the results of a run directory in a few lines.
lab_summary() {  # NAME
  local r=$LAB_OUT/$1 f
  local boot udev done wall
  boot=$(sed -n 's/^guest_uptime_init //p' "$r/result.txt")
  udev=$(sed -n 's/^guest_uptime_udev //p' "$r/result.txt")
  done=$(sed -n 's/^guest_uptime_done //p' "$r/result.txt")
  wall=$(sed -n 's/^wall_s //p' "$r/result.txt")
  printf '%-18s wall %6.1fs  guest uptime: init %ss, udev settled %ss, done %ss\n' "$1" "${wall:-0}" \
    "${boot:-?}" "${udev:-?}" "${done:-?}"
  [ -f "$r/compare.txt" ] && grep -v '^known' "$r/compare.txt" | sed 's/^/    guest: /'
  for f in "$r"/snap-*.txt; do
    [ -e "$f" ] || continue
    f=${f##*/snap-}; f=${f%.txt}
    grep -v '^known' "$r/snap-$f.txt" | sed "s/^/    step $f: /"
  done
  [ -f "$r/host-compare.txt" ] && grep -v '^known' "$r/host-compare.txt" | sed 's/^/    capture: /'
  [ -s "$r/capture-diff.txt" ] && echo "    capture: live and captured scans differ: $r/capture-diff.txt"
  return 0
}
