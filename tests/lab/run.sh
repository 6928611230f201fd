# The lab runner. Source it (scripts/lab does, after lib.sh); do not run it.
#
# A scenario is tests/lab/scenarios/NAME.sh, sourced in a subshell on the host; it defines
#   LAB_KIND         scan (the only kind so far; hotplug and store will add host-side steps)
#   LAB_DESCRIPTION  one line for --list
#   lab_qemu         prints QEMU device arguments, one per line; may create images in $LAB_RUN
#                    with lab_image NAME SIZE_MB (sparse raw files)
#   lab_guest        shell code for the guest (busybox ash) that sets up what QEMU cannot:
#                    scsi_debug, md, dm, loop; it runs after udev settled and before collection
#   lab_expect       prints expectations (format in lab_compare.h) for diskinv's JSON
# Per run: $LAB_OUT/NAME/ holds scenario.sh (what the guest ran), console.log, out/ (diskinv.json,
# lsblk.json, capture.tar, capture/, scenario.log, times), compare.txt and host-compare.txt.
#
# Timing, in result.txt: boot = QEMU start to /init on the 9p share (host clock), then the guest
# uptime marks (modules, udev, done) and the host wall time of the whole scenario.

lab_scenarios() {
  local f
  for f in "$DISKINV_LAB_DIR"/scenarios/*.sh; do basename "$f" .sh; done
}

lab_describe() {  # NAME
  (LAB_DESCRIPTION=; LAB_KIND=scan; . "$DISKINV_LAB_DIR/scenarios/$1.sh"; printf '%-20s %-6s %s\n' "$1" "$LAB_KIND" "$LAB_DESCRIPTION")
}

lab_image() {  # NAME SIZE_MB: a sparse raw image in the run directory; prints its path
  truncate -s "${2}M" "$LAB_RUN/$1.img" && echo "$LAB_RUN/$1.img"
}

# The guest half of every scan scenario: the scenario's setup, then the collection.
_lab_guest_prelude() {
  cat <<'EOS'
set -u
settle() { if [ -x /bin/udevadm ]; then udevadm settle --timeout=60; else sleep 2; fi; }
# wait_for PATH...: until each path exists (device nodes and sysfs entries appear asynchronously).
wait_for() { local p i; for p in "$@"; do i=0; while [ ! -e "$p" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done; [ -e "$p" ] || { echo "wait_for: $p did not appear"; return 1; }; done; }
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

# lab_run_scenario NAME: 0 passed, 1 failed (mismatches, errors, expectations), 2 did not run.
lab_run_scenario() {
  local name=$1 file=$DISKINV_LAB_DIR/scenarios/$1.sh
  [ -f "$file" ] || { log "lab: no scenario $name (see --list)"; return 2; }
  LAB_RUN=$LAB_OUT/$name
  rm -rf "$LAB_RUN" && mkdir -p "$LAB_RUN/out" || return 2
  (
    set -e
    unset -f lab_qemu lab_guest lab_expect
    LAB_KIND=scan
    . "$file"
    {
      _lab_guest_prelude
      declare -f lab_guest
      echo 'lab_guest'
      echo 'collect'
    } >"$LAB_RUN/scenario.sh"
    lab_expect >"$LAB_RUN/expect.txt"
    lab_qemu >"$LAB_RUN/qemu-args.txt"
  ) || { log "lab: $name: scenario setup failed"; return 2; }
  local -a dev_args
  mapfile -t dev_args <"$LAB_RUN/qemu-args.txt"
  local t0 t1 rc
  t0=$(date +%s.%N)
  # -nodefaults: no default NIC, CD-ROM or VGA, so each scenario has exactly its devices.
  timeout "${LAB_TIMEOUT:-300}" qemu-system-x86_64 -accel tcg -M q35 -m 1024 -smp 1 \
    -nodefaults -no-reboot -display none -serial "file:$LAB_RUN/console.log" \
    -kernel "$LAB_VMLINUZ" -initrd "$LAB_INITRD" \
    -append "console=ttyS0 quiet panic=-1 ${LAB_KERNEL_ARGS:-}" \
    -virtfs "local,path=$LAB_RUN,mount_tag=lab,security_model=none,id=lab" \
    -qmp "unix:$LAB_RUN/qmp.sock,server=on,wait=off" \
    "${dev_args[@]}" >"$LAB_RUN/qemu.log" 2>&1
  rc=$?
  t1=$(date +%s.%N)
  local wall guest_rc
  wall=$(echo "$t1 - $t0" | bc)
  guest_rc=$(sed -n 's/.*===DISKINV-LAB-END rc=\([0-9]*\)===.*/\1/p' "$LAB_RUN/console.log" | tail -n1)
  {
    echo "scenario $name"
    echo "qemu_exit $rc"
    echo "guest_rc ${guest_rc:-none}"
    echo "wall_s $wall"
    cat "$LAB_RUN/out/times" 2>/dev/null | sed 's/^/guest_uptime_/'
  } >"$LAB_RUN/result.txt"
  if [ -z "$guest_rc" ]; then
    log "lab: $name: the guest did not finish (qemu exit $rc; see $LAB_RUN/console.log, qemu.log)"
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
  # 1. In the guest: live diskinv vs live lsblk (both with the guest's udev db).
  "$LAB_COMPARE" --lsblk "$LAB_RUN/out/lsblk.json" --diskinv "$LAB_RUN/out/diskinv.json" \
    --root "$LAB_RUN/capture" --expect "$LAB_RUN/expect.txt" >"$LAB_RUN/compare.txt" 2>&1 || status=1
  # 2. On the host: the captured tree, as the fixture test will see it (lsblk --sysroot).
  if [ -d "$LAB_RUN/capture/sys" ]; then
    lsblk -J -O -b --sysroot "$LAB_RUN/capture" >"$LAB_RUN/host-lsblk.json" 2>"$LAB_RUN/host-lsblk.stderr"
    "$DISKINV_BIN" scan --json --sysroot "$LAB_RUN/capture" >"$LAB_RUN/host-diskinv.json" 2>/dev/null
    "$LAB_COMPARE" --lsblk "$LAB_RUN/host-lsblk.json" --diskinv "$LAB_RUN/host-diskinv.json" \
      --root "$LAB_RUN/capture" --sysroot-mode >"$LAB_RUN/host-compare.txt" 2>&1 || status=1
    # Live diskinv vs diskinv on the capture: the capture must not lose what the walk reads.
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
  local r=$LAB_OUT/$1
  local boot udev done wall
  boot=$(sed -n 's/^guest_uptime_init //p' "$r/result.txt")
  udev=$(sed -n 's/^guest_uptime_udev //p' "$r/result.txt")
  done=$(sed -n 's/^guest_uptime_done //p' "$r/result.txt")
  wall=$(sed -n 's/^wall_s //p' "$r/result.txt")
  printf '%-20s wall %6.1fs  guest: init %ss udev-settled %ss done %ss\n' "$1" "${wall:-0}" "${boot:-?}" "${udev:-?}" "${done:-?}"
  [ -f "$r/compare.txt" ] && sed 's/^/    guest: /' "$r/compare.txt" | grep -v '^    guest: known' 
  [ -f "$r/host-compare.txt" ] && grep -v '^known' "$r/host-compare.txt" | sed 's/^/    capture: /'
  [ -s "$r/capture-diff.txt" ] && echo "    capture: live and captured scans differ: $r/capture-diff.txt"
  return 0
}
