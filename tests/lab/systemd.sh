# systemd as the guest's PID 1, for scenarios that test diskinv's units and udev rules the way
# a node runs them. Source it (after initramfs.sh); do not run it.
#
# A scenario opts in with `LAB_INIT=systemd` and defines lab_initrd_extra to call
# lab_systemd_cpio: run.sh appends that archive to the shared initramfs (the kernel unpacks
# concatenated cpio archives in order, later files win) and boots with
# `diskinv.lab=systemd systemd.unit=diskinv-lab.target`. guest-init.sh then mounts the 9p share,
# loads the drivers, configures the network and execs /lib/systemd/systemd; the target starts
# journald, udevd and the coldplug trigger (the host's own units), and diskinv-lab.service
# runs the scenario script, prints the end marker on the console and powers off.
#
# What the archive adds: systemd, systemd-journald, systemd-udevd, systemctl, journalctl with
# their shared libraries; the host's unit files for the targets, journald and udevd (nothing
# else of the host's boot: each unit the host has but the guest lacks would only fail);
# diskinv's own files where the Debian package puts them (packaging/systemd/*.service,
# rules/60-diskinv.rules; /etc/diskinv/diskinv.conf and /etc/default/diskinv (the units'
# EnvironmentFile) as links to diskinv.conf and default-diskinv on the 9p share, so the host
# writes them after it knows the database port); a fixed machine-id and hostname.

LAB_SYSTEMD_UNITS=(
  basic.target sysinit.target local-fs.target local-fs-pre.target swap.target sockets.target
  timers.target paths.target slices.target multi-user.target network.target
  network-online.target network-pre.target shutdown.target poweroff.target final.target
  umount.target emergency.target rescue.target system.slice
  systemd-poweroff.service
  systemd-journald.service systemd-journald.socket systemd-journald-dev-log.socket
  systemd-udevd.service systemd-udevd-control.socket systemd-udevd-kernel.socket
  systemd-udev-trigger.service systemd-udev-settle.service
)

# lab_systemd_cpio OUT MACHINE_ID HOSTNAME [DROPIN_FILE...]: the archive described above.
# Each DROPIN_FILE is copied to /etc/systemd/system/diskinv-agent.service.d/.
lab_systemd_cpio() {
  local out=$1 machine_id=$2 hostname=$3 stage u f
  shift 3
  [ -x /lib/systemd/systemd ] || { echo "the host has no /lib/systemd/systemd (package systemd)"; return 1; }
  stage=$(mktemp -d "${TMPDIR:-/tmp}/diskinv-lab-systemd.XXXXXX") || return 1
  chmod 755 "$stage"  # this archive's "." sets the mode of the guest's "/" too (initramfs.sh)
  for f in /lib/systemd/systemd /lib/systemd/systemd-journald /lib/systemd/systemd-udevd \
           /bin/systemctl /bin/journalctl; do
    _lab_copy_with_libs "$stage" "$f" || { rm -rf "$stage"; return 1; }
  done
  mkdir -p "$stage/lib/systemd/system" "$stage/etc/systemd/system" "$stage/etc/diskinv" \
           "$stage/lib/udev/rules.d" "$stage/var/log/journal" "$stage/var/lib/systemd" \
           "$stage/etc/systemd/system/diskinv-agent.service.d"
  for u in "${LAB_SYSTEMD_UNITS[@]}"; do
    [ -e "/lib/systemd/system/$u" ] && cp "/lib/systemd/system/$u" "$stage/lib/systemd/system/"
  done
  cp "$DISKINV_ROOT"/packaging/systemd/*.service "$stage/lib/systemd/system/" || return 1
  cp "$DISKINV_ROOT/rules/60-diskinv.rules" "$stage/lib/udev/rules.d/" || return 1
  ln -s /lab/diskinv.conf "$stage/etc/diskinv/diskinv.conf"
  mkdir -p "$stage/etc/default" && ln -s /lab/default-diskinv "$stage/etc/default/diskinv"
  for f in "$@"; do cp "$f" "$stage/etc/systemd/system/diskinv-agent.service.d/" || return 1; done
  echo "$machine_id" >"$stage/etc/machine-id"
  echo "$hostname" >"$stage/etc/hostname"
  cp /etc/os-release "$stage/etc/os-release" 2>/dev/null
  cat >"$stage/etc/systemd/system/diskinv-lab.target" <<'EOF'
[Unit]
Description=diskinv lab: journald, udevd, coldplug and the scenario
Requires=basic.target
Wants=systemd-journald.service systemd-udevd.service systemd-udev-trigger.service diskinv-lab.service
After=basic.target
AllowIsolate=yes
EOF
  cat >"$stage/etc/systemd/system/diskinv-lab.service" <<'EOF'
[Unit]
Description=diskinv lab scenario
After=systemd-udev-trigger.service systemd-journald.service

[Service]
Type=oneshot
ExecStart=/bin/sh /lab-systemd-scenario
EOF
  cat >"$stage/lab-systemd-scenario" <<'EOF'
export PATH=/sbin:/bin:/usr/sbin:/usr/bin
t() { echo "$1 $(cut -d' ' -f1 /proc/uptime)" >>/lab/out/times; }
t systemd
rc=0
(cd /tmp && . /lab/scenario.sh) >/lab/out/scenario.log 2>&1 || rc=$?
t done
journalctl -b --no-pager -o short-monotonic >/lab/out/journal.txt 2>&1
cat /lab/out/scenario.log >/dev/console
sync
echo "===DISKINV-LAB-END rc=$rc===" >/dev/console
poweroff -f
EOF
  (cd "$stage" && find . -print0 | cpio --null -o -H newc --quiet) | gzip -1 >"$out"
  local rc=$?
  rm -rf "$stage"
  return $rc
}
